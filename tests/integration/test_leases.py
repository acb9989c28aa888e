"""One writer per job, against the real Cassandra (compare-and-set) and the real jobs: a second copy says
who holds the lease and stops; a holder that died on this host is taken over; a lost lease is noticed."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.support import run_until_idle, wait_until
from trendoff.batch.job import run_batch
from trendoff.clients.leases import Lease
from trendoff.errors import TrendoffError
from trendoff.settings import Settings


def holder_of(session: Any, keyspace: str, name: str) -> str | None:
    row = session.execute(f"SELECT holder FROM {keyspace}.job_leases WHERE name = %s", (name,)).one()
    return None if row is None else row.holder


def test_a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go(
    pipeline_settings: Settings, cassandra_session: Any
) -> None:
    keyspace = pipeline_settings.keyspace
    first = Lease(cassandra_session, keyspace, "ingest:t", ttl_seconds=3)
    with first:
        time.sleep(4)  # longer than the TTL: only renewing keeps it
        assert holder_of(cassandra_session, keyspace, "ingest:t") == first.holder
        with pytest.raises(TrendoffError) as refused:
            Lease(cassandra_session, keyspace, "ingest:t").acquire()
        assert refused.value.reason == "lease-held" and first.holder in refused.value.message
        first.check()  # still held
    assert holder_of(cassandra_session, keyspace, "ingest:t") is None
    with Lease(cassandra_session, keyspace, "ingest:t"):
        pass


def test_a_holder_whose_process_is_gone_is_taken_over_at_once(
    pipeline_settings: Settings, cassandra_session: Any
) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = f"{socket.gethostname()}:{finished.pid}:deadbeef"
    cassandra_session.execute("INSERT INTO job_leases (name, holder) VALUES ('speed:t', %s) USING TTL 300", (dead,))
    with Lease(cassandra_session, pipeline_settings.keyspace, "speed:t") as lease:
        assert holder_of(cassandra_session, pipeline_settings.keyspace, "speed:t") == lease.holder


def test_a_lost_lease_is_noticed_by_its_holder(pipeline_settings: Settings, cassandra_session: Any) -> None:
    lease = Lease(cassandra_session, pipeline_settings.keyspace, "batch:t", ttl_seconds=3)
    with lease:
        cassandra_session.execute("UPDATE job_leases SET holder = 'elsewhere:1:x' WHERE name = 'batch:t'")
        wait_until(lease.lost.is_set, 10, "the holder to notice it lost the lease")
        with pytest.raises(TrendoffError) as stopped:
            lease.check()
        assert stopped.value.reason == "lease-lost"


def test_a_second_streaming_job_or_batch_run_stops_with_one_line(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path
) -> None:
    settings = pipeline_settings
    for job in ("ingest", "speed"):
        with Lease(cassandra_session, settings.keyspace, f"{job}:{settings.topic}") as running:
            with pytest.raises(TrendoffError) as refused:
                run_until_idle(spark, settings, job, tmp_path)
            assert refused.value.reason == "lease-held" and running.holder in refused.value.message
            assert not (tmp_path / job).exists(), "the refused job touched no state"
    with Lease(cassandra_session, settings.keyspace, f"batch:{settings.topic}"), pytest.raises(TrendoffError) as ran:
        run_batch(spark, settings)
    assert ran.value.reason == "lease-held"
    run_batch(spark, settings)  # once the other run is over
