"""`trendoff setup --print-executor-requirements`: what the README packs for the executors' Python."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.support import PROJECT_ROOT
from trendoff.stack.setup import executor_requirements

pytestmark = pytest.mark.unit


def test_the_executors_get_every_dependency_of_pyproject_but_pyspark_and_no_test_tool() -> None:
    declared = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    printed = executor_requirements()
    assert sorted(printed) == sorted(line for line in declared if not line.startswith("pyspark"))
    assert "cassandra-driver==3.30.1" in printed  # what the tasks' writes import, pinned as the driver's
    assert not any(line.startswith(("pyspark", "pytest", "ruff")) for line in printed)


def test_the_command_prints_them_as_one_line_for_pip() -> None:
    result = subprocess.run([sys.executable, "-m", "trendoff.apps.cli", "setup", "--print-executor-requirements"],
                            capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == executor_requirements()
