"""CSV loader: bulk-load a tweet CSV into the master table as history that never went through Kafka.

Rows are parsed on the driver by the same RowReader the producer uses (one implementation of the
CSV rules: presets, column options, encodings, multi-line fields, derived ids; row_to_tweet is the
same reader for one dict row) in chunks; ids that already came through Kafka are looked up and left
out, and Spark writes the rest through the Cassandra connector. Why the driver parses rather than the
executors: a CSV with quoted multi-line fields cannot be split at arbitrary byte offsets, the
encodings (Mac Roman for 538) and byte-order marks must be handled before any split, and bad rows
must be counted by reason with their line numbers, which per-executor parsing would have to ship
back. Parsing runs at tens of thousands of rows per second, faster than the writes, so the driver
is not the bottleneck for archive-sized files.

Only the eight content columns and csv_loaded are written, never the arrival columns, and ids that
already came through Kafka (an arrival in the master table, or a speed_seen row) are left alone: the
speed layer counted those, so flagging them as history would count them twice. (An id that ingest
lands between this job's lookup and its write would still be flagged; loading history while the
same tweets stream in is not a supported use.)

Run:  trendoff load-csv PATH [--format ...]      or      spark-submit ... -m trendoff.csv_loader PATH
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassandra.cluster import Session
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from trendoff.clients.cassandra_io import SPARK_FORMAT as CASSANDRA
from trendoff.clients.cassandra_io import connect
from trendoff.clients.cassandra_writes import lookup_by_id
from trendoff.clients.spark import job_spark_session
from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.settings import Settings
from trendoff.tweets.columns import RowReader, add_column_options, spec_from_args
from trendoff.tweets.csv_rows import ColumnSpec, iter_csv_records
from trendoff.tweets.limits import RowRejected

log = logging.getLogger(__name__)
CHUNK_ROWS = 50_000
SHOWN = 5
SCHEMA = ("id long, user string, text string, created_at timestamp, lang string, is_retweet boolean, "
          "retweet_count long, favorite_count long")


@dataclass
class LoadSummary:
    read: int = 0
    loaded: int = 0
    already_from_kafka: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    shown: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        lines = [f"read {self.read:,}, loaded {self.loaded:,}, already in the master table from Kafka "
                 f"{self.already_from_kafka:,}, skipped {sum(self.skipped.values()):,} in {self.seconds:.1f} s"]
        if self.skipped:
            lines.append("skipped by reason: " + ", ".join(f"{r} {n:,}" for r, n in self.skipped.most_common()))
            lines.extend(f"  {line}" for line in self.shown)
        return lines


def parsed_chunks(path: Path, spec: ColumnSpec, summary: LoadSummary) -> Iterator[list[tuple[Any, ...]]]:
    header: list[str] = []
    reader: RowReader | None = None
    chunk: list[tuple[Any, ...]] = []
    for line, values in iter_csv_records(path, spec, header):
        summary.read += 1
        try:
            if isinstance(values, RowRejected):
                raise values
            reader = reader or RowReader(spec, header)
            tweet = reader.tweet(values)
        except RowRejected as rejected:
            summary.skipped[rejected.reason] += 1
            if len(summary.shown) < SHOWN:
                summary.shown.append(f"{path.name}:{line}: {rejected.reason}: {rejected.message}")
            continue
        chunk.append((tweet["id"], tweet["user"], tweet["text"], tweet["created_at"], tweet["lang"],
                      tweet["is_retweet"], tweet["retweet_count"], tweet["favorite_count"]))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def history_rows(settings: Settings, session: Session, chunk: list[tuple[Any, ...]]
                 ) -> tuple[list[tuple[Any, ...]], int]:
    """The chunk's tweets that never came through Kafka (one row per id, the first in the file), and
    how many ids did come through Kafka.

    An id that already arrived through Kafka keeps being counted by its arrival (speed, then batch);
    flagging it as history too would make the published batch count it while speed also does.
    The ids are looked up from the driver (IN queries, a few in flight): the connector's direct join
    ran out of connections under load.
    """
    unique = {row[0]: row for row in reversed(chunk)}
    master = lookup_by_id(session, settings.keyspace, "tweets", ["id", "arrived_at"], unique)
    seen = lookup_by_id(session, settings.keyspace, "speed_seen", ["id"], unique)
    from_kafka = {tweet_id for tweet_id, row in master.items() if row.arrived_at is not None} | set(seen)
    history = [row for tweet_id, row in unique.items() if tweet_id not in from_kafka]
    return history, len(unique) - len(history)


def load_csv(spark: SparkSession, settings: Settings, path: Path, spec: ColumnSpec) -> LoadSummary:
    """Load every good row of ``path``; bad rows are counted by reason, never fatal."""
    started = time.monotonic()
    summary = LoadSummary()
    session = connect(settings)
    try:
        for chunk in parsed_chunks(path, spec, summary):
            _load_chunk(spark, settings, session, chunk, summary, started)
    finally:
        session.cluster.shutdown()
    summary.seconds = time.monotonic() - started
    return summary


def _load_chunk(spark: SparkSession, settings: Settings, session: Session, chunk: list[tuple[Any, ...]],
            summary: LoadSummary, started: float) -> None:
    """Write one chunk's history rows; ids that came through Kafka are counted and left alone."""
    history, from_kafka = history_rows(settings, session, chunk)
    if history:
        rows = spark.createDataFrame(history, SCHEMA).withColumn("csv_loaded", F.lit(True))
        # Idempotent: an upsert by id of the same values, so loading a file twice changes nothing.
        rows.write.format(CASSANDRA).options(keyspace=settings.keyspace, table="tweets").mode("append").save()
    summary.loaded += len(history)
    summary.already_from_kafka += from_kafka
    log.info("%s rows read, %s loaded so far (%.0f rows/s)", f"{summary.read:,}", f"{summary.loaded:,}",
             summary.read / max(0.001, time.monotonic() - started))


def main(argv: Sequence[str]) -> int:
    parser = command_parser("trendoff load-csv", "Bulk-load a tweet CSV into the master table as history that never "
                            "went through Kafka; the next batch run counts it. Takes the same format and column "
                            "options as `trendoff produce csv`.", "views-and-the-lambda-hand-off")
    parser.add_argument("path", type=Path, metavar="FILE.csv", help="the CSV file to load")
    add_column_options(parser)
    add_connection_options(parser, kafka=False)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    spec = spec_from_args(args, args.path)  # user mistakes (file, columns) surface before Spark starts
    spark = job_spark_session(settings, "trendoff-csv-loader")
    summary = load_csv(spark, settings, args.path, spec)
    for line in summary.lines():
        print(line)
    return 0
