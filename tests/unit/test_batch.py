"""Batch layer pieces that need no services: durations, options, user mistakes on the command line."""

from __future__ import annotations

import dataclasses

import pytest

from trendoff.apps.cli import COMMANDS
from trendoff.batch.job import BatchOptions, main, parse_duration
from trendoff.entry import run_main
from trendoff.errors import TrendoffError


@pytest.mark.parametrize(("raw", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("1.5h", 5400), (" 2m ", 120)])
def test_durations(raw: str, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["15", "15 m", "m", "0s", "-5m", "1d", "15min", ""])
def test_bad_durations_are_user_mistakes(raw: str) -> None:
    with pytest.raises(TrendoffError) as caught:
        parse_duration(raw)
    assert caught.value.reason == "bad-duration"


def test_bad_every_ends_with_one_line_and_exit_2_before_any_connection(capsys: pytest.CaptureFixture[str]) -> None:
    # Parsed before Cassandra or Spark are touched, so this needs no services.
    assert run_main(main, ["--every", "soon"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "trendoff: error: 'soon' is not a duration like 30s, 15m or 1h"
    assert run_main(main, ["--keep-minutes", "-1"]) == 2


def test_options_defaults_and_overrides() -> None:
    assert BatchOptions() == BatchOptions(count_retweets=False, clock_skew_seconds=2.0, keep_minutes=60.0)
    with pytest.raises(TypeError):
        dataclasses.replace(BatchOptions(), skew=1)  # type: ignore[call-arg]


def test_commands_name_the_batch_and_csv_loader_mains() -> None:
    assert COMMANDS["batch"][0] == "trendoff.batch.job"
    assert COMMANDS["load-csv"][0] == "trendoff.csv_loader.job"
