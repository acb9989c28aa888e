"""ingest and speed against the real broker, Cassandra and Spark: exact counts, replays, restarts."""

from __future__ import annotations

import datetime as dt
import functools
import logging
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
    total_words,
    wait_until,
)
from trendoff.ingest.job import build_job as ingest_job
from trendoff.settings import Settings
from trendoff.speed.job import build_job as speed_job
from trendoff.speed.job import main as speed_main
from trendoff.streaming.job import StreamOptions
from trendoff.tweets import avro_codec

TEXTS = [
    "Climate change is real &amp; we must act on climate now https://t.co/x",
    "Great rally tonight in Ohio! Thank you Ohio! #MAGA",
    "RT @someone: this retweet must not be counted at all",
    "Health care for every family, every child. #ActOnClimate",
    "Jobs jobs jobs. America is working again @WhiteHouse",
    "Don\u2019t forget to vote: every vote counts, vote early",
]

# Event times of the drawn tweets: minutes over ten years from here, in random order.
START = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)


# Two tweets whose words are written out by hand (the rest are checked against the word rule itself).
HAND_WRITTEN = [
    {"id": 1, "user": "HandA", "text": "Vote, vote &amp; VOTE! #Vote2024 https://t.co/x @HandB y\u2019all 2024",
     "created_at": dt.datetime(2009, 3, 1, 12, 0, 0, 123000, tzinfo=dt.UTC), "lang": None, "is_retweet": False,
     "retweet_count": None, "favorite_count": 7},
    {"id": 2, "user": "handa", "text": "RT @HandB: vote for the bill", "is_retweet": True,
     "created_at": dt.datetime(2031, 1, 1, tzinfo=dt.UTC), "lang": "en", "retweet_count": 3, "favorite_count": None},
]
HAND_WRITTEN_COUNTS = Counter({"vote": 3, "#vote2024": 1, "y'all": 1})  # of user handa


def speed_totals(spark: SparkSession, settings: Settings) -> dict[str, Counter[str]]:
    """speed_words summed per user and word, in the oracle's shape (users without words absent)."""
    speed_words = cassandra_table(spark, settings, "speed_words")
    rows = speed_words.groupBy("user", "word").agg(F.sum("count").alias("n")).collect()
    totals: dict[str, Counter[str]] = {}
    for r in rows:
        if r.n:
            totals.setdefault(r.user, Counter())[r.word] = r.n
    return totals


def two_batches_with_rows(query: Any, job: str) -> bool:
    """Whether a running query has processed two micro-batches with rows; a failed query fails the test."""
    assert query.exception() is None, f"{job} failed: {query.exception()}"
    return sum(1 for p in query.recentProgress if p["numInputRows"]) >= 2


def test_jobs_land_and_count_every_tweet_once_through_replays_restarts_and_poison(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    first = random_tweets(120, seed=1, first_id=1000, users=["BarackObama", "realDonaldTrump", "cnnbrk"], texts=TEXTS,
                          start=START) + HAND_WRITTEN
    poison = [b"\x00\x01not avro at all", b"", b"\x02"]
    produce_tweets(settings, first, poison=poison)
    run_until_idle(spark, settings, "ingest", tmp_path)

    master = {r.id: r for r in cassandra_table(spark, settings, "tweets").collect()}
    assert set(master) == {t["id"] for t in first}
    for tweet in first:
        row = master[tweet["id"]]
        landed = {field: row[field] for field in avro_codec.field_names()}
        landed["created_at"] = landed["created_at"].replace(tzinfo=dt.UTC)
        assert landed == tweet
        assert row.arrived_at is not None and row.kafka_offset is not None and row.csv_loaded is None
    dead = cassandra_table(spark, settings, "dead_letters").where(F.col("job") == "ingest").collect()
    assert sorted(bytes(d.message_value) for d in dead) == sorted(poison)
    assert all(d.reason and bytes(d.message_key) == b"poison" for d in dead)
    assert cassandra_table(spark, settings, "speed_words").count() == 0, "speed is its own consumer group: not run yet"

    run_until_idle(spark, settings, "speed", tmp_path)
    totals = speed_totals(spark, settings)
    assert totals == expected_word_counts(spark, first)
    assert totals["handa"] == HAND_WRITTEN_COUNTS
    assert cassandra_table(spark, settings, "dead_letters").where(F.col("job") == "speed").count() == len(poison)
    climate = totals["barackobama"]["climate"]
    assert climate > 0 and climate % 2 == 0, "'climate' twice per tweet"
    assert not [user for user, words in totals.items() if {"retweet", "counted"} & set(words)], "retweets: no words"

    # A backlog produced while the jobs are stopped is counted when they restart (nothing dropped as late),
    # and a replay of the first tweets adds nothing anywhere.
    second = random_tweets(60, seed=2, first_id=5000, users=["BarackObama", "newsroom"], texts=TEXTS, start=START)
    produce_tweets(settings, second + first)
    run_until_idle(spark, settings, "speed", tmp_path)
    assert speed_totals(spark, settings) == expected_word_counts(spark, first + second)
    assert cassandra_table(spark, settings, "tweets").count() == len(first), "ingest stopped: the master table waits"
    run_until_idle(spark, settings, "ingest", tmp_path)
    after = {r.id: r for r in cassandra_table(spark, settings, "tweets").collect()}
    assert len(after) == len(first) + len(second)
    assert all(after[i].kafka_offset == master[i].kafka_offset for i in master), "first arrival kept on replay"

    # Running again with nothing new changes nothing (the checkpoints hold the offsets).
    run_until_idle(spark, settings, "speed", tmp_path)
    assert speed_totals(spark, settings) == expected_word_counts(spark, first + second)
    progress = {r.kafka_partition: r.next_offset for r in cassandra_table(spark, settings, "speed_progress").collect()}
    assert sum(progress.values()) == len(first) * 2 + len(second) + len(poison)


def test_speed_skips_tweets_the_published_batch_already_counts(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path, cassandra_session: Any
) -> None:
    settings = pipeline_settings
    tweets = random_tweets(30, seed=3, first_id=100, users=["alice", "bob"], texts=TEXTS, start=START)
    produce_tweets(settings, tweets)
    run_until_idle(spark, settings, "ingest", tmp_path)
    # A batch view published with a cutoff after these arrivals counts them all...
    cassandra_session.execute(
        "INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) VALUES ('words', 1, %s, %s)",
        (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), dt.datetime.now(dt.UTC)),
    )
    # ...and a csv-loaded tweet (history) is in it whatever its arrival.
    cassandra_session.execute("INSERT INTO tweets (id, user, text, csv_loaded) VALUES (9999, 'carol', 'x', true)")
    late = {"id": 9999, "user": "carol", "text": "history tweet arriving again later", "is_retweet": False,
            "created_at": dt.datetime(2015, 5, 5, tzinfo=dt.UTC), "lang": None, "retweet_count": None,
            "favorite_count": None}
    produce_tweets(settings, [late])
    run_until_idle(spark, settings, "speed", tmp_path)
    assert speed_totals(spark, settings) == {}


