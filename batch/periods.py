"""The batch view by event period (table batch_periods, trendoff/views/periods.py): each user's word counts
per UTC day of created_at, rolled up to months and all time, each period split in bounded parts.

The words are exploded and counted once, per user, day and word; months and all time are sums of the
days, so the periods of a user always add up to the all-time row. The tweets and counted words of each
period (the denominators of rates and of the contrast) are stored beside the counts.
"""

from __future__ import annotations

import logging

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from trendoff.clients.cassandra_io import SPARK_FORMAT as CASSANDRA
from trendoff.settings import Settings
from trendoff.views.keys import batch_bucket_column
from trendoff.views.periods import ALL_TIME, PERIOD_PART_WORDS
from trendoff.views.words import exploded_words

log = logging.getLogger(__name__)
PERIOD = ["user", "grain", "period"]


def _rolled_up(per_day: DataFrame, value: str) -> DataFrame:
    """``per_day`` (user, day, [word,] value) as (user, grain, period, [word,] value) for every grain: the
    days as they are, months and all time as sums of them."""
    extra = [c for c in per_day.columns if c not in ("user", "day", value)]
    days = per_day.select("user", F.lit("day").alias("grain"), F.col("day").alias("period"), *extra, value)
    months = per_day.groupBy("user", F.trunc("day", "month").alias("period"), *extra).agg(
        F.sum(value).alias(value)).select("user", F.lit("month").alias("grain"), "period", *extra, value)
    all_time = per_day.groupBy("user", *extra).agg(F.sum(value).alias(value)).select(
        "user", F.lit("all").alias("grain"), F.lit(ALL_TIME).alias("period"), *extra, value)
    return days.unionByName(months).unionByName(all_time)


def period_rows(counted: DataFrame, per_day_words: DataFrame, version: int) -> DataFrame:
    """batch_periods rows: ``counted`` has one row per counted tweet (user key, day); ``per_day_words`` is
    (user, day, word, n)."""
    tweets = _rolled_up(counted.groupBy("user", "day").agg(F.count(F.lit(1)).alias("tweets")), "tweets")
    words = _rolled_up(per_day_words, "n")
    totals = words.groupBy(*PERIOD).agg(F.sum("n").alias("words"))
    # Parts of at most PERIOD_PART_WORDS words, in word order (a rerun makes the same parts). Only the few
    # periods with more words than that are numbered by a window: a window buffers each period whole,
    # which for every period of every user ran a million-tweet run out of memory.
    sizes = words.groupBy(*PERIOD).agg(F.count(F.lit(1)).alias("distinct_words"))
    sized = words.join(sizes, PERIOD)
    small = sized.where(F.col("distinct_words") <= PERIOD_PART_WORDS).withColumn("part", F.lit(0))
    large = sized.where(F.col("distinct_words") > PERIOD_PART_WORDS).withColumn("part", ((F.row_number().over(
        Window.partitionBy(*PERIOD).orderBy("word")) - 1) / PERIOD_PART_WORDS).cast("int"))
    numbered = small.unionByName(large).drop("distinct_words")
    packed = numbered.groupBy(*PERIOD, "part").agg(
        F.to_json(F.map_from_entries(F.collect_list(F.struct("word", F.col("n").cast("long"))))).alias("word_counts"))
    # From the tweets: a period whose counted tweets have no words (only retweets, only stop words) still
    # gets a row, part 0 and "{}", so its tweets count in the denominators.
    return tweets.join(totals, PERIOD, "left").join(packed, PERIOD, "left").select(
        F.lit(version).cast("long").alias("version"), batch_bucket_column(F.col("user")).alias("bucket"),
        "user", "grain", "period", F.coalesce("part", F.lit(0)).alias("part"),
        F.coalesce("word_counts", F.lit("{}")).alias("word_counts"), F.col("tweets").cast("int").alias("tweets"),
        F.coalesce("words", F.lit(0)).cast("long").alias("words"),
    )


def write_period_view(counted: DataFrame, version: int, settings: Settings, count_retweets: bool) -> None:
    """Count ``counted`` (user key, created_at, text, is_retweet) per user, day and word and write the
    version's batch_periods rows (idempotent: a retried write rewrites the same rows)."""
    dated = counted.select("user", F.to_date("created_at").alias("day"), "text", "is_retweet")
    per_day_words = exploded_words(dated, keep=["user", "day"], count_retweets=count_retweets).groupBy(
        "user", "day", "word").agg(F.count(F.lit(1)).alias("n")).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        period_rows(dated, per_day_words, version).write.format(CASSANDRA).options(
            keyspace=settings.keyspace, table="batch_periods").mode("append").save()
    finally:
        per_day_words.unpersist()
