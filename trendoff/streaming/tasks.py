"""A micro-batch's work in the Spark tasks: each task reads its part of first_arrival_rows (every copy of an
id in one task), writes the dead letters and the job's rows with its Python worker's own Cassandra session,
and returns a small summary; the driver collects the summaries and writes progress only once every task
has succeeded. The driver's own CPU then no longer grows with the tweets (docs/design.md)."""

from __future__ import annotations

import functools
import math
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cassandra.cluster import Session
from pyspark import TaskContext
from pyspark.sql import DataFrame, Row

from trendoff.clients import cassandra_io
from trendoff.clients.retries import retry_cassandra
from trendoff.failpoints import failpoint
from trendoff.logs import configure_logging, redact_also
from trendoff.settings import SECRET_SETTINGS, Settings
from trendoff.streaming.chunks import ProcessTweets, StepTimer, add_figures, process_chunk
from trendoff.streaming.messages import ROWS_PER_CHUNK, BatchSummary, in_chunks, message_from_row

# One session per Python worker and settings, reused by its tasks across micro-batches (workers are reused
# by default). A worker ends by os._exit or a signal, running no hook, so nothing relies on closing them;
# but a worker serves every job of its application, so it keeps only the few it used last (a job has one).
_WORKER_SESSIONS: OrderedDict[Settings, Session] = OrderedDict()
WORKER_SESSIONS_KEPT = 4
# A micro-batch smaller than this per task is not spread over more tasks: a shuffle costs more than it saves.
MIN_ROWS_PER_TASK = 2_000
# Added to the Spark job's description (the UI's jobs and stages, their REST API): a micro-batch's work in
# the tasks is otherwise named after py4j's callback frame, like every job started inside foreachBatch.
WRITE_TASKS = "trendoff write tasks"


@functools.cache
def worker_logging(settings: Settings) -> None:
    """Once per Python worker (and settings): its log lines formatted as the driver's, on its stderr (which
    Spark puts in the executor's log), the settings' secrets redacted."""
    configure_logging(settings.log_level)
    redact_also([str(getattr(settings, name)) for name in SECRET_SETTINGS if getattr(settings, name)])


def worker_session(settings: Settings) -> Session:
    """This Python worker's Cassandra session for ``settings`` (made on first use, with the same security
    options as the driver's: the TLS context is built here, on the executor)."""
    session = _WORKER_SESSIONS.get(settings)
    if session is None or session.is_shutdown:
        session = cassandra_io.connect(settings)
        _WORKER_SESSIONS[settings] = session
    _WORKER_SESSIONS.move_to_end(settings)
    while len(_WORKER_SESSIONS) > WORKER_SESSIONS_KEPT:
        _, oldest = _WORKER_SESSIONS.popitem(last=False)
        oldest.cluster.shutdown()
    return session


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back to the driver: small whatever the number of messages."""

    pid: int  # the Python worker that did the writes
    summary: BatchSummary
    figures: dict[str, int]
    steps: dict[str, float]


def task_count(messages: int, parallelism: int) -> int:
    """Tasks for a micro-batch of at most ``messages``: as many as the executors run at once when there is
    enough to share, else one (no shuffle). A task reads its rows as a stream, a chunk at a time, so its
    memory does not grow with its share."""
    return max(1, min(parallelism, math.ceil(messages / MIN_ROWS_PER_TASK)))


def work_in_tasks(rows: DataFrame, job: str, settings: Settings, process_tweets: ProcessTweets) -> list[TaskResult]:
    """Run ``process_tweets`` over ``rows`` (first_arrival_rows) in the Spark tasks; one result per task."""

    def work(part: Iterable[Row]) -> Iterator[TaskResult]:
        worker_logging(settings)
        session = worker_session(settings)
        timer = StepTimer()
        summary, figures = BatchSummary(0, 0, {}), {}
        for chunk in in_chunks((message_from_row(row) for row in part), ROWS_PER_CHUNK):
            timer.lap("read")
            # A Cassandra blip is ridden out here, chunk by chunk (every write is idempotent); Spark then
            # retries a failed task, and the driver the whole micro-batch.
            done, more = retry_cassandra(f"{job} task", lambda c=chunk: process_chunk(
                session, settings, job, c, process_tweets, timer))
            summary = summary.plus(done)
            add_figures(figures, more)
            if TaskContext.get().attemptNumber() == 0:
                failpoint(settings, f"{job}-task-after-writes")
        yield TaskResult(os.getpid(), summary, figures, timer.steps)

    context = rows.sparkSession.sparkContext
    described = context.getLocalProperty("spark.job.description")  # the micro-batch's (query id, batch id)
    context.setJobDescription(f"{described}: {WRITE_TASKS} of {job}" if described else f"{WRITE_TASKS} of {job}")
    try:
        return rows.rdd.mapPartitions(work).collect()
    finally:
        context.setJobDescription(described)  # back as it was (None removes it)
