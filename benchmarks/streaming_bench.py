"""Streaming throughput and freshness: ingest and speed running together against the real stack.

Run against a running stack (`trendoff stack up`, or TRENDOFF_KAFKA_BOOTSTRAP + TRENDOFF_CASSANDRA_HOSTS):
    python benchmarks/streaming_bench.py [--tweets 20000] [--rate 1000] [--duration 30s] [--trigger 1s]

1. Sustained throughput: --tweets tweets are put on a fresh topic as fast as the producer can, while
   the jobs run (--jobs, default both); tweets/s = tweets / time until their progress tables reach the
   topic's end offsets.
2. Freshness at --rate tweets/s for --duration: five tweets a second are probes of one user; the
   time from producing a probe to its rows being readable in speed_words (polled every 100 ms) gives
   p50/p95/max.
Uses a throwaway keyspace and topic (dropped at the end) and checkpoints in a temporary folder.
Each job runs as its own process (`python -m trendoff.ingest`, `python -m trendoff.speed`), as in
production and in docker-compose; --shared-session runs both queries in this process's one
SparkSession instead (one JVM and one Python driver, whose GIL the two jobs then share).
Both jobs first catch up on one warm-up tweet, so JVM start-up is not in the figures.
The throughput step also gives each job's driver CPU (its Python process only) per 100,000 tweets (the
writes run in the Spark tasks' Python workers, which are not the driver). For a before/after figure, run
the same command in a worktree of the older commit against the same stack.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from trendoff.clients import cassandra_io, topics
from trendoff.clients.spark import spark_session
from trendoff.config import load_settings
from trendoff.ingest.job import build_job as ingest_job
from trendoff.logs import configure_logging
from trendoff.settings import Settings
from trendoff.speed.job import build_job as speed_job
from trendoff.streaming import progress
from trendoff.streaming.job import StreamingJob, StreamOptions
from trendoff.times import duration_type
from trendoff.tweets import avro_codec
from trendoff.views.schema import apply_schema

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


class Job:
    """A streaming job under test: a query in this process, or a `python -m trendoff.<job>` process."""

    def __init__(self, name: str, query: StreamingJob | None = None, process: subprocess.Popen[bytes] | None = None,
                 log_path: Path | None = None) -> None:
        self.name, self.query, self.process, self.log_path = name, query, process, log_path

    def check(self) -> None:
        if self.query is not None and self.query.failure() is not None:
            raise RuntimeError(f"{self.name} failed: {self.query.failure()}")
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path else ""
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.query is not None:
            self.query.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the job stops its query, as on Ctrl-C
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def driver_cpu_seconds(job: Job) -> float | None:
    """CPU seconds the job's own Python process has used (user + system; not its children: the Spark JVM
    and, through it, the executors' Python workers). None for a query in this process."""
    if job.process is None:
        return None
    fields = Path(f"/proc/{job.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_running(jobs: list[Job]) -> None:
    for job in jobs:
        job.check()


def job_process(job: str, settings: Settings, checkpoint: Path, trigger_seconds: float, log_path: Path
                ) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", f"trendoff.{job}",
               "--bootstrap", settings.bootstrap_servers, "--cassandra", ",".join(settings.cassandra_contact_points),
               "--cassandra-port", str(settings.cassandra_port), "--keyspace", settings.keyspace,
               "--topic", settings.topic, "--checkpoint", str(checkpoint), "--trigger", f"{trigger_seconds:g}s"]
    with log_path.open("wb") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def wait_for_jobs(settings: Settings, session: Any, jobs: list[Job], timeout_seconds: float = 900) -> None:
    """Until the jobs' progress tables reach the topic's end offsets; a failed job ends the wait."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        check_running(jobs)
        lags = [progress.lag(session, settings.keyspace, job.name, settings, settings.topic)
                for job in jobs]
        if all(lag.total == 0 for lag in lags):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not caught up after {timeout_seconds:.0f} s: {[lag.total for lag in lags]}")
        time.sleep(0.5)


def throughput(
    settings: Settings, session: Any, jobs: list[Job], maker: TweetMaker, tweets: int
) -> dict[str, float]:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 20})
    cpu_before = {job.name: driver_cpu_seconds(job) for job in jobs}
    started = time.monotonic()
    for _ in range(tweets):
        send(producer, settings, maker.make())
    assert producer.flush(60) == 0, "undelivered tweets"
    produced = time.monotonic() - started
    wait_for_jobs(settings, session, jobs)
    elapsed = time.monotonic() - started
    figures: dict[str, float] = {"tweets": tweets, "produce_seconds": round(produced, 1), "seconds_until_caught_up":
                                 round(elapsed, 1), "tweets_per_second_through_the_jobs": round(tweets / elapsed)}
    for job in jobs:
        before, after = cpu_before[job.name], driver_cpu_seconds(job)
        if before is not None and after is not None:
            figures[f"{job.name}_driver_cpu_seconds_per_100k"] = round((after - before) * 100_000 / tweets, 1)
    return figures


def freshness(
    settings: Settings, session: Any, jobs: list[Job], maker: TweetMaker, rate: int, seconds: float
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

    # Paced by the clock, not by sleeps per slice: a slow slice (a poll, a GC pause) is made up in the
    # next one, so the achieved rate is the target whenever the producer can keep up.
    slice_seconds = 0.1
    probe_every = max(1, round(rate / 5))  # five probes a second
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(rate * min(seconds, elapsed + slice_seconds))
        while sent < due:
            is_probe = sent % probe_every == 0
            tweet = maker.make(PROBE_USER if is_probe else None)
            send(producer, settings, tweet)
            if is_probe:
                produced_at[tweet["id"]] = time.monotonic()
            sent += 1
        producer.poll(0)
        poll_visible()
        time.sleep(max(0.0, started + elapsed + slice_seconds - time.monotonic()))
    send_seconds = time.monotonic() - started
    assert producer.flush(60) == 0, "undelivered tweets"
    deadline = time.monotonic() + 120
    while set(produced_at) - set(visible_at) and time.monotonic() < deadline:
        check_running(jobs)
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
    parser.add_argument("--duration", dest="seconds", type=duration_type, default=30.0, metavar="DURATION")
    parser.add_argument("--trigger", dest="trigger_seconds", type=duration_type, default=1.0, metavar="DURATION")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--jobs", default="ingest,speed",
                        help="which jobs run (speed alone shows the speed layer's own freshness)")
    parser.add_argument("--shared-session", action="store_true",
                        help="run the jobs as two queries of one SparkSession in this process")
    args = parser.parse_args()
    configure_logging()
    name = uuid.uuid4().hex[:10]
    settings = load_settings(keyspace=f"bench_{name}", topic=f"bench_tweets_{name}",
                             topic_partitions=args.partitions)
    session = cassandra_io.connect(settings)
    topics.ensure_topic(settings, settings.topic, settings.topic_partitions)
    apply_schema(session, settings)
    spark = spark_session(settings, "trendoff-streaming-bench") if args.shared_session else None
    jobs: list[Job] = []
    # The checkpoints' folder outlives the jobs: they are stopped before it is deleted.
    with tempfile.TemporaryDirectory(prefix="streaming-bench-") as folder:
        try:
            builders = {"ingest": ingest_job, "speed": speed_job}
            for job in args.jobs.split(","):
                checkpoint = Path(folder) / job
                if spark is not None:
                    options = StreamOptions(trigger_seconds=args.trigger_seconds, checkpoint=checkpoint)
                    jobs.append(Job(job, query=builders[job](spark, settings, options)))
                else:
                    log_path = Path(folder) / f"{job}.log"
                    jobs.append(Job(job, process=job_process(job, settings, checkpoint, args.trigger_seconds,
                                                             log_path), log_path=log_path))
            maker = TweetMaker(seed=1)
            throughput(settings, session, jobs, maker, 1)  # warm-up: every job up and through one micro-batch
            log.info("jobs running: %s", ", ".join(job.name for job in jobs))
            results = {"throughput": throughput(settings, session, jobs, maker, args.tweets),
                       "freshness": freshness(settings, session, jobs, maker, args.rate, args.seconds)}
            check_running(jobs)
            print(json.dumps({"settings": vars(args), **results}, indent=2))
        finally:
            for job in jobs:
                job.stop()
            session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
            session.cluster.shutdown()
            topics.delete_topic(settings, settings.topic)
            if spark is not None:
                spark.stop()

if __name__ == "__main__":
    main()
