"""The demo's path end to end on a slice of the bundled tweets, checked against the word rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.support import expected_word_counts
from trendoff.demo.main import main as demo_main
from trendoff.entry import run_main
from trendoff.producer.sources import csv_tweets
from trendoff.serving.compare import rank_mutual
from trendoff.settings import Settings
from trendoff.tweets.columns import PRESETS

ROWS = 150


def test_demo_answer_equals_the_word_rule_on_the_raw_input(
    pipeline_settings: Settings, spark: SparkSession, data_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = pipeline_settings
    # The answer the demo must give, from the raw input. Worked out first: the demo stops the
    # process's SparkSession when it ends, and that is this session too.
    raw = []
    for name in ("BarackObama.csv", "realDonaldTrump.csv"):
        path = data_dir / "fivethirtyeight_twitter_ratio" / name
        raw += [tweet for _, tweet in csv_tweets(path, PRESETS["538"])][:ROWS]
    counts = expected_word_counts(spark, raw)
    expected = rank_mutual(counts["barackobama"], counts["realdonaldtrump"], top=15)

    monkeypatch.setenv("TRENDOFF_KAFKA_BOOTSTRAP", settings.bootstrap_servers)
    monkeypatch.setenv("TRENDOFF_CASSANDRA_HOSTS", ",".join(settings.cassandra_contact_points))
    monkeypatch.setenv("TRENDOFF_CASSANDRA_PORT", str(settings.cassandra_port))
    monkeypatch.setenv("TRENDOFF_DATA_DIR", str(tmp_path / "run"))
    argv = ["--rows-per-file", str(ROWS), "--top", "15", "--json", "--out-dir", str(tmp_path / "out"),
            "--keyspace", settings.keyspace, "--topic", settings.topic]
    assert run_main(demo_main, argv) == 0
    printed = capsys.readouterr().out
    answer = json.loads(next(line for line in printed.splitlines() if line.startswith("{")))
    assert answer["as_of"] is not None, "the demo ran a batch in the middle"
    assert answer["users"] == ["barackobama", "realdonaldtrump"]
    assert answer["top"] == [{"word": m.word, "counts": [m.count_a, m.count_b]} for m in expected]
    chart = tmp_path / "out" / "barackobama_vs_realdonaldtrump.png"
    assert chart.stat().st_size > 10_000
