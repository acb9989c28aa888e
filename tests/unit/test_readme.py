"""The README starts with exactly the two set-up commands, and they are the ones CI and users run."""

from __future__ import annotations

import re

from tests.support import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def first_code_block() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)
    assert block is not None, "the README must start with a bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_starts_with_the_demo_and_test_commands() -> None:
    assert README.index("```bash") < 40, "the two commands come first"
    assert first_code_block() == ["./scripts/demo.sh", "./scripts/test.sh"]
    for script in ("scripts/demo.sh", "scripts/test.sh"):
        path = PROJECT_ROOT / script
        assert path.is_file() and path.stat().st_mode & 0o111, f"{script} must exist and be executable"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def test_every_variable_the_readme_names_is_read_by_the_settings() -> None:
    # The other direction (every setting's variable is documented) is in tests/unit/test_env_vars.py.
    from trendoff.settings import ENV_VARS, FILE_SUFFIX, SECRET_SETTINGS

    documented = set(re.findall(r"`(TRENDOFF_[A-Z_]+)`", README))
    read = set(ENV_VARS.values()) | {ENV_VARS[name] + FILE_SUFFIX for name in SECRET_SETTINGS}
    assert documented <= read, "the README documents a variable nothing reads"
