"""Speed layer: per-user, per-arrival-minute word counts from Kafka into `speed_words`.

Each tweet is counted once, at its first arrival, and not at all when the published batch view
already counts it (docs/design.md). Rows are keyed (user, minute, word, tweet id), so a replayed
micro-batch overwrites what it wrote before instead of adding to it. There is no watermark: a
backlog read after a long stop is counted at its own arrival minutes, never dropped as late.

Run:  trendoff speed [--until-idle]      or      spark-submit ... -m trendoff.speed (see README)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from trendoff.clients.cassandra_writes import execute_all, lookup_by_id, write_narrow, write_wide
from trendoff.clients.spark import job_spark_session
from trendoff.config import add_connection_options, settings_from_args
from trendoff.settings import Settings
from trendoff.streaming.chunks import StepTimer
from trendoff.streaming.job import StreamingJob, StreamOptions, add_stream_options, options_from_args
from trendoff.streaming.messages import Message, first_arrivals, stored_arrival
from trendoff.times import epoch_ms, floor_to_minute
from trendoff.views.keys import user_key_column as user_key
from trendoff.views.published import read_published
from trendoff.views.words import words_column

log = logging.getLogger(__name__)
JOB = "speed"


def tweet_columns(count_retweets: bool) -> dict[str, Column]:
    """What speed needs of each tweet: its id, the view's user key and its words (the word rule, in Spark)."""
    return {
        "id": F.col("tweet.id"),
        "user": user_key(F.col("tweet.user")),
        "words": words_column(F.col("tweet.text"), F.col("tweet.is_retweet"), count_retweets=count_retweets),
    }


@dataclass(frozen=True)
class Decision:
    """What the speed job does about one tweet id's first arrival in a micro-batch."""

    message: Message
    words: list[str]  # repeats kept; empty when the published batch view already counts the tweet
    moved_from: Any = None  # the speed_seen row of a later copy counted before, whose rows go first

    @property
    def user(self) -> str:
        assert self.message.tweet is not None
        return str(self.message.tweet.user)

    @property
    def arrival_minute(self) -> dt.datetime:
        return floor_to_minute(self.message.arrived_at)


def decide(
    session: Session, keyspace: str, tweets: list[Message], cutoff: dt.datetime | None,
    timer: StepTimer | None = None,
) -> list[Decision]:
    """The micro-batch's tweets that are their id's first arrival, with what to write for each.

    An id is decided here when its earliest copy in the micro-batch is earlier than (or the very
    message of) the arrival in `speed_seen`: a replayed micro-batch meets its own speed_seen rows and
    decides the same again; a later copy of a counted id is skipped; an earlier one moves the count.
    """
    firsts = first_arrivals(tweets)
    if timer:
        timer.lap("first arrivals")
    seen = lookup_by_id(
        session, keyspace, "speed_seen",
        ["id", "kafka_partition", "kafka_offset", "arrived_at", "user", "arrival_minute", "words"], firsts,
    )
    master = lookup_by_id(session, keyspace, "tweets", ["id", "csv_loaded", "arrived_at"], firsts)
    if timer:
        timer.lap("lookups")
    cutoff_ms = None if cutoff is None else epoch_ms(cutoff)
    decisions = []
    for tweet_id, message in firsts.items():
        decision = decide_one(message, seen.get(tweet_id), master.get(tweet_id), cutoff_ms)
        if decision is not None:
            decisions.append(decision)
    return decisions


def decide_one(message: Message, seen_row: Any, master_row: Any, cutoff_ms: int | None
               ) -> Decision | None:
    """What to do about an id's earliest copy in the micro-batch, given its `speed_seen` row and its
    master row (None when missing) and the published cutoff T (epoch ms, None before any batch).
    None: a later copy of an id already counted, skipped."""
    seen_arrival = stored_arrival(seen_row)
    if seen_arrival is not None and message.arrival > seen_arrival:
        return None
    same_message = seen_arrival is not None and seen_arrival[1:] == message.arrival[1:]
    moved_from = seen_row if seen_arrival is not None and not same_message else None
    # The published batch view counts csv-loaded history and master rows that arrived before T; the
    # master's arrival is the id's first arrival, whichever copy this job sees first.
    in_batch_view = master_row is not None and (
        bool(master_row.csv_loaded)
        or (cutoff_ms is not None and master_row.arrived_at is not None
            and epoch_ms(master_row.arrived_at) < cutoff_ms)
    )
    assert message.tweet is not None
    return Decision(message, [] if in_batch_view else list(message.tweet.words), moved_from)


