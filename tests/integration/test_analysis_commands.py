"""`trendoff contrast` and `compare --per` on the hand-written views of tests/support.py: the answers equal
the rules (serving/contrast.py, the rate definition) applied to the counts those views add up to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import connection_args, seed_serving_views
from trendoff.apps.compare import main as compare_main
from trendoff.apps.contrast import main as contrast_main
from trendoff.entry import run_main
from trendoff.serving.contrast import rank_distinctive
from trendoff.settings import Settings

# What serving adds up from the seeded views: batch version 7 plus the speed rows after T.
OBAMA = {"health": 5, "care": 3, "jobs": 3, "america": 4, "climate": 8}  # 23 words
TRUMP = {"america": 7, "jobs": 9, "wall": 3, "health": 1, "great": 8, "climate": 1}  # 29 words


def cli(capsys: pytest.CaptureFixture[str], main: Any, args: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_main(main, args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_contrast_equals_the_log_odds_rule_on_the_views_counts(
    pipeline_settings: Settings, cassandra_session: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_serving_views(cassandra_session)
    flags = connection_args(pipeline_settings, kafka=False)
    for weight in (1000.0, 5.0):
        code, out, _ = cli(capsys, contrast_main, ["@BarackObama", "realDonaldTrump", "--top", "3", "--json",
                                                  "--prior-weight", f"{weight:g}", *flags])
        assert code == 0
        of_a, of_b = rank_distinctive(OBAMA, TRUMP, 3, weight)
        assert json.loads(out) == {
            "users": ["barackobama", "realdonaldtrump"], "as_of": "2026-01-01T12:00:00+00:00", "since": None,
            "until": None, "prior_weight": weight,
            "a": [{"word": w.word, "z": w.z, "counts": [w.count_a, w.count_b]} for w in of_a],
            "b": [{"word": w.word, "z": w.z, "counts": [w.count_a, w.count_b]} for w in of_b]}
    # Climate (8 of 23 words against 1 of 29) sets Obama apart; great (8 of 29, never Obama) sets Trump apart.
    answer = json.loads(out)
    assert answer["a"][0]["word"] == "climate" and answer["b"][0]["word"] == "great"
    assert answer["a"][0]["z"] > 0 > answer["b"][0]["z"]

    chart = tmp_path / "contrast.png"
    code, out, _ = cli(capsys, contrast_main, ["BarackObama", "realDonaldTrump", "--plot", str(chart), *flags])
    assert code == 0 and "most characteristic of @barackobama" in out and f"chart: {chart}" in out
    assert chart.read_bytes()[:4] == b"\x89PNG"

    code, _, err = cli(capsys, contrast_main, ["BarackObama", "nobody_here", *flags])
    assert code == 2 and "no tweets of @nobody_here" in err and "Traceback" not in err


def test_compare_per_gives_each_count_per_n_of_the_users_counted_words(
    pipeline_settings: Settings, cassandra_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_serving_views(cassandra_session)
    flags = connection_args(pipeline_settings, kafka=False)
    code, out, _ = cli(capsys, compare_main, ["BarackObama", "realDonaldTrump", "--per", "10000", "--json", *flags])
    assert code == 0
    answer = json.loads(out)
    assert answer["per"] == 10000 and answer["totals"] == [sum(OBAMA.values()), sum(TRUMP.values())] == [23, 29]
    for item in answer["top"]:
        word = item["word"]
        assert item["counts"] == [OBAMA[word], TRUMP[word]]
        assert item["rates"] == [OBAMA[word] * 10000 / 23, TRUMP[word] * 10000 / 29]
    plain_code, plain, _ = cli(capsys, compare_main, ["BarackObama", "realDonaldTrump", "--json", *flags])
    assert plain_code == 0 and "rates" not in plain and [i["word"] for i in json.loads(plain)["top"]] == [
        i["word"] for i in answer["top"]], "rates are shown, the ranking stays by counts"
    code, table, _ = cli(capsys, compare_main, ["BarackObama", "realDonaldTrump", "--per", "10000", *flags])
    assert code == 0 and "counted words: barackobama 23, realdonaldtrump 29" in table
    assert f"{4 * 10000 / 23:.2f}" in table  # america, per 10,000 of Obama's words
    with pytest.raises(SystemExit) as refused:  # argparse: a usage error, exit 2
        compare_main(["BarackObama", "realDonaldTrump", "--per", "0", *flags])
    assert refused.value.code == 2 and "must be at least 1" in capsys.readouterr().err
