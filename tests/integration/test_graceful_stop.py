"""SIGTERM is an orderly stop, against the real broker and Cassandra: a streaming job stops its query,
lets go of its lease and exits 0; the producer delivers what it read, prints its summary and exits 0."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import connection_args, consume_all, messages_on_topic, produce_tweets, simple_tweets, wait_until
from trendoff.settings import Settings
from trendoff.streaming import progress


def test_sigterm_stops_a_streaming_job_cleanly(
    pipeline_settings: Settings, cassandra_session: Any, tmp_path: Path
) -> None:
    settings = pipeline_settings
    produce_tweets(settings, simple_tweets(30, 7_000))
    log_path = tmp_path / "ingest.log"
    with log_path.open("wb") as log_file:
        job = subprocess.Popen([sys.executable, "-m", "trendoff.ingest", *connection_args(settings), "--trigger",
                                "500ms", "--checkpoint", str(tmp_path / "ingest")],
                               stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: progress.lag(cassandra_session, settings.keyspace, "ingest", settings,
                                        settings.topic).total == 0, 180, "ingest to land every tweet")
        job.send_signal(signal.SIGTERM)
        assert job.wait(60) == 0, log_path.read_text()
    finally:
        if job.poll() is None:
            job.kill()
    log = log_path.read_text()
    assert "stopping (SIGTERM)" in log and "Traceback" not in log
    assert cassandra_session.execute("SELECT * FROM job_leases WHERE name = %s", (f"ingest:{settings.topic}",)
                                     ).one() is None, "the lease is let go"


def test_sigterm_makes_the_producer_deliver_what_it_read_and_summarise(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    producer = subprocess.Popen(
        [sys.executable, "-m", "trendoff.apps.cli", "produce", "synthetic", "--tweets", "1000000", "--users", "50",
         "--rate", "400", *connection_args(settings, cassandra=False)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: messages_on_topic(settings) > 0, 60, "the producer to deliver its first tweets")
    finally:
        producer.send_signal(signal.SIGTERM)
    out, err = producer.communicate(timeout=120)
    assert producer.returncode == 0, err
    found = re.search(r"read ([\d,]+), sent ([\d,]+), delivered ([\d,]+), failed 0", out)
    assert found, out
    read, sent, delivered = (int(group.replace(",", "")) for group in found.groups())
    assert 0 < delivered == sent == read < 1_000_000 and "Traceback" not in err, "every row read is delivered"
    assert len(consume_all(settings, delivered)) == delivered, "everything said delivered is on the topic"