def delete_moved_counts(session: Session, keyspace: str, decisions: list[Decision]) -> int:
    """Delete the speed_words rows of counts made at a later copy of an id whose earlier copy is here
    (rare: copies of one id in two partitions, seen out of order)."""
    moved = [decision for decision in decisions
             if decision.moved_from is not None and decision.moved_from.arrival_minute is not None
             and decision.moved_from.words]
    if not moved:
        return 0
    statement = session.prepare(
        f"DELETE FROM {keyspace}.speed_words WHERE user = ? AND arrival_minute = ? AND word = ? AND tweet_id = ?"
    )
    execute_all(session, statement, [
        (old.user, old.arrival_minute, word, decision.message.id)
        for decision in moved
        for old in [decision.moved_from]
        for word in old.words
    ])
    return len(moved)


def write_counts(session: Session, keyspace: str, decisions: list[Decision]) -> None:
    """speed_words rows (user, arrival_minute, word, tweet_id, count = times in that tweet).

    Idempotent: keyed (user, minute, word, tweet id), a replay overwrites the same rows with the same
    counts (no counters); the TTL comes from the table default.
    """
    statement = session.prepare(
        f"INSERT INTO {keyspace}.speed_words (user, arrival_minute, word, tweet_id, count) VALUES (?, ?, ?, ?, ?)"
    )
    rows = [
        (decision.user, decision.arrival_minute, word, decision.message.id, count)
        for decision in decisions
        for word, count in Counter(decision.words).items()
    ]
    write_wide(session, statement, rows, partition_of=lambda row: row[0])


def write_seen(session: Session, keyspace: str, decisions: list[Decision]) -> None:
    """speed_seen: each decided id's arrival and what was written for it."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.speed_seen (id, kafka_partition, kafka_offset, arrived_at, user, arrival_minute, "
        "words) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    write_narrow(session, keyspace, statement, [
        (decision.message.id, decision.message.kafka_partition, decision.message.kafka_offset,
         decision.message.arrived_at, decision.user, decision.arrival_minute, frozenset(decision.words))
        for decision in decisions
    ])


def build_job(
    spark: SparkSession, settings: Settings, options: StreamOptions, count_retweets: bool = False
) -> StreamingJob:
    keyspace = settings.keyspace

    def process_tweets(session: Session, tweets: list[Message], timer: StepTimer
                       ) -> dict[str, int]:
        decisions = decide(session, keyspace, tweets, read_published(session, keyspace).cutoff, timer)
        # Order matters for a crash between steps: old rows go first, then the new rows, then
        # speed_seen; a replay finds speed_seen unchanged and repeats the same steps.
        moved = delete_moved_counts(session, keyspace, decisions)
        write_counts(session, keyspace, decisions)
        timer.lap("words")
        write_seen(session, keyspace, decisions)
        timer.lap("seen")
        counted = {"tweets_counted": sum(1 for decision in decisions if decision.words)}
        # In the micro-batch's log line only when it happened (rare: copies of one id in two partitions).
        return {**counted, "tweets_moved_to_an_earlier_copy": moved} if moved else counted

    return StreamingJob(spark, settings, options, JOB, tweet_columns(count_retweets), process_tweets)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff speed", description=__doc__.splitlines()[0])
    add_connection_options(parser)
    add_stream_options(parser)
    parser.add_argument("--count-retweets", action="store_true", help="count the words of retweets too")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    options = options_from_args(args)
    log.info("speed: %s", settings.describe())
    spark = job_spark_session(settings, "trendoff-speed")
    build_job(spark, settings, options, args.count_retweets).run()
    return 0
