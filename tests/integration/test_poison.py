"""No single message or row can stop the pipeline (issue 11): every poison mixed into real tweets is a
dead letter or a counted skip with its reason, and the real users' answer stays exact.

Real Kafka, Cassandra and Spark: ingest and speed until idle, batch, then compare, as users run them.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from tests.support import TWEET_TIME, tweet
from trendoff.apps.dead_letters import main as dead_letters_main
from trendoff.batch.job import run_batch
from trendoff.ingest.job import build_job as ingest_job
from trendoff.producer.sources import csv_tweets
from trendoff.serving.compare import rank_mutual
from trendoff.serving.query import run_compare
from trendoff.settings import Settings
from trendoff.speed.job import build_job as speed_job
from trendoff.streaming.job import StreamOptions
from trendoff.streaming.messages import EMPTY, KEY_TOO_LONG, NOT_AVRO, PREVIEW_BYTES
from trendoff.tweets import avro_codec
from trendoff.tweets.columns import PRESETS
from trendoff.views.words import user_word_counts

WHEN = TWEET_TIME
FIVE_KB = " ".join(["vote", "jobs", "america", "families", "tonight"] * 170)  # 5,100 characters of words


def real_tweets(data_dir: Path, rows_per_file: int) -> list[dict[str, Any]]:
    tweets = []
    for name in ("BarackObama.csv", "realDonaldTrump.csv"):
        items = csv_tweets(data_dir / "fivethirtyeight_twitter_ratio" / name, PRESETS["538"])
        tweets += [record for _, record in itertools.islice(items, rows_per_file) if isinstance(record, dict)]
    return tweets


# Tweets that must take effect: texts that once broke the word rule or a write, from the real users.
HARD_TEXTS = [
    tweet(9_000_001, "BarackObama", "people " + "z" * 5_000 + " tail"),  # a 5,000-letter run
    tweet(9_000_002, "BarackObama", "thanks @" + "m" * 3_000 + " everyone"),  # a long @mention
    tweet(9_000_003, "realDonaldTrump", "great " + "a'" * 2_000 + "a again"),  # a'a'a'... x 2,000
] + [tweet(9_000_100 + n, "realDonaldTrump", FIVE_KB) for n in range(10)]  # ten 5 KB texts, one micro-batch


def other_schema_value() -> bytes:
    buffer = io.BytesIO()
    schema = {"type": "record", "name": "Person", "fields": [{"name": "name", "type": "string"},
                                                             {"name": "age", "type": "long"}]}
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), {"name": "alice", "age": 33})
    return buffer.getvalue()


def zigzag_varint(number: int) -> bytes:
    number = (number << 1) ^ (number >> 63)
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    return bytes(out + bytes([number]))


# key -> (value, the reason each streaming job must dead-letter it with).
POISON: dict[bytes, tuple[bytes, str]] = {
    b"long-handle": (avro_codec.encode(tweet(9_100_001, "h" * 70_000, "a handle of 70,000 characters")),
                     "user-too-long"),
    b"blank-handle": (avro_codec.encode(tweet(9_100_002, "@  ", "nobody at all")), "missing-user"),
    b"year-9999": (avro_codec.encode(tweet(9_100_003, "BarackObama", "from the end of time",
                                           dt.datetime(9999, 12, 31, 23, 59, 30, tzinfo=dt.UTC))),
                   "time-out-of-range"),
    b"empty": (b"", EMPTY),
    b"random": (random.Random(11).randbytes(64), NOT_AVRO),
    b"other-schema": (other_schema_value(), NOT_AVRO),
    # 17 bytes claiming a 1.5 GB user name: Avro would allocate it before reading (the JVM dies).
    b"huge-length": (zigzag_varint(5) + zigzag_varint(1_500_000_000) + b"abc", NOT_AVRO),
}
HUGE_KEY = b"k" * 1_000_000
HUGE_KEY_VALUE = avro_codec.encode(tweet(9_100_004, "BarackObama", "a fine tweet under a 1 MB key"))


def produce(settings: Settings, tweets: list[dict[str, Any]]) -> None:
    # A 1 MB key needs more than librdkafka's 1,000,000-byte default (the broker takes 1 MiB).
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "message.max.bytes": 1_048_000})
    rng = random.Random(3)
    messages = [(t["user"].encode(), avro_codec.encode(t)) for t in tweets]
    messages += [(key, value) for key, (value, _) in POISON.items()] + [(HUGE_KEY, HUGE_KEY_VALUE)]
    rng.shuffle(messages)
    for key, value in messages:
        producer.produce(settings.topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(60) == 0


def expected_counts(spark: SparkSession, tweets: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """The word rule applied to the raw input, each tweet id once."""
    unique = list({t["id"]: t for t in tweets}.values())
    frame = spark.createDataFrame([(t["id"], t["user"], t["text"], t["is_retweet"]) for t in unique],
                                  "id long, user string, text string, is_retweet boolean")
    counts: dict[str, Counter[str]] = {}
    for row in user_word_counts(frame).collect():
        counts.setdefault(row.user, Counter())[row.word] += row["count"]
    return counts


def assert_compare_exact(settings: Settings, expected: dict[str, Counter[str]]) -> None:
    answer = run_compare(settings, "BarackObama", "realDonaldTrump", top=200)
    assert answer.top == rank_mutual(expected["barackobama"], expected["realdonaldtrump"], top=200)
    assert answer.top, "the real users share words"


def write_bad_history(session: Any) -> None:
    """Master rows no message could make (a csv load or an older version): batch must skip them."""
    insert = session.prepare("INSERT INTO tweets (id, user, text, created_at, is_retweet, csv_loaded) "
                             "VALUES (?, ?, ?, ?, false, true)")
    session.execute(insert, (9_200_001, "u" * 200, "a handle over the limit", WHEN))
    session.execute(insert, (9_200_002, " @ ", "a handle that is empty", WHEN))
    session.execute(insert, (9_200_003, "BarackObama", "an event time out of range", dt.datetime(1900, 1, 1)))


def dead_letters_cli(settings: Settings, capsys: pytest.CaptureFixture[str], job: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert dead_letters_main([
        "--cassandra", ",".join(settings.cassandra_contact_points), "--cassandra-port", str(settings.cassandra_port),
        "--keyspace", settings.keyspace, "--topic", settings.topic, "--job", job, "--limit", "100", "--json",
    ]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_poison_is_a_dead_letter_or_a_counted_skip_and_real_answers_stay_exact(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, data_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = pipeline_settings
    real = real_tweets(data_dir, rows_per_file=150)
    assert len(real) == 300
    produce(settings, real + HARD_TEXTS)
    write_bad_history(cassandra_session)
    for name, build in (("ingest", ingest_job), ("speed", speed_job)):
        build(spark, settings, StreamOptions(until_idle=True, checkpoint=tmp_path / name, timeout_seconds=600)).run()

    wanted = {key: reason for key, (_, reason) in POISON.items()}
    for job in ("ingest", "speed"):
        rows = list(cassandra_session.execute(
            "SELECT * FROM dead_letters WHERE job = %s AND topic = %s", (job, settings.topic)))
        by_key = {bytes(r.message_key[:20]): r for r in rows}
        assert len(rows) == len(POISON) + 1, job
        assert {key: by_key[key].reason for key in POISON} == wanted, job
        huge = by_key[b"k" * 20]
        assert (huge.reason, len(huge.message_key), huge.key_length) == (KEY_TOO_LONG, PREVIEW_BYTES, 1_000_000)
        assert bytes(huge.message_value) == HUGE_KEY_VALUE and huge.value_length == len(HUGE_KEY_VALUE)
        assert bytes(by_key[b"long-handle"].message_value) == POISON[b"long-handle"][0][:PREVIEW_BYTES]
        assert by_key[b"long-handle"].value_length == len(POISON[b"long-handle"][0])

        listed = dead_letters_cli(settings, capsys, job)
        assert sorted((d["partition"], d["offset"], d["reason"]) for d in listed) == sorted(
            (r.kafka_partition, r.kafka_offset, r.reason) for r in rows)
        assert {d["job"] for d in listed} == {job}
        assert {d["key"] for d in listed if d["reason"] == "missing-user"} == {"'blank-handle'"}
        assert all(d["value"] is None or len(d["value"]) <= 60 for d in listed)

    landed = {r.id for r in cassandra_session.execute("SELECT id FROM tweets")}
    assert landed == {t["id"] for t in real + HARD_TEXTS} | {9_200_001, 9_200_002, 9_200_003}
    assert cassandra_session.execute("SELECT text FROM tweets WHERE id = 9000100").one().text == FIVE_KB

    expected = expected_counts(spark, real + HARD_TEXTS)
    assert expected["realdonaldtrump"]["families"] >= 1_700, "the ten 5 KB texts are counted"
    assert_compare_exact(settings, expected)  # speed only: no batch yet

    result = run_batch(spark, settings, clock_skew_seconds=0)
    assert result.skipped == {"user-too-long": 1, "missing-user": 1, "time-out-of-range": 1}
    arrived = [r.arrived_at for r in cassandra_session.execute("SELECT arrived_at FROM tweets")]
    before_t = sum(1 for a in arrived if a is not None and a.replace(tzinfo=dt.UTC) < result.arrival_cutoff)
    assert result.tweets_counted == before_t, "every bad csv row skipped, every tweet before T counted"
    assert result.oversized_users == {}
    assert_compare_exact(settings, expected)  # batch view + speed after T
