"""The batch view by event period (batch_periods) against real Cassandra and Spark: each user's all-time
row equals the oracle, days add up to their month and months to all time, the denominators (tweets and
counted words per period) are exact, and a user whose counts pass a part's bound is written in parts."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from typing import Any

from pyspark.sql import SparkSession

from tests.support import expected_word_counts, random_tweets, tweet
from trendoff.batch.job import run_batch
from trendoff.settings import Settings
from trendoff.views.keys import user_key
from trendoff.views.periods import ALL_TIME, PERIOD_PART_WORDS, PeriodCounts, read_periods

USERS = ["BarackObama", "realDonaldTrump", "CNN", "nytimes"]
VOCABULARY = ["vote", "jobs", "america", "climate", "health", "people", "rally", "news", "#maga", "the", "don't",
              "&amp;", "Jobs", "VOTE"]


def write_history(session: Any, tweets: list[dict[str, Any]]) -> None:
    """Master rows as csv_loader writes history (counted whatever T is), with their event times."""
    insert = session.prepare("INSERT INTO tweets (id, user, text, created_at, is_retweet, csv_loaded) "
                             "VALUES (?, ?, ?, ?, ?, true)")
    for t in tweets:
        session.execute(insert, (t["id"], t["user"], t["text"], t["created_at"], t["is_retweet"]))


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def summed(periods: list[PeriodCounts]) -> Counter[str]:
    total: Counter[str] = Counter()
    for period in periods:
        total.update(period.counts)
    return total


def test_periods_add_up_and_all_time_equals_the_oracle(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession
) -> None:
    session, keyspace = cassandra_session, pipeline_settings.keyspace
    # Three years of event days, out of order, some retweets (tweets without words).
    tweets = random_tweets(1_500, seed=21, first_id=1, users=USERS, vocabulary=VOCABULARY, retweet_share=0.1,
                           start=dt.datetime(2015, 1, 1, tzinfo=dt.UTC), span_minutes=3 * 525_600, shuffle=True)
    write_history(session, tweets)
    version = run_batch(spark, pipeline_settings).version
    expected = expected_word_counts(spark, tweets)
    for handle in USERS:
        user = user_key(handle)
        mine = [t for t in tweets if user_key(t["user"]) == user]
        tweets_per_day = Counter(t["created_at"].date() for t in mine)
        (all_time,) = read_periods(session, keyspace, version, user, "all").items()
        assert all_time[0] == ALL_TIME
        assert (all_time[1].counts, all_time[1].tweets) == (expected[user], len(mine))
        assert all_time[1].words == sum(expected[user].values())
        days = read_periods(session, keyspace, version, user, "day")
        months = read_periods(session, keyspace, version, user, "month")
        assert {day: period.tweets for day, period in days.items()} == tweets_per_day
        assert sum(period.words for period in months.values()) == all_time[1].words
        for month, period in months.items():
            inside = [p for day, p in days.items() if month_of(day) == month]
            assert summed(inside) == period.counts and sum(p.tweets for p in inside) == period.tweets
            assert sum(p.words for p in inside) == period.words == sum(period.counts.values())
        assert summed(list(months.values())) == all_time[1].counts
        # A range read: the months of 2016 only.
        year = read_periods(session, keyspace, version, user, "month", dt.date(2016, 1, 1), dt.date(2017, 1, 1))
        assert set(year) == {month for month in months if month.year == 2016}
    # Some days against the oracle over that day's raw tweets alone (the UTC day of created_at).
    for t in random.Random(22).sample(tweets, 3):
        user, day = user_key(t["user"]), t["created_at"].date()
        that_day = [x for x in tweets if user_key(x["user"]) == user and x["created_at"].date() == day]
        got = read_periods(session, keyspace, version, user, "day", day, day + dt.timedelta(days=1))
        assert got[day].counts == expected_word_counts(spark, that_day).get(user, Counter())


def test_a_user_past_a_parts_bound_is_written_in_parts_and_read_back_exactly(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession
) -> None:
    session, keyspace = cassandra_session, pipeline_settings.keyspace
    distinct = 2 * PERIOD_PART_WORDS + 1_000  # three parts in each of the user's periods

    def word(n: int) -> str:
        letters = "".join(chr(ord("a") + (n // 26 ** k) % 26) for k in range(4))
        return f"word{letters}"

    when = dt.datetime(2020, 3, 4, 5, 6, tzinfo=dt.UTC)
    tweets = [tweet(10_000 + n, "Wordy", " ".join(word(n * 100 + k) for k in range(100)), when)
              for n in range(distinct // 100)]
    tweets.append(tweet(20_000, "wordy", "worda worda wordb", when))
    write_history(session, tweets)
    version = run_batch(spark, pipeline_settings).version
    expected = expected_word_counts(spark, tweets)["wordy"]
    assert len(expected) == distinct + 2  # and "worda", "wordb"
    for grain, period in (("all", ALL_TIME), ("month", dt.date(2020, 3, 1)), ("day", dt.date(2020, 3, 4))):
        got = read_periods(session, keyspace, version, "wordy", grain)[period]
        assert (got.counts, got.tweets, got.words, got.parts) == (expected, len(tweets), sum(expected.values()), 3)
    rows = session.execute(f"SELECT word_counts FROM {keyspace}.batch_periods WHERE version = %s ALLOW FILTERING",
                           (version,))
    assert max(len(json.loads(row.word_counts)) for row in rows) <= PERIOD_PART_WORDS
