"""Merge and ranking of a comparison, with the expected order written out by hand."""

from __future__ import annotations

import pytest

from trendoff.serving.compare import MutualWord, merge_counts, rank_mutual


def test_only_mutual_words_ranked_by_min_then_sum_then_word() -> None:
    a = {"vote": 10, "jobs": 3, "america": 5, "great": 4, "zebra": 4, "alpha": 4, "only_a": 50, "zero": 0}
    b = {"vote": 2, "jobs": 9, "america": 5, "great": 4, "zebra": 4, "alpha": 4, "only_b": 70, "zero": 3}
    assert rank_mutual(a, b) == [
        MutualWord("america", 5, 5),  # min 5
        MutualWord("alpha", 4, 4),  # min 4, sum 8: ties broken by the word
        MutualWord("great", 4, 4),
        MutualWord("zebra", 4, 4),
        MutualWord("jobs", 3, 9),  # min 3, sum 12
        MutualWord("vote", 10, 2),  # min 2
    ]


def test_sum_breaks_ties_on_the_smaller_count() -> None:
    assert [m.word for m in rank_mutual({"x": 3, "y": 3}, {"x": 7, "y": 4})] == ["x", "y"]


def test_top_n_and_the_same_user_twice() -> None:
    counts = {f"w{n:02d}": n for n in range(1, 31)}
    top = rank_mutual(counts, counts, top=3)
    assert top == [MutualWord("w30", 30, 30), MutualWord("w29", 29, 29), MutualWord("w28", 28, 28)]
    assert len(rank_mutual(counts, counts)) == 20
    with pytest.raises(ValueError):
        rank_mutual(counts, counts, top=0)


def test_merge_adds_speed_rows_to_the_batch_counts() -> None:
    merged = merge_counts({"vote": 2, "jobs": 1}, [("vote", 1), ("new", 1), ("new", 2)])
    assert merged == {"vote": 3, "jobs": 1, "new": 3}
