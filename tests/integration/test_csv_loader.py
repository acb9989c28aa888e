"""csv_loader against real Cassandra and Spark: complete loads, bad rows counted, Kafka arrivals kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.support import cassandra_table, connection_args, produce_tweets, run_until_idle
from trendoff.batch.job import run_batch
from trendoff.csv_loader.job import load_csv
from trendoff.csv_loader.job import main as load_main
from trendoff.entry import run_main
from trendoff.producer.main import main as produce_main
from trendoff.serving.query import run_compare
from trendoff.settings import Settings
from trendoff.times import epoch_ms
from trendoff.tweets.columns import derived_id
from trendoff.tweets.csv_rows import ColumnSpec


def master(spark: SparkSession, settings: Settings) -> dict[int, Any]:
    return {row.id: row for row in cassandra_table(spark, settings, "tweets").collect()}


def test_538_history_gives_the_same_answer_as_replaying_it_through_kafka(
    pipeline_settings: Settings, make_pipeline_settings: Callable[[], Settings], spark: SparkSession, data_dir: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    files = [data_dir / "fivethirtyeight_twitter_ratio" / name for name in ("BarackObama.csv", "realDonaldTrump.csv")]
    # History: csv_loader, then a batch run.
    connection = connection_args(pipeline_settings, kafka=False)
    for path in files:
        assert run_main(load_main, [str(path), *connection]) == 0
    out = capsys.readouterr().out
    assert "read 3,207, loaded 3,207" in out and "read 3,232, loaded 3,232" in out
    loaded = master(spark, pipeline_settings)
    assert len(loaded) == 6439 and all(r.csv_loaded and r.arrived_at is None for r in loaded.values())
    fields = ("user", "text", "created_at", "lang", "is_retweet", "retweet_count", "favorite_count",
              "kafka_partition", "kafka_offset", "arrived_at", "csv_loaded")
    spot_checks = {  # written out from the files by hand
        914832655170011137: ("BarackObama", "Michelle &amp; I are praying for the victims in Las Vegas. Our thoughts "
                             "are with their families &amp; everyone enduring another senseless tragedy.",
                             dt.datetime(2017, 10, 2, 12, 41), None, False, 405895, 1715753, None, None, None, True),
        910542207991590917: ("BarackObama", "RT @gatesfoundation: President @BarackObama addresses #Goalkeepers17 "
                             "starting at 12:40 PM. Tune in here: https://t.co/XmHBErSHYw",
                             dt.datetime(2017, 9, 20, 16, 32), None, True, 2615, 11273, None, None, None, True),
        922440008971292672: ("realDonaldTrump", "I had a very respectful conversation with the widow of Sgt. La David "
                             "Johnson, and spoke his name from beginning, without hesitation!",
                             dt.datetime(2017, 10, 23, 12, 30), None, False, 10243, 49468, None, None, None, True),
    }
    for tweet_id, expected in spot_checks.items():
        assert tuple(getattr(loaded[tweet_id], name) for name in fields) == expected, tweet_id
    assert run_main(load_main, [str(files[0]), *connection]) == 0, "loading a file again"
    assert "read 3,207, loaded 3,207" in capsys.readouterr().out and len(master(spark, pipeline_settings)) == 6439
    run_batch(spark, pipeline_settings, clock_skew_seconds=0)
    from_history = run_compare(pipeline_settings, "BarackObama", "realDonaldTrump", top=50)

    # The same files replayed through Kafka and the streaming jobs, into a keyspace and topic of their own.
    replayed = make_pipeline_settings()
    for path in files:
        assert run_main(produce_main, ["csv", str(path), *connection_args(replayed, cassandra=False)]) == 0
    for job in ("ingest", "speed"):
        run_until_idle(spark, replayed, job, tmp_path)
    from_kafka = run_compare(replayed, "BarackObama", "realDonaldTrump", top=50)
    assert from_history.top == from_kafka.top and len(from_kafka.top) == 50


def test_bad_rows_are_counted_and_kafka_arrivals_are_kept(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    arrived = {"id": 42, "user": "ann", "text": "came through kafka first",
               "created_at": dt.datetime(2016, 1, 1, tzinfo=dt.UTC), "lang": None, "is_retweet": False,
               "retweet_count": None, "favorite_count": None}
    produce_tweets(settings, [arrived])
    run_until_idle(spark, settings, "ingest", tmp_path)
    before = master(spark, settings)[42]

    path = tmp_path / "history.csv"
    path.write_text(
        "id,user,text,created_at\n"
        "42,ann,came through kafka first,2016-01-01T00:00:00Z\n"
        "43,bob,a fine old tweet,2015-06-01T10:00:00Z\n"
        ",carol,no id here so one is derived,2015-06-02T10:00:00Z\n"
        "45,dave,bad time,sometime\n"
        "46,erin,,2015-06-02T10:00:00Z\n"
    )
    spec = ColumnSpec(id_col="id", user_col="user", text_col="text", time_col="created_at")
    summary = load_csv(spark, settings, path, spec)
    assert (summary.read, summary.loaded, summary.already_from_kafka) == (5, 2, 1)
    assert summary.skipped == {"bad-timestamp": 1, "empty-text": 1}
    after = master(spark, settings)
    assert after[42] == before, "an id that came through Kafka keeps its row and arrival, and is not history"
    assert after[43].csv_loaded and after[43].arrived_at is None
    carol = derived_id("carol", epoch_ms(dt.datetime(2015, 6, 2, 10, tzinfo=dt.UTC)), "no id here so one is derived")
    assert after[carol].user == "carol" and after[carol].csv_loaded
    assert len(after) == 3
    assert load_csv(spark, settings, path, spec).loaded == 2 and len(master(spark, settings)) == 3, "idempotent"


def test_user_mistakes_are_one_line_and_exit_2(
    pipeline_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = connection_args(pipeline_settings, kafka=False)
    assert run_main(load_main, [str(tmp_path / "missing.csv"), *connection]) == 2
    path = tmp_path / "other.csv"
    path.write_text("who,what,when\nann,hello there,2016-01-01T00:00:00Z\n")
    assert run_main(load_main, [str(path), "--format", "columns", "--user-col", "who", "--text-col", "what",
                                "--time-col", "at", *connection]) == 2
    err = capsys.readouterr().err
    assert err.count("trendoff: error:") == 2 and "Traceback" not in err
    assert "missing.csv" in err and "'at'" in err
