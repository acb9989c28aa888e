"""Each real part on its own: a Kafka round trip, a CQL round trip, Spark from Kafka to Cassandra."""

from __future__ import annotations

import datetime as dt

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from tests.support import cassandra_table, produce_tweets, unique_name
from trendoff.clients.cassandra_io import SPARK_FORMAT
from trendoff.settings import Settings
from trendoff.tweets import avro_codec

TWEETS = [
    {
        "id": 1000 + n,
        "user": user,
        "text": f"tweet number {n} from {user}",
        "created_at": dt.datetime(2016, 4, 16, 12, n, tzinfo=dt.UTC),
        "lang": "en",
        "is_retweet": False,
        "retweet_count": n,
        "favorite_count": None,
    }
    for n, user in enumerate(["alice", "bob", "alice", "carol"])
]


def test_message_round_trip_on_the_broker_uses_append_time(pipeline_settings: Settings) -> None:
    produce_tweets(pipeline_settings, TWEETS)
    consumer = Consumer(
        {
            "bootstrap.servers": pipeline_settings.bootstrap_servers,
            "group.id": unique_name("group"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([pipeline_settings.topic])
    received = []
    try:
        while len(received) < len(TWEETS):
            message = consumer.poll(10)
            assert message is not None, f"only {len(received)} of {len(TWEETS)} messages came back"
            assert message.error() is None
            received.append(message)
    finally:
        consumer.close()
    assert sorted(avro_codec.decode(m.value())["id"] for m in received) == [t["id"] for t in TWEETS]
    assert all(m.key().decode() == avro_codec.decode(m.value())["user"] for m in received)
    assert {m.timestamp()[0] for m in received} == {TIMESTAMP_LOG_APPEND_TIME}
    # Keyed by user: one user's tweets share a partition, in the order they were produced.
    alice = [avro_codec.decode(m.value())["id"] for m in received if m.key() == b"alice"]
    assert len({m.partition() for m in received if m.key() == b"alice"}) == 1
    assert alice == [1000, 1002]


def test_cql_round_trip(cassandra_session: object) -> None:
    session = cassandra_session
    created = dt.datetime(2016, 4, 16, 12, 44)
    session.execute(
        "INSERT INTO tweets (id, user, text, created_at, is_retweet) VALUES (%s, %s, %s, %s, %s)",
        (721318437075685382, "BillSchulhoff", "hello", created, False),
    )
    row = session.execute("SELECT user, text, created_at, is_retweet FROM tweets WHERE id = 721318437075685382").one()
    assert (row.user, row.text, row.created_at, row.is_retweet) == ("BillSchulhoff", "hello", created, False)


def test_spark_reads_kafka_and_writes_cassandra_through_the_connectors(
    pipeline_settings: Settings, spark: object
) -> None:
    produce_tweets(pipeline_settings, TWEETS)
    raw = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", pipeline_settings.bootstrap_servers)
        .option("subscribe", pipeline_settings.topic)
        .option("startingOffsets", "earliest")
        .load()
    )
    tweets = raw.select(
        from_avro("value", avro_codec.schema_json()).alias("t"), "partition", "offset", "timestamp"
    ).select(
        "t.*",
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("arrived_at"),
    )
    (
        tweets.write.format(SPARK_FORMAT)
        .options(keyspace=pipeline_settings.keyspace, table="tweets")
        .mode("append")
        .save()
    )
    back = cassandra_table(spark, pipeline_settings, "tweets").orderBy("id").collect()
    assert [(r.id, r.user, r.text, r.retweet_count) for r in back] == [
        (t["id"], t["user"], t["text"], t["retweet_count"]) for t in TWEETS
    ]
    assert all(r.arrived_at is not None and r.kafka_offset is not None for r in back)
    assert [r.created_at.replace(tzinfo=dt.UTC) for r in back] == [t["created_at"] for t in TWEETS]
