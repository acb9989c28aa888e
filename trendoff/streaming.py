"""What the two streaming jobs (ingest, speed) share: the Kafka source, each micro-batch decoded and
checked in one Spark job and brought to the driver, dead letters, first-arrival dedup, id lookups and
writes with the Cassandra driver, progress records, the micro-batch handler (with per-step timings)
and the bounded runner."""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, BoundStatement, PreparedStatement
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro
from pyspark.sql.streaming import StreamingQuery

from trendoff import avro_codec, cassandra_io, progress
from trendoff.config import Settings
from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A micro-batch is brought to the driver, so even a long backlog is read in bounded steps.
DEFAULT_MAX_OFFSETS_PER_TRIGGER = 50_000
LOOKUP_CHUNK = 100
LOOKUP_CONCURRENCY = 16
WRITE_CONCURRENCY = 64
# Rows of one partition per unlogged batch: speed_words rows hold ~40-60 bytes of data, so 80 stay
# under Cassandra's 5 KiB batch warning for ordinary words (80 measured faster than 40 per batch).
ROWS_PER_BATCH = 80
# Partitions per unlogged batch of one-row partitions: Cassandra warns above 10 by default
# (unlogged_batch_across_partitions_warn_threshold).
PARTITIONS_PER_BATCH = 10


@dataclass(frozen=True)
class StreamOptions:
    """How a streaming job runs (the flags every streaming job takes)."""

    trigger_seconds: float = 2.0
    until_idle: bool = False
    max_offsets_per_trigger: int | None = DEFAULT_MAX_OFFSETS_PER_TRIGGER
    checkpoint: Path | None = None
    reset: bool = False
    timeout_seconds: float = 1800.0


def add_stream_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("streaming")
    group.add_argument("--trigger-seconds", type=float, default=2.0, help="micro-batch interval (default 2)")
    group.add_argument("--until-idle", action="store_true",
                       help="process everything on the topic now, then stop (demos, tests, benchmarks)")
    group.add_argument("--max-offsets-per-trigger", type=int, default=DEFAULT_MAX_OFFSETS_PER_TRIGGER,
                       help=f"cap on messages per micro-batch (default {DEFAULT_MAX_OFFSETS_PER_TRIGGER:,})")
    group.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: under the data folder)")
    group.add_argument("--reset", action="store_true", help="delete this job's checkpoint first (re-reads the topic)")
    group.add_argument("--timeout-seconds", type=float, default=1800.0,
                       help="with --until-idle: give up after this long (default 1800)")


def options_from_args(args: argparse.Namespace) -> StreamOptions:
    if args.trigger_seconds <= 0:
        raise TrendoffError("bad-option", "--trigger-seconds must be greater than 0")
    if args.max_offsets_per_trigger is not None and args.max_offsets_per_trigger <= 0:
        raise TrendoffError("bad-option", "--max-offsets-per-trigger must be greater than 0")
    return StreamOptions(
        trigger_seconds=args.trigger_seconds,
        until_idle=args.until_idle,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        checkpoint=args.checkpoint,
        reset=args.reset,
        timeout_seconds=args.timeout_seconds,
    )


def checkpoint_dir(settings: Settings, job: str, options: StreamOptions) -> Path:
    folder = options.checkpoint or settings.checkpoint_root / f"{job}-{settings.keyspace}-{settings.topic}"
    if options.reset and folder.exists():
        log.warning("deleting the %s checkpoint %s: the topic is read again from the start", job, folder)
        shutil.rmtree(folder)
    return folder


