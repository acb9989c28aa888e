"""How far the streaming jobs are: their progress tables in Cassandra, compared with the topic's end offsets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cassandra.cluster import Session

from trendoff.clients.kafka_offsets import end_offsets
from trendoff.errors import TrendoffError
from trendoff.settings import Settings

log = logging.getLogger(__name__)

# The tables each streaming job writes after the effects of a micro-batch are in Cassandra.
PROGRESS_TABLES = {"ingest": "ingest_progress", "speed": "speed_progress"}


def job_positions(session: Session, keyspace: str, job: str, topic: str, topic_id: str | None = None
                  ) -> dict[int, int]:
    """Next offset per partition whose effects the job has written (missing partitions: none yet).

    With ``topic_id``, only rows written for that incarnation of the topic count (rows from before
    ids were recorded, with none, are taken as this one's).
    """
    rows = session.execute(
        f"SELECT kafka_partition, next_offset, topic_id FROM {keyspace}.{PROGRESS_TABLES[job]} WHERE topic = %s",
        (topic,),
    )
    return {row.kafka_partition: row.next_offset for row in rows
            if topic_id is None or row.topic_id in (None, topic_id)}


def other_topic_ids(session: Session, keyspace: str, job: str, topic: str, topic_id: str) -> set[str]:
    """Ids of other incarnations of ``topic`` that the job's progress rows were written for."""
    rows = session.execute(f"SELECT topic_id FROM {keyspace}.{PROGRESS_TABLES[job]} WHERE topic = %s", (topic,))
    return {row.topic_id for row in rows if row.topic_id not in (None, topic_id)}


def delete_positions(session: Session, keyspace: str, job: str, topic: str) -> None:
    """Forget how far the job got on ``topic`` (its --reset)."""
    session.execute(f"DELETE FROM {keyspace}.{PROGRESS_TABLES[job]} WHERE topic = %s", (topic,))


@dataclass(frozen=True)
class Lag:
    """Messages a job still has to process, per partition."""

    job: str
    behind: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.behind.values())


def lag(session: Session, keyspace: str, job: str, settings: Settings, topic: str) -> Lag:
    ends = end_offsets(settings, topic)
    positions = job_positions(session, keyspace, job, topic)
    return Lag(job, {p: max(0, end - positions.get(p, 0)) for p, end in ends.items()})


def wait_until_caught_up(
    session: Session,
    keyspace: str,
    jobs: list[str],
    settings: Settings,
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
        lags = [lag(session, keyspace, job, settings, topic) for job in jobs]
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
