"""Helpers shared by the tests: one copy each (test modules import them from here, never from conftest).

The fixtures that use them live in tests/conftest.py. Anything that needs pyspark imports it inside
the function, so the unit tests that only want a path or a port do not pay for starting a JVM.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import Consumer, Producer, TopicPartition

from trendoff.clients import topics
from trendoff.clients.cassandra_io import SPARK_FORMAT
from trendoff.settings import Settings
from trendoff.tweets import avro_codec
from trendoff.views.keys import batch_bucket

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TESTS_DIR = Path(__file__).parent
PROJECT_ROOT = TESTS_DIR.parent
DATA_DIR = PROJECT_ROOT / "data"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_until(
    predicate: Callable[[], T], timeout_seconds: float, what: str, *, interval_seconds: float = 0.2,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that; fail naming ``what`` at the deadline.

    An exception of a type in ``retry_on`` counts as "not yet" (the last one is chained to the failure);
    any other exception fails at once, so a predicate can stop the wait when it sees a hopeless state.
    """
    deadline = time.monotonic() + timeout_seconds
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except retry_on as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_seconds:g} s waiting for {what}") from last_error
        time.sleep(interval_seconds)


def connection_args(settings: Settings, *, kafka: bool = True, cassandra: bool = True) -> list[str]:
    """The flags pointing a trendoff command at this test's services, keyspace and topic.

    ``kafka`` and ``cassandra`` mirror :func:`trendoff.config.add_connection_options`: pass
    ``kafka=False`` to a command that only reads Cassandra, ``cassandra=False`` to one that only uses Kafka.
    """
    flags: list[str] = []
    if kafka:
        flags += ["--bootstrap", settings.bootstrap_servers, "--topic", settings.topic]
    if cassandra:
        flags += ["--cassandra", ",".join(settings.cassandra_contact_points),
                  "--cassandra-port", str(settings.cassandra_port), "--keyspace", settings.keyspace]
    return flags


def delete_topic(settings: Settings, timeout_seconds: float = 30.0) -> None:
    """Delete the test's topic; one already gone is fine (tests clean up what they made)."""
    topics.delete_topic(settings, settings.topic, timeout_seconds)


def messages_on_topic(settings: Settings) -> int:
    """How many messages the test's topic holds (0 while it does not exist yet)."""
    from trendoff.clients import kafka_offsets
    from trendoff.errors import TrendoffError

    try:
        return sum(kafka_offsets.end_offsets(settings, settings.topic).values())
    except TrendoffError:
        return 0


def wait_until_spark_sees(settings: Settings, timeout_seconds: float = 60.0) -> None:
    """Wait until the running SparkSession can read the test's new keyspace.

    The connector learns of a new keyspace from schema events a moment after it is created, and
    reading it before then fails. A session started later loads the whole schema when it connects.
    """
    from pyspark.sql import SparkSession
    from pyspark.sql.utils import AnalysisException

    spark = SparkSession.getActiveSession()
    if spark is None:
        return
    wait_until(lambda: bool(cassandra_table(spark, settings, "batch_published").columns), timeout_seconds,
               f"Spark to see keyspace {settings.keyspace}", interval_seconds=0.5, retry_on=(AnalysisException,))


def cassandra_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """A table of the test's keyspace, read through the Spark connector as the jobs read it."""
    return spark.read.format(SPARK_FORMAT).options(keyspace=settings.keyspace, table=table).load()


def produce_tweets(
    settings: Settings, tweets: Iterable[Mapping[str, Any]], *, poison: Iterable[bytes] = (),
    partition: int | None = None,
) -> None:
    """Publish tweets (Avro, keyed by user, as the producer does) and then ``poison`` values (key b"poison")."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True})
    where = {} if partition is None else {"partition": partition}
    for tweet in tweets:
        producer.produce(settings.topic, key=tweet["user"].encode(), value=avro_codec.encode(dict(tweet)), **where)
    for value in poison:
        producer.produce(settings.topic, key=b"poison", value=value, **where)
    assert producer.flush(30) == 0, "messages still undelivered after 30 s"


def delete_messages_before(settings: Settings, partition: int, offset: int) -> None:
    """What the topic's retention does: the partition's first message becomes the one at ``offset``."""
    admin = topics.admin_client(settings)
    for future in admin.delete_records([TopicPartition(settings.topic, partition, offset)],
                                       request_timeout=30).values():
        future.result(timeout=30)


def consume_all(settings: Settings, expected: int, timeout_seconds: float = 30) -> list[Any]:
    """Every message on the test's topic, read back with a plain consumer: at least ``expected`` of them,
    then until the topic is quiet for a second (so extra messages show), within ``timeout_seconds``."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_seconds
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                if len(messages) >= expected:
                    break
                continue
            assert message.error() is None, message.error()
            messages.append(message)
    finally:
        consumer.close()
    return messages


def by_id(messages: list[Any]) -> dict[int, dict[str, Any]]:
    """Kafka messages decoded, keyed by tweet id."""
    return {record["id"]: record for record in (avro_codec.decode(m.value()) for m in messages)}


