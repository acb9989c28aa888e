"""ingest and speed do a micro-batch's lookups and writes in the Spark tasks' Python workers, not in the
driver, and every tweet still lands and counts once (copies of an id in two partitions, a replay, poison, a
batch run in the middle)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pyspark.sql import SparkSession

from tests.support import (
    cassandra_table,
    expected_word_counts,
    produce_tweets,
    random_tweets,
)
from trendoff.batch.job import run_batch
from trendoff.ingest.job import build_job as ingest_job
from trendoff.serving.compare import rank_mutual
from trendoff.serving.query import run_compare
from trendoff.settings import Settings
from trendoff.speed.job import build_job as speed_job
from trendoff.streaming.job import StreamOptions

USERS = ["BarackObama", "realDonaldTrump", "CNN"]
VOCABULARY = ["vote", "jobs", "america", "climate", "health", "people", "rally", "news", "#maga", "the", "don't"]
TWEETS = {"users": USERS, "vocabulary": VOCABULARY, "retweet_share": 0.1}


def run_both_in_tasks(spark: SparkSession, settings: Settings, checkpoints: Path) -> dict[str, set[int]]:
    """ingest then speed over everything on the topic; per job, the pids of the Python workers that wrote
    its last micro-batch."""
    pids: dict[str, set[int]] = {}
    for build, name in ((ingest_job, "ingest"), (speed_job, "speed")):
        job = build(spark, settings, StreamOptions(until_idle=True, checkpoint=checkpoints / name, timeout_seconds=300))
        job.run()
        pids[name] = job.recorder.worker_pids
    return pids


def assert_exact(spark: SparkSession, settings: Settings, tweets: list[dict[str, object]]) -> None:
    expected = expected_word_counts(spark, tweets)
    for a, b in (("BarackObama", "realDonaldTrump"), ("CNN", "BarackObama")):
        assert run_compare(settings, a, b, top=50).top == rank_mutual(expected[a.lower()], expected[b.lower()], top=50)
    ids = {row.id for row in cassandra_table(spark, settings, "tweets").select("id").collect()}
    assert ids == {tweet["id"] for tweet in tweets}


def test_the_tasks_do_the_writes_and_every_tweet_counts_once(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    # Enough for one micro-batch to be shared by both of local[2]'s tasks (streaming/tasks.py).
    first = random_tweets(5_000, seed=11, first_id=100_000, **TWEETS)
    produce_tweets(settings, first, poison=[b"\x00\x01not avro at all", b""])
    produce_tweets(settings, first[:200], partition=1)  # copies of ids, most of them in another partition
    pids = set().union(*run_both_in_tasks(spark, settings, tmp_path).values())
    assert pids and os.getpid() not in pids, "the writes ran in the executors' Python workers"
    assert len(pids) >= 2, f"both tasks of local[2] wrote: {pids}"
    assert_exact(spark, settings, first)
    dead = cassandra_table(spark, settings, "dead_letters").where("job = 'ingest'").count()
    assert dead == 2

    run_batch(spark, settings, clock_skew_seconds=0)  # batch in the middle of the stream
    second = random_tweets(300, seed=12, first_id=200_000, **TWEETS)
    produce_tweets(settings, second + first[1_000:1_100])  # new tweets and a replay of old ones
    run_both_in_tasks(spark, settings, tmp_path)
    assert_exact(spark, settings, first + second)


def test_a_small_micro_batch_is_one_task(pipeline_settings: Settings, spark: SparkSession, tmp_path: Path) -> None:
    tweets = random_tweets(60, seed=13, first_id=300_000, **TWEETS)
    produce_tweets(pipeline_settings, tweets)
    for job, pids in run_both_in_tasks(spark, pipeline_settings, tmp_path).items():
        assert len(pids) == 1 and os.getpid() not in pids, f"{job}: one task, one worker: {pids}"
    assert_exact(spark, pipeline_settings, tweets)


def test_the_drivers_cpu_does_not_grow_with_the_tweets(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    """This process is the jobs' Python driver (the JVM and the Python workers are other processes), so its
    own CPU time is the driver's. Two runs of both jobs, the second over 18,000 tweets more than the first:
    writing from the driver cost about 0.45 ms of its CPU per tweet (8 s for 18,000, README), in the tasks
    what the driver spends is per micro-batch, not per tweet."""
    spent = []
    for count, seed, first_id in ((2_000, 14, 400_000), (20_000, 15, 500_000)):
        tweets = random_tweets(count, seed=seed, first_id=first_id, **TWEETS)
        produce_tweets(pipeline_settings, tweets)
        started = time.process_time()
        run_both_in_tasks(spark, pipeline_settings, tmp_path)
        spent.append(time.process_time() - started)
    assert spent[1] - spent[0] < 2.0, f"driver CPU: {spent[0]:.2f} s for 2,000 tweets, {spent[1]:.2f} s for 20,000"
