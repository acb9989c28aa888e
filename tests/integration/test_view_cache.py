"""The service's batch-row cache against the real Cassandra: a cached row is answered without Cassandra,
the cache holds at most its byte budget and drops the least recently used row first."""

from __future__ import annotations

import json
from typing import Any

from tests.support import EXPECTED_SERVING_ANSWER as EXPECTED
from tests.support import SERVING_BATCH, seed_serving_views
from trendoff.serving.query import compare
from trendoff.serving.views import ViewReader
from trendoff.settings import Settings
from trendoff.views.keys import batch_bucket

PAIR = ("BarackObama", "realDonaldTrump")


def delete_batch_row(session: Any, user: str) -> None:
    session.execute("DELETE FROM batch_words WHERE version = 7 AND bucket = %s AND user = %s",
                    (batch_bucket(user), user))


def test_cached_rows_answer_without_cassandra_within_the_byte_budget(
    pipeline_settings: Settings, cassandra_session: Any
) -> None:
    seed_serving_views(cassandra_session)
    sizes = {user: len(json.dumps(counts)) for user, counts in SERVING_BATCH.items()}
    # Room for exactly the pair's two rows.
    budget = sizes["barackobama"] + sizes["realdonaldtrump"]
    cached = ViewReader(cassandra_session, pipeline_settings.keyspace, batch_cache_bytes=budget)
    assert compare(cached, *PAIR).as_json() == EXPECTED

    for user in ("barackobama", "realdonaldtrump"):
        delete_batch_row(cassandra_session, user)
    uncached = ViewReader(cassandra_session, pipeline_settings.keyspace)
    assert compare(uncached, *PAIR).as_json() != EXPECTED, "the rows are gone from Cassandra"
    assert compare(cached, *PAIR).as_json() == EXPECTED, "a batch version never changes: the cache answers"

    # Another user's row needs room: the least recently used of the two (barackobama: a is read first) goes.
    assert sizes["someone_else"] <= sizes["barackobama"]
    published = cached.published()
    trump_before = cached.user_counts("realDonaldTrump", published)
    cached.user_counts("someone_else", published)
    assert cached.user_counts("BarackObama", published) == uncached.user_counts("BarackObama", published)
    assert cached.user_counts("realDonaldTrump", published) == trump_before != uncached.user_counts(
        "realDonaldTrump", published)


def test_a_row_larger_than_the_budget_is_read_every_time(pipeline_settings: Settings, cassandra_session: Any) -> None:
    seed_serving_views(cassandra_session)
    tiny = ViewReader(cassandra_session, pipeline_settings.keyspace, batch_cache_bytes=10)
    assert compare(tiny, *PAIR).as_json() == EXPECTED
    delete_batch_row(cassandra_session, "barackobama")
    assert compare(tiny, *PAIR).as_json() != EXPECTED