def expected_word_counts(
    spark: SparkSession, tweets: Iterable[Mapping[str, Any]], *, count_retweets: bool = False
) -> dict[str, Counter[str]]:
    """THE test oracle: per user, the word counts the views must show once ``tweets`` are all counted.

    The word rule (trendoff.views.words.words_column, applied by Spark to each raw tweet on its own) over
    one copy per tweet id (the first in ``tweets``), users keyed as the views key them
    (trendoff.views.keys: lower case, no @). It needs no Kafka, Cassandra or job, so a tweet the
    pipeline loses, counts twice or files under the wrong user shows as a difference. A user none of
    whose tweets has a word is absent. Each tweet needs id, user, text and (optionally) is_retweet.
    """
    from pyspark.sql import functions as F

    from trendoff.views.keys import user_key_column
    from trendoff.views.words import words_column

    once: dict[int, Mapping[str, Any]] = {}
    for tweet in tweets:
        once.setdefault(tweet["id"], tweet)
    frame = spark.createDataFrame(
        [(t["id"], t["user"], t["text"], t.get("is_retweet")) for t in once.values()],
        "id long, user string, text string, is_retweet boolean",
    )
    per_tweet = frame.select(
        user_key_column(F.col("user")).alias("user"),
        words_column(F.col("text"), F.col("is_retweet"), count_retweets=count_retweets).alias("words"),
    ).collect()
    counts: dict[str, Counter[str]] = {}
    for row in per_tweet:
        if row.words:
            counts.setdefault(row.user, Counter()).update(row.words)
    return counts


def total_words(counts: Mapping[str, Counter[str]]) -> int:
    """All word occurrences in per-user counts (the oracle's shape)."""
    return sum(words.total() for words in counts.values())


def run_until_idle(
    spark: SparkSession, settings: Settings, job: str, checkpoints: Path, **options: Any
) -> None:
    """Run the ``ingest`` or ``speed`` job over everything on the topic, then stop (5 minutes at most).

    Its checkpoint is ``checkpoints / job``, so calling this again resumes where the job left off.
    ``options`` override other StreamOptions fields (``max_offsets_per_trigger=5``).
    """
    from trendoff.ingest.job import build_job as ingest_job
    from trendoff.speed.job import build_job as speed_job
    from trendoff.streaming.job import StreamOptions

    build = {"ingest": ingest_job, "speed": speed_job}[job]
    stream_options = StreamOptions(until_idle=True, checkpoint=checkpoints / job, timeout_seconds=300, **options)
    build(spark, settings, stream_options).run()


# The serving views written out by hand: what test_serve and the web-page test read back.
SERVING_T = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
SERVING_MINUTE = dt.timedelta(minutes=1)

# The published batch version 7, written out by hand (user key -> word counts).
SERVING_BATCH = {
    "barackobama": {"health": 5, "care": 3, "jobs": 2, "america": 4, "climate": 6},
    "realdonaldtrump": {"america": 7, "jobs": 9, "wall": 3, "health": 1, "great": 8},
    "barackfriend": {"hello": 1},
    "someone_else": {"care": 2},
    **{f"fan{n:02d}": {"fans": n + 1} for n in range(25)},  # more than a picker's 20, spread over the buckets
}
# (user, minute, word, tweet id, count): rows before T are in the batch already and must not count.
SERVING_SPEED = [
    ("barackobama", SERVING_T, "jobs", 101, 1),
    ("barackobama", SERVING_T + 2 * SERVING_MINUTE, "climate", 102, 2),
    ("barackobama", SERVING_T - SERVING_MINUTE, "wall", 90, 5),
    ("realdonaldtrump", SERVING_T + 3 * SERVING_MINUTE, "climate", 103, 1),
    ("realdonaldtrump", SERVING_T - 5 * SERVING_MINUTE, "care", 91, 4),
    ("baracklive", SERVING_T + SERVING_MINUTE, "hope", 104, 1),  # no batch row yet: speed only
]
# obama: health 5, care 3, jobs 3, america 4, climate 8; trump: america 7, jobs 9, wall 3, health 1, great 8,
# climate 1. Both: america (min 4), jobs (3), then climate and health (min 1) by their sums 9 and 6.
EXPECTED_SERVING_ANSWER = {"users": ["barackobama", "realdonaldtrump"], "as_of": "2026-01-01T12:00:00+00:00",
            "top": [{"word": "america", "counts": [4, 7]}, {"word": "jobs", "counts": [3, 9]},
                    {"word": "climate", "counts": [8, 1]}, {"word": "health", "counts": [5, 1]}]}


def seed_serving_views(session: Any) -> None:
    """The hand-written views above, plus an older version whose only user is not published."""
    insert = session.prepare("INSERT INTO batch_words (version, bucket, user, word_counts, tweets_counted) "
                             "VALUES (?, ?, ?, ?, ?)")
    for user, counts in SERVING_BATCH.items():
        session.execute(insert, (7, batch_bucket(user), user, json.dumps(counts), len(counts)))
    session.execute(insert, (6, batch_bucket("oldversion"), "oldversion", '{"care": 1}', 1))
    speed = session.prepare("INSERT INTO speed_words (user, arrival_minute, word, tweet_id, count) "
                            "VALUES (?, ?, ?, ?, ?)")
    for row in SERVING_SPEED:
        session.execute(speed, row)
    session.execute("INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) "
                    "VALUES ('words', 7, %s, %s)", (SERVING_T, SERVING_T + 30 * SERVING_MINUTE))


