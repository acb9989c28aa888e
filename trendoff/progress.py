"""How far the streaming jobs are: their progress tables compared with the topic's end offsets."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cassandra.cluster import Session
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from trendoff.config import Settings
from trendoff.errors import TrendoffError
from trendoff.topics import client_config

log = logging.getLogger(__name__)

# The tables each streaming job writes after the effects of a micro-batch are in Cassandra.
PROGRESS_TABLES = {"ingest": "ingest_progress", "speed": "speed_progress"}


def consumer_group(job: str, keyspace: str, topic: str) -> str:
    """The Kafka consumer group a job's progress is committed to (as its checkpoint folder is named), so
    Kafka's own tools (`kafka-consumer-groups --describe --group ...`) show the job's lag too."""
    return f"trendoff-{job}-{keyspace}-{topic}"


def _consumer(settings: Settings, group: str, **extra: object) -> Consumer:
    # Never subscribes: it reads watermarks and, for a job's group, commits offsets it is given.
    return Consumer({**client_config(settings), "group.id": group, "enable.auto.commit": False, **extra})


def _watermarks(consumer: Consumer, bootstrap: str, topic: str, timeout_seconds: float
                ) -> dict[int, tuple[int, int]]:
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_seconds)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            raise TrendoffError("no-topic", f"topic {topic} does not exist on {bootstrap}")
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_seconds, cached=False
            )
            for partition in described.partitions
        }
    except KafkaException as error:
        raise TrendoffError("kafka-unreachable", f"cannot read the offsets of {topic}: {error}") from error


def _end_offsets(consumer: Consumer, bootstrap: str, topic: str, timeout_seconds: float) -> dict[int, int]:
    return {partition: high for partition, (_low, high) in _watermarks(consumer, bootstrap, topic,
                                                                        timeout_seconds).items()}


def probe_consumer(settings: Settings, purpose: str = "probe", **extra: object) -> Consumer:
    """A consumer in a throwaway group (it never commits), for reading watermarks and messages."""
    return _consumer(settings, f"trendoff-{purpose}-{uuid.uuid4().hex[:8]}", **extra)


def end_offsets(settings: Settings, topic: str, timeout_seconds: float = 10.0) -> dict[int, int]:
    """The high watermark (offset of the next message) of every partition of ``topic``."""
    consumer = probe_consumer(settings)
    try:
        return _end_offsets(consumer, settings.bootstrap_servers, topic, timeout_seconds)
    finally:
        consumer.close()


def start_offsets(settings: Settings, topic: str, timeout_seconds: float = 10.0) -> dict[int, int]:
    """The low watermark (first message still on the broker, after retention) of every partition."""
    consumer = probe_consumer(settings)
    try:
        return {partition: low for partition, (low, _high) in _watermarks(consumer, settings.bootstrap_servers,
                                                                          topic, timeout_seconds).items()}
    finally:
        consumer.close()


class JobGroup:
    """A streaming job's one Kafka client: the topic's end offsets each micro-batch, and the job's
    progress committed to its consumer group after the micro-batch's effects are in Cassandra.

    The group's offsets are for people and monitoring; the job itself resumes from its checkpoint
    and its progress table, so a failed commit is logged and never fails a micro-batch.
    """

    def __init__(self, settings: Settings, job: str, keyspace: str, topic: str) -> None:
        self.settings = settings
        self.bootstrap = settings.bootstrap_servers
        self.topic = topic
        self.group = consumer_group(job, keyspace, topic)
        self._consumer: Consumer | None = None

    @property
    def consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = _consumer(self.settings, self.group, on_commit=self._committed)
        return self._consumer

    def end_offsets(self, timeout_seconds: float = 10.0) -> dict[int, int]:
        return _end_offsets(self.consumer, self.bootstrap, self.topic, timeout_seconds)

    def commit(self, positions: dict[int, int]) -> bool:
        """Commit ``positions`` (next offset per partition) to the group, without waiting for the broker's
        answer (a refusal is logged when it comes); False (and a warning) when it cannot even be sent."""
        if not positions:
            return True
        offsets = [TopicPartition(self.topic, partition, offset) for partition, offset in sorted(positions.items())]
        try:
            self.consumer.poll(0)  # serves the answers to earlier commits, so they do not pile up
            self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:
            log.warning("could not commit progress to consumer group %s (the job goes on): %s", self.group, error)
            return False
        return True

    def _committed(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        failed = [f"p{tp.partition}: {tp.error}" for tp in partitions if tp.error is not None]
        if error is not None or failed:
            log.warning("consumer group %s refused offsets (the job goes on): %s", self.group,
                        error or ", ".join(failed))

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.poll(0)  # serves the answers of the last commits (their callbacks)
            self._consumer.close()
            self._consumer = None


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
