"""A comparison of two users from the views: the published batch version plus newer speed minutes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from trendoff.cassandra_io import connect
from trendoff.config import Settings
from trendoff.serving.compare import DEFAULT_TOP, MutualWord, rank_mutual
from trendoff.serving.views import USERS_LIMIT, CountsInFlight, Published, ViewReader
from trendoff.view_keys import user_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    users: tuple[str, str]
    published: Published
    top: list[MutualWord]

    def as_json(self) -> dict[str, Any]:
        as_of = self.published.cutoff.isoformat() if self.published.cutoff else None
        return {"users": list(self.users), "as_of": as_of,
                "top": [{"word": m.word, "counts": [m.count_a, m.count_b]} for m in self.top]}

    def as_arrays(self) -> dict[str, Any]:
        """The --out file: the three arrays the chart is drawn from, with the users they belong to."""
        return {"users": list(self.users), "as_of": self.as_json()["as_of"], "words": [m.word for m in self.top],
                "counts_a": [m.count_a for m in self.top], "counts_b": [m.count_b for m in self.top]}

    def table(self) -> str:
        a, b = self.users
        width = max([len("word"), *(len(m.word) for m in self.top)])
        lines = [f"{'word':<{width}}  {a:>12}  {b:>12}", f"{'-' * width}  {'-' * 12}  {'-' * 12}"]
        lines += [f"{m.word:<{width}}  {m.count_a:>12,}  {m.count_b:>12,}" for m in self.top]
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

    def finish(self) -> Comparison:
        answers = self.counts.finish()
        counts_a, counts_b = (answers[0], answers[0]) if len(answers) == 1 else answers
        return Comparison(self.users, self.counts.published, rank_mutual(counts_a, counts_b, self.top))


def start_compare(reader: ViewReader, user_a: str, user_b: str, top: int = DEFAULT_TOP) -> ComparisonInFlight:
    """One consistent comparison: the published version is read once and used for both users."""
    published = reader.published()
    users = (user_key(user_a), user_key(user_b))
    handles = [user_a] if users[0] == users[1] else [user_a, user_b]
    return ComparisonInFlight(users, reader.start_counts(handles, published), top)


def compare(reader: ViewReader, user_a: str, user_b: str, top: int = DEFAULT_TOP) -> Comparison:
    return start_compare(reader, user_a, user_b, top).finish()


def users_by_prefix(reader: ViewReader, prefix: str, limit: int = USERS_LIMIT) -> list[str]:
    """Handles the views know that start with ``prefix`` (case-insensitive, a leading @ ignored), for a picker."""
    return reader.users(prefix, reader.published(), limit)


def run_compare(settings: Settings, user_a: str, user_b: str, top: int) -> Comparison:
    session = connect(settings)
    try:
        return compare(ViewReader(session, settings.keyspace), user_a, user_b, top)
    finally:
        session.cluster.shutdown()
