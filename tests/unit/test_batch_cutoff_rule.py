"""The batch cutoff rule on hand-written partition facts."""

from __future__ import annotations

import datetime as dt

import pytest

from trendoff.batch.cutoff import PartitionFacts, cutoff_from_facts

T0 = dt.datetime(2026, 11, 24, 12, 30, 41, tzinfo=dt.UTC)


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 24, hour, minute, second, tzinfo=dt.UTC)


def test_caught_up_everywhere_gives_t0_less_skew_floored() -> None:
    facts = [PartitionFacts(0, 10, 10), PartitionFacts(1, 0, 0)]
    assert cutoff_from_facts(facts, T0, clock_skew_seconds=2) == at(12, 30)
    assert cutoff_from_facts(facts, at(12, 31, 1), clock_skew_seconds=2) == at(12, 30), "skew crosses a minute"


def test_a_partition_behind_holds_t_at_its_first_unlanded_message() -> None:
    facts = [PartitionFacts(0, 10, 10), PartitionFacts(1, 4, 9, first_unlanded_append_time=at(12, 7, 30)),
             PartitionFacts(2, 0, 3, first_unlanded_append_time=at(12, 9))]
    assert cutoff_from_facts(facts, T0, clock_skew_seconds=2) == at(12, 7)


def test_no_partitions_and_missing_facts() -> None:
    assert cutoff_from_facts([], T0, 0) == at(12, 30)
    with pytest.raises(ValueError):
        cutoff_from_facts([PartitionFacts(0, 1, 5)], T0, 0)


def test_never_touched_partition_counts_from_its_low_watermark() -> None:
    # Ingest never wrote progress for partition 1: landed_up_to is its low watermark (here 5, after
    # retention), so the first unlanded message is the first one still on the broker.
    facts = [PartitionFacts(0, 7, 7), PartitionFacts(1, 5, 6, first_unlanded_append_time=at(11, 59, 59))]
    assert cutoff_from_facts(facts, T0, clock_skew_seconds=2) == at(11, 59)


def test_an_empty_partition_is_caught_up() -> None:
    assert cutoff_from_facts([PartitionFacts(0, 0, 0), PartitionFacts(1, 3, 3)], T0, 0) == at(12, 30)


def test_behind_with_a_message_appended_after_t0_is_capped_at_t0_less_skew() -> None:
    # Appended between t0 and the end-offset read: T still does not run ahead of the run's start.
    facts = [PartitionFacts(0, 1, 2, first_unlanded_append_time=at(12, 31, 5))]
    assert cutoff_from_facts(facts, T0, clock_skew_seconds=2) == at(12, 30)
    assert cutoff_from_facts(facts, at(12, 30, 1), clock_skew_seconds=2) == at(12, 29)


def test_a_large_skew_margin_moves_t_back() -> None:
    assert cutoff_from_facts([PartitionFacts(0, 3, 3)], T0, clock_skew_seconds=3600) == at(11, 30)
    with pytest.raises(ValueError):
        cutoff_from_facts([PartitionFacts(0, 3, 3)], T0, clock_skew_seconds=-1)


def test_exactly_on_a_minute_stays_on_it() -> None:
    facts = [PartitionFacts(0, 0, 1, first_unlanded_append_time=at(12, 7))]
    assert cutoff_from_facts(facts, T0, 2) == at(12, 7)
    assert cutoff_from_facts([PartitionFacts(0, 1, 1)], at(12, 31, 2), 2) == at(12, 31)
