"""The batch cutoff T read from a real broker and ingest_progress rows: caught up, behind, never touched."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer, TopicPartition

from trendoff.batch.cutoff import PartitionFacts, batch_cutoff, partition_facts
from trendoff.errors import TrendoffError
from trendoff.settings import Settings
from trendoff.times import floor_to_minute

PER_PARTITION = {0: 3, 1: 4, 2: 2}  # messages produced to each of the topic's 3 partitions


def append_times(settings: Settings) -> dict[tuple[int, int], dt.datetime]:
    """(partition, offset) -> broker append time, read back independently of trendoff.batch.cutoff."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(settings.topic, p, 0) for p in PER_PARTITION])
    times: dict[tuple[int, int], dt.datetime] = {}
    try:
        while len(times) < sum(PER_PARTITION.values()):
            message = consumer.poll(30)
            assert message is not None and message.error() is None, "messages not readable within 30 s"
            kind, millis = message.timestamp()
            assert kind == TIMESTAMP_LOG_APPEND_TIME, "the project's topic stamps append time"
            times[message.partition(), message.offset()] = dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    finally:
        consumer.close()
    return times


def set_progress(session: Any, settings: Settings, positions: dict[int, int]) -> None:
    session.execute("DELETE FROM ingest_progress WHERE topic = %s", (settings.topic,))
    for partition, next_offset in positions.items():
        session.execute("INSERT INTO ingest_progress (topic, kafka_partition, next_offset) VALUES (%s, %s, %s)",
                        (settings.topic, partition, next_offset))


def test_cutoff_from_the_broker_and_ingest_progress(pipeline_settings: Settings, cassandra_session: Any) -> None:
    settings, session = pipeline_settings, cassandra_session
    assert partition_facts(settings, session) == [PartitionFacts(p, 0, 0) for p in PER_PARTITION], "empty topic"

    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for partition, count in PER_PARTITION.items():
        for n in range(count):
            producer.produce(settings.topic, value=f"m{partition}-{n}".encode(), partition=partition)
    assert producer.flush(30) == 0
    times = append_times(settings)

    # Partition 0 caught up, partition 1 landed up to offset 2, partition 2 never touched by ingest.
    set_progress(session, settings, {0: 3, 1: 2})
    assert partition_facts(settings, session) == [
        PartitionFacts(0, 3, 3),
        PartitionFacts(1, 2, 4, first_unlanded_append_time=times[1, 2]),
        PartitionFacts(2, 0, 2, first_unlanded_append_time=times[2, 0]),
    ]
    assert batch_cutoff(settings, session) == floor_to_minute(min(times[1, 2], times[2, 0]))

    # Everything landed: T is the start time less the margin, floored.
    set_progress(session, settings, dict(PER_PARTITION))
    for skew_seconds in (0, 3600):
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=skew_seconds)
        cutoff = batch_cutoff(settings, session, clock_skew_seconds=skew_seconds)
        after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=skew_seconds)
        assert floor_to_minute(before) <= cutoff <= floor_to_minute(after)


def test_a_missing_topic_is_a_user_mistake(pipeline_settings: Settings, cassandra_session: Any) -> None:
    missing = pipeline_settings.with_overrides(topic=f"no_such_{uuid.uuid4().hex[:8]}")
    with pytest.raises(TrendoffError) as caught:
        batch_cutoff(missing, cassandra_session, timeout_seconds=5)
    assert caught.value.reason == "no-topic"
