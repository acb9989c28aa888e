"""A topic's offsets as Kafka keeps them: watermarks read by probe consumers, and a streaming job's own
consumer group, where its progress is committed for people and monitoring."""

from __future__ import annotations

import logging
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from trendoff.clients.topics import client_config
from trendoff.errors import TrendoffError
from trendoff.settings import Settings

log = logging.getLogger(__name__)


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
