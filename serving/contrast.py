"""Distinctive words (SPEC §5b): Monroe, Colaresi & Quinn (2008), the log-odds ratio with an informative
Dirichlet prior taken from the two users' pooled counts, as a z-score per word. Pure functions (the
CLI reads the views, this ranks), so the rule is in one place."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PRIOR_WEIGHT = 1000.0
# Far above any vocabulary's size: a larger weight only drives every z to 0 (and an infinite one to NaN).
MAX_PRIOR_WEIGHT = 1e12


def prior_weight_type(raw: str) -> float:
    """The --prior-weight flag: A0, a number above 0 (a weight of 0 leaves words one user never used
    with an infinite log-odds)."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not math.isfinite(value) or not 0 < value <= MAX_PRIOR_WEIGHT:
        raise argparse.ArgumentTypeError(f"must be a number above 0 (at most {MAX_PRIOR_WEIGHT:g})")
    return value


@dataclass(frozen=True)
class DistinctiveWord:
    word: str
    z: float  # above 0: used relatively more by A; below 0: by B
    count_a: int
    count_b: int


def log_odds_z(counts_a: Mapping[str, int], counts_b: Mapping[str, int],
               prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> list[DistinctiveWord]:
    """z(w) for every word either user used (count >= 1), in no particular order.

    With y_a, y_b a word's counts, n_a, n_b each user's total counted words and A0 the prior weight:
    alpha = A0 (y_a + y_b) / (n_a + n_b); delta = ln((y_a + alpha) / (n_a + A0 - y_a - alpha)) -
    ln((y_b + alpha) / (n_b + A0 - y_b - alpha)); z = delta / sqrt(1 / (y_a + alpha) + 1 / (y_b + alpha)).
    """
    if prior_weight <= 0:
        raise ValueError("the prior weight must be above 0")
    used = {word for counts in (counts_a, counts_b) for word, count in counts.items() if count >= 1}
    n_a = sum(max(0, counts_a.get(word, 0)) for word in used)
    n_b = sum(max(0, counts_b.get(word, 0)) for word in used)
    words = []
    for word in used:
        y_a, y_b = max(0, counts_a.get(word, 0)), max(0, counts_b.get(word, 0))
        alpha = prior_weight * (y_a + y_b) / (n_a + n_b)
        rest_a, rest_b = n_a + prior_weight - y_a - alpha, n_b + prior_weight - y_b - alpha
        if rest_a <= 0 or rest_b <= 0:
            # Only when this word is every word either user wrote: nothing to set it apart from.
            z = 0.0
        else:
            delta = math.log((y_a + alpha) / rest_a) - math.log((y_b + alpha) / rest_b)
            z = delta / math.sqrt(1 / (y_a + alpha) + 1 / (y_b + alpha))
        words.append(DistinctiveWord(word, z, y_a, y_b))
    return words


def rank_distinctive(counts_a: Mapping[str, int], counts_b: Mapping[str, int], top: int,
                     prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> tuple[list[DistinctiveWord], list[DistinctiveWord]]:
    """(the ``top`` words most characteristic of A: z descending; of B: z ascending), ties by word."""
    if top < 1:
        raise ValueError("top must be at least 1")
    scored = log_odds_z(counts_a, counts_b, prior_weight)
    of_a = sorted(scored, key=lambda item: (-item.z, item.word))[:top]
    of_b = sorted(scored, key=lambda item: (item.z, item.word))[:top]
    return of_a, of_b
