"""One chunk of a micro-batch's messages, processed the same way wherever it runs (the driver or a Spark
task): its dead letters written, the job's own work on its good tweets, its summary and figures."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from cassandra.cluster import Session

from trendoff.clients.cassandra_writes import execute_all
from trendoff.settings import Settings
from trendoff.streaming.messages import BatchSummary, Message, summarize

log = logging.getLogger(__name__)


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

    def add(self, steps: dict[str, float]) -> None:
        """Count the steps another timer measured (a task's) as this one's."""
        for step, seconds in steps.items():
            self.steps[step] = self.steps.get(step, 0.0) + seconds

    def describe(self) -> str:
        return ", ".join(f"{step} {seconds:.1f}" for step, seconds in self.steps.items())


# A job's own work on a chunk's good tweets: (session, tweets, timer) -> figures to log.
ProcessTweets = Callable[[Session, list[Message], StepTimer], dict[str, int]]


def write_dead_letters(session: Session, settings: Settings, job: str, messages: list[Message]) -> int:
    """Store the messages that cannot take effect, with where they were and why; they never stop the stream.

    Each row holds at most the first PREVIEW_BYTES of the key and value (streaming.messages) and their
    lengths, so any message gives a writable row. Idempotent: keyed by (job, topic, partition,
    offset), a replay rewrites the same rows. Returns the number written.
    """
    dead = [message for message in messages if message.reason is not None]
    if not dead:
        return 0
    statement = session.prepare(
        f"INSERT INTO {settings.keyspace}.dead_letters (job, topic, kafka_partition, kafka_offset, reason, "
        "message_key, message_value, key_length, value_length, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    now = dt.datetime.now(dt.UTC)
    execute_all(session, statement, [
        (job, settings.topic, message.kafka_partition, message.kafka_offset, message.reason, message.message_key,
         message.message_value, message.key_length, message.value_length, now)
        for message in dead
    ])
    for message in dead[:3]:
        log.warning("%s: dead-lettered partition %d offset %d: %s", job, message.kafka_partition,
                    message.kafka_offset, message.reason)
    return len(dead)


def process_chunk(session: Session, settings: Settings, job: str, chunk: list[Message],
                  process_tweets: ProcessTweets, timer: StepTimer) -> tuple[BatchSummary, dict[str, int]]:
    """Dead letters, then the job's work on the good tweets (each id's first arrival; every copy of an id is
    in the same chunk); the chunk's summary and the job's figures. Every write is idempotent."""
    if write_dead_letters(session, settings, job, chunk):
        timer.lap("dead letters")
    good = [message for message in chunk if message.tweet is not None]
    return summarize(chunk), process_tweets(session, good, timer)


def add_figures(total: dict[str, int], more: dict[str, int]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, 0) + value
