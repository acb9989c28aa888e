"""Batch layer pieces that need no services: durations, options, user mistakes on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import free_port
from trendoff.apps.cli import main as trendoff_main
from trendoff.batch.job import main, run_batch
from trendoff.config import load_settings
from trendoff.entry import run_main
from trendoff.errors import TrendoffError
from trendoff.times import parse_duration


@pytest.mark.parametrize(("raw", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("1.5h", 5400), (" 2m ", 120),
                                            ("1d", 86400), ("500ms", 0.5)])
def test_durations(raw: str, seconds: float) -> None:
    assert parse_duration(raw) == seconds


def test_zero_is_a_duration_only_where_it_is_allowed() -> None:
    assert parse_duration("0", allow_zero=True) == parse_duration("0s", allow_zero=True) == 0.0
    for raw in ("-1s", "00", "0x"):
        with pytest.raises(TrendoffError):
            parse_duration(raw, allow_zero=True)


@pytest.mark.parametrize("raw", ["15", "15 m", "m", "0s", "-5m", "1w", "15min", ""])
def test_bad_durations_are_user_mistakes(raw: str) -> None:
    with pytest.raises(TrendoffError) as caught:
        parse_duration(raw)
    assert caught.value.reason == "bad-duration"


@pytest.mark.parametrize(("argv", "words"), [
    (["--every", "soon"], "argument --every: 'soon' is not a duration such as 500ms, 2s, 15m, 1h or 2d"),
    (["--every", "0s"], "argument --every: '0s' is not a duration"),
    (["--keep=-1h"], "argument --keep: '-1h' is not a duration such as 500ms, 2s, 15m, 1h or 2d (or 0)"),
    (["--clock-skew", "2"], "argument --clock-skew: '2' is not a duration"),
])
def test_bad_durations_end_with_a_usage_line_and_exit_2_before_any_connection(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Parsed before Cassandra or Spark are touched, so this needs no services.
    with pytest.raises(SystemExit) as stopped:
        run_main(main, argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and words in err and "Traceback" not in err


def test_run_batch_refuses_a_misspelt_option_before_touching_any_service() -> None:
    # Nothing listens on these ports: a run that went as far as connecting would fail differently, or hang.
    nowhere = load_settings(environ={}, kafka_bootstrap=f"127.0.0.1:{free_port()}", cassandra_hosts=("127.0.0.1",),
                            cassandra_port=free_port())
    with pytest.raises(TypeError, match="skew"):
        run_batch(None, nowhere, skew=1)  # type: ignore[arg-type]


def test_the_trendoff_command_reaches_the_batch_and_load_csv_mains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a user types them; each ends on its own argument check, before any service is touched.
    with pytest.raises(SystemExit) as stopped:
        trendoff_main(["batch", "--every", "soon"])
    assert stopped.value.code == 2 and "'soon' is not a duration" in capsys.readouterr().err
    assert trendoff_main(["load-csv", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Traceback" not in err
