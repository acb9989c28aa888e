"""ingest and speed against the real broker, Cassandra and Spark: exact counts, replays, restarts."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.conftest import connection_args
from trendoff import avro_codec
from trendoff.config import Settings
from trendoff.ingest.job import build_job as ingest_job
from trendoff.speed.job import build_job as speed_job
from trendoff.speed.job import main as speed_main
from trendoff.stream_job import StreamOptions
from trendoff.view_keys import user_key_column as user_key
from trendoff.words import tweet_word_counts

TEXTS = [
    "Climate change is real &amp; we must act on climate now https://t.co/x",
    "Great rally tonight in Ohio! Thank you Ohio! #MAGA",
    "RT @someone: this retweet must not be counted at all",
    "Health care for every family, every child. #ActOnClimate",
    "Jobs jobs jobs. America is working again @WhiteHouse",
    "Don\u2019t forget to vote: every vote counts, vote early",
]


def make_tweets(count: int, users: list[str], seed: int, first_id: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    tweets = []
    for n in range(count):
        created = dt.datetime(2014, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randint(0, 5_000_000))
        text = rng.choice(TEXTS)
        tweets.append({"id": first_id + n, "user": rng.choice(users), "text": text, "created_at": created,
                       "lang": "en", "is_retweet": text.startswith("RT @"), "retweet_count": n,
                       "favorite_count": None})
    rng.shuffle(tweets)  # event times in random order, years apart
    return tweets


# Two tweets whose words are written out by hand (the rest are checked against the word rule itself).
HAND_WRITTEN = [
    {"id": 1, "user": "HandA", "text": "Vote, vote &amp; VOTE! #Vote2024 https://t.co/x @HandB y\u2019all 2024",
     "created_at": dt.datetime(2009, 3, 1, 12, 0, 0, 123000, tzinfo=dt.UTC), "lang": None, "is_retweet": False,
     "retweet_count": None, "favorite_count": 7},
    {"id": 2, "user": "handa", "text": "RT @HandB: vote for the bill", "is_retweet": True,
     "created_at": dt.datetime(2031, 1, 1, tzinfo=dt.UTC), "lang": "en", "retweet_count": 3, "favorite_count": None},
]
HAND_WRITTEN_TOTALS = {("handa", "vote"): 3, ("handa", "#vote2024"): 1, ("handa", "y'all"): 1}


def produce(
    settings: Settings, tweets: list[dict[str, Any]], poison: list[bytes] = (), partition: int | None = None
) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True})
    for tweet in tweets:
        where = {} if partition is None else {"partition": partition}
        producer.produce(settings.topic, key=tweet["user"].encode(), value=avro_codec.encode(tweet), **where)
    for value in poison:
        producer.produce(settings.topic, key=b"poison", value=value)
    assert producer.flush(30) == 0


def run(job: str, spark: SparkSession, settings: Settings, checkpoints: Path) -> None:
    options = StreamOptions(until_idle=True, checkpoint=checkpoints / job, timeout_seconds=300)
    build = ingest_job if job == "ingest" else speed_job
    build(spark, settings, options).run()


def table(spark: SparkSession, settings: Settings, name: str) -> Any:
    return spark.read.format("org.apache.spark.sql.cassandra").options(keyspace=settings.keyspace, table=name).load()


def speed_totals(spark: SparkSession, settings: Settings) -> Counter[tuple[str, str]]:
    rows = table(spark, settings, "speed_words").groupBy("user", "word").agg(F.sum("count").alias("n")).collect()
    return Counter({(r.user, r.word): r.n for r in rows})


def expected_totals(
    spark: SparkSession, tweets: list[dict[str, Any]], count_retweets: bool = False
) -> Counter[tuple[str, str]]:
    """The word rule applied to the raw input, each id once."""
    unique = list({t["id"]: t for t in tweets}.values())
    frame = spark.createDataFrame([(t["id"], t["user"], t["text"], t["is_retweet"]) for t in unique],
                                  "id long, user string, text string, is_retweet boolean")
    counts = tweet_word_counts(
        frame.withColumn("user", user_key(F.col("user"))), keep=["id", "user"], count_retweets=count_retweets
    )
    rows = counts.groupBy("user", "word").agg(F.sum("count").alias("n")).collect()
    return Counter({(r.user, r.word): r.n for r in rows})


def test_jobs_land_and_count_every_tweet_once_through_replays_restarts_and_poison(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    first = make_tweets(120, ["BarackObama", "realDonaldTrump", "cnnbrk"], seed=1, first_id=1000) + HAND_WRITTEN
    poison = [b"\x00\x01not avro at all", b"", b"\x02"]
    produce(settings, first, poison=poison)
    run("ingest", spark, settings, tmp_path)

    master = {r.id: r for r in table(spark, settings, "tweets").collect()}
    assert set(master) == {t["id"] for t in first}
    for tweet in first:
        row = master[tweet["id"]]
        landed = {field: row[field] for field in avro_codec.field_names()}
        landed["created_at"] = landed["created_at"].replace(tzinfo=dt.UTC)
        assert landed == tweet
        assert row.arrived_at is not None and row.kafka_offset is not None and row.csv_loaded is None
    dead = table(spark, settings, "dead_letters").where(F.col("job") == "ingest").collect()
    assert sorted(bytes(d.message_value) for d in dead) == sorted(poison)
    assert all(d.reason and bytes(d.message_key) == b"poison" for d in dead)
    assert table(spark, settings, "speed_words").count() == 0, "speed is its own consumer group: not run yet"

    run("speed", spark, settings, tmp_path)
    assert speed_totals(spark, settings) == expected_totals(spark, first)
    assert {k: n for k, n in speed_totals(spark, settings).items() if k[0] == "handa"} == HAND_WRITTEN_TOTALS
    assert table(spark, settings, "dead_letters").where(F.col("job") == "speed").count() == len(poison)
    assert speed_totals(spark, settings)[("barackobama", "climate")] % 2 == 0, "'climate' twice per tweet"
    assert not [k for k in speed_totals(spark, settings) if k[1] in ("retweet", "counted")], "retweets count no words"

    # A backlog produced while the jobs are stopped is counted when they restart (nothing dropped as late),
    # and a replay of the first tweets adds nothing anywhere.
    second = make_tweets(60, ["BarackObama", "newsroom"], seed=2, first_id=5000)
    produce(settings, second + first)
    run("speed", spark, settings, tmp_path)
    assert speed_totals(spark, settings) == expected_totals(spark, first + second)
    assert table(spark, settings, "tweets").count() == len(first), "ingest stopped: the master table waits"
    run("ingest", spark, settings, tmp_path)
    after = {r.id: r for r in table(spark, settings, "tweets").collect()}
    assert len(after) == len(first) + len(second)
    assert all(after[i].kafka_offset == master[i].kafka_offset for i in master), "first arrival kept on replay"

    # Running again with nothing new changes nothing (the checkpoints hold the offsets).
    run("speed", spark, settings, tmp_path)
    assert speed_totals(spark, settings) == expected_totals(spark, first + second)
    progress = {r.kafka_partition: r.next_offset for r in table(spark, settings, "speed_progress").collect()}
    assert sum(progress.values()) == len(first) * 2 + len(second) + len(poison)


def test_speed_skips_tweets_the_published_batch_already_counts(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path, cassandra_session: Any
) -> None:
    settings = pipeline_settings
    tweets = make_tweets(30, ["alice", "bob"], seed=3, first_id=100)
    produce(settings, tweets)
    run("ingest", spark, settings, tmp_path)
    # A batch view published with a cutoff after these arrivals counts them all...
    cassandra_session.execute(
        "INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) VALUES ('words', 1, %s, %s)",
        (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), dt.datetime.now(dt.UTC)),
    )
    # ...and a csv-loaded tweet (history) is in it whatever its arrival.
    cassandra_session.execute("INSERT INTO tweets (id, user, text, csv_loaded) VALUES (9999, 'carol', 'x', true)")
    late = {"id": 9999, "user": "carol", "text": "history tweet arriving again later", "is_retweet": False,
            "created_at": dt.datetime(2015, 5, 5, tzinfo=dt.UTC), "lang": None, "retweet_count": None,
            "favorite_count": None}
    produce(settings, [late])
    run("speed", spark, settings, tmp_path)
    assert speed_totals(spark, settings) == Counter()


def test_a_restart_mid_stream_gives_the_same_totals(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    tweets = make_tweets(150, ["alice", "bob", "carol"], seed=4, first_id=10_000)
    produce(settings, tweets)
    for job, build in (("ingest", ingest_job), ("speed", speed_job)):
        # Small micro-batches, stopped after two of them: the job is killed half-way through the topic.
        options = StreamOptions(trigger_seconds=0.5, max_offsets_per_trigger=20, checkpoint=tmp_path / job)
        job_run = build(spark, settings, options)
        query = job_run.query
        try:
            deadline = time.monotonic() + 120
            while sum(1 for p in query.recentProgress if p["numInputRows"]) < 2:
                assert query.exception() is None and time.monotonic() < deadline, f"{job} made no progress"
                time.sleep(0.2)
        finally:
            job_run.stop()
    assert 0 < table(spark, settings, "tweets").count() < len(tweets)
    assert sum(speed_totals(spark, settings).values()) < sum(expected_totals(spark, tweets).values())

    run("speed", spark, settings, tmp_path)
    run("ingest", spark, settings, tmp_path)
    assert speed_totals(spark, settings) == expected_totals(spark, tweets)
    assert table(spark, settings, "tweets").count() == len(tweets)
    progress = {r.kafka_partition: r.next_offset for r in table(spark, settings, "ingest_progress").collect()}
    assert sum(progress.values()) == len(tweets)


def test_an_earlier_copy_read_after_a_later_one_wins_in_both_jobs(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One id in two partitions: the copy appended first (partition 0, behind 20 other tweets) is read
    after the later copy (partition 1) because each micro-batch takes only a few messages."""
    settings = pipeline_settings
    filler = make_tweets(20, ["dave"], seed=5, first_id=20_000)
    earlier = {"id": 777, "user": "Erin", "text": "alpha words first",
               "created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "lang": None,
               "is_retweet": False, "retweet_count": 1, "favorite_count": None}
    later = {**earlier, "user": "erin", "text": "bravo words second", "retweet_count": 2}
    produce(settings, [*filler, earlier], partition=0)
    produce(settings, [later], partition=1)
    caplog.set_level(logging.INFO, logger="trendoff.speed.job")
    for job in ("ingest", "speed"):
        options = StreamOptions(until_idle=True, max_offsets_per_trigger=5, checkpoint=tmp_path / job,
                                timeout_seconds=300)
        (ingest_job if job == "ingest" else speed_job)(spark, settings, options).run()

    row = table(spark, settings, "tweets").where(F.col("id") == 777).first()
    assert (row.text, row.retweet_count, row.kafka_partition, row.kafka_offset) == ("alpha words first", 1, 0, 20)
    erin = {(r.word, r.tweet_id, r["count"]) for r in table(spark, settings, "speed_words").where(
        F.col("user") == "erin").collect()}
    assert erin == {("alpha", 777, 1), ("words", 777, 1), ("first", 777, 1)}
    seen = table(spark, settings, "speed_seen").where(F.col("id") == 777).first()
    assert (seen.kafka_partition, seen.kafka_offset, seen.arrival_minute) == (0, 20, row.arrived_at.replace(
        second=0, microsecond=0))
    assert speed_totals(spark, settings) == expected_totals(spark, [*filler, earlier])
    assert "moved the counts of 1 tweets" in caplog.text, "speed met the later copy first and moved its count"


def test_the_command_line_counts_retweets_on_request_and_a_reset_replay_adds_nothing(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    tweets = make_tweets(40, ["frank", "Grace"], seed=6, first_id=30_000)
    assert any(t["is_retweet"] for t in tweets)
    produce(settings, tweets)
    argv = [*connection_args(settings), "--until-idle",
            "--checkpoint", str(tmp_path / "speed"), "--max-offsets-per-trigger", "100", "--count-retweets"]
    assert speed_main(argv) == 0
    with_retweets = expected_totals(spark, tweets, count_retweets=True)
    assert with_retweets != expected_totals(spark, tweets)
    assert speed_totals(spark, settings) == with_retweets
    # --reset reads the whole topic again: every message is its own first arrival, rewritten in place.
    assert speed_main([*argv, "--reset"]) == 0
    assert speed_totals(spark, settings) == with_retweets