def test_a_restart_mid_stream_gives_the_same_totals(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    tweets = random_tweets(150, seed=4, first_id=10_000, users=["alice", "bob", "carol"], texts=TEXTS, start=START)
    produce_tweets(settings, tweets)
    for job, build in (("ingest", ingest_job), ("speed", speed_job)):
        # Small micro-batches, stopped after two of them: the job is killed half-way through the topic.
        options = StreamOptions(trigger_seconds=0.5, max_offsets_per_trigger=20, checkpoint=tmp_path / job)
        job_run = build(spark, settings, options)
        try:
            wait_until(functools.partial(two_batches_with_rows, job_run.query, job), 120,
                       f"{job} to process two micro-batches")
        finally:
            job_run.stop()
    assert 0 < cassandra_table(spark, settings, "tweets").count() < len(tweets)
    assert total_words(speed_totals(spark, settings)) < total_words(expected_word_counts(spark, tweets))

    run_until_idle(spark, settings, "speed", tmp_path)
    run_until_idle(spark, settings, "ingest", tmp_path)
    assert speed_totals(spark, settings) == expected_word_counts(spark, tweets)
    assert cassandra_table(spark, settings, "tweets").count() == len(tweets)
    progress = {r.kafka_partition: r.next_offset for r in cassandra_table(spark, settings, "ingest_progress").collect()}
    assert sum(progress.values()) == len(tweets)


def test_an_earlier_copy_read_after_a_later_one_wins_in_both_jobs(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One id in two partitions: the copy appended first (partition 0, behind 20 other tweets) is read
    after the later copy (partition 1) because each micro-batch takes only a few messages."""
    settings = pipeline_settings
    filler = random_tweets(20, seed=5, first_id=20_000, users=["dave"], texts=TEXTS, start=START)
    earlier = {"id": 777, "user": "Erin", "text": "alpha words first",
               "created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "lang": None,
               "is_retweet": False, "retweet_count": 1, "favorite_count": None}
    later = {**earlier, "user": "erin", "text": "bravo words second", "retweet_count": 2}
    produce_tweets(settings, [*filler, earlier], partition=0)
    produce_tweets(settings, [later], partition=1)
    caplog.set_level(logging.INFO, logger="trendoff.streaming.job")  # the micro-batches' log lines
    for job in ("ingest", "speed"):
        run_until_idle(spark, settings, job, tmp_path, max_offsets_per_trigger=5)

    row = cassandra_table(spark, settings, "tweets").where(F.col("id") == 777).first()
    assert (row.text, row.retweet_count, row.kafka_partition, row.kafka_offset) == ("alpha words first", 1, 0, 20)
    erin = {(r.word, r.tweet_id, r["count"]) for r in cassandra_table(spark, settings, "speed_words").where(
        F.col("user") == "erin").collect()}
    assert erin == {("alpha", 777, 1), ("words", 777, 1), ("first", 777, 1)}
    seen = cassandra_table(spark, settings, "speed_seen").where(F.col("id") == 777).first()
    assert (seen.kafka_partition, seen.kafka_offset, seen.arrival_minute) == (0, 20, row.arrived_at.replace(
        second=0, microsecond=0))
    assert speed_totals(spark, settings) == expected_word_counts(spark, [*filler, earlier])
    assert "tweets moved to an earlier copy 1" in caplog.text, "speed met the later copy first and moved its count"


def test_the_command_line_counts_retweets_on_request_and_a_reset_replay_adds_nothing(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    tweets = random_tweets(40, seed=6, first_id=30_000, users=["frank", "Grace"], texts=TEXTS, start=START)
    assert any(t["is_retweet"] for t in tweets)
    produce_tweets(settings, tweets)
    argv = [*connection_args(settings), "--until-idle",
            "--checkpoint", str(tmp_path / "speed"), "--max-offsets-per-trigger", "100", "--count-retweets"]
    assert speed_main(argv) == 0
    with_retweets = expected_word_counts(spark, tweets, count_retweets=True)
    assert with_retweets != expected_word_counts(spark, tweets)
    assert speed_totals(spark, settings) == with_retweets
    # --reset reads the whole topic again: every message is its own first arrival, rewritten in place.
    assert speed_main([*argv, "--reset"]) == 0
    assert speed_totals(spark, settings) == with_retweets
