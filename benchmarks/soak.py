"""Soak: the whole pipeline under a seeded schedule of faults, then the answer checked for every user.

    python benchmarks/soak.py [--minutes 30] [--rate 500] [--faults SEED] [--users 200]

Starts a stack of its own (free ports, a temporary data folder), `trendoff run` (ingest, speed and
`batch --every 1m`, restarted by the supervisor when they die) and the seeded generator at --rate.
Meanwhile, every 20-60 s, one fault drawn with the seed: kill -9 of a job, SIGSTOP of Cassandra for
10-30 s, kill -9 of Cassandra or of the broker and a restart. At the end it waits for the jobs to
catch up, runs one more batch, and compares, for every user, what serving answers (batch view plus
speed minutes) with the word rule applied by Spark to the generated tweets. Prints the faults, the
tweets, the restarts and the users whose answer differs (none, if the promises hold).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from trendoff.clients import cassandra_io
from trendoff.config import load_settings
from trendoff.logs import configure_logging
from trendoff.producer.sources import synthetic_tweets
from trendoff.serving.views import ViewReader
from trendoff.settings import ENV_VARS, Settings
from trendoff.stack.services import Stack
from trendoff.streaming import progress

log = logging.getLogger("soak")
SEED_OF_TWEETS = 11


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def own_stack_settings(data_dir: Path) -> Settings:
    return load_settings(data_dir=data_dir, kafka_port=_free_port(), kafka_controller_port=_free_port(),
                         cassandra_port=_free_port(), cassandra_storage_port=_free_port(), keyspace="soak",
                         topic="soak")


def environment(settings: Settings) -> dict[str, str]:
    """The variables that point every trendoff command at the soak's own stack."""
    values = {"data_dir": str(settings.data_dir), "kafka_port": str(settings.kafka_port),
              "kafka_controller_port": str(settings.kafka_controller_port),
              "cassandra_port": str(settings.cassandra_port),
              "cassandra_storage_port": str(settings.cassandra_storage_port),
              "keyspace": settings.keyspace, "topic": settings.topic}
    return {**os.environ, **{ENV_VARS[name]: value for name, value in values.items()}}


def pid_of(settings: Settings, server: str) -> int:
    return int((settings.run_dir / server / "pid").read_text().strip())


def children(settings: Settings) -> dict[str, Any]:
    try:
        return json.loads((settings.run_dir / "supervisor.json").read_text())["children"]
    except (OSError, ValueError, KeyError):
        return {}


def inject(fault: str, settings: Settings, rng: random.Random) -> str:
    """Do one fault; say what was done."""
    if fault in ("ingest", "speed", "batch"):
        pid = children(settings).get(fault, {}).get("pid")
        if pid:
            os.kill(pid, signal.SIGKILL)
        return f"kill -9 {fault} (pid {pid})"
    if fault == "pause-cassandra":
        seconds = rng.randint(10, 30)
        pid = pid_of(settings, "cassandra")
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(pid, signal.SIGCONT)
        return f"SIGSTOP Cassandra {seconds} s"
    server = fault.removeprefix("kill-")
    os.kill(pid_of(settings, server), signal.SIGKILL)
    time.sleep(rng.randint(2, 10))
    Stack(settings).up()
    return f"kill -9 {server}, restarted"


