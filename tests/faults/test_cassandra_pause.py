"""Cassandra paused (SIGSTOP) for 20 s under a running streaming job, then resumed: the job retries with
backoff instead of dying, keeps its lease, and lands every tweet exactly once. On a stack of the
module's own, so the suite's shared servers are never paused."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.support import produce_tweets, simple_tweets, wait_until
from tests.support_faults import ingest_lag, ingest_process, server_pid, stored_ids, with_own_keyspace_and_topic
from trendoff.settings import Settings

PAUSE_SECONDS = 20


def test_a_paused_cassandra_is_ridden_out(private_stack: Settings, tmp_path: Path) -> None:
    settings = with_own_keyspace_and_topic(private_stack)
    before, during = simple_tweets(40, 8_000), simple_tweets(40, 9_000)
    produce_tweets(settings, before)
    log_path = tmp_path / "ingest.log"
    with ingest_process(settings, log_path, tmp_path / "ingest") as job:
        wait_until(lambda: ingest_lag(settings) == 0, 180, "ingest to land the first tweets")
        cassandra = server_pid(settings, "cassandra")
        os.kill(cassandra, signal.SIGSTOP)
        try:
            produce_tweets(settings, during)  # Kafka is up: the job reads them and cannot write them
            time.sleep(PAUSE_SECONDS)
            assert job.poll() is None, f"the job died while Cassandra was paused:\n{log_path.read_text()[-3000:]}"
        finally:
            os.kill(cassandra, signal.SIGCONT)
        wait_until(lambda: ingest_lag(settings) == 0, 240, "ingest to land the tweets of the pause")
        assert job.poll() is None, "the job is still running"
        job.send_signal(signal.SIGTERM)
        assert job.wait(60) == 0
    log = log_path.read_text()
    assert "Cassandra did not answer" in log and "retrying in" in log, "the pause was seen and retried"
    assert "Traceback" not in log
    assert stored_ids(settings) == {t["id"] for t in before + during}