def kafka_stream(spark: SparkSession, settings: Settings, job: str, options: StreamOptions) -> DataFrame:
    """The topic as a stream, read by the job's own consumer group (its offsets live in the checkpoint)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .option("groupIdPrefix", f"trendoff-{job}")
        .option("includeHeaders", "false")
    )
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    return reader.load()


def check_messages(batch: DataFrame) -> DataFrame:
    """The micro-batch's messages decoded: the Tweet struct (null when undecodable), where each one
    arrived, and ``reason`` (null for a good tweet, else why it is a dead letter)."""
    decoded = batch.select(
        from_avro(F.col("value"), avro_codec.schema_json(), {"mode": "PERMISSIVE"}).alias("tweet"),
        F.col("key"),
        F.col("value"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("arrived_at"),
    )
    tweet = F.col("tweet")
    reason = (
        F.when(F.col("value").isNull(), F.lit("empty message"))
        .when(tweet.isNull(), F.lit("not an Avro Tweet (schemas/tweet.avsc)"))
        .when(tweet["id"].isNull() | (tweet["id"] <= 0), F.lit("tweet id missing or not positive"))
        .when(F.coalesce(F.length(F.trim(tweet["user"])), F.lit(0)) == 0, F.lit("user missing"))
        .when(tweet["created_at"].isNull(), F.lit("created_at missing"))
    )
    return decoded.withColumn("reason", reason)


@dataclass(frozen=True)
class Message:
    """One message of a micro-batch on the driver: where and when it arrived, and either the job's
    columns of its tweet (``tweet``) or why it is a dead letter (``reason``, with its raw bytes)."""

    kafka_partition: int
    kafka_offset: int
    arrived_ms: int  # broker append time, epoch milliseconds (what Kafka and Cassandra both keep)
    reason: str | None
    message_key: bytes | None
    message_value: bytes | None
    tweet: Row | None

    @property
    def id(self) -> int:
        assert self.tweet is not None
        return int(self.tweet.id)

    @property
    def arrival(self) -> tuple[int, int, int]:
        """Orders the copies of an id: the first arrival is the smallest."""
        return (self.arrived_ms, self.kafka_partition, self.kafka_offset)

    @property
    def arrived_at(self) -> dt.datetime:
        return from_epoch_ms(self.arrived_ms)


def collect_messages(batch: DataFrame, tweet_columns: dict[str, Column]) -> list[Message]:
    """The micro-batch on the driver, in one Spark job: decoded, checked, and for each good tweet the
    job's ``tweet_columns`` (expressions over the ``tweet`` struct, such as its words).

    Micro-batches are bounded (--max-offsets-per-trigger), so they fit on the driver. What a job does
    with them is a few Cassandra reads and writes; done from the driver, a micro-batch costs one Spark
    job instead of six, which at a thousand tweets a second is most of its time (docs/design.md).
    """
    checked = check_messages(batch)
    dead = F.col("reason").isNotNull()
    rows = checked.select(
        "kafka_partition", "kafka_offset", F.unix_millis("arrived_at").alias("arrived_ms"), "reason",
        F.when(dead, F.col("key")).alias("message_key"), F.when(dead, F.col("value")).alias("message_value"),
        F.when(~dead, F.struct(*[column.alias(name) for name, column in tweet_columns.items()])).alias("tweet"),
    ).collect()
    return [Message(row.kafka_partition, row.kafka_offset, row.arrived_ms, row.reason,
                    None if row.message_key is None else bytes(row.message_key),
                    None if row.message_value is None else bytes(row.message_value), row.tweet)
            for row in rows]


def from_epoch_ms(millis: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=millis)


def epoch_ms(value: dt.datetime) -> int:
    """Milliseconds since the epoch; a naive datetime (as the driver returns them) is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class BatchSummary:
    """A micro-batch's messages, dead letters and next offset per partition."""

    messages: int
    dead_letters: int
    next_offsets: dict[int, int]


def summarize(messages: list[Message]) -> BatchSummary:
    next_offsets: dict[int, int] = {}
    for message in messages:
        next_offsets[message.kafka_partition] = max(
            next_offsets.get(message.kafka_partition, 0), message.kafka_offset + 1
        )
    return BatchSummary(
        messages=len(messages),
        dead_letters=sum(1 for message in messages if message.reason is not None),
        next_offsets=next_offsets,
    )


def first_arrivals(tweets: Iterable[Message]) -> dict[int, Message]:
    """Each tweet id's earliest arrival in the micro-batch (a replay sends ids again)."""
    firsts: dict[int, Message] = {}
    for message in tweets:
        current = firsts.get(message.id)
        if current is None or message.arrival < current.arrival:
            firsts[message.id] = message
    return firsts


def stored_arrival(row: Any) -> tuple[int, int, int] | None:
    """The (arrived_ms, partition, offset) of a looked-up row, or None when it has no arrival
    (csv-loaded history), comparable with Message.arrival."""
    if row is None or row.arrived_at is None:
        return None
    return (epoch_ms(row.arrived_at), row.kafka_partition, row.kafka_offset)


def lookup_by_id(session: Session, keyspace: str, table: str, columns: Sequence[str], ids: Iterable[int]
                 ) -> dict[int, Any]:
    """The rows of ``table`` (keyed by ``id``) for ``ids``, by id; ``columns`` must include ``id``.

    `IN` queries of LOOKUP_CHUNK ids, a few in flight: most ids of a micro-batch are new, so few rows
    come back, and on this scale it is several times cheaper than the connector's per-key join.
    """
    ids = list(ids)
    statement = session.prepare(f"SELECT {', '.join(columns)} FROM {keyspace}.{table} WHERE id IN ?")
    chunks = [(ids[start:start + LOOKUP_CHUNK],) for start in range(0, len(ids), LOOKUP_CHUNK)]
    found: dict[int, Any] = {}
    for _success, result in execute_concurrent_with_args(
        session, statement, chunks, concurrency=LOOKUP_CONCURRENCY, raise_on_first_error=True
    ):
        found.update((row.id, row) for row in result)
    return found


