"""A streaming job's life: its options, checkpoint, dead letters, progress records, the micro-batch
handler both jobs run (with per-step timings), and StreamingJob, which owns the query and its sessions."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cassandra.cluster import Session
from pyspark.errors import StreamingQueryException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from trendoff.clients import cassandra_io, kafka_offsets
from trendoff.clients.leases import Lease
from trendoff.clients.retries import retry_cassandra
from trendoff.entry import on_sigterm
from trendoff.errors import TrendoffError
from trendoff.failpoints import failpoint
from trendoff.settings import Settings
from trendoff.streaming import job_state, progress
from trendoff.streaming.chunks import ProcessTweets, StepTimer, add_figures
from trendoff.streaming.failures import known_failure
from trendoff.streaming.messages import (
    ROWS_PER_CHUNK,
    BatchSummary,
    first_arrival_rows,
    kafka_stream,
    limit_avro_strings,
)
from trendoff.streaming.tasks import task_count, work_in_tasks
from trendoff.times import DURATION_HELP, duration_type

log = logging.getLogger(__name__)

# A long backlog is read in bounded micro-batches: each commits its progress, and a retry of one (a task's
# or the whole micro-batch's) repeats at most this much work.
DEFAULT_MAX_OFFSETS_PER_TRIGGER = 50_000


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
    group.add_argument("--trigger", dest="trigger_seconds", type=duration_type, default=2.0, metavar="DURATION",
                       help=f"micro-batch interval, {DURATION_HELP} (default 2s)")
    group.add_argument("--until-idle", action="store_true",
                       help="process everything on the topic now, then stop (demos, tests, benchmarks)")
    group.add_argument("--max-offsets-per-trigger", type=int, default=DEFAULT_MAX_OFFSETS_PER_TRIGGER, metavar="N",
                       help=f"cap on messages per micro-batch (default {DEFAULT_MAX_OFFSETS_PER_TRIGGER:,})")
    group.add_argument("--checkpoint", type=Path, help="checkpoint folder (default: under the data folder)")
    group.add_argument("--reset", action="store_true",
                       help="delete this job's checkpoint and progress rows first (re-reads the topic)")
    group.add_argument("--timeout", dest="timeout_seconds", type=duration_type, default=1800.0, metavar="DURATION",
                       help="with --until-idle: give up after this long (default 30m)")


def options_from_args(args: argparse.Namespace) -> StreamOptions:
    if args.trigger_seconds <= 0:
        raise TrendoffError("bad-option", "--trigger must be more than 0 (e.g. 500ms or 2s)")
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
    return options.checkpoint or settings.checkpoint_root / f"{job}-{settings.keyspace}-{settings.topic}"


class ProgressRecorder:
    """Writes a job's next offset per partition after a micro-batch's effects are in Cassandra."""

    def __init__(self, settings: Settings, job: str) -> None:
        self.settings = settings
        self.job = job
        self.table = progress.PROGRESS_TABLES[job]
        self.group = kafka_offsets.JobGroup(settings, job, settings.keyspace, settings.topic)
        self.topic_id: str | None = None  # the incarnation of the topic the offsets belong to (job_state)
        # The Python workers whose tasks wrote the last micro-batch that had messages (executors).
        self.worker_pids: set[int] = set()
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = cassandra_io.connect(self.settings)
        return self._session

    def record(self, seen: dict[int, int]) -> dict[int, int]:
        """Write the micro-batch's next offsets, only forward (a replayed batch never moves them back)."""
        current = progress.job_positions(self.session, self.settings.keyspace, self.job, self.settings.topic,
                                         self.topic_id)
        now = dt.datetime.now(dt.UTC)
        statement = self.session.prepare(
            f"INSERT INTO {self.settings.keyspace}.{self.table} (topic, kafka_partition, next_offset, updated_at, "
            "topic_id) VALUES (?, ?, ?, ?, ?)"
        )
        for partition, next_offset in seen.items():
            if next_offset > current.get(partition, -1):
                self.session.execute(statement, (self.settings.topic, partition, next_offset, now, self.topic_id))
                current[partition] = next_offset
        return current

    def end_offsets(self) -> dict[int, int] | None:
        """The topic's end offsets, or None when Kafka does not answer now (the micro-batch goes on without)."""
        try:
            return self.group.end_offsets()
        except TrendoffError as error:
            log.warning("%s: %s (sizing this micro-batch by --max-offsets-per-trigger)", self.job, error.message)
            return None

    @staticmethod
    def lag(positions: dict[int, int], ends: dict[int, int] | None) -> str:
        if ends is None:
            return "unknown"
        return f"{sum(max(0, end - positions.get(p, 0)) for p, end in ends.items()):,}"

    def close(self) -> None:
        self.group.close()
        if self._session is not None:
            self._session.cluster.shutdown()
            self._session = None


