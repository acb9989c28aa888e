"""`trendoff topic --partitions N` on a running pipeline: the hand-off stays exact across the change.

Real Kafka, Cassandra and Spark: ingest and speed keep running while the topic grows from 3 to 5
partitions, tweets keyed by user go to the new partitions too (and replays of old ids land in
another partition than their first copy), batch runs while the jobs are behind; later the topic
grows again while the jobs are stopped, and again with retention deleting the start of a new
partition. Every time, serving's counts equal the oracle over the raw tweets.
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
    delete_messages_before,
    expected_word_counts,
    produce_tweets,
    random_tweets,
    run_until_idle,
)
from trendoff.apps.topic import main as topic_main
from trendoff.batch.cutoff import partition_facts
from trendoff.batch.job import run_batch
from trendoff.clients import kafka_offsets, topics
from trendoff.entry import run_main
from trendoff.errors import TrendoffError
from trendoff.ingest.job import build_job as ingest_job
from trendoff.serving.views import ViewReader
from trendoff.settings import Settings
from trendoff.speed.job import build_job as speed_job
from trendoff.streaming import progress
from trendoff.streaming.job import StreamingJob, StreamOptions

# Enough handles that the default partitioner (a hash of the key) gives every partition some.
USERS = [f"user{n:02d}" for n in range(24)]
VOCABULARY = ["vote", "jobs", "america", "climate", "health", "people", "rally", "news", "#maga", "the", "and"]


# How this module's tweets are drawn (tests.support.random_tweets).
TWEETS: dict[str, Any] = {"users": USERS, "vocabulary": VOCABULARY, "words": (2, 7),
                          "start": dt.datetime(2015, 1, 1, tzinfo=dt.UTC), "span_minutes": 3_000_000}


class RunningJob:
    """A streaming job running in a thread of the test process (the suite's SparkSession), as `trendoff
    ingest` runs it: until asked to stop."""

    def __init__(self, job: StreamingJob) -> None:
        self.job = job
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=job.name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.job.run()
        except BaseException as error:  # handed to the test's thread by check() and stop()
            self.failure = error

    def check(self) -> None:
        if self.failure is not None:
            raise AssertionError(f"{self.job.name} failed") from self.failure
        assert self.thread.is_alive(), f"{self.job.name} stopped by itself"

    def stop(self) -> None:
        self.job.request_stop()  # what SIGTERM does to the job's own process
        self.thread.join(120)
        assert not self.thread.is_alive(), f"{self.job.name} did not stop within 120 s"
        if self.failure is not None:
            raise AssertionError(f"{self.job.name} failed") from self.failure


def wait_caught_up(settings: Settings, session: Any, jobs: list[RunningJob]) -> None:
    def check_jobs() -> None:
        for job in jobs:
            job.check()

    progress.wait_until_caught_up(session, settings.keyspace, ["ingest", "speed"], settings,
                                  settings.topic, timeout_seconds=240, check_jobs=check_jobs)


def assert_serving_exact(settings: Settings, session: Any, expected: dict[str, Counter[str]]) -> None:
    """Every user's counts as serving merges them (published batch + speed minutes >= T) equal the oracle."""
    reader = ViewReader(session, settings.keyspace)
    published = reader.published()
    answers = {user: reader.user_counts(user, published) for user in expected}
    assert answers == expected


def tweets_per_partition(spark: SparkSession, settings: Settings) -> dict[int, int]:
    rows = cassandra_table(spark, settings, "tweets").groupBy("kafka_partition").agg(F.count("*").alias("n"))
    return {row.kafka_partition: row.n for row in rows.collect()}


def test_partitions_raised_under_running_jobs_keep_every_count_exact(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    settings, session = pipeline_settings, cassandra_session
    first, second, third = (random_tweets(count, seed=seed, first_id=seed * 10_000, **TWEETS)
                            for count, seed in ((120, 1), (120, 2), (60, 3)))
    kafka_flags = connection_args(settings, cassandra=False)

    produce_tweets(settings, first)
    jobs = [RunningJob(build(spark, settings, StreamOptions(trigger_seconds=1.0, checkpoint=tmp_path / name)))
            for name, build in (("ingest", ingest_job), ("speed", speed_job))]
    try:
        wait_caught_up(settings, session, jobs)
        assert_serving_exact(settings, session, expected_word_counts(spark, first))
        run_batch(spark, settings, clock_skew_seconds=0)

        assert run_main(topic_main, ["--partitions", "5", *kafka_flags]) == 0
        assert capsys.readouterr().out.startswith(f"topic {settings.topic}: 3 -> 5 partitions")
        assert topics.partition_count(settings, settings.topic) == 5

        # New tweets, and a replay of old ids whose key may now hash to another partition than their first copy.
        produce_tweets(settings, second + first[:50])
        ends = kafka_offsets.end_offsets(settings, settings.topic)
        assert ends[3] > 0 and ends[4] > 0, f"the new partitions got no tweets: {ends}"
        run_batch(spark, settings, clock_skew_seconds=0)  # while the running jobs catch up with the new partitions
        wait_caught_up(settings, session, jobs)
        assert_serving_exact(settings, session, expected_word_counts(spark, first + second))

        produce_tweets(settings, third)
        run_batch(spark, settings, clock_skew_seconds=0)
        wait_caught_up(settings, session, jobs)
        assert_serving_exact(settings, session, expected_word_counts(spark, first + second + third))
    finally:
        for job in jobs:
            job.stop()
    # The jobs' own Kafka client saw the new partitions' end offsets at once (it never went without them).
    assert not [r.getMessage() for r in caplog.records if "sizing this micro-batch" in r.getMessage()]

    # Every partition's progress is at its end, and the master table holds the tweets of the new partitions.
    ends = kafka_offsets.end_offsets(settings, settings.topic)
    for job in ("ingest", "speed"):
        assert progress.job_positions(session, settings.keyspace, job, settings.topic) == ends
    landed = tweets_per_partition(spark, settings)
    assert set(landed) == {0, 1, 2, 3, 4} and sum(landed.values()) == len({t["id"] for t in first + second + third})

    # Raised again while the jobs are stopped: they resume from their checkpoints and read partition 5 too.
    assert run_main(topic_main, ["--partitions", "6", *kafka_flags]) == 0
    fourth = random_tweets(80, seed=4, first_id=40_000, **TWEETS)
    produce_tweets(settings, fourth)
    assert kafka_offsets.end_offsets(settings, settings.topic)[5] > 0
    for job in ("ingest", "speed"):
        run_until_idle(spark, settings, job, tmp_path)
    assert_serving_exact(settings, session, expected_word_counts(spark, first + second + third + fourth))
    run_batch(spark, settings, clock_skew_seconds=0)
    assert_serving_exact(settings, session, expected_word_counts(spark, first + second + third + fourth))

    # Kafka can only add partitions: a count that is not higher is one line and exit code 2.
    capsys.readouterr()
    for count in ("6", "2"):
        assert run_main(topic_main, ["--partitions", count, *kafka_flags]) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1] == (f"trendoff: error: topic {settings.topic} has 6 partitions and Kafka "
                                                "can only add partitions: --partitions must be more than 6")
        assert "Traceback" not in err
    assert run_main(topic_main, kafka_flags) == 0
    assert capsys.readouterr().out.strip() == f"topic {settings.topic}: 6 partitions"


def test_retention_on_a_partition_added_while_ingest_was_stopped_is_recorded_not_fatal(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path,
) -> None:
    settings, session = pipeline_settings, cassandra_session
    produce_tweets(settings, random_tweets(30, seed=5, first_id=50_000, **TWEETS))
    run_until_idle(spark, settings, "ingest", tmp_path)

    # While ingest is stopped the topic grows, the new partition gets tweets, and retention deletes its first
    # 4: the checkpoint knows no partition 3, so Spark alone would fail ("starts from 4 instead of 0").
    topics.raise_partitions(settings, settings.topic, 4)
    on_new = random_tweets(10, seed=6, first_id=60_000, **TWEETS)
    produce_tweets(settings, on_new, partition=3)
    delete_messages_before(settings, 3, 4)
    run_until_idle(spark, settings, "ingest", tmp_path)

    gaps = [(row.kafka_partition, row.from_offset, row.to_offset) for row in session.execute(
        "SELECT kafka_partition, from_offset, to_offset FROM retention_gaps WHERE job = 'ingest' AND topic = %s",
        (settings.topic,))]
    assert gaps == [(3, 0, 4)]
    landed = {row.id for row in cassandra_table(spark, settings, "tweets").where(F.col("kafka_partition") == 3)
              .select("id").collect()}
    assert landed == {tweet["id"] for tweet in on_new[4:]}
    assert progress.job_positions(session, settings.keyspace, "ingest", settings.topic)[3] == len(on_new)


def test_the_cutoff_asks_again_while_the_metadata_lacks_a_partition_ingest_has_read(
    pipeline_settings: Settings, cassandra_session: Any,
) -> None:
    settings, session = pipeline_settings, cassandra_session
    # Progress on partition 3 of a 3-partition topic: what a broker that has not yet heard of an increase
    # would show. T is not taken without it.
    session.execute("INSERT INTO ingest_progress (topic, kafka_partition, next_offset) VALUES (%s, 3, 0)",
                    (settings.topic,))
    with pytest.raises(TrendoffError) as refused:
        partition_facts(settings, session, timeout_seconds=2)
    assert refused.value.reason == "kafka-metadata" and "[3]" in refused.value.message
    topics.raise_partitions(settings, settings.topic, 4)
    assert [fact.partition for fact in partition_facts(settings, session)] == [0, 1, 2, 3]