def execute_all(session: Session, statement: PreparedStatement, parameters: Sequence[Sequence[Any]]) -> None:
    """Run ``statement`` once per parameter tuple, WRITE_CONCURRENCY in flight; the first failure raises."""
    execute_concurrent_with_args(
        session, statement, parameters, concurrency=WRITE_CONCURRENCY, raise_on_first_error=True
    )


def write_wide(
    session: Session, statement: PreparedStatement, rows: Sequence[Sequence[Any]],
    partition_of: Callable[[Sequence[Any]], Any],
) -> None:
    """Write many rows per partition: each partition's rows go as unlogged batches of at most
    ROWS_PER_BATCH (one partition per batch: one mutation, no batch log)."""
    groups: dict[Any, list[BoundStatement]] = {}
    for values in rows:
        groups.setdefault(partition_of(values), []).append(statement.bind(values))
    _execute_batches(session, groups, ROWS_PER_BATCH)


def write_narrow(session: Session, keyspace: str, statement: PreparedStatement,
                 rows: Sequence[Sequence[Any]]) -> None:
    """Write rows of one partition each (keyed by id): rows whose partitions live on the same replicas
    go as unlogged batches of at most PARTITIONS_PER_BATCH, sent to one of those replicas.

    A request per row is what limits a micro-batch here (the Python driver's per-request cost); a
    batch of partitions that share their replicas costs the coordinator no extra hop.
    """
    metadata = session.cluster.metadata
    groups: dict[Any, list[BoundStatement]] = {}
    for values in rows:
        bound = statement.bind(values)
        replicas = tuple(sorted(str(host.endpoint) for host in metadata.get_replicas(keyspace, bound.routing_key)))
        groups.setdefault(replicas, []).append(bound)
    _execute_batches(session, groups, PARTITIONS_PER_BATCH)


def _execute_batches(session: Session, groups: dict[Any, list[BoundStatement]], size: int) -> None:
    batches: list[tuple[BatchStatement, None]] = []
    for statements in groups.values():
        for start in range(0, len(statements), size):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for bound in statements[start:start + size]:
                batch.add(bound)
            batches.append((batch, None))
    execute_concurrent(session, batches, concurrency=WRITE_CONCURRENCY, raise_on_first_error=True)


