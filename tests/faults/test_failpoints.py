"""kill -9 at named places inside the jobs (TRENDOFF_FAILPOINTS), then a restart: nothing is lost or
counted twice. A micro-batch killed after its rows and before its progress is done again; a batch run
killed before marking its version finished, or before publishing it, leaves the published version as
it was, and the next run publishes everything."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cassandra.query import ValueSequence
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.support import (
    cassandra_table,
    connection_args,
    expected_word_counts,
    produce_tweets,
    run_until_idle,
    simple_tweets,
)
from trendoff.serving.views import ViewReader
from trendoff.settings import ENV_VARS, Settings
from trendoff.views.keys import BATCH_BUCKETS


def killed_at(failpoint: str, command: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    """Run a trendoff module with ``failpoint`` switched on; it must die by SIGKILL there."""
    env = {**os.environ, ENV_VARS["failpoints"]: failpoint}
    done = subprocess.run([sys.executable, "-m", *command, *connection_args(settings)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == -9, f"not killed at {failpoint}:\n{done.stderr[-3000:]}"
    assert f"failpoint {failpoint}" in done.stderr
    return done


def speed_totals(spark: SparkSession, settings: Settings) -> dict[str, Counter[str]]:
    rows = cassandra_table(spark, settings, "speed_words").groupBy("user", "word").agg(F.sum("count").alias("n"))
    totals: dict[str, Counter[str]] = {}
    for row in rows.collect():
        totals.setdefault(row.user, Counter())[row.word] = row.n
    return totals


def published_version(session: Any) -> int:
    return session.execute("SELECT version FROM batch_published WHERE view_name = 'words'").one().version


def served_counts(session: Any, settings: Settings, users: set[str]) -> dict[str, Counter[str]]:
    """What serving answers per user: the published batch version plus the speed minutes after its T."""
    reader = ViewReader(session, settings.keyspace)
    published = reader.published()
    return {user: +reader.user_counts(user, published) for user in sorted(users)}


@pytest.mark.parametrize("job", ["ingest", "speed"])
def test_a_micro_batch_killed_before_its_progress_is_done_again_once(
    job: str, pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path
) -> None:
    settings = pipeline_settings
    tweets = simple_tweets(80, 20_000)
    produce_tweets(settings, tweets)
    checkpoint = tmp_path / job
    killed_at(f"{job}-before-progress", [f"trendoff.{job}", "--until-idle", "--checkpoint", str(checkpoint)],
              settings)
    table = {"ingest": "ingest_progress", "speed": "speed_progress"}[job]
    assert cassandra_session.execute(f"SELECT * FROM {table}").all() == [], "killed before any progress"
    # The restart takes over the dead process's lease at once and does the micro-batch again.
    run_until_idle(spark, settings, job, tmp_path)
    if job == "ingest":
        stored = cassandra_table(spark, settings, "tweets").groupBy("id").count().collect()
        assert sorted(row.id for row in stored) == [t["id"] for t in tweets] and {row["count"] for row in stored} == {1}
    else:
        assert speed_totals(spark, settings) == expected_word_counts(spark, tweets)


def test_a_batch_run_killed_before_finishing_or_publishing_changes_nothing_readers_see(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path
) -> None:
    settings = pipeline_settings
    first, later = simple_tweets(40, 30_000), simple_tweets(40, 31_000)
    users = {t["user"] for t in first}
    batch = ["trendoff.batch", "--clock-skew", "0", "--keep", "0"]

    def run_pipeline(tweets: list[dict[str, Any]]) -> None:
        produce_tweets(settings, tweets)
        for job in ("ingest", "speed"):
            run_until_idle(spark, settings, job, tmp_path)

    run_pipeline(first)
    assert subprocess.run([sys.executable, "-m", *batch, *connection_args(settings)], capture_output=True,
                          timeout=600, check=False).returncode == 0
    version = published_version(cassandra_session)
    assert served_counts(cassandra_session, settings, users) == expected_word_counts(spark, first)

    run_pipeline(later)
    for failpoint in ("batch-before-finished", "batch-before-publish"):
        killed_at(failpoint, batch, settings)
        assert published_version(cassandra_session) == version, f"readers see no change ({failpoint})"
        assert served_counts(cassandra_session, settings, users) == expected_word_counts(spark, first + later)
    versions = {row.version: row.finished_at for row in cassandra_session.execute(
        "SELECT version, finished_at FROM batch_versions WHERE view_name = 'words'")}
    unfinished = [v for v, finished in versions.items() if finished is None]
    assert len(versions) == 3 and len(unfinished) == 1

    assert subprocess.run([sys.executable, "-m", *batch, *connection_args(settings)], capture_output=True,
                          timeout=600, check=False).returncode == 0
    assert published_version(cassandra_session) > max(versions)
    assert served_counts(cassandra_session, settings, users) == expected_word_counts(spark, first + later)
    left = cassandra_session.execute("SELECT version FROM batch_words WHERE version = %s AND bucket IN %s LIMIT 1",
                                     (unfinished[0], ValueSequence(range(BATCH_BUCKETS)))).all()
    assert left == [], "the killed run's half-written version is cleaned up"


@pytest.mark.parametrize("job", ["ingest", "speed"])
def test_a_python_worker_killed_in_a_task_is_retried_by_spark_and_counts_once(
    job: str, pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    tweets = simple_tweets(80, 40_000)
    produce_tweets(settings, tweets)
    if job == "speed":
        run_until_idle(spark, settings, "ingest", tmp_path)
    failpoint = f"{job}-task-after-writes"
    # local[2,2]: Spark tries a failed task twice, as a cluster does (local mode's default is once).
    env = {**os.environ, ENV_VARS["failpoints"]: failpoint, ENV_VARS["spark_master"]: "local[2,2]"}
    done = subprocess.run([sys.executable, "-m", f"trendoff.{job}", "--until-idle", "--checkpoint",
                           str(tmp_path / f"{job}-killed"), *connection_args(settings)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"failpoint {failpoint}" in done.stderr, "a worker was killed after writing"
    assert "Python worker exited unexpectedly" in done.stderr or "crashed" in done.stderr, done.stderr[-3000:]
    if job == "ingest":
        stored = cassandra_table(spark, settings, "tweets").groupBy("id").count().collect()
        assert sorted(row.id for row in stored) == [t["id"] for t in tweets] and {row["count"] for row in stored} == {1}
    else:
        assert speed_totals(spark, settings) == expected_word_counts(spark, tweets)
