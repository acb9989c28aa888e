"""The batch cutoff T: a minute boundary before which `ingest` has provably landed every partition.

For each partition, compare ingest's next offset (everything before it is in the master table)
with the broker's end offset read after the start time t0:
* caught up: every message appended before t0 is landed, so the partition is covered up to t0
  (less a margin for clock skew between this host and the brokers);
* behind: the first unlanded message was appended at ts, and offsets are in append-time order,
  so every message appended before ts is landed: covered up to ts.
T is the minimum over partitions, floored to the minute (docs/design.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from cassandra.cluster import Session
from confluent_kafka import Consumer, TopicPartition

from trendoff import progress
from trendoff.config import Settings
from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionFacts:
    """What is known about one partition when the cutoff is taken."""

    partition: int
    landed_up_to: int  # ingest's next offset (the low watermark when ingest never ran)
    end_offset: int  # the broker's high watermark, read after t0
    first_unlanded_append_time: dt.datetime | None = None  # needed only when landed_up_to < end_offset


def floor_to_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def cutoff_from_facts(facts: list[PartitionFacts], t0: dt.datetime, clock_skew_seconds: float) -> dt.datetime:
    """T from per-partition facts (pure, so the rule is tested on hand-written cases)."""
    covered = []
    for fact in facts:
        if fact.landed_up_to >= fact.end_offset:
            covered.append(t0 - dt.timedelta(seconds=clock_skew_seconds))
        elif fact.first_unlanded_append_time is None:
            raise ValueError(f"partition {fact.partition} is behind but its next append time is unknown")
        else:
            covered.append(fact.first_unlanded_append_time)
    return floor_to_minute(min(covered, default=t0 - dt.timedelta(seconds=clock_skew_seconds)))


def _append_time_at(consumer: Consumer, topic: str, partition: int, offset: int, timeout_seconds: float) -> dt.datetime:
    consumer.assign([TopicPartition(topic, partition, offset)])
    message = consumer.poll(timeout_seconds)
    if message is None or message.error() is not None:
        raise TrendoffError(
            "kafka-read", f"cannot read offset {offset} of {topic}/{partition} to place the batch cutoff"
        )
    _kind, millis = message.timestamp()
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)


def batch_cutoff(
    settings: Settings, session: Session, clock_skew_seconds: float = 2.0, timeout_seconds: float = 15.0
) -> dt.datetime:
    """Take T now for the configured topic, from `ingest_progress` and the broker."""
    t0 = dt.datetime.now(dt.UTC)
    ends = progress.end_offsets(settings.bootstrap_servers, settings.topic)
    landed = progress.job_positions(session, settings.keyspace, "ingest", settings.topic)
    consumer = Consumer({
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": f"trendoff-cutoff-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "log_level": 2,
    })
    try:
        facts = []
        for partition, end in sorted(ends.items()):
            low, _high = consumer.get_watermark_offsets(
                TopicPartition(settings.topic, partition), timeout=timeout_seconds
            )
            position = landed.get(partition, low)
            first_unlanded = None
            if position < end:
                first_unlanded = _append_time_at(consumer, settings.topic, partition, max(position, low),
                                                 timeout_seconds)
            facts.append(PartitionFacts(partition, position, end, first_unlanded))
    finally:
        consumer.close()
    cutoff = cutoff_from_facts(facts, t0, clock_skew_seconds)
    behind = {f.partition: f.end_offset - f.landed_up_to for f in facts if f.landed_up_to < f.end_offset}
    log.info("batch cutoff T = %s%s", cutoff.isoformat(),
             f" (ingest behind on partitions {behind})" if behind else " (ingest caught up)")
    return cutoff
