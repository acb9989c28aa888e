"""Batch layer benchmark: run_batch over 1,000,000 synthetic tweets in the master table, beside a
plain single-process Python reference of the same computation over the same rows.

Run against a running stack (`trendoff stack up`, or TRENDOFF_KAFKA_BOOTSTRAP/TRENDOFF_CASSANDRA_HOSTS):
    python benchmarks/batch_bench.py [--tweets 1000000] [--users 10000] [--seed 7] [--json]
The master table is filled by Spark from a generated DataFrame in a throwaway keyspace (and topic),
both dropped at the end. Target: run_batch under 120 s for a million tweets.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import re
import time
import uuid
from collections import Counter

from cassandra.query import ValueSequence
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from trendoff.batch.job import BatchOptions, run_batch
from trendoff.clients import cassandra_io, topics
from trendoff.clients.spark import spark_session
from trendoff.config import load_settings
from trendoff.logs import configure_logging
from trendoff.views.keys import BATCH_BUCKETS
from trendoff.views.schema import apply_schema
from trendoff.views.words import stop_words

log = logging.getLogger("batch_bench")
VOCABULARY_SIZE = 20_000
WORDS_PER_TWEET = 12


def synthetic_master(spark: SparkSession, tweets: int, users: int, seed: int) -> DataFrame:
    """Master-table rows, deterministic for a seed: Zipf-distributed users and vocabulary, 12 words and
    two stop words a tweet, a hashtag now and then, 10% retweets, all arrived (or loaded) long ago."""

    def uniform(key: F.Column, salt: int) -> F.Column:
        # A uniform number in [0, 1) from a hash of (key, seed, salt): the same rows on every run.
        return (F.abs(F.xxhash64(key, F.lit(seed), F.lit(salt))) % 1_000_000_007) / 1_000_000_007.0

    def zipf_rank(key: F.Column, salt: int, size: int) -> F.Column:
        # Zipf with exponent 1 by inverse transform: P(rank <= r) ~ ln(r) / ln(size), so rank = size ** u.
        return F.least(F.floor(F.exp(uniform(key, salt) * F.log(F.lit(float(size))))), F.lit(size)).cast("long")

    tokens = F.transform(
        F.sequence(F.lit(1), F.lit(WORDS_PER_TWEET)),
        lambda i: F.concat(F.when(uniform(F.col("id") * 100 + i, 3) < 0.02, F.lit("#w")).otherwise(F.lit("w")),
                           zipf_rank(F.col("id") * 100 + i, 2, VOCABULARY_SIZE).cast("string")),
    )
    return (
        spark.range(1, tweets + 1)
        .withColumn("user", F.concat(F.lit("User"), zipf_rank(F.col("id"), 1, users).cast("string")))
        .withColumn("text", F.concat_ws(" ", F.concat(tokens, F.array(F.lit("the"), F.lit("and")))))
        .withColumn("is_retweet", uniform(F.col("id"), 4) < 0.1)
        .withColumn("created_at", F.timestamp_seconds(F.lit(1_450_000_000) + F.col("id")))
        .withColumn("arrived_at", F.timestamp_seconds(F.lit(1_700_000_000) + F.col("id") / 1000))
        .withColumn("kafka_partition", (F.col("id") % 4).cast("int"))
        .withColumn("kafka_offset", F.col("id"))
    )


# --- REFERENCE ONLY: the word rule re-written in plain Python, single process, for the time comparison.
# It is not the project's word rule (that is trendoff/views/words.py, Spark columns); it follows SPEC §3 closely
# enough for the synthetic texts, and its counts are checked against the batch view below.
_URL = re.compile(r"(?:https?://|www\.)\S*")
_MENTION = re.compile(r"@\w+")
_WORD = re.compile(r"#?\w+(?:'\w+)*")


def reference_words(text: str, stops: frozenset[str]) -> list[str]:
    cleaned = _MENTION.sub(" ", _URL.sub(" ", html.unescape(text).replace("\u2019", "'").lower()))
    kept = []
    for word in _WORD.findall(cleaned):
        core = word.removeprefix("#")
        if len(core) > 1 and not core.isdigit() and core not in stops:
            kept.append(word)
    return kept


def reference_batch(rows: list[tuple[str, str, bool]]) -> dict[str, Counter[str]]:
    """Per lower-cased user, word counts of the non-retweets (every row counts: all arrived long ago)."""
    stops = stop_words()
    per_user: dict[str, Counter[str]] = {}
    for user, text, retweet in rows:
        words = per_user.setdefault(user.lower(), Counter())
        if not retweet:
            words.update(reference_words(text, stops))
    return per_user


def run(tweets: int, users: int, seed: int) -> dict[str, float]:
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings().with_overrides(keyspace=f"bench_batch_{suffix}", topic=f"bench_batch_{suffix}")
    session = cassandra_io.connect(settings)
    apply_schema(session, settings)
    topics.ensure_topic(settings, settings.topic, 4)
    spark = spark_session(settings, "trendoff-bench-batch")
    try:
        started = time.monotonic()
        master = synthetic_master(spark, tweets, users, seed)
        master.write.format("org.apache.spark.sql.cassandra").options(
            keyspace=settings.keyspace, table="tweets").mode("append").save()
        fill_seconds = time.monotonic() - started
        log.warning("master table filled with %s tweets in %.1f s", f"{tweets:,}", fill_seconds)

        # The topic is empty, so ingest is caught up and T is "now": every row counts.
        result = run_batch(spark, settings, BatchOptions(clock_skew_seconds=0))

        rows = [(r.user, r.text, r.is_retweet) for r in master.select("user", "text", "is_retweet").toLocalIterator()]
        started = time.monotonic()
        reference = reference_batch(rows)
        reference_seconds = time.monotonic() - started

        written = {r.user: json.loads(r.word_counts) for r in session.execute(
            f"SELECT user, word_counts FROM {settings.keyspace}.batch_words WHERE version = %s AND bucket IN %s",
            (result.version, ValueSequence(range(BATCH_BUCKETS))), timeout=120)}
        disagree = sum(1 for user in reference.keys() | written.keys()
                       if dict(reference.get(user, {})) != written.get(user))
    finally:
        spark.stop()
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
        session.cluster.shutdown()
        topics.delete_topic(settings, settings.topic)
    return {
        "tweets": tweets, "users_written": result.users, "fill_seconds": fill_seconds,
        "batch_seconds": result.seconds, "batch_tweets_per_second": tweets / result.seconds,
        "reference_seconds": reference_seconds, "reference_tweets_per_second": tweets / reference_seconds,
        "batch_over_reference": result.seconds / reference_seconds, "users_disagreeing": disagree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    configure_logging("WARNING")
    figures = run(args.tweets, args.users, args.seed)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"batch (Spark, run_batch): {figures['tweets']:,} tweets, {figures['users_written']:,} users written, "
          f"{figures['batch_seconds']:.1f} s = {figures['batch_tweets_per_second']:,.0f} tweets/s "
          f"(master table filled beforehand in {figures['fill_seconds']:.1f} s)")
    print(f"reference (plain Python, one process, rows already in memory): {figures['reference_seconds']:.1f} s = "
          f"{figures['reference_tweets_per_second']:,.0f} tweets/s")
    print(f"batch / reference time: {figures['batch_over_reference']:.2f}; "
          f"users whose counts differ: {figures['users_disagreeing']}")


if __name__ == "__main__":
    main()
