"""Every command's flags as a user reads them in --help: one duration syntax, nothing named by its unit."""

from __future__ import annotations

import re

import pytest

from trendoff.apps.cli import COMMANDS
from trendoff.apps.cli import main as trendoff_main

# A flag named after a unit takes a bare number; every time flag takes a DURATION instead.
UNIT_FLAG = re.compile(r"--[a-z-]+-(seconds|secs|minutes|mins|hours|ms)\b")
TIME_FLAGS = {"--trigger", "--timeout", "--every", "--batch-every", "--clock-skew", "--keep", "--poll",
              "--stop-timeout"}


@pytest.mark.parametrize("command", [name for name in COMMANDS if name != "stack"])
def test_no_flag_is_named_after_a_unit_and_time_flags_take_a_duration(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        trendoff_main([command, "--help"])
    text = capsys.readouterr().out
    assert stopped.value.code == 0 and text.startswith("usage:"), f"`trendoff {command} --help` printed no help"
    assert not UNIT_FLAG.findall(text), f"`trendoff {command}` has flags named after a unit: {UNIT_FLAG.findall(text)}"
    for flag, metavar in re.findall(r"(--[a-z-]+)(?:[ =]([A-Z_]+))?", text):
        if flag in TIME_FLAGS:
            assert metavar == "DURATION", f"`trendoff {command} {flag}` takes {metavar}, not a DURATION"


@pytest.mark.parametrize("subcommand", ["up", "down", "status"])
def test_stack_subcommands_follow_the_same_rule(subcommand: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        trendoff_main(["stack", subcommand, "--help"])
    assert not UNIT_FLAG.findall(capsys.readouterr().out)