def batch_messages(ends: dict[int, int] | None, starts: dict[int, int], max_offsets_per_trigger: int | None
                   ) -> int:
    """At most how many messages a micro-batch holds: those between ``starts`` (where the previous
    micro-batch of this run ended; 0 when unknown) and the topic's ``ends`` read as it begins, and at most
    maxOffsetsPerTrigger. Without end offsets (Kafka did not answer) maxOffsetsPerTrigger is the bound."""
    if ends is None:
        return max_offsets_per_trigger or ROWS_PER_CHUNK
    messages = sum(max(0, end - starts.get(partition, 0)) for partition, end in ends.items())
    return min(messages, max_offsets_per_trigger) if max_offsets_per_trigger else messages


def micro_batch_handler(
    job: str,
    settings: Settings,
    recorder: ProgressRecorder,
    tweet_columns: dict[str, Column],
    process_tweets: ProcessTweets,
    max_offsets_per_trigger: int | None = None,
    still_the_writer: Callable[[], None] = lambda: None,
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function both jobs run: read in chunks, dead letters, the job's own work, progress.

    ``tweet_columns`` are what the job needs of each good tweet (first_arrival_rows);
    ``process_tweets(session, tweets, timer)`` writes the job's rows for one chunk of first arrivals
    (each id in one chunk only) and returns figures to log. It runs in the Spark tasks, with each Python
    worker's own Cassandra session (streaming/tasks.py); the driver only sizes the micro-batch, collects
    the tasks' summaries and writes progress, last, once every task has succeeded, so progress never runs
    ahead of the rows.
    ``still_the_writer()`` raises when the job's lease was lost: then no micro-batch writes anything.
    """
    starts: dict[int, int] = {}  # where this run's previous micro-batch ended, per partition

    def handle(batch: DataFrame, batch_id: int) -> None:
        still_the_writer()
        # The whole micro-batch again when Cassandra blips: every write in it is idempotent, and its
        # progress is written last, so a retry repeats rows, never skips them.
        retry_cassandra(f"{job} batch {batch_id}", lambda: process(batch, batch_id))

    def process(batch: DataFrame, batch_id: int) -> None:
        timer = StepTimer()
        ends = recorder.end_offsets()
        summary = BatchSummary(0, 0, {})
        figures: dict[str, int] = {}
        pids: set[int] = set()
        parallelism = batch.sparkSession.sparkContext.defaultParallelism
        tasks = task_count(batch_messages(ends, starts, max_offsets_per_trigger), parallelism)
        for result in work_in_tasks(first_arrival_rows(batch, tweet_columns, tasks), job, settings, process_tweets):
            summary = summary.plus(result.summary)
            add_figures(figures, result.figures)
            timer.add({f"tasks {step}": seconds for step, seconds in result.steps.items()})
            pids.add(result.pid)
        timer.lap("tasks")
        if not summary.messages:
            return
        recorder.worker_pids = pids
        failpoint(settings, f"{job}-before-progress")
        starts.update(summary.next_offsets)
        positions = recorder.record(summary.next_offsets)
        # Every partition, a partition with nothing read yet at 0, so Kafka's tools show the whole lag.
        recorder.group.commit({**{partition: 0 for partition in ends or {}}, **positions})
        timer.lap("progress")
        details = ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in figures.items())
        log.info("%s batch %d: messages %s in %d task(s), %s, dead letters %s, lag %s in %.1f s (%s)", job, batch_id,
                 f"{summary.messages:,}", tasks, details, f"{summary.dead_letters:,}",
                 recorder.lag(positions, ends), time.monotonic() - timer.started, timer.describe())

    return handle


class StreamingJob:
    """One streaming job's running query and the driver session its micro-batches use.

    ``process_tweets`` is the job's own work on a micro-batch's good tweets; everything else (the
    consumer group, checkpoint, decoding, dead letters, progress) is the same for every job. The job
    owns what it opens: :meth:`stop` stops the query and closes the session, whoever calls it.
    """

    def __init__(self, spark: SparkSession, settings: Settings, options: StreamOptions, job: str,
                 tweet_columns: dict[str, Column], process_tweets: ProcessTweets) -> None:
        self.name = f"{job}-{settings.topic}"
        self.options = options
        self._spark, self._settings, self._job = spark, settings, job
        self._stop_requested = threading.Event()
        self.recorder = ProgressRecorder(settings, job)
        self._folder = checkpoint_dir(settings, job, options)
        # The lease first: a second copy of this job must not touch the state of the one running.
        self.lease = Lease(self.recorder.session, settings.keyspace, f"{job}:{settings.topic}")
        try:
            self.lease.acquire()
        except BaseException:
            self.recorder.close()
            raise
        limit_avro_strings(spark)
        self._handle = micro_batch_handler(job, settings, self.recorder, tweet_columns, process_tweets,
                                           options.max_offsets_per_trigger, self.lease.check)
        try:
            self.query: StreamingQuery = self._start_query(self._prepare(options.reset))
        except BaseException:
            self.lease.release()
            self.recorder.close()
            raise

    def _prepare(self, reset: bool) -> job_state.StartPlan:
        """Check the job's state against the topic and keyspace (job_state.prepare_start): where to start."""
        return job_state.prepare_start(self._settings, self.recorder.session, self._job, self._folder, reset)

    def _start_query(self, plan: job_state.StartPlan) -> StreamingQuery:
        """Start the job's query where ``plan`` says."""
        partitions = (self.recorder.end_offsets() or {}) if plan.starting else {}
        self.recorder.topic_id = plan.identity.topic_id
        stream = kafka_stream(self._spark, self._settings, self._job, self.options.max_offsets_per_trigger,
                              plan.starting, partitions)
        writer = (stream.writeStream.queryName(self.name).foreachBatch(self._handle)
                  .option("checkpointLocation", str(self._folder)))
        if self.options.until_idle:
            # Everything on the topic when the query starts, in as many micro-batches as
            # maxOffsetsPerTrigger asks for, then the query ends by itself.
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{self.options.trigger_seconds} seconds")
        return writer.start()

    def _resumed_after_retention(self, failure: BaseException) -> bool:
        """After a failure on offsets the broker no longer has: record the gap and start again past it.

        False when the failure is another one, or when no gap explains it (then it is reported). A topic
        recreated meanwhile is a state-mismatch error from prepare_start.
        """
        known = known_failure(self.name, str(failure))
        if known is None or known.reason != "offsets-gone" or not job_state.is_local_folder(self._folder):
            return False
        plan = self._prepare(reset=False)
        if plan.starting is None:  # no gap found: the checkpoint's offsets stand, and would fail again
            return False
        self.query = self._start_query(plan)
        log.info("%s: started again past the messages retention deleted", self.name)
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.query.isActive)

    def failure(self) -> Exception | None:
        return self.query.exception()

    def stop(self) -> None:
        """Stop the query (waiting for a running micro-batch) and close the job's driver session."""
        try:
            if self.query.isActive:
                self.query.stop()
        finally:
            self.lease.release()
            self.recorder.close()

    def request_stop(self) -> None:
        """Ask the job to stop (SIGTERM): the query is stopped from :meth:`run`, which then returns."""
        self._stop_requested.set()

    def _wait(self, deadline: float) -> BaseException | None:
        """Wait for the query to end (or SIGTERM, or the deadline); its failure, if it failed."""
        try:
            # Short waits: a signal handler runs only between two Python steps, not inside a py4j call.
            while self.query.isActive and not self._stop_requested.is_set():
                if time.monotonic() > deadline:
                    raise TrendoffError("stream-timeout", f"{self.name} had not caught up after "
                                        f"{self.options.timeout_seconds:.0f} s")
                self.query.awaitTermination(1)
        except StreamingQueryException as error:  # awaitTermination re-raises the query's failure
            return error
        return None if self._stop_requested.is_set() else self.query.exception()

    def run(self) -> None:
        """Wait: until the topic is drained (--until-idle, with a deadline), until the query stops, or until
        SIGTERM asks the job to stop (then the micro-batch in flight ends or is abandoned, its writes
        idempotent and its progress unwritten, and the job returns normally).

        Always stops the job, and re-raises the query's failure as the job's own.
        """
        failure: BaseException | None = None
        deadline = time.monotonic() + self.options.timeout_seconds if self.options.until_idle else math.inf
        try:
            with on_sigterm(self.request_stop):
                while (failure := self._wait(deadline)) is not None and self._resumed_after_retention(failure):
                    failure = None
            if self._stop_requested.is_set():
                log.info("%s: stopping (SIGTERM)", self.name)
        finally:
            self.stop()
        if failure is not None:
            known = known_failure(self.name, str(failure))
            if known is not None:
                raise known from failure
            raise RuntimeError(f"{self.name} failed: {failure}") from failure
