"""Batch layer: time run_batch over 1,000,000 synthetic tweets in the master table, and a plain
single-process Python reference of the same computation over the same rows.

Run against a running stack (`trendoff stack up`):
    python benchmarks/batch_bench.py [--tweets 1000000] [--users 10000]
The master table is filled by Spark in a throwaway keyspace (dropped at the end).
"""

from __future__ import annotations

import argparse
import html
import re
import time
import uuid
from collections import Counter

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from trendoff import cassandra_io
from trendoff.batch.job import run_batch
from trendoff.config import Settings, load_settings
from trendoff.logs import configure_logging
from trendoff.spark import spark_session
from trendoff.words import stop_words

VOCABULARY_SIZE = 20_000


def synthetic_master(spark: SparkSession, tweets: int, users: int, seed: int = 7) -> DataFrame:
    """Master-table rows: skewed users and words (a few very common, long tails), 12 words and two
    stop words a tweet, 10% retweets, all arrived long ago."""

    def skewed(key: F.Column, size: int) -> F.Column:
        # A deterministic uniform number in [0, 1) from a hash, cubed: small indices are far more common.
        uniform = (F.abs(F.hash(key, F.lit(seed))) % 1_000_003) / 1_000_003.0
        return (F.pow(uniform, 3) * size).cast("int").cast("string")

    tokens = F.transform(F.sequence(F.lit(1), F.lit(12)), lambda i: F.concat(F.lit("w"), skewed(F.col("id") * 13 + i,
                                                                                               VOCABULARY_SIZE)))
    return (
        spark.range(tweets)
        .withColumn("user", F.concat(F.lit("user"), skewed(F.col("id") * 7 + 1, users)))
        .withColumn("text", F.concat_ws(" ", F.concat(tokens, F.array(F.lit("the"), F.lit("and")))))
        .withColumn("is_retweet", (F.abs(F.hash(F.col("id"), F.lit(seed + 1))) % 10) == 0)
        .withColumn("created_at", F.timestamp_seconds(F.lit(1_450_000_000) + F.col("id")))
        .withColumn("arrived_at", F.timestamp_seconds(F.lit(1_700_000_000) + F.col("id") / 1000))
        .withColumn("kafka_partition", (F.col("id") % 4).cast("int"))
        .withColumn("kafka_offset", F.col("id"))
    )


# --- the reference: the same word rule in plain Python, one process, for the comparison only -------
_URL = re.compile(r"(?:https?://|www\.)\S*")
_MENTION = re.compile(r"@\w+")
_WORD = re.compile(r"#?\w+(?:'\w+)*")


def reference_words(text: str, stops: frozenset[str]) -> list[str]:
    cleaned = _MENTION.sub(" ", _URL.sub(" ", html.unescape(text).replace("\u2019", "'").lower()))
    result = []
    for word in _WORD.findall(cleaned):
        core = word.lstrip("#")
        if len(core) > 1 and not core.isdigit() and core not in stops:
            result.append(word)
    return result


def reference_batch(rows: list[tuple[str, str, bool]]) -> dict[str, Counter[str]]:
    stops = stop_words()
    per_user: dict[str, Counter[str]] = {}
    for user, text, retweet in rows:
        if retweet:
            continue
        per_user.setdefault(user.lower(), Counter()).update(reference_words(text, stops))
    return per_user


def run(tweets: int = 1_000_000, users: int = 10_000) -> dict[str, float]:
    base = load_settings()
    settings: Settings = base.with_overrides(keyspace=f"bench_batch_{uuid.uuid4().hex[:8]}",
                                             topic=f"bench_batch_{uuid.uuid4().hex[:8]}")
    session = cassandra_io.connect(settings)
    cassandra_io.apply_schema(session, settings.keyspace, settings.replication)
    from trendoff import topics

    topics.ensure_topic(settings.bootstrap_servers, settings.topic, 4)
    spark = spark_session(settings, "trendoff-bench-batch")
    try:
        started = time.monotonic()
        master = synthetic_master(spark, tweets, users)
        master.write.format("org.apache.spark.sql.cassandra").options(
            keyspace=settings.keyspace, table="tweets").mode("append").save()
        fill_seconds = time.monotonic() - started

        # The ingest progress says everything is landed, so T is "now" and every row counts.
        session.execute(f"INSERT INTO {settings.keyspace}.ingest_progress (topic, kafka_partition, next_offset) "
                        "VALUES (%s, 0, 0)", (settings.topic,))
        result = run_batch(spark, settings, clock_skew_seconds=0)

        rows = [(r.user, r.text, r.is_retweet) for r in master.select("user", "text", "is_retweet").toLocalIterator()]
        started = time.monotonic()
        reference = reference_batch(rows)
        reference_seconds = time.monotonic() - started
        # Check the reference computed the same thing, on one user.
        sample = min(reference, key=lambda u: (-sum(reference[u].values()), u))
        from trendoff.view_keys import batch_bucket

        row = session.execute(
            f"SELECT word_counts FROM {settings.keyspace}.batch_words WHERE version = %s AND bucket = %s AND user = %s",
            (result.version, batch_bucket(sample), sample)).one()
        import json

        agrees = json.loads(row.word_counts) == dict(reference[sample])
    finally:
        spark.stop()
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
        session.cluster.shutdown()
        topics.delete_topic(settings.bootstrap_servers, settings.topic)
    return {
        "tweets": float(tweets), "users_written": float(result.users), "fill_seconds": fill_seconds,
        "batch_seconds": result.seconds, "batch_tweets_per_second": tweets / result.seconds,
        "reference_seconds": reference_seconds, "reference_agrees": float(agrees),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tweets", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("WARNING")
    f = run(args.tweets, args.users)
    print(f"batch: {f['tweets']:,.0f} tweets ({f['users_written']:,.0f} users) recounted and published in "
          f"{f['batch_seconds']:.1f} s = {f['batch_tweets_per_second']:,.0f} tweets/s "
          f"(master table filled in {f['fill_seconds']:.1f} s beforehand)")
    print(f"reference (plain Python, one process, same rule and rows): {f['reference_seconds']:.1f} s; "
          f"Spark/reference time ratio {f['batch_seconds'] / f['reference_seconds']:.2f}; "
          f"same counts for the busiest user: {bool(f['reference_agrees'])}")


if __name__ == "__main__":
    main()
