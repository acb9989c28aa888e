"""How far the streaming jobs are: their progress tables compared with the topic's end offsets."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cassandra.cluster import Session
from confluent_kafka import Consumer, KafkaException, TopicPartition

from trendoff.errors import TrendoffError
from trendoff.topics import client_config

log = logging.getLogger(__name__)

# The tables each streaming job writes after the effects of a micro-batch are in Cassandra.
PROGRESS_TABLES = {"ingest": "ingest_progress", "speed": "speed_progress"}


def end_offsets(bootstrap: str, topic: str, timeout_seconds: float = 10.0) -> dict[int, int]:
    """The high watermark (offset of the next message) of every partition of ``topic``."""
    consumer = Consumer(
        {**client_config(bootstrap), "group.id": f"trendoff-probe-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_seconds)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            raise TrendoffError("no-topic", f"topic {topic} does not exist on {bootstrap}")
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_seconds, cached=False
            )[1]
            for partition in described.partitions
        }
    except KafkaException as error:
        raise TrendoffError("kafka-unreachable", f"cannot read the end offsets of {topic}: {error}") from error
    finally:
        consumer.close()


def job_positions(session: Session, keyspace: str, job: str, topic: str) -> dict[int, int]:
    """Next offset per partition whose effects the job has written (missing partitions: none yet)."""
    rows = session.execute(
        f"SELECT kafka_partition, next_offset FROM {keyspace}.{PROGRESS_TABLES[job]} WHERE topic = %s",
        (topic,),
    )
    return {row.kafka_partition: row.next_offset for row in rows}


@dataclass(frozen=True)
class Lag:
    """Messages a job still has to process, per partition."""

    job: str
    behind: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.behind.values())


def lag(session: Session, keyspace: str, job: str, bootstrap: str, topic: str) -> Lag:
    ends = end_offsets(bootstrap, topic)
    positions = job_positions(session, keyspace, job, topic)
    return Lag(job, {p: max(0, end - positions.get(p, 0)) for p, end in ends.items()})


def wait_until_caught_up(
    session: Session,
    keyspace: str,
    jobs: list[str],
    bootstrap: str,
    topic: str,
    timeout_seconds: float,
    poll_seconds: float = 1.0,
    check_jobs: Callable[[], None] | None = None,
) -> None:
    """Block until every job has processed everything on the topic now, logging the lag as it falls.

    ``check_jobs`` is called on every poll and should raise when a job has died, so a failed job
    ends the wait at once instead of at the deadline.
    """
    deadline = time.monotonic() + timeout_seconds
    last_report = 0.0
    while True:
        if check_jobs is not None:
            check_jobs()
        lags = [lag(session, keyspace, job, bootstrap, topic) for job in jobs]
        if all(item.total == 0 for item in lags):
            return
        now = time.monotonic()
        if now > deadline:
            behind = ", ".join(f"{item.job} {item.total}" for item in lags)
            raise TrendoffError("not-caught-up", f"jobs still behind after {timeout_seconds:.0f} s: {behind}")
        if now - last_report > 5:
            log.info("waiting for the jobs: %s", ", ".join(f"{i.job} {i.total} behind" for i in lags))
            last_report = now
        time.sleep(poll_seconds)
