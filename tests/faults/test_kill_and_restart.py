"""kill -9 of the Kafka broker or of the Cassandra node under a running ingest job, then a restart of the
killed server (`stack up` starts what is not running): the job rides the outage out and every tweet is
landed exactly once, so what Cassandra acknowledged before it was killed is still there. On a stack of
the module's own."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import (
    connection_args,
    consume_all,
    messages_on_topic,
    produce_tweets,
    simple_tweets,
    wait_until,
)
from tests.support_faults import ingest_lag, ingest_process, kill_server, stored_ids, with_own_keyspace_and_topic
from trendoff.settings import Settings
from trendoff.stack.services import Stack


@pytest.mark.parametrize("server", ["cassandra", "kafka"])
def test_a_killed_server_is_restarted_and_the_job_stays_exact(
    server: str, private_stack: Settings, tmp_path: Path
) -> None:
    settings = with_own_keyspace_and_topic(private_stack)
    before, after = simple_tweets(60, 10_000), simple_tweets(60, 11_000)
    produce_tweets(settings, before)
    log_path = tmp_path / "ingest.log"
    with ingest_process(settings, log_path, tmp_path / "ingest") as job:
        wait_until(lambda: ingest_lag(settings) == 0, 180, "ingest to land the first tweets")
        kill_server(settings, server)
        Stack(settings).up()  # starts the killed server again on its data
        produce_tweets(settings, after)
        wait_until(lambda: ingest_lag(settings) == 0, 240, "ingest to land the tweets after the restart")
        assert job.poll() is None, f"the job died:\n{log_path.read_text()[-3000:]}"
        job.send_signal(signal.SIGTERM)
        assert job.wait(60) == 0
    assert stored_ids(settings) == {t["id"] for t in before + after}
    assert "Traceback" not in log_path.read_text()


def test_the_producer_rides_out_a_broker_restart(private_stack: Settings) -> None:
    settings = with_own_keyspace_and_topic(private_stack)
    producer = subprocess.Popen(
        [sys.executable, "-m", "trendoff.apps.cli", "produce", "synthetic", "--tweets", "2000", "--users", "20",
         "--rate", "250", *connection_args(settings, cassandra=False)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: messages_on_topic(settings) > 0, 60, "the producer to deliver its first tweets")
        kill_server(settings, "kafka")
        Stack(settings).up()
        out, err = producer.communicate(timeout=300)
    finally:
        if producer.poll() is None:
            producer.kill()
    assert producer.returncode == 0, err[-3000:]
    assert out.startswith("read 2,000, sent 2,000, delivered 2,000, failed 0"), out
    assert len(consume_all(settings, 2000, timeout_seconds=60)) == 2000, "idempotent retries: no duplicates"
