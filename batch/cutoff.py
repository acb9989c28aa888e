"""The batch cutoff T: a minute boundary before which `ingest` has provably landed every partition.

For each partition, compare ingest's next offset (everything before it is in the master table)
with the broker's end offset read after the start time t0:
* caught up: every message appended before t0 is landed, so the partition is covered up to t0
  (less a margin for clock skew between this host and the brokers);
* behind: the first unlanded message was appended at ts, and offsets are in append-time order,
  so every message appended before ts is landed: covered up to ts.
A partition ingest has never touched counts from its low watermark (nothing of it is landed).
T is the minimum over partitions, floored to the minute (docs/design.md).

Used by the batch layer (when a run starts) and by tests that need to know where T falls.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from cassandra.cluster import Session
from confluent_kafka import Consumer, KafkaException, TopicPartition

from trendoff.clients import kafka_offsets, topics
from trendoff.errors import TrendoffError
from trendoff.settings import Settings
from trendoff.streaming import progress, retention
from trendoff.times import floor_to_minute

log = logging.getLogger(__name__)

DEFAULT_CLOCK_SKEW_SECONDS = 2.0


@dataclass(frozen=True)
class PartitionFacts:
    """What is known about one partition when the cutoff is taken."""

    partition: int
    landed_up_to: int  # ingest's next offset (the low watermark when ingest never touched it)
    end_offset: int  # the broker's high watermark, read after t0
    first_unlanded_append_time: dt.datetime | None = None  # needed only when landed_up_to < end_offset

    @property
    def caught_up(self) -> bool:
        return self.landed_up_to >= self.end_offset


def cutoff_from_facts(facts: list[PartitionFacts], t0: dt.datetime, clock_skew_seconds: float) -> dt.datetime:
    """T from per-partition facts (pure, so the rule is tested on hand-written cases)."""
    if clock_skew_seconds < 0:
        raise ValueError("the clock-skew margin cannot be negative")
    caught_up_cover = t0 - dt.timedelta(seconds=clock_skew_seconds)
    covered = []
    for fact in facts:
        if fact.caught_up:
            covered.append(caught_up_cover)
        elif fact.first_unlanded_append_time is None:
            raise ValueError(f"partition {fact.partition} is behind but its next append time is unknown")
        else:
            # No skew margin on this one: it is the broker's own clock, the clock arrived_at is in.
            # Capped at the caught-up cover so that T never runs ahead of the run's start.
            covered.append(min(fact.first_unlanded_append_time, caught_up_cover))
    return floor_to_minute(min(covered, default=caught_up_cover))


def _append_time_at(consumer: Consumer, topic: str, partition: int, offset: int, timeout_seconds: float) -> dt.datetime:
    """The append time of the message at ``offset``, read within ``timeout_seconds``."""
    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = time.monotonic() + timeout_seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            message = consumer.poll(left)
            if message is None:
                break
            if message.error() is not None:
                # A transient fetch error is retried until the deadline; say what it was if it stays.
                log.debug("reading %s/%d@%d: %s", topic, partition, offset, message.error())
                continue
            _kind, millis = message.timestamp()
            # The first message at or after the offset: the one asked for, or (after retention or a
            # transaction marker) the first one still there, whose append time is no earlier.
            return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    finally:
        consumer.unassign()
    raise TrendoffError(
        "kafka-read",
        f"cannot read offset {offset} of {topic}/{partition} within {timeout_seconds:.0f} s to place the batch cutoff",
    )


def _covering(settings: Settings, ends: dict[int, int], landed: set[int], timeout_seconds: float) -> dict[int, int]:
    """``ends``, read again until it has every partition ingest has landed messages of.

    Partitions are only ever added (`trendoff topic --partitions`), so a landed partition missing from
    the metadata means the broker that answered had not yet heard of the increase; T must cover every
    partition, and taking it without one would leave that partition's tweets before T to no layer.
    Any time after t0 is a good time to read the end offsets, so reading them again is sound.
    """
    deadline = time.monotonic() + timeout_seconds
    while missing := landed - set(ends):
        if time.monotonic() > deadline:
            raise TrendoffError("kafka-metadata", f"the broker's metadata of {settings.topic} still lacks partitions "
                                f"{sorted(missing)} that ingest has read after {timeout_seconds:.0f} s")
        log.info("%s: the metadata lacks partitions %s that ingest has read; asking again", settings.topic,
                 sorted(missing))
        time.sleep(0.5)
        ends = kafka_offsets.end_offsets(settings, settings.topic, timeout_seconds)
    return ends


def partition_facts(settings: Settings, session: Session, timeout_seconds: float = 15.0) -> list[PartitionFacts]:
    """Per partition of the configured topic: what ingest has landed, the end offset, the next append time.

    Call it after taking t0: the end offsets must be read after it.
    """
    ends = kafka_offsets.end_offsets(settings, settings.topic, timeout_seconds)
    # Only progress written for this incarnation of the topic says what ingest landed of it.
    topic_id = topics.topic_id(settings, settings.topic, timeout_seconds)
    landed = progress.job_positions(session, settings.keyspace, "ingest", settings.topic, topic_id)
    ends = _covering(settings, ends, set(landed), timeout_seconds)
    consumer = kafka_offsets.probe_consumer(settings, "cutoff", **{"auto.offset.reset": "earliest"})
    try:
        facts = []
        for partition, end in sorted(ends.items()):
            low, _high = consumer.get_watermark_offsets(
                TopicPartition(settings.topic, partition), timeout=timeout_seconds, cached=False
            )
            # Offsets below the low watermark are gone (retention): nothing there to wait for, but
            # messages deleted before ingest read them are never counted, so say how many.
            if landed.get(partition, 0) < low:
                log.warning("%s/%d: %s messages (offsets %d to %d) were deleted by retention before ingest read "
                            "them; no layer counts them", settings.topic, partition,
                            f"{low - landed.get(partition, 0):,}", landed.get(partition, 0), low - 1)
            position = max(landed.get(partition, low), low)
            first_unlanded = None
            if position < end:
                first_unlanded = _append_time_at(consumer, settings.topic, partition, position, timeout_seconds)
            facts.append(PartitionFacts(partition, position, end, first_unlanded))
        return facts
    except KafkaException as error:
        raise TrendoffError("kafka-unreachable", f"cannot read {settings.topic} to place the batch cutoff: {error}") \
            from error
    finally:
        consumer.close()


def batch_cutoff(
    settings: Settings,
    session: Session,
    clock_skew_seconds: float = DEFAULT_CLOCK_SKEW_SECONDS,
    timeout_seconds: float = 15.0,
) -> dt.datetime:
    """Take T now for the configured topic, from `ingest_progress` and the broker."""
    t0 = dt.datetime.now(dt.UTC)  # before the end offsets are read: see the module docstring
    facts = partition_facts(settings, session, timeout_seconds)
    cutoff = cutoff_from_facts(facts, t0, clock_skew_seconds)
    behind = {f.partition: f.end_offset - f.landed_up_to for f in facts if not f.caught_up}
    log.info("batch cutoff T = %s%s", cutoff.isoformat(),
             f" (ingest behind on partitions {behind})" if behind else " (ingest caught up)")
    return cutoff


def messages_lost_to_retention(settings: Settings, session: Session, timeout_seconds: float = 15.0) -> int:
    """Messages of this incarnation of the topic that retention deleted before ingest read them (recorded by
    ingest in retention_gaps when it noticed): tweets no layer counts."""
    topic_id = topics.topic_id(settings, settings.topic, timeout_seconds)
    return retention.messages_missed(session, settings.keyspace, "ingest", settings.topic, topic_id)
