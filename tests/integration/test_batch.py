"""The batch layer against real Cassandra, Kafka and Spark: what it counts, versions, publish, clean-up."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from typing import Any

from cassandra.query import ValueSequence
from pyspark.sql import SparkSession

from tests.support import expected_word_counts, wait_until
from trendoff.batch.job import counted_flag, run_batch
from trendoff.serving.views import ViewReader
from trendoff.settings import Settings
from trendoff.views.keys import BATCH_BUCKETS, batch_bucket, user_key

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LONG_AGO, LATELY, LATER = NOW - dt.timedelta(hours=1), NOW - dt.timedelta(minutes=3), NOW + dt.timedelta(hours=1)

# (id, user, text, is_retweet, arrived_at, csv_loaded); the topic is empty, so T = floor(now - 2 s).
MASTER_ROWS: list[tuple[int, str, str, bool, dt.datetime | None, bool | None]] = [
    (1, "Ann", "Vote vote VOTE &amp; jobs! http://x.co/a @bob", False, LONG_AGO, None),
    (2, "ANN", "#Vote for jobs, don\u2019t wait", False, LATELY, None),
    (3, "ann", "RT @cal: vote vote vote", True, LONG_AGO, None),  # a retweet: a tweet, no words
    (4, "Bob", "Jobs jobs and the economy", False, None, True),  # history from csv_loader
    (5, "bob", "excluded because it arrived after T", False, LATER, None),
    (6, "Erin", "history that later came through Kafka", False, LATER, True),  # still history
    (7, "carol", "RT @ann: only a retweet", True, LATELY, None),  # counted, no words: "{}"
    (8, "dave", "nothing before T", False, LATER, None),  # no row at all
]
# Written out by hand from SPEC §3 ("don't" is an English stop word, so is "for", "and", "the").
HAND_COUNTED = {
    "ann": ({"vote": 3, "jobs": 2, "#vote": 1, "wait": 1}, 3),
    "bob": ({"jobs": 2, "economy": 1}, 1),
    "erin": ({"history": 1, "later": 1, "came": 1, "kafka": 1}, 1),
    "carol": ({}, 1),
}


def write_master(session: Any, rows: list[tuple[int, str, str, bool, dt.datetime | None, bool | None]]) -> None:
    insert = session.prepare(
        "INSERT INTO tweets (id, user, text, created_at, is_retweet, arrived_at, csv_loaded, kafka_partition, "
        "kafka_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for tweet_id, user, text, retweet, arrived, csv_loaded in rows:
        partition, offset = (0, tweet_id) if arrived is not None else (None, None)
        session.execute(insert, (tweet_id, user, text, dt.datetime(2016, 1, 1, tzinfo=dt.UTC), retweet, arrived,
                                 csv_loaded, partition, offset))


def batch_rows(session: Any, version: int) -> dict[str, tuple[dict[str, int], int]]:
    rows = session.execute("SELECT bucket, user, word_counts, tweets_counted FROM batch_words WHERE version = %s AND "
                           "bucket IN %s", (version, ValueSequence(range(BATCH_BUCKETS))))
    written = {}
    for r in rows:
        assert r.bucket == batch_bucket(r.user), f"{r.user} is in bucket {r.bucket}: serving would not find it"
        written[r.user] = (json.loads(r.word_counts), r.tweets_counted)
    return written


def expected_batch_rows(
    spark: SparkSession, rows: list[tuple[int, str, str, bool, dt.datetime | None, bool | None]], cutoff: dt.datetime,
    count_retweets: bool = False,
) -> dict[str, tuple[dict[str, int], int]]:
    """What batch_words must hold for these master rows: the test oracle's words and the tweets counted,
    per user, over the csv-loaded rows and those that arrived before T."""
    counted = [{"id": i, "user": user, "text": text, "is_retweet": retweet}
               for i, user, text, retweet, arrived, csv_loaded in rows
               if csv_loaded or (arrived is not None and arrived < cutoff)]
    words = expected_word_counts(spark, counted, count_retweets=count_retweets)
    tweets = Counter(user_key(tweet["user"]) for tweet in counted)
    return {user: (dict(words.get(user, {})), n) for user, n in tweets.items()}


def period_rows(session: Any, version: int) -> int:
    return int(session.execute("SELECT COUNT(*) FROM batch_periods WHERE version = %s AND bucket IN %s",
                               (version, ValueSequence(range(BATCH_BUCKETS)))).one()[0])


def versions(session: Any) -> list[int]:
    return [r.version for r in session.execute("SELECT version FROM batch_versions WHERE view_name = 'words'")]


def test_counts_what_arrived_before_t_and_history(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession
) -> None:
    write_master(cassandra_session, MASTER_ROWS)
    before = dt.datetime.now(dt.UTC)
    result = run_batch(spark, pipeline_settings)
    assert before.replace(second=0, microsecond=0) - dt.timedelta(minutes=1) <= result.arrival_cutoff <= before
    assert result.arrival_cutoff.second == 0 and result.arrival_cutoff.microsecond == 0

    written = batch_rows(cassandra_session, result.version)
    assert written == HAND_COUNTED
    assert written == expected_batch_rows(spark, MASTER_ROWS, result.arrival_cutoff)
    assert (result.tweets_read, result.tweets_counted, result.users) == (8, 6, 4)

    published = cassandra_session.execute("SELECT * FROM batch_published WHERE view_name = 'words'").one()
    assert published.version == result.version
    assert published.arrival_cutoff.replace(tzinfo=dt.UTC) == result.arrival_cutoff
    record = cassandra_session.execute("SELECT * FROM batch_versions WHERE view_name = 'words'").one()
    assert (record.version, record.users, record.tweets_counted) == (result.version, 4, 6)
    assert record.finished_at is not None

    # With --count-retweets the retweets' words count too.
    with_retweets = run_batch(spark, pipeline_settings, count_retweets=True)
    counted = batch_rows(cassandra_session, with_retweets.version)
    assert counted["ann"] == ({"vote": 6, "jobs": 2, "#vote": 1, "wait": 1}, 3)
    assert counted["carol"] == ({"retweet": 1}, 1)
    assert counted == expected_batch_rows(spark, MASTER_ROWS, with_retweets.arrival_cutoff, count_retweets=True)


def test_the_cutoff_boundary_is_exclusive(spark: SparkSession) -> None:
    # counted_flag is the filter run_batch applies to the master table.
    cutoff = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    master = spark.createDataFrame([
        (1, cutoff - dt.timedelta(milliseconds=1), None),  # just before T: counted
        (2, cutoff, None),  # exactly T: left to speed
        (3, cutoff + dt.timedelta(seconds=1), False),
        (4, None, None),  # neither arrived nor csv-loaded
        (5, None, True),  # history from csv_loader
        (6, cutoff + dt.timedelta(hours=1), True),  # history that later came through Kafka: still history
    ], "id long, arrived_at timestamp, csv_loaded boolean")
    rows = master.select("id", counted_flag(cutoff).alias("counted")).orderBy("id").collect()
    assert [(r.id, r.counted) for r in rows] == [(1, True), (2, False), (3, False), (4, False), (5, True), (6, True)]


def test_versions_publish_and_clean_up(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession
) -> None:
    session = cassandra_session
    write_master(session, MASTER_ROWS[:2])
    # A version from a run that died two hours ago: never published, never finished.
    orphan = int((time.time() - 7200) * 1000)
    session.execute("INSERT INTO batch_versions (view_name, version) VALUES ('words', %s)", (orphan,))
    session.execute("INSERT INTO batch_words (version, bucket, user, word_counts, tweets_counted) "
                    "VALUES (%s, %s, 'ann', '{\"half\": 1}', 1)", (orphan, batch_bucket("ann")))
    session.execute("INSERT INTO batch_periods (version, bucket, user, grain, period, part, word_counts, tweets, "
                    "words) VALUES (%s, %s, 'ann', 'all', '1970-01-01', 0, '{\"half\": 1}', 1, 1)",
                    (orphan, batch_bucket("ann")))

    first = run_batch(spark, pipeline_settings)  # default grace: 60 minutes
    assert first.removed_versions == (orphan,) and batch_rows(session, orphan) == {}
    assert period_rows(session, orphan) == 0
    assert versions(session) == [first.version]

    write_master(session, [(9, "ann", "jobs jobs", False, LONG_AGO, None)])
    second = run_batch(spark, pipeline_settings, keep_minutes=0)
    assert second.version > first.version and second.removed_versions == ()  # first: the one before
    assert batch_rows(session, second.version)["ann"] == ({"vote": 3, "jobs": 4, "#vote": 1, "wait": 1}, 3)
    assert batch_rows(session, first.version)["ann"] == ({"vote": 3, "jobs": 2, "#vote": 1, "wait": 1}, 2)

    third = run_batch(spark, pipeline_settings, keep_minutes=0)
    assert third.removed_versions == (first.version,)
    assert versions(session) == [third.version, second.version]
    assert batch_rows(session, first.version) == {}
    assert batch_rows(session, third.version) == batch_rows(session, second.version)
    # The view by event period goes with its version (ann: one day, one month, all time; the others too).
    assert period_rows(session, first.version) == 0 < period_rows(session, second.version)
    assert period_rows(session, second.version) == period_rows(session, third.version)
    published = session.execute("SELECT version FROM batch_published WHERE view_name = 'words'").one()
    assert published.version == third.version


def test_readers_see_one_whole_version_while_batch_publishes(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession
) -> None:
    session = cassandra_session
    users = [f"user{n:03d}" for n in range(150)]
    # ids from 1: a tweet id must be positive (id 0 is skipped as bad-id, like any row breaking a limit)
    write_master(session, [(n, user, "alpha beta", False, LONG_AGO, None) for n, user in enumerate(users, start=1)])
    first = run_batch(spark, pipeline_settings)
    write_master(session, [(1000 + n, user, "beta gamma", False, LONG_AGO, None) for n, user in enumerate(users)])
    answer_v1, answer_v2 = Counter(alpha=1, beta=1), Counter(alpha=1, beta=2, gamma=1)

    reader = ViewReader(session, pipeline_settings.keyspace)
    seen: list[tuple[int | None, str, Counter[str]]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read_all_the_time() -> None:
        n = 0
        while not stop.is_set():
            published = reader.published()  # once per answer, then every read sticks to that version
            user = users[n % len(users)]
            try:
                seen.append((published.version, user, reader.user_counts(user, published)))
            except BaseException as error:  # an unknown user here would be a half-written version
                failures.append(error)
                return
            n += 1

    thread = threading.Thread(target=read_all_the_time)
    thread.start()
    try:
        second = run_batch(spark, pipeline_settings)
        # A few answers after the switch (or a failure, which ends the reader).
        wait_until(lambda: failures or sum(1 for version, _, _ in list(seen) if version == second.version) >= 5,
                   30, "answers from the newly published version")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the reader did not stop"
    assert not failures
    expected = {first.version: answer_v1, second.version: answer_v2}
    assert {version for version, _, _ in seen} == set(expected), "answers before and after the switch"
    assert all(counts == expected[version] for version, _, counts in seen if version is not None)