@contextmanager
def running_service(settings: Settings, log_dir: Path, cassandra_port: int | None = None) -> Iterator[str]:
    """`trendoff serve` in its own process on a free loopback port; yields its base URL, stops it with SIGTERM.

    ``cassandra_port`` points the service at another CQL port (a proxy) instead of the test stack's.
    """
    import httpx

    port = free_port()
    args = connection_args(settings)
    if cassandra_port is not None:
        args[args.index("--cassandra-port") + 1] = str(cassandra_port)
    log_path = log_dir / f"serve-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "trendoff.apps.cli", "serve", "--port", str(port), *args],
                                   stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, f"serve exited with {process.returncode}:\n{log_path.read_text()}"
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200

    try:
        wait_until(healthy, 60, "the service to answer /healthz", interval_seconds=0.3,
                   retry_on=(httpx.TransportError,))
        yield base
    finally:
        process.terminate()
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    # Uvicorn's graceful shutdown, then the session closed: a clean exit.
    assert code == 0, f"serve exited with {code}:\n{log_path.read_text()}"


def local_session() -> Iterator[SparkSession]:
    """For unit tests of Spark expressions: a local session that talks to no service; a running one (the
    integration suite's) is reused.

    Built by the project's factory when the connector jars are downloaded, so that the JVM this
    starts has them on its classpath if integration tests run later in the same process.
    """
    import os

    from pyspark.sql import SparkSession

    from trendoff.clients.spark import spark_session
    from trendoff.config import load_settings
    from trendoff.errors import TrendoffError

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    try:
        session = spark_session(load_settings(), "unit-spark")
    except TrendoffError:  # no connector jars: a plain session is all the word rule needs
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        session = (SparkSession.builder.master("local[1]").appName("unit-spark")
                   .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.host", "127.0.0.1").getOrCreate())
    yield session
    session.stop()


def kafka_consumer_group_lag(settings: Settings, group: str) -> dict[str, int]:
    """LAG per partition of ``group`` as Kafka's own tool prints it (`kafka-consumer-groups --describe`,
    ConsumerGroupCommand from the broker's jars); partitions without a committed offset are left out."""
    from trendoff.stack.process import find_java

    command = [find_java(), "-cp", str(PROJECT_ROOT / ".jvm" / "kafka" / "*"),
               "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
               "--bootstrap-server", settings.bootstrap_servers, "--describe", "--group", group]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    lags: dict[str, int] = {}
    for line in done.stdout.splitlines():
        # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and fields[1] == settings.topic and fields[5].isdigit():
            lags[fields[2]] = int(fields[5])
    return lags


# The one tweet factory of the tests: every test builds its Tweet records with these three.
TWEET_TIME = dt.datetime(2017, 3, 1, 12, 0, tzinfo=dt.UTC)


def tweet(tweet_id: int, user: str, text: str, created_at: dt.datetime = TWEET_TIME, **fields: Any) -> dict[str, Any]:
    """One Tweet record (the Avro schema's fields): English, no counts, a retweet when its text starts
    "RT @"; ``fields`` replaces any of them."""
    record = {"id": tweet_id, "user": user, "text": text, "created_at": created_at, "lang": "en",
              "is_retweet": text.startswith("RT @"), "retweet_count": None, "favorite_count": None}
    record.update(fields)
    return record


def random_tweets(count: int, *, seed: int, first_id: int, users: Sequence[str], vocabulary: Sequence[str] = (),
                  words: tuple[int, int] = (2, 8), texts: Sequence[str] = (), retweet_share: float = 0.0,
                  start: dt.datetime = dt.datetime(2012, 1, 1, tzinfo=dt.UTC), span_minutes: int = 5_000_000,
                  shuffle: bool = False) -> list[dict[str, Any]]:
    """``count`` tweets with ids from ``first_id``, repeatable by ``seed``: each a random user, a text of
    random ``vocabulary`` words (or one of ``texts``), a retweet with chance ``retweet_share``, written at a
    random minute within ``span_minutes`` after ``start`` (years apart by default, so event times are out of
    order); ``shuffle`` also puts the ids out of order."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        text = rng.choice(texts) if texts else " ".join(rng.choices(vocabulary, k=rng.randint(*words)))
        if retweet_share and rng.random() < retweet_share:
            text = "RT @someone: " + text
        created_at = start + dt.timedelta(minutes=rng.randint(0, span_minutes))
        made.append(tweet(first_id + n, rng.choice(users), text, created_at))
    if shuffle:
        rng.shuffle(made)
    return made


def simple_tweets(count: int, first_id: int) -> list[dict[str, Any]]:
    """``count`` plain tweets of five users with ids from ``first_id``, for tests about state, not words."""
    return [tweet(first_id + n, f"user{n % 5}", f"state check {n} words here",
                  dt.datetime(2021, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)) for n in range(count)]
