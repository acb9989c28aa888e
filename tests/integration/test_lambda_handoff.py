"""The lambda hand-off (SPEC §4): compare counts every tweet exactly once, whenever batch runs.

Real Kafka, Cassandra and Spark: ingest, speed, batch and serving as users run them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.support import (
    cassandra_table,
    connection_args,
    expected_word_counts,
    produce_tweets,
    random_tweets,
    run_until_idle,
)
from trendoff.apps.compare import main as compare_main
from trendoff.batch.job import run_batch
from trendoff.entry import run_main
from trendoff.ingest.job import build_job as ingest_job
from trendoff.serving.compare import rank_mutual
from trendoff.serving.query import compare, run_compare
from trendoff.serving.views import ViewReader
from trendoff.settings import Settings
from trendoff.streaming.job import StreamOptions
from trendoff.views.keys import batch_bucket

USERS = ["BarackObama", "realDonaldTrump", "CNN", "cnnbrk"]
VOCABULARY = [
    "vote", "jobs", "america", "great", "climate", "health", "families", "president", "country", "people", "today",
    "tonight", "rally", "news", "breaking", "#maga", "#actonclimate", "the", "and", "of", "to",
]


# How this module's tweets are drawn (tests.support.random_tweets): 10% retweets, ids out of order.
TWEETS: dict[str, Any] = {"users": USERS, "vocabulary": VOCABULARY, "words": (3, 9), "retweet_share": 0.1,
                          "shuffle": True}


def catch_up(spark: SparkSession, settings: Settings, checkpoints: Path) -> None:
    for job in ("ingest", "speed"):
        run_until_idle(spark, settings, job, checkpoints)


def assert_compare_exact(settings: Settings, expected: dict[str, Counter[str]]) -> None:
    for a, b in (("BarackObama", "realDonaldTrump"), ("CNN", "cnnbrk"), ("cnnbrk", "BarackObama")):
        answer = run_compare(settings, a, b, top=100)
        want = rank_mutual(expected[a.lower()], expected[b.lower()], top=100)
        assert answer.top == want, f"{a} vs {b}"


def test_every_tweet_counted_exactly_once_whenever_batch_runs(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    first, second, third = (random_tweets(count, seed=seed, first_id=seed * 10_000, **TWEETS)
                            for count, seed in ((150, 1), (120, 2), (80, 3)))

    produce_tweets(settings, first)
    catch_up(spark, settings, tmp_path)
    assert_compare_exact(settings, expected_word_counts(spark, first))  # batch never run: speed only

    run_batch(spark, settings, clock_skew_seconds=0)  # batch in the middle of the stream
    assert_compare_exact(settings, expected_word_counts(spark, first))

    produce_tweets(settings, second + first[:40])  # more tweets, and a replay of some old ones
    catch_up(spark, settings, tmp_path)
    assert_compare_exact(settings, expected_word_counts(spark, first + second))

    run_batch(spark, settings, clock_skew_seconds=0)  # batch run twice
    assert_compare_exact(settings, expected_word_counts(spark, first + second))

    produce_tweets(settings, third)
    # batch while tweets flow: ingest has landed only part of the third slice
    options = StreamOptions(until_idle=True, checkpoint=tmp_path / "ingest", max_offsets_per_trigger=30,
                            timeout_seconds=300)
    job = ingest_job(spark, settings, options)
    result = run_batch(spark, settings, clock_skew_seconds=0)
    job.run()
    catch_up(spark, settings, tmp_path)
    assert_compare_exact(settings, expected_word_counts(spark, first + second + third))
    master = cassandra_table(spark, settings, "tweets")
    assert result.tweets_counted == master.where(F.col("arrived_at") < F.lit(result.arrival_cutoff)).count()


def test_answers_come_from_one_published_version_while_batch_publishes(
    pipeline_settings: Settings, cassandra_session: Any
) -> None:
    session = cassandra_session
    minute = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    # Version 1 (T = 12:00) and version 2 (T = 12:05) of the same history: a speed row at 12:02
    # is counted by version 2's batch view and by speed under version 1, so both give one answer.
    for version, bump in ((1, 0), (2, 1)):
        for user in ("alice", "bob"):
            session.execute(
                "INSERT INTO batch_words (version, bucket, user, word_counts, tweets_counted) "
                "VALUES (%s, %s, %s, %s, 1)",
                (version, batch_bucket(user), user, f'{{"vote": {3 + bump}, "jobs": 2}}'),
            )
    for user in ("alice", "bob"):
        session.execute(
            "INSERT INTO speed_words (user, arrival_minute, word, tweet_id, count) VALUES (%s, %s, 'vote', 7, 1)",
            (user, minute + dt.timedelta(minutes=2)),
        )
    publish = session.prepare("INSERT INTO batch_published (view_name, version, arrival_cutoff) VALUES ('words', ?, ?)")
    session.execute(publish, (1, minute))
    reader = ViewReader(session, pipeline_settings.keyspace)
    expected = compare(reader, "alice", "bob").top
    assert [(m.word, m.count_a, m.count_b) for m in expected] == [("vote", 4, 4), ("jobs", 2, 2)]

    stop = threading.Event()

    def flip() -> None:
        version = 1
        while not stop.is_set():
            version = 3 - version
            session.execute(publish, (version, minute + dt.timedelta(minutes=5 * (version - 1))))

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        answers = [compare(reader, "Alice", "@BOB").top for _ in range(200)]
    finally:
        stop.set()
        flipper.join(timeout=30)
    assert not flipper.is_alive(), "the publisher thread did not stop"
    assert all(answer == expected for answer in answers)


def test_compare_command_outputs_and_user_errors(
    pipeline_settings: Settings, cassandra_session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = cassandra_session
    minute = dt.datetime(2026, 1, 1, 12, 0)
    rows = [("alice", "vote", 1, 3), ("alice", "jobs", 2, 1), ("bob", "vote", 3, 2), ("bob", "rally", 4, 5)]
    for user, word, tweet_id, count in rows:
        session.execute(
            "INSERT INTO speed_words (user, arrival_minute, word, tweet_id, count) VALUES (%s, %s, %s, %s, %s)",
            (user, minute, word, tweet_id, count),
        )
    connection = connection_args(pipeline_settings, kafka=False)
    assert run_main(compare_main, ["Alice", "@bob", "--json", *connection]) == 0
    expected = '{"users": ["alice", "bob"], "as_of": null, "top": [{"word": "vote", "counts": [3, 2]}]}'
    assert capsys.readouterr().out.strip() == expected

    out, chart = tmp_path / "arrays.json", tmp_path / "chart.png"
    assert run_main(compare_main, ["alice", "alice", "--out", str(out), "--plot", str(chart), *connection]) == 0
    table = capsys.readouterr().out
    assert "vote" in table and "jobs" in table and "no batch yet" in table
    assert out.read_text().count('"words"') == 1 and chart.stat().st_size > 5000

    assert run_main(compare_main, ["alice", "nobody_here", *connection]) == 2
    err = capsys.readouterr().err
    assert "no tweets of @nobody_here" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        compare_main(["alice", "bob", "--top", "0", *connection])

