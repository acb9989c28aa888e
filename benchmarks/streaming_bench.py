"""Streaming throughput and freshness: ingest and speed running together against the real stack.

Run against a running stack (`trendoff stack up`, or TRENDOFF_KAFKA_BOOTSTRAP + TRENDOFF_CASSANDRA_HOSTS):
    python benchmarks/streaming_bench.py [--tweets 20000] [--rate 1000] [--seconds 30] [--trigger-seconds 1]

1. Sustained throughput: --tweets tweets are put on a fresh topic as fast as the producer can, while
   the jobs run (--jobs, default both); tweets/s = tweets / time until their progress tables reach the
   topic's end offsets.
2. Freshness at --rate tweets/s for --seconds: five tweets a second are probes of one user; the
   time from producing a probe to its rows being readable in speed_words (polled every 100 ms) gives
   p50/p95/max.
Uses a throwaway keyspace and topic (dropped at the end) and checkpoints in a temporary folder.
Both queries share one local SparkSession (one JVM) to spare the machine; in production they are
two processes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from pyspark.sql.streaming import StreamingQuery

from trendoff import avro_codec, cassandra_io, progress, topics
from trendoff.config import Settings, load_settings
from trendoff.ingest.job import build_query as ingest_query
from trendoff.logs import configure_logging
from trendoff.spark import spark_session
from trendoff.speed.job import build_query as speed_query
from trendoff.streaming import StreamOptions, stop_query

log = logging.getLogger("streaming_bench")

VOCABULARY = ("vote", "climate", "jobs", "economy", "health", "rally", "america", "people", "great", "family",
              "thanks", "tonight", "news", "#maga", "#actonclimate", "tax", "border", "school", "women", "senate",
              "congress", "win", "future")
PROBE_USER = "probe_freshness"


class TweetMaker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_id = 1

    def make(self, user: str | None = None) -> dict[str, Any]:
        tweet_id, self.next_id = self.next_id, self.next_id + 1
        words = " ".join(self.rng.choice(VOCABULARY) for _ in range(self.rng.randint(5, 15)))
        return {"id": tweet_id, "user": user or f"user{self.rng.randint(1, 200)}", "text": words,
                "created_at": dt.datetime(2015, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=tweet_id),
                "lang": "en", "is_retweet": False, "retweet_count": None, "favorite_count": None}


def send(producer: Producer, settings: Settings, tweet: dict[str, Any]) -> None:
    while True:
        try:
            producer.produce(settings.topic, key=tweet["user"].encode(), value=avro_codec.encode(tweet))
            return
        except BufferError:  # local queue full: let deliveries drain
            producer.poll(0.05)


def check_running(queries: list[StreamingQuery]) -> None:
    for query in queries:
        if query.exception() is not None:
            raise RuntimeError(f"{query.name} failed: {query.exception()}")


def wait_for_jobs(
    settings: Settings, session: Any, queries: list[StreamingQuery], timeout_seconds: float = 900
) -> None:
    """Until the jobs' progress tables reach the topic's end offsets; a failed query ends the wait."""
    jobs = [query.name.split("-", 1)[0] for query in queries]
    deadline = time.monotonic() + timeout_seconds
    while True:
        check_running(queries)
        lags = [progress.lag(session, settings.keyspace, job, settings.bootstrap_servers, settings.topic)
                for job in jobs]
        if all(lag.total == 0 for lag in lags):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not caught up after {timeout_seconds:.0f} s: {[lag.total for lag in lags]}")
        time.sleep(0.5)


def throughput(
    settings: Settings, session: Any, queries: list[StreamingQuery], maker: TweetMaker, tweets: int
) -> dict[str, float]:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 20})
    started = time.monotonic()
    for _ in range(tweets):
        send(producer, settings, maker.make())
    assert producer.flush(60) == 0, "undelivered tweets"
    produced = time.monotonic() - started
    wait_for_jobs(settings, session, queries)
    elapsed = time.monotonic() - started
    return {"tweets": tweets, "produce_seconds": round(produced, 1), "seconds_until_caught_up":
            round(elapsed, 1), "tweets_per_second_through_the_jobs": round(tweets / elapsed)}


def freshness(
    settings: Settings, session: Any, queries: list[StreamingQuery], maker: TweetMaker, rate: int, seconds: float
) -> dict[str, float]:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 5})
    select_probes = session.prepare(f"SELECT tweet_id FROM {settings.keyspace}.speed_words WHERE user = ?")
    produced_at: dict[int, float] = {}
    visible_at: dict[int, float] = {}

    def poll_visible() -> None:
        now = time.monotonic()
        for row in session.execute(select_probes, (PROBE_USER,)):
            visible_at.setdefault(row.tweet_id, now)

    slice_seconds = 0.1
    per_slice = max(1, round(rate * slice_seconds))
    probe_every = max(1, per_slice * 2)  # five probes a second at 1,000 tweets/s
    started = time.monotonic()
    sent = 0
    last_poll = 0.0
    while time.monotonic() - started < seconds:
        slice_start = time.monotonic()
        for _ in range(per_slice):
            is_probe = sent % probe_every == 0
            tweet = maker.make(PROBE_USER if is_probe else None)
            send(producer, settings, tweet)
            if is_probe:
                produced_at[tweet["id"]] = time.monotonic()
            sent += 1
        producer.poll(0)
        if time.monotonic() - last_poll >= 0.1:
            poll_visible()
            last_poll = time.monotonic()
        time.sleep(max(0.0, slice_seconds - (time.monotonic() - slice_start)))
    send_seconds = time.monotonic() - started
    assert producer.flush(60) == 0, "undelivered tweets"
    deadline = time.monotonic() + 120
    while set(produced_at) - set(visible_at) and time.monotonic() < deadline:
        check_running(queries)
        poll_visible()
        time.sleep(0.1)
    delays = sorted(visible_at[i] - produced_at[i] for i in produced_at if i in visible_at)
    missing = len(produced_at) - len(delays)
    quantiles = statistics.quantiles(delays, n=20) if len(delays) >= 2 else [float("nan")] * 19
    return {"rate_target": rate, "rate_achieved": round(sent / send_seconds), "probes": len(produced_at),
            "probes_missing": missing, "freshness_p50_s": round(statistics.median(delays), 2),
            "freshness_p95_s": round(quantiles[18], 2), "freshness_max_s": round(delays[-1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--trigger-seconds", type=float, default=1.0)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--jobs", default="ingest,speed",
                        help="which jobs run (speed alone shows the speed layer's own freshness)")
    args = parser.parse_args()
    configure_logging()
    name = uuid.uuid4().hex[:10]
    settings = load_settings(keyspace=f"bench_{name}", topic=f"bench_tweets_{name}",
                             topic_partitions=args.partitions)
    session = cassandra_io.connect(settings)
    topics.ensure_topic(settings.bootstrap_servers, settings.topic, settings.topic_partitions)
    cassandra_io.apply_schema(session, settings.keyspace, settings.replication)
    spark = spark_session(settings, "trendoff-streaming-bench")
    queries = []
    try:
        with tempfile.TemporaryDirectory(prefix="streaming-bench-") as checkpoints:
            builders = {"ingest": ingest_query, "speed": speed_query}
            for job in args.jobs.split(","):
                build = builders[job]
                options = StreamOptions(trigger_seconds=args.trigger_seconds, checkpoint=Path(checkpoints) / job)
                queries.append(build(spark, settings, options))
            maker = TweetMaker(seed=1)
            results = {"throughput": throughput(settings, session, queries, maker, args.tweets),
                       "freshness": freshness(settings, session, queries, maker, args.rate, args.seconds)}
            check_running(queries)
            print(json.dumps({"settings": vars(args), **results}, indent=2))
    finally:
        for query in queries:
            stop_query(query)
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
        session.cluster.shutdown()
        topics.delete_topic(settings.bootstrap_servers, settings.topic)
        spark.stop()


if __name__ == "__main__":
    main()