def write_dead_letters(session: Session, settings: Settings, job: str, messages: list[Message]) -> None:
    """Store undecodable messages with where they were and why; they never stop the stream.

    Idempotent: keyed by (job, topic, partition, offset), a replay rewrites the same rows.
    """
    dead = [message for message in messages if message.reason is not None]
    statement = session.prepare(
        f"INSERT INTO {settings.keyspace}.dead_letters (job, topic, kafka_partition, kafka_offset, reason, "
        "message_key, message_value, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    now = dt.datetime.now(dt.UTC)
    execute_all(session, statement, [
        (job, settings.topic, message.kafka_partition, message.kafka_offset, message.reason, message.message_key,
         message.message_value, now)
        for message in dead
    ])
    for message in dead[:3]:
        log.warning("%s: dead-lettered partition %d offset %d: %s", job, message.kafka_partition,
                    message.kafka_offset, message.reason)


class ProgressRecorder:
    """Writes a job's next offset per partition after a micro-batch's effects are in Cassandra."""

    def __init__(self, settings: Settings, job: str) -> None:
        self.settings = settings
        self.job = job
        self.table = progress.PROGRESS_TABLES[job]
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = cassandra_io.connect(self.settings)
            # The query outlives build_query: close the driver's threads before the interpreter stops.
            atexit.register(self.close)
        return self._session

    def record(self, seen: dict[int, int]) -> dict[int, int]:
        """Write the micro-batch's next offsets, only forward (a replayed batch never moves them back)."""
        current = progress.job_positions(self.session, self.settings.keyspace, self.job, self.settings.topic)
        now = dt.datetime.now(dt.UTC)
        statement = self.session.prepare(
            f"INSERT INTO {self.settings.keyspace}.{self.table} (topic, kafka_partition, next_offset, updated_at) "
            "VALUES (?, ?, ?, ?)"
        )
        for partition, next_offset in seen.items():
            if next_offset > current.get(partition, -1):
                self.session.execute(statement, (self.settings.topic, partition, next_offset, now))
                current[partition] = next_offset
        return current

    def lag(self, positions: dict[int, int]) -> int:
        ends = progress.end_offsets(self.settings.bootstrap_servers, self.settings.topic)
        return sum(max(0, end - positions.get(p, 0)) for p, end in ends.items())

    def close(self) -> None:
        if self._session is not None:
            self._session.cluster.shutdown()
            self._session = None


# Per running query (by id): what to close once it has stopped (the progress recorder's driver session).
_ON_STOP: dict[str, Callable[[], None]] = {}


def start_query(
    stream: DataFrame,
    handle_batch: Callable[[DataFrame, int], None],
    checkpoint: Path,
    options: StreamOptions,
    name: str,
    on_stop: Callable[[], None] | None = None,
) -> StreamingQuery:
    writer = stream.writeStream.queryName(name).foreachBatch(handle_batch).option("checkpointLocation", str(checkpoint))
    if options.until_idle:
        # Everything on the topic when the query starts, in as many micro-batches as
        # maxOffsetsPerTrigger asks for, then the query ends by itself.
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{options.trigger_seconds} seconds")
    query = writer.start()
    if on_stop is not None:
        _ON_STOP[query.id] = on_stop
    return query


def stop_query(query: StreamingQuery) -> None:
    """Stop the query (waiting for a running micro-batch) and close what its job opened for it."""
    try:
        if query.isActive:
            query.stop()
    finally:
        on_stop = _ON_STOP.pop(query.id, None)
        if on_stop is not None:
            on_stop()


def run_query(query: StreamingQuery, options: StreamOptions) -> None:
    """Wait for the query: until it has drained the topic (--until-idle, with a deadline) or until stopped.

    Always stops the query, and re-raises its failure as the job's own.
    """
    try:
        if options.until_idle:
            finished = query.awaitTermination(options.timeout_seconds)
            if not finished:
                raise TrendoffError(
                    "stream-timeout", f"{query.name} had not caught up after {options.timeout_seconds:.0f} s"
                )
        else:
            while query.isActive:
                query.awaitTermination(5)
    finally:
        stop_query(query)
    failure = query.exception()
    if failure is not None:
        raise RuntimeError(f"{query.name} failed: {failure}") from failure


class StepTimer:
    """Seconds spent in each step of a micro-batch, for the per-batch log line."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._last = self.started
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = self.steps.get(step, 0.0) + now - self._last
        self._last = now

    def describe(self) -> str:
        return ", ".join(f"{step} {seconds:.1f}" for step, seconds in self.steps.items())


# A job's own work on a micro-batch's good tweets: (driver session, tweets, timer) -> figures to log.
ProcessTweets = Callable[[Session, list[Message], "StepTimer"], dict[str, int]]


def micro_batch_handler(
    job: str,
    settings: Settings,
    recorder: ProgressRecorder,
    tweet_columns: dict[str, Column],
    process_tweets: ProcessTweets,
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function both jobs run: collect, dead letters, the job's own work, progress.

    ``tweet_columns`` are what the job needs of each good tweet (collect_messages);
    ``process_tweets(session, tweets, timer)`` writes the job's rows with the job's driver session and
    returns figures to log. Progress is written last, so it never runs ahead of the rows.
    """

    def handle(batch: DataFrame, batch_id: int) -> None:
        timer = StepTimer()
        messages = collect_messages(batch, tweet_columns)
        timer.lap("read")
        if not messages:
            return
        summary = summarize(messages)
        if summary.dead_letters:
            write_dead_letters(recorder.session, settings, job, messages)
            timer.lap("dead letters")
        good = [message for message in messages if message.reason is None]
        figures = process_tweets(recorder.session, good, timer)
        positions = recorder.record(summary.next_offsets)
        lag = recorder.lag(positions)
        timer.lap("progress")
        details = ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in figures.items())
        log.info("%s batch %d: messages %s, %s, dead letters %s, lag %s in %.1f s (%s)", job, batch_id,
                 f"{summary.messages:,}", details, f"{summary.dead_letters:,}", f"{lag:,}",
                 time.monotonic() - timer.started, timer.describe())

    return handle


def start_job(
    spark: SparkSession,
    settings: Settings,
    options: StreamOptions,
    job: str,
    tweet_columns: dict[str, Column],
    process_tweets: ProcessTweets,
) -> StreamingQuery:
    """Start a streaming job's query: its consumer group and checkpoint, the shared micro-batch handler
    around ``process_tweets`` (the job's own work)."""
    recorder = ProgressRecorder(settings, job)
    handle = micro_batch_handler(job, settings, recorder, tweet_columns, process_tweets)
    stream = kafka_stream(spark, settings, job, options)
    return start_query(stream, handle, checkpoint_dir(settings, job, options), options, f"{job}-{settings.topic}",
                       on_stop=recorder.close)
