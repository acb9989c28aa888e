"""Cassandra paused (SIGSTOP) for 20 s under a running streaming job, then resumed: the job retries with
backoff instead of dying, keeps its lease, and lands every tweet exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.integration.test_job_state import master_ids, tweets
from tests.support import connection_args, produce_tweets, wait_until
from trendoff import progress
from trendoff.config import Settings

PAUSE_SECONDS = 20


@pytest.fixture
def cassandra_pid(stack_settings: Settings) -> int:
    pid_file = stack_settings.run_dir / "cassandra" / "pid"
    if not pid_file.is_file():
        pytest.skip("the suite runs against external services: there is no Cassandra process of its own to pause")
    return int(pid_file.read_text().strip())


def landed(session: Any, settings: Settings) -> bool:
    return progress.lag(session, settings.keyspace, "ingest", settings.bootstrap_servers, settings.topic).total == 0


def test_a_paused_cassandra_is_ridden_out(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, cassandra_pid: int, tmp_path: Path
) -> None:
    settings = pipeline_settings
    before, during = tweets(40, 8_000), tweets(40, 9_000)
    produce_tweets(settings, before)
    log_path = tmp_path / "ingest.log"
    with log_path.open("wb") as log_file:
        job = subprocess.Popen([sys.executable, "-m", "trendoff.ingest", *connection_args(settings), "--trigger",
                                "500ms", "--checkpoint", str(tmp_path / "ingest")],
                               stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: landed(cassandra_session, settings), 180, "ingest to land the first tweets")
        os.kill(cassandra_pid, signal.SIGSTOP)
        try:
            produce_tweets(settings, during)  # Kafka is up: the job reads them and cannot write them
            time.sleep(PAUSE_SECONDS)
            assert job.poll() is None, f"the job died while Cassandra was paused:\n{log_path.read_text()[-3000:]}"
        finally:
            os.kill(cassandra_pid, signal.SIGCONT)
        wait_until(lambda: landed(cassandra_session, settings), 240, "ingest to land the tweets of the pause")
        assert job.poll() is None, "the job is still running"
        job.send_signal(signal.SIGTERM)
        assert job.wait(60) == 0
    finally:
        if job.poll() is None:
            job.kill()
    log = log_path.read_text()
    assert "Cassandra did not answer" in log and "retrying in" in log, "the pause was seen and retried"
    assert "Traceback" not in log
    assert master_ids(spark, settings) == {t["id"] for t in before + during}
