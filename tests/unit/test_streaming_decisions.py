"""The streaming jobs' driver-side decisions: first arrival per id, micro-batch summary, and what speed
does about an id given what it wrote before and what the master table says (cases written out by hand).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from pyspark.sql import Row

from trendoff.speed.job import decide_one
from trendoff.streaming.messages import Message, first_arrivals, stored_arrival, summarize
from trendoff.times import epoch_ms, from_epoch_ms

T0 = 1_700_000_000_000  # epoch ms


def message(tweet_id: int, partition: int, offset: int, arrived_ms: int, words: tuple[str, ...] = ("vote",),
            reason: str | None = None) -> Message:
    tweet = None if reason else Row(id=tweet_id, user="alice", words=list(words))
    return Message(partition, offset, arrived_ms, reason, None, None, tweet)


def stored(partition: int | None, offset: int | None, arrived_ms: int | None, **columns: object) -> SimpleNamespace:
    """A row as the Cassandra driver returns it (naive UTC datetimes)."""
    arrived = None if arrived_ms is None else from_epoch_ms(arrived_ms).replace(tzinfo=None)
    return SimpleNamespace(kafka_partition=partition, kafka_offset=offset, arrived_at=arrived, **columns)


def test_epoch_ms_reads_naive_datetimes_as_utc() -> None:
    aware = dt.datetime(2026, 11, 29, 8, 30, 15, 123000, tzinfo=dt.UTC)
    assert epoch_ms(aware) == epoch_ms(aware.replace(tzinfo=None)) == 1_795_941_015_123
    assert from_epoch_ms(epoch_ms(aware)) == aware
    assert epoch_ms(dt.datetime(2026, 11, 29, 9, 30, 15, 123000, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == (
        1_795_941_015_123)


def test_first_arrival_is_the_earliest_append_time_then_partition_then_offset() -> None:
    copies = [
        message(1, partition=0, offset=9, arrived_ms=T0 + 5),
        message(1, partition=2, offset=3, arrived_ms=T0 + 1),  # earliest time wins
        message(1, partition=1, offset=4, arrived_ms=T0 + 1),  # same time, lower partition: wins
        message(2, partition=0, offset=7, arrived_ms=T0),
        message(2, partition=0, offset=6, arrived_ms=T0),  # same time and partition: lower offset
    ]
    firsts = first_arrivals(copies)
    assert {tweet_id: m.arrival for tweet_id, m in firsts.items()} == {1: (T0 + 1, 1, 4), 2: (T0, 0, 6)}


def test_summary_counts_dead_letters_and_gives_the_next_offset_per_partition() -> None:
    messages = [message(1, 0, 10, T0), message(2, 0, 12, T0), message(0, 1, 3, T0, reason="user missing"),
                message(3, 2, 0, T0)]
    summary = summarize(messages)
    assert (summary.messages, summary.dead_letters) == (4, 1)
    assert summary.next_offsets == {0: 13, 1: 4, 2: 1}


def test_stored_arrival_is_none_for_csv_history() -> None:
    assert stored_arrival(None) is None
    assert stored_arrival(stored(None, None, None, csv_loaded=True)) is None
    assert stored_arrival(stored(2, 40, T0)) == (T0, 2, 40)


def test_a_new_tweet_is_counted_with_its_words() -> None:
    decision = decide_one(message(1, 0, 5, T0, ("vote", "jobs", "vote")), None, None, cutoff_ms=None)
    assert decision is not None
    assert decision.words == ["vote", "jobs", "vote"]
    assert decision.moved_from is None
    assert decision.user == "alice"
    assert decision.arrival_minute == from_epoch_ms(T0).replace(second=0, microsecond=0)


def test_a_replayed_micro_batch_decides_the_same_again() -> None:
    seen = stored(0, 5, T0, user="alice", arrival_minute=None, words={"vote"})
    decision = decide_one(message(1, 0, 5, T0), seen, None, cutoff_ms=None)
    assert decision is not None and decision.words == ["vote"] and decision.moved_from is None


def test_a_later_copy_of_a_counted_tweet_is_skipped() -> None:
    seen = stored(0, 5, T0, user="alice", arrival_minute=None, words={"vote"})
    assert decide_one(message(1, 1, 0, T0 + 60_000), seen, None, cutoff_ms=None) is None


def test_an_earlier_copy_read_later_moves_the_count() -> None:
    seen = stored(1, 8, T0 + 60_000, user="alice", arrival_minute="later minute", words={"vote"})
    decision = decide_one(message(1, 0, 2, T0), seen, None, cutoff_ms=None)
    assert decision is not None
    assert decision.moved_from is seen
    assert decision.words == ["vote"]


def test_tweets_the_published_batch_counts_get_no_words() -> None:
    before_cutoff = stored(0, 5, T0, csv_loaded=None)
    after_cutoff = stored(0, 5, T0 + 120_000, csv_loaded=None)
    history = stored(None, None, None, csv_loaded=True)
    new = message(1, 0, 5, T0)
    cutoff = T0 + 60_000
    assert decide_one(new, None, before_cutoff, cutoff).words == []  # type: ignore[union-attr]
    assert decide_one(new, None, after_cutoff, cutoff).words == ["vote"]  # type: ignore[union-attr]
    assert decide_one(new, None, history, cutoff_ms=None).words == []  # type: ignore[union-attr]
    assert decide_one(new, None, before_cutoff, cutoff_ms=None).words == ["vote"]  # type: ignore[union-attr]
