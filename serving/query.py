"""A comparison of two users from the views: the published batch version plus newer speed minutes."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from trendoff.clients.cassandra_io import connect
from trendoff.serving.compare import DEFAULT_TOP, MutualWord, rank_mutual
from trendoff.serving.contrast import DEFAULT_PRIOR_WEIGHT, DistinctiveWord, rank_distinctive
from trendoff.serving.views import USERS_LIMIT, CountsInFlight, Published, ViewReader
from trendoff.settings import Settings
from trendoff.views.keys import user_key

log = logging.getLogger(__name__)


def _as_of(published: Published) -> str | None:
    return published.cutoff.isoformat() if published.cutoff else None


@dataclass(frozen=True)
class Comparison:
    users: tuple[str, str]
    published: Published
    top: list[MutualWord]
    # Each user's counted words (the sum of all their counts): the denominators of --per.
    totals: tuple[int, int] = (0, 0)
    per: int | None = None

    def rates(self, word: MutualWord) -> tuple[float, float]:
        """The word's counts per ``per`` of each user's counted words."""
        per = self.per or 1
        return tuple(count * per / total if total else 0.0  # type: ignore[return-value]
                     for count, total in zip((word.count_a, word.count_b), self.totals, strict=True))

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"users": list(self.users), "as_of": _as_of(self.published),
                                  "top": [{"word": m.word, "counts": [m.count_a, m.count_b]} for m in self.top]}
        if self.per is not None:
            answer["per"], answer["totals"] = self.per, list(self.totals)
            for item, word in zip(answer["top"], self.top, strict=True):
                item["rates"] = list(self.rates(word))
        return answer

    def as_arrays(self) -> dict[str, Any]:
        """The --out file: the three arrays the chart is drawn from, with the users they belong to."""
        return {"users": list(self.users), "as_of": self.as_json()["as_of"], "words": [m.word for m in self.top],
                "counts_a": [m.count_a for m in self.top], "counts_b": [m.count_b for m in self.top]}

    def table(self) -> str:
        a, b = self.users
        width = max([len("word"), *(len(m.word) for m in self.top)])
        count = max(12, len(a), len(b))  # the columns fit the handles that head them
        if self.per is None:
            lines = [f"{'word':<{width}}  {a:>{count}}  {b:>{count}}", f"{'-' * width}  {'-' * count}  {'-' * count}"]
            lines += [f"{m.word:<{width}}  {m.count_a:>{count},}  {m.count_b:>{count},}" for m in self.top]
        else:
            rate_titles = (f"{a} per {self.per:,}", f"{b} per {self.per:,}")
            rate = max(12, *(len(title) for title in rate_titles))
            lines = [f"{'word':<{width}}  {a:>{count}}  {b:>{count}}  {rate_titles[0]:>{rate}}  "
                     f"{rate_titles[1]:>{rate}}",
                     f"{'-' * width}  {'-' * count}  {'-' * count}  {'-' * rate}  {'-' * rate}"]
            for m in self.top:
                rate_a, rate_b = self.rates(m)
                lines.append(f"{m.word:<{width}}  {m.count_a:>{count},}  {m.count_b:>{count},}  {rate_a:>{rate}.2f}  "
                             f"{rate_b:>{rate}.2f}")
            lines.append(f"counted words: {a} {self.totals[0]:,}, {b} {self.totals[1]:,}")
        if not self.top:
            lines.append("(no word is used by both)")
        cutoff = self.published.cutoff
        lines.append(f"batch cutoff T: {cutoff.isoformat() if cutoff else 'no batch yet (speed view only)'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ComparisonInFlight:
    """A comparison whose reads are sent: ``finish()`` ranks the words once they are in."""

    users: tuple[str, str]
    counts: CountsInFlight
    top: int
    per: int | None = None

    def both_counts(self) -> tuple[Counter[str], Counter[str]]:
        answers = self.counts.finish()
        return (answers[0], answers[0]) if len(answers) == 1 else (answers[0], answers[1])

    def finish(self) -> Comparison:
        counts_a, counts_b = self.both_counts()
        return Comparison(self.users, self.counts.published, rank_mutual(counts_a, counts_b, self.top),
                          (counts_a.total(), counts_b.total()), self.per)


def start_compare(reader: ViewReader, user_a: str, user_b: str, top: int = DEFAULT_TOP,
                  per: int | None = None) -> ComparisonInFlight:
    """One consistent comparison: the published version is read once and used for both users."""
    published = reader.published()
    users = (user_key(user_a), user_key(user_b))
    handles = [user_a] if users[0] == users[1] else [user_a, user_b]
    return ComparisonInFlight(users, reader.start_counts(handles, published), top, per)


def compare(reader: ViewReader, user_a: str, user_b: str, top: int = DEFAULT_TOP, per: int | None = None
            ) -> Comparison:
    return start_compare(reader, user_a, user_b, top, per).finish()


@dataclass(frozen=True)
class Contrast:
    """The words that set each user apart (serving/contrast.py), from the same views as a comparison."""

    users: tuple[str, str]
    published: Published
    prior_weight: float
    of_a: list[DistinctiveWord]
    of_b: list[DistinctiveWord]

    def as_json(self) -> dict[str, Any]:
        def items(words: list[DistinctiveWord]) -> list[dict[str, Any]]:
            return [{"word": w.word, "z": w.z, "counts": [w.count_a, w.count_b]} for w in words]

        # No time window yet: every tweet the views hold counts (since and until are null).
        return {"users": list(self.users), "as_of": _as_of(self.published), "since": None, "until": None,
                "prior_weight": self.prior_weight, "a": items(self.of_a), "b": items(self.of_b)}

    def table(self) -> str:
        a, b = self.users
        lines = []
        count = max(12, len(a), len(b))
        for title, words in ((f"most characteristic of @{a}", self.of_a), (f"most characteristic of @{b}", self.of_b)):
            width = max([len("word"), *(len(w.word) for w in words)])
            lines += [title, f"{'word':<{width}}  {'z':>8}  {a:>{count}}  {b:>{count}}"]
            lines += [f"{w.word:<{width}}  {w.z:>8.2f}  {w.count_a:>{count},}  {w.count_b:>{count},}" for w in words]
            lines.append("")
        cutoff = self.published.cutoff
        lines.append(f"log-odds z with an informative Dirichlet prior (weight {self.prior_weight:g}); batch cutoff T: "
                     f"{cutoff.isoformat() if cutoff else 'no batch yet (speed view only)'}")
        return "\n".join(lines)


def contrast_of(flight: ComparisonInFlight, prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> Contrast:
    """The contrast of the users whose reads ``flight`` sent (the same reads as their comparison)."""
    counts_a, counts_b = flight.both_counts()
    of_a, of_b = rank_distinctive(counts_a, counts_b, flight.top, prior_weight)
    return Contrast(flight.users, flight.counts.published, prior_weight, of_a, of_b)


def contrast(reader: ViewReader, user_a: str, user_b: str, top: int = DEFAULT_TOP,
             prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> Contrast:
    return contrast_of(start_compare(reader, user_a, user_b, top), prior_weight)


def run_contrast(settings: Settings, user_a: str, user_b: str, top: int = DEFAULT_TOP,
                 prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> Contrast:
    session = connect(settings)
    try:
        return contrast(ViewReader(session, settings.keyspace), user_a, user_b, top, prior_weight)
    finally:
        session.cluster.shutdown()


def users_by_prefix(reader: ViewReader, prefix: str, limit: int = USERS_LIMIT) -> list[str]:
    """Handles the views know that start with ``prefix`` (case-insensitive, a leading @ ignored), for a picker."""
    return reader.users(prefix, reader.published(), limit)


def run_compare(settings: Settings, user_a: str, user_b: str, top: int, per: int | None = None) -> Comparison:
    session = connect(settings)
    try:
        return compare(ViewReader(session, settings.keyspace), user_a, user_b, top, per)
    finally:
        session.cluster.shutdown()