def expected_counts(tweets: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """The word rule (Spark's words_column) over each generated tweet once, per user key."""
    from pyspark.sql import functions as F

    from trendoff.clients.spark import spark_session
    from trendoff.views.keys import user_key_column
    from trendoff.views.words import words_column

    spark = spark_session(load_settings(), "soak-oracle")
    try:
        once = {t["id"]: t for t in tweets}
        frame = spark.createDataFrame([(t["user"], t["text"], t["is_retweet"]) for t in once.values()],
                                      "user string, text string, is_retweet boolean")
        counts: dict[str, Counter[str]] = {}
        for row in frame.select(user_key_column(F.col("user")).alias("user"),
                                words_column(F.col("text"), F.col("is_retweet")).alias("words")).collect():
            counts.setdefault(row.user, Counter()).update(row.words)
        return counts
    finally:
        spark.stop()


def run(minutes: float, rate: int, seed: int, users: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="trendoff-soak-"))
    settings = own_stack_settings(data_dir)
    env = environment(settings)
    rng = random.Random(seed)
    count = int(minutes * 60 * rate)
    faults: list[str] = []
    supervisor = producer = None
    try:
        Stack(settings).up()
        logs = data_dir / "soak-logs"
        logs.mkdir()
        trendoff = [sys.executable, "-m", "trendoff.apps.cli"]
        supervisor = subprocess.Popen([*trendoff, "run", "--batch-every", "1m"], env=env,
                                      stdout=(logs / "run.log").open("wb"), stderr=subprocess.STDOUT)
        producer = subprocess.Popen([*trendoff, "produce", "synthetic", "--tweets", str(count), "--users", str(users),
                                     "--seed", str(SEED_OF_TWEETS), "--rate", str(rate)], env=env,
                                    stdout=(logs / "produce.log").open("wb"), stderr=subprocess.STDOUT)
        while producer.poll() is None:
            time.sleep(rng.randint(20, 60))
            if producer.poll() is not None:
                break
            fault = rng.choice(["ingest", "speed", "batch", "pause-cassandra", "kill-cassandra", "kill-kafka"])
            faults.append(inject(fault, settings, rng))
            log.warning("fault %d: %s", len(faults), faults[-1])
        session = cassandra_io.connect(settings)
        try:
            deadline = time.monotonic() + 900
            while any(progress.lag(session, settings.keyspace, job, settings, settings.topic).total
                      for job in ("ingest", "speed")):
                if time.monotonic() > deadline:
                    raise RuntimeError("the jobs did not catch up within 15 minutes of the last tweet")
                time.sleep(2)
            # The supervisor's batch may hold the batch lease: stop everything (SIGTERM, as a user would), then
            # one last batch run so that T covers every tweet.
            supervisor.send_signal(signal.SIGTERM)
            stopped = supervisor.wait(120)
            final = subprocess.run([*trendoff, "batch", "--clock-skew", "0"], env=env, capture_output=True, text=True,
                                   check=False)
            if final.returncode != 0:
                raise RuntimeError(f"the last batch run failed: {final.stderr[-2000:]}")
            tweets = [item for _, item in synthetic_tweets(count, users, SEED_OF_TWEETS)]
            expected = expected_counts(tweets)
            reader = ViewReader(session, settings.keyspace)
            published = reader.published()
            wrong = [user for user, words in expected.items() if +reader.user_counts(user, published) != words]
        finally:
            session.cluster.shutdown()
        starts = {name: child.get("starts") for name, child in children(settings).items()}
        return {"minutes": minutes, "rate": rate, "seed": seed, "tweets": count, "users": len(expected),
                "faults": faults, "starts": starts, "wrong_users": wrong, "run_exit": stopped}
    finally:
        for process in (producer, supervisor):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
        Stack(settings).down(wipe=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the generator produces")
    parser.add_argument("--rate", type=int, default=500, help="tweets per second")
    parser.add_argument("--faults", type=int, default=1, metavar="SEED", help="seed of the fault schedule")
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    configure_logging("WARNING")
    result = run(args.minutes, args.rate, args.faults, args.users)
    print(f"soak {result['minutes']:g} min at {result['rate']} tweets/s, fault seed {result['seed']}: "
          f"{result['tweets']:,} tweets, {result['users']} users, {len(result['faults'])} faults, "
          f"job starts {result['starts']}, `trendoff run` exit {result['run_exit']} on SIGTERM")
    for number, fault in enumerate(result["faults"], 1):
        print(f"  fault {number}: {fault}")
    print("exact for every user" if not result["wrong_users"] else
          f"NOT exact for {len(result['wrong_users'])} users: {result['wrong_users'][:10]}")


if __name__ == "__main__":
    main()
