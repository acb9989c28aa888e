"""The batch view by event period (table batch_periods): what its rows mean, and reading them back.

A user's counts of one version are kept per UTC day of the tweets' created_at, rolled up to months and to
all time (``GRAINS``); each period's counts are split in parts of at most ``PERIOD_PART_WORDS`` words, so
no cell grows with a user's vocabulary. The rows are written by batch/periods.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from trendoff.views.keys import batch_bucket

GRAINS = ("day", "month", "all")
# The period of grain "all": one row per user and version, under the epoch's first day.
ALL_TIME = dt.date(1970, 1, 1)
# At most this many words in one part: 5,000 words of at most 100 characters (views/words.py) stay under
# 2 MiB of JSON even in four-byte characters, and a few tens of KiB for ordinary words.
PERIOD_PART_WORDS = 5_000


@dataclass
class PeriodCounts:
    """One user's counts in one period (its parts merged), with the period's denominators."""

    tweets: int = 0  # the user's counted tweets in the period
    words: int = 0  # the user's counted words in the period (the sum of the counts)
    counts: Counter[str] = field(default_factory=Counter)
    parts: int = 0


def as_date(value: Any) -> dt.date:
    """A Cassandra ``date`` as the driver returns it (cassandra.util.Date) or a datetime.date."""
    return value if isinstance(value, dt.date) else value.date()


def read_periods(session: Any, keyspace: str, version: int, user: str, grain: str,
                 since: dt.date | None = None, until: dt.date | None = None) -> dict[dt.date, PeriodCounts]:
    """``user``'s periods of ``grain`` in ``version`` whose first day is in [since, until), parts merged."""
    assert grain in GRAINS, grain
    query = (f"SELECT period, part, word_counts, tweets, words FROM {keyspace}.batch_periods "
             "WHERE version = %s AND bucket = %s AND user = %s AND grain = %s")
    values: list[Any] = [version, batch_bucket(user), user, grain]
    if since is not None:
        query += " AND period >= %s"
        values.append(since)
    if until is not None:
        query += " AND period < %s"
        values.append(until)
    periods: dict[dt.date, PeriodCounts] = {}
    for row in session.execute(query, values):
        period = periods.setdefault(as_date(row.period), PeriodCounts(row.tweets, row.words))
        period.counts.update(json.loads(row.word_counts))
        period.parts += 1
    return periods
