"""The merge and the ranking of a comparison: pure functions, used by the CLI and the Spark job."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_TOP = 20


def positive_top(raw: str) -> int:
    """The --top flag of every command that ranks words: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


@dataclass(frozen=True)
class MutualWord:
    word: str
    count_a: int
    count_b: int


def merge_counts(batch_counts: Mapping[str, int], speed_rows: Iterable[tuple[str, int]]) -> Counter[str]:
    """A user's word counts: the published batch version plus the speed rows after its cutoff."""
    merged: Counter[str] = Counter(batch_counts)
    for word, count in speed_rows:
        merged[word] += count
    return merged


def rank_mutual(counts_a: Mapping[str, int], counts_b: Mapping[str, int], top: int = DEFAULT_TOP) -> list[MutualWord]:
    """Words both users use (count >= 1 for each), by the smaller count, then the sum (both descending),
    then the word; the first ``top``."""
    if top < 1:
        raise ValueError("top must be at least 1")
    mutual = [MutualWord(word, counts_a[word], counts_b[word]) for word in counts_a.keys() & counts_b.keys()
              if counts_a[word] >= 1 and counts_b[word] >= 1]
    mutual.sort(key=lambda m: (-min(m.count_a, m.count_b), -(m.count_a + m.count_b), m.word))
    return mutual[:top]
