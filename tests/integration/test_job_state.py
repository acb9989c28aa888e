"""State bound to its data, against the real broker, Cassandra and Spark: a recreated topic or a wiped
keyspace stops a job until --reset instead of skipping messages, a checkpoint ahead of what Cassandra
holds is not trusted, and batch ignores ingest progress that belongs to an earlier topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.support import cassandra_table, delete_messages_before, delete_topic, produce_tweets, run_until_idle
from tests.support import simple_tweets as tweets
from trendoff.batch.cutoff import partition_facts
from trendoff.batch.job import run_batch
from trendoff.clients import cassandra_io, kafka_offsets, topics
from trendoff.errors import TrendoffError
from trendoff.settings import Settings
from trendoff.streaming import progress
from trendoff.streaming.job_state import IDENTITY_FILE
from trendoff.views.schema import apply_schema


def master_ids(spark: SparkSession, settings: Settings) -> set[int]:
    return {row.id for row in cassandra_table(spark, settings, "tweets").select("id").collect()}


def recorded_gaps(session: Any, settings: Settings) -> list[tuple[int, int, int]]:
    rows = session.execute("SELECT * FROM retention_gaps WHERE job = 'ingest' AND topic = %s", (settings.topic,))
    return [(row.kafka_partition, row.from_offset, row.to_offset) for row in rows]


def test_a_recreated_topic_stops_ingest_until_reset_and_nothing_is_skipped(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    first, second = tweets(60, 1_000), tweets(90, 5_000)
    produce_tweets(settings, first)
    run_until_idle(spark, settings, "ingest", tmp_path)
    assert (tmp_path / "ingest" / IDENTITY_FILE).is_file()

    # The topic is deleted and created again, and grows past the old offsets: resuming at them would skip.
    delete_topic(settings)
    topics.ensure_topic(settings, settings.topic, settings.topic_partitions)
    produce_tweets(settings, second)
    with pytest.raises(TrendoffError) as stopped:
        run_until_idle(spark, settings, "ingest", tmp_path)
    assert stopped.value.reason == "state-mismatch"
    assert "deleted and created again" in stopped.value.message and "--reset" in stopped.value.message
    assert master_ids(spark, settings) == {t["id"] for t in first}, "nothing was read from the new topic"

    run_until_idle(spark, settings, "ingest", tmp_path, reset=True)
    assert master_ids(spark, settings) == {t["id"] for t in first + second}
    topic_id = topics.topic_id(settings, settings.topic)
    ends = kafka_offsets.end_offsets(settings, settings.topic)
    assert progress.job_positions(cassandra_io.connect(settings), settings.keyspace, "ingest", settings.topic,
                                  topic_id) == {p: n for p, n in ends.items() if n}


def test_progress_rows_of_an_earlier_topic_stop_a_job_with_a_new_checkpoint(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path
) -> None:
    settings = pipeline_settings
    produce_tweets(settings, tweets(20, 2_000))
    cassandra_session.execute("INSERT INTO speed_progress (topic, kafka_partition, next_offset, topic_id) "
                              "VALUES (%s, 0, 3, 'an-earlier-topic-id')", (settings.topic,))
    with pytest.raises(TrendoffError) as stopped:
        run_until_idle(spark, settings, "speed", tmp_path)
    assert stopped.value.reason == "state-mismatch" and "progress rows" in stopped.value.message


def test_a_wiped_keyspace_stops_the_job_until_reset(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path
) -> None:
    settings = pipeline_settings
    batch = tweets(40, 3_000)
    produce_tweets(settings, batch)
    run_until_idle(spark, settings, "ingest", tmp_path)
    cassandra_session.execute(f"DROP KEYSPACE {settings.keyspace}", timeout=60)
    apply_schema(cassandra_session, settings)
    with pytest.raises(TrendoffError) as stopped:
        run_until_idle(spark, settings, "ingest", tmp_path)
    assert stopped.value.reason == "state-mismatch" and "wiped or recreated" in stopped.value.message
    run_until_idle(spark, settings, "ingest", tmp_path, reset=True)
    assert master_ids(spark, settings) == {t["id"] for t in batch}


def test_a_checkpoint_ahead_of_what_cassandra_holds_is_not_trusted(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = pipeline_settings
    batch = tweets(120, 4_000)
    produce_tweets(settings, batch, partition=0)
    run_until_idle(spark, settings, "ingest", tmp_path, max_offsets_per_trigger=40)
    assert master_ids(spark, settings) == {t["id"] for t in batch}
    # As after a node killed before its commit log reached the disk: the last acknowledged writes (rows
    # of offsets 80 on, and the progress that said so) are gone, while Spark's checkpoint is past them.
    lost = [row.id for row in cassandra_table(spark, settings, "tweets").where("kafka_offset >= 80").collect()]
    assert len(lost) == 40
    for tweet_id in lost:
        cassandra_session.execute("DELETE FROM tweets WHERE id = %s", (tweet_id,))
    cassandra_session.execute("UPDATE ingest_progress SET next_offset = 80 WHERE topic = %s AND kafka_partition = 0",
                              (settings.topic,))

    run_until_idle(spark, settings, "ingest", tmp_path)
    assert "the checkpoint is ahead of what Cassandra holds by 40 messages" in caplog.text
    assert master_ids(spark, settings) == {t["id"] for t in batch}, "the lost rows are written again"


def test_batch_ignores_ingest_progress_of_an_earlier_topic(
    pipeline_settings: Settings, cassandra_session: Any
) -> None:
    settings = pipeline_settings
    produce_tweets(settings, tweets(12, 6_000))
    ends = kafka_offsets.end_offsets(settings, settings.topic)
    insert = cassandra_session.prepare("INSERT INTO ingest_progress (topic, kafka_partition, next_offset, topic_id) "
                                       "VALUES (?, ?, ?, ?)")
    for partition, end in ends.items():
        cassandra_session.execute(insert, (settings.topic, partition, end, "an-earlier-topic-id"))
    # Progress rows for another topic say nothing about this one: batch sees ingest behind on every partition.
    facts = partition_facts(settings, cassandra_session)
    assert {f.partition: (f.landed_up_to, f.caught_up) for f in facts} == {p: (0, end == 0) for p, end in ends.items()}
    topic_id = topics.topic_id(settings, settings.topic)
    for partition, end in ends.items():
        cassandra_session.execute(insert, (settings.topic, partition, end, topic_id))
    assert all(f.caught_up for f in partition_facts(settings, cassandra_session))


def test_messages_deleted_before_ingest_read_them_are_counted_and_logged(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = pipeline_settings
    batch = tweets(50, 12_000)
    produce_tweets(settings, batch, partition=0)
    # What retention does to a partition nobody read in time: its start moves past messages (here 20).
    delete_messages_before(settings, 0, 20)
    partition_facts(settings, cassandra_session)
    expected = f"{settings.topic}/0: 20 messages (offsets 0 to 19) were deleted by retention before ingest read them"
    assert expected in caplog.text
    run_until_idle(spark, settings, "ingest", tmp_path)
    assert master_ids(spark, settings) == {t["id"] for t in batch[20:]}, "the rest is landed"


def test_a_job_restarted_past_retention_records_the_gap_and_reads_the_rest(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = pipeline_settings
    batch = tweets(50, 14_000)
    produce_tweets(settings, batch[:20], partition=0)
    run_until_idle(spark, settings, "ingest", tmp_path)
    produce_tweets(settings, batch[20:], partition=0)
    # The job was stopped longer than the topic keeps messages: 15 it never read (offsets 20 to 34) are gone.
    delete_messages_before(settings, 0, 35)
    run_until_idle(spark, settings, "ingest", tmp_path)
    assert master_ids(spark, settings) == {t["id"] for t in batch[:20] + batch[35:]}, "everything left is landed"
    assert "ingest: 15 messages of" in caplog.text and "p0 offsets 20 to 34" in caplog.text
    assert recorded_gaps(cassandra_session, settings) == [(0, 20, 35)]
    # Every batch run says what no layer counts; a second start finds nothing new to record.
    assert run_batch(spark, settings, clock_skew_seconds=0).lost_to_retention == 15
    run_until_idle(spark, settings, "ingest", tmp_path)
    assert recorded_gaps(cassandra_session, settings) == [(0, 20, 35)]
