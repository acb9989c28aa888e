"""The batch cutoff rule on hand-written partition facts."""

from __future__ import annotations

import datetime as dt

import pytest

from trendoff.arrival import PartitionFacts, cutoff_from_facts

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
