"""Peak memory of ingest and speed on one huge micro-batch: 50,000 tweets of 25,000 characters (issue 11).

Run against a running stack (`trendoff stack up`, or TRENDOFF_KAFKA_BOOTSTRAP + TRENDOFF_CASSANDRA_HOSTS):
    python benchmarks/big_batch_memory.py [--tweets 50000] [--chars 25000]

Puts the tweets (about 1.25 GB of text) on a throwaway topic, then runs `python -m trendoff.ingest
--until-idle` and `python -m trendoff.speed --until-idle` one after the other as subprocesses with the
default --max-offsets-per-trigger (50,000: the whole topic is one micro-batch), polling the peak
resident memory (VmHWM) of each Python driver and of its JVM. The keyspace and topic are dropped at
the end. Heavy: minutes on two cores, and a few GB of disk for Kafka and Cassandra while it runs.
"""

from __future__ import annotations

import argparse
import logging
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

from trendoff.clients import cassandra_io, topics
from trendoff.config import load_settings
from trendoff.logs import configure_logging
from trendoff.settings import Settings
from trendoff.tweets import avro_codec
from trendoff.views.schema import apply_schema

sys.path.insert(0, str(Path(__file__).parent))
from memory import java_children, peak_rss_mib  # the benchmarks' shared /proc helpers

log = logging.getLogger("big_batch_memory")
VOCABULARY = ("vote", "climate", "jobs", "economy", "health", "rally", "america", "people", "great", "family",
              "thanks", "tonight", "news", "#maga", "tax", "border", "school", "women", "senate", "future")


def produce(settings: Settings, tweets: int, chars: int) -> None:
    rng = random.Random(5)
    # A few dozen distinct texts are enough (each tweet has its own id); building 50,000 would be slow.
    texts = []
    for _ in range(40):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < chars:
            words.append(rng.choice(VOCABULARY))
        texts.append(" ".join(words)[:chars])
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 50,
                         "compression.type": "lz4", "queue.buffering.max.kbytes": 262_144})
    started = time.monotonic()
    for n in range(tweets):
        user = ("BarackObama", "realDonaldTrump", "cnnbrk", "nytimes")[n % 4]
        record = {"id": n + 1, "user": user, "text": texts[n % len(texts)], "created_at": 1_500_000_000_000 + n,
                  "lang": "en", "is_retweet": False, "retweet_count": None, "favorite_count": None}
        while True:
            try:
                producer.produce(settings.topic, key=user.encode(), value=avro_codec.encode(record))
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
    assert producer.flush(300) == 0, "not every tweet was delivered"
    log.info("produced %s tweets of %s characters in %.0f s", f"{tweets:,}", f"{chars:,}", time.monotonic() - started)


def run_job(job: str, settings: Settings, checkpoint: Path) -> tuple[int, float, float, float]:
    """(exit code, seconds, peak RSS MiB of the Python driver, of its JVM) of one job run until idle."""
    command = [sys.executable, "-m", f"trendoff.{job}", "--until-idle", "--timeout", "1h",
               "--checkpoint", str(checkpoint), "--bootstrap", settings.bootstrap_servers,
               "--cassandra", ",".join(settings.cassandra_contact_points),
               "--cassandra-port", str(settings.cassandra_port), "--keyspace", settings.keyspace,
               "--topic", settings.topic]
    started = time.monotonic()
    process = subprocess.Popen(command)
    python_peak, jvm_peak, jvm_pids = 0.0, 0.0, set()
    while process.poll() is None:
        python_peak = max(python_peak, peak_rss_mib(process.pid) or 0.0)
        jvm_pids.update(java_children(process.pid))
        for pid in jvm_pids:
            jvm_peak = max(jvm_peak, peak_rss_mib(pid) or 0.0)
        time.sleep(0.5)
    return process.returncode, time.monotonic() - started, python_peak, jvm_peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=50_000)
    parser.add_argument("--chars", type=int, default=25_000)
    args = parser.parse_args(argv)
    configure_logging()
    base = load_settings()
    name = f"bigbatch_{uuid.uuid4().hex[:8]}"
    settings = base.with_overrides(keyspace=name, topic=name)
    session = cassandra_io.connect(settings)
    apply_schema(session, settings)
    topics.ensure_topic(settings, settings.topic, settings.topic_partitions)
    results = {}
    try:
        produce(settings, args.tweets, args.chars)
        with tempfile.TemporaryDirectory(prefix="big-batch-") as folder:
            for job in ("ingest", "speed"):
                results[job] = run_job(job, settings, Path(folder) / job)
                log.info("%s: exit %d in %.0f s, peak RSS: Python driver %.0f MiB, JVM %.0f MiB", job, *results[job])
        # ingest's progress, not a COUNT(*) of 1.25 GB (a full scan a one-node Cassandra fails to finish).
        landed = sum(row.next_offset for row in session.execute(
            f"SELECT next_offset FROM {settings.keyspace}.ingest_progress WHERE topic = %s", (settings.topic,)))
        print(f"{args.tweets:,} tweets of {args.chars:,} characters, one micro-batch; messages ingest landed: "
              f"{landed:,}")
        for job, (code, seconds, python_peak, jvm_peak) in results.items():
            print(f"{job:<7} exit {code}  {seconds:6.0f} s  peak RSS: Python driver {python_peak:,.0f} MiB, "
                  f"JVM {jvm_peak:,.0f} MiB")
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=600)
        session.cluster.shutdown()
        topics.delete_topic(settings, settings.topic)
    return 0 if all(code == 0 for code, *_ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
