"""What the two streaming jobs (ingest, speed) share: the Kafka source, Avro decoding with dead
letters, first-arrival dedup and id lookups, Cassandra writes, progress records, the micro-batch
handler (with per-step timings) and the bounded runner."""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro
from pyspark.sql.streaming import StreamingQuery

from trendoff import avro_codec, cassandra_io, progress
from trendoff.config import Settings
from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

CASSANDRA_FORMAT = "org.apache.spark.sql.cassandra"
TWEET_FIELDS = avro_codec.field_names()
ARRIVAL_COLUMNS = ["kafka_partition", "kafka_offset", "arrived_at"]
# A micro-batch's ids are looked up from the driver, so even a long backlog is read in bounded steps.
DEFAULT_MAX_OFFSETS_PER_TRIGGER = 50_000
LOOKUP_CHUNK = 100
LOOKUP_CONCURRENCY = 16
# For tables written many rows per partition (speed_words: one row per word, many per user): bigger
# unlogged single-partition batches (under Cassandra's 5 KiB warning) and more of them in flight.
WIDE_WRITES = {"spark.cassandra.output.batch.size.bytes": "4096", "spark.cassandra.output.concurrent.writes": "10"}


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


def good_tweets(checked: DataFrame) -> DataFrame:
    """The decodable tweets: the 8 fields plus kafka_partition, kafka_offset, arrived_at."""
    return checked.where(F.col("reason").isNull()).select("tweet.*", *ARRIVAL_COLUMNS)


def dead_messages(checked: DataFrame) -> DataFrame:
    return checked.where(F.col("reason").isNotNull()).select(
        F.col("kafka_partition"), F.col("kafka_offset"), F.col("reason"),
        F.col("key").alias("message_key"), F.col("value").alias("message_value"),
    )


@dataclass(frozen=True)
class BatchSummary:
    """One pass over a checked micro-batch: messages, dead letters and next offset per partition."""

    messages: int
    dead_letters: int
    next_offsets: dict[int, int]


def summarize(checked: DataFrame) -> BatchSummary:
    rows = checked.groupBy("kafka_partition").agg(
        F.count(F.lit(1)).alias("messages"),
        F.count("reason").alias("dead"),
        (F.max("kafka_offset") + 1).alias("next_offset"),
    ).collect()
    return BatchSummary(
        messages=sum(row.messages for row in rows),
        dead_letters=sum(row.dead for row in rows),
        next_offsets={row.kafka_partition: row.next_offset for row in rows},
    )


def earlier(a: list[Column], b: list[Column]) -> Column:
    """a < b in lexicographic order (for (arrived_at, partition, offset) tuples)."""
    result = a[-1] < b[-1]
    for left, right in zip(reversed(a[:-1]), reversed(b[:-1]), strict=True):
        result = (left < right) | ((left == right) & result)
    return result


def first_arrivals(tweets: DataFrame) -> DataFrame:
    """One row per tweet id: its earliest arrival in this micro-batch (a replay sends ids again)."""
    ordered = F.struct(F.col("arrived_at"), F.col("kafka_partition"), F.col("kafka_offset"), F.struct("*").alias("t"))
    return tweets.groupBy("id").agg(F.min(ordered).alias("first")).select("first.t.*")


def lookup_by_id(
    spark: SparkSession, session: Session, settings: Settings, table: str, schema: str, ids: list[int]
) -> DataFrame:
    """The rows of ``table`` (keyed by ``id``) for ``ids``, as a small DataFrame to join a micro-batch with.

    ``schema`` names the columns to read, in Spark DDL ("id long, arrived_at timestamp, ...").
    Looked up from the driver with `IN` queries of LOOKUP_CHUNK ids, a few in flight: most ids of a
    micro-batch are new, so few rows come back, and on this scale it is several times cheaper than
    the connector's per-key direct join. The ids come to the driver, so micro-batches are bounded
    (--max-offsets-per-trigger).
    """
    columns = [part.strip().split()[0] for part in schema.split(",")]
    statement = session.prepare(
        f"SELECT {', '.join(columns)} FROM {settings.keyspace}.{table} WHERE id IN ?"
    )
    chunks = [(ids[start:start + LOOKUP_CHUNK],) for start in range(0, len(ids), LOOKUP_CHUNK)]
    found: list[tuple[object, ...]] = []
    for success, result in execute_concurrent_with_args(
        session, statement, chunks, concurrency=LOOKUP_CONCURRENCY, raise_on_first_error=True
    ):
        if not success:  # unreachable with raise_on_first_error, kept for the type checker
            raise RuntimeError(f"looking up {table} rows failed: {result}")
        found.extend(tuple(_to_spark(value) for value in row) for row in result)
    return spark.createDataFrame(found, schema)


def _to_spark(value: object) -> object:
    # The driver returns timestamps as naive UTC datetimes (Spark would read them as local time) and
    # sets as sorted sets.
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, (set, frozenset)) or type(value).__name__ in ("SortedSet", "OrderedSet"):
        return list(value)  # type: ignore[call-overload]
    return value


def write_table(frame: DataFrame, settings: Settings, table: str, **connector_options: str) -> None:
    frame.write.format(CASSANDRA_FORMAT).options(keyspace=settings.keyspace, table=table, **connector_options).mode(
        "append"
    ).save()


def write_dead_letters(checked: DataFrame, settings: Settings, job: str) -> None:
    """Store undecodable messages with where they were and why; they never stop the stream.

    Idempotent: keyed by (job, topic, partition, offset), a replay rewrites the same rows.
    """
    rows = dead_messages(checked).withColumn("job", F.lit(job)).withColumn("topic", F.lit(settings.topic)).withColumn(
        "recorded_at", F.current_timestamp()
    )
    write_table(rows, settings, "dead_letters")
    for row in rows.select("kafka_partition", "kafka_offset", "reason").limit(3).collect():
        log.warning("%s: dead-lettered partition %d offset %d: %s", job, row.kafka_partition, row.kafka_offset,
                    row.reason)


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


def micro_batch_handler(
    job: str,
    settings: Settings,
    recorder: ProgressRecorder,
    process_tweets: Callable[[DataFrame, int, StepTimer], dict[str, int]],
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function both jobs run: decode, dead letters, the job's own work, progress.

    ``process_tweets(tweets, batch_id, timer)`` writes the job's rows and returns figures to log.
    Progress is written last, so it never runs ahead of the rows.
    """

    def handle(batch: DataFrame, batch_id: int) -> None:
        timer = StepTimer()
        checked = check_messages(batch).persist()
        try:
            summary = summarize(checked)
            timer.lap("read")
            if not summary.messages:
                return
            if summary.dead_letters:
                write_dead_letters(checked, settings, job)
                timer.lap("dead letters")
            figures = process_tweets(good_tweets(checked), batch_id, timer)
        finally:
            checked.unpersist()
        positions = recorder.record(summary.next_offsets)
        lag = recorder.lag(positions)
        timer.lap("progress")
        details = ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in figures.items())
        log.info("%s batch %d: messages %s, %s, dead letters %s, lag %s in %.1f s (%s)", job, batch_id,
                 f"{summary.messages:,}", details, f"{summary.dead_letters:,}", f"{lag:,}",
                 time.monotonic() - timer.started, timer.describe())

    return handle
