"""`trendoff run` against the real stack: a job killed -9 is restarted, the answer stays exact, SIGTERM stops all.

The supervisor runs as users run it (a subprocess with connection flags and a data folder of its own),
its children are the real ingest, speed and batch commands (three Spark drivers with their JVMs).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from tests.support import connection_args, expected_word_counts, produce_tweets, random_tweets, wait_until
from trendoff.apps.supervisor import read_status
from trendoff.serving.compare import rank_mutual
from trendoff.settings import Settings
from trendoff.streaming.progress import wait_until_caught_up

JOBS = ("ingest", "speed", "batch")
USERS = ["BarackObama", "realDonaldTrump", "CNN"]
# A few words each user shares with the others, stop words, a hashtag, an apostrophe and a URL.
VOCABULARY = ["vote", "jobs", "america", "great", "climate", "health", "people", "today", "rally", "news",
              "#maga", "don't", "the", "and", "of", "https://t.co/x1", "@someone", "families", "country"]


# How this module's tweets are drawn (tests.support.random_tweets).
TWEETS: dict[str, Any] = {"users": USERS, "vocabulary": VOCABULARY, "start": dt.datetime(2016, 1, 1, tzinfo=dt.UTC),
                          "span_minutes": 500_000}


def running_children(run_dir: Path) -> dict[str, int] | None:
    """Each child's pid once all three run (None until then)."""
    status = read_status(run_dir)
    if status is None:
        return None
    children = status["children"]
    if set(children) != set(JOBS) or any(children[name]["state"] != "running" for name in JOBS):
        return None
    return {name: children[name]["pid"] for name in JOBS}


def live_members(process_groups: set[int]) -> list[str]:
    """The processes (not zombies) in any of ``process_groups``: a child's group holds its JVM too."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:  # ended while we looked
            continue
        state, _ppid, group = text.rsplit(")", 1)[1].split()[:3]
        if int(group) in process_groups and state != "Z":
            found.append(text.split(" ", 2)[1])
    return found


def compare_json(settings: Settings, user_a: str, user_b: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "trendoff.apps.cli", "compare", user_a, user_b, "--json", "--top", "100",
         *connection_args(settings, kafka=False)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def expected_json(expected: dict[str, Any], user_a: str, user_b: str) -> list[dict[str, Any]]:
    ranked = rank_mutual(expected[user_a.lower()], expected[user_b.lower()], top=100)
    return [{"word": m.word, "counts": [m.count_a, m.count_b]} for m in ranked]


def test_run_restarts_a_job_killed_9_and_stops_everything_on_sigterm(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession, tmp_path: Path
) -> None:
    settings = pipeline_settings
    run_dir = tmp_path / "data"
    supervisor_log = tmp_path / "run.log"
    with supervisor_log.open("wb") as output:
        # Batch every 60 s: its first run starts at once (the answer needs one published version), and
        # back-to-back recounts would take the 2 cores of CI from the streaming jobs.
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "trendoff.apps.cli", "run", "--batch-every", "60s", "--trigger", "1s",
             "--stop-timeout", "60s", *connection_args(settings)],
            env={**os.environ, "TRENDOFF_DATA_DIR": str(run_dir)}, stdout=output, stderr=subprocess.STDOUT,
        )

    def supervisor_runs() -> None:
        assert supervisor.poll() is None, f"trendoff run ended ({supervisor.returncode}):\n{supervisor_log.read_text()}"

    def caught_up() -> None:
        wait_until_caught_up(cassandra_session, settings.keyspace, ["ingest", "speed"], settings,
                             settings.topic, timeout_seconds=300, check_jobs=supervisor_runs)

    try:
        first_pids = wait_until(lambda: supervisor_runs() or running_children(run_dir), 60, "three running children")
        first = random_tweets(150, seed=1, first_id=1_000, **TWEETS)
        produce_tweets(settings, first)
        caught_up()

        # More tweets (and a replay of some) and, while speed works on them, kill -9 speed.
        second = random_tweets(150, seed=2, first_id=2_000, **TWEETS) + first[:30]
        produce_tweets(settings, second)
        os.kill(first_pids["speed"], signal.SIGKILL)
        restart = re.compile(r"speed died \(signal SIGKILL\) after [\d.]+ s; restart 1 in 1 s")
        wait_until(lambda: supervisor_runs() or restart.search(supervisor_log.read_text()), 30, "the restart line")
        pids = wait_until(lambda: (running_children(run_dir) or {}).get("speed") != first_pids["speed"]
                          and running_children(run_dir), 30, "speed running again")
        assert {pids["ingest"], pids["batch"]} == {first_pids["ingest"], first_pids["batch"]}
        caught_up()

        expected = expected_word_counts(spark, first + second)
        for user_a, user_b in (("BarackObama", "realDonaldTrump"), ("CNN", "BarackObama")):
            answer = compare_json(settings, user_a, user_b)
            assert answer["users"] == [user_a.lower(), user_b.lower()]
            assert answer["as_of"] is not None, "the scheduled batch has published a version"
            assert answer["top"] == expected_json(expected, user_a, user_b), f"{user_a} vs {user_b}"

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=120) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()  # its children die with it (PR_SET_PDEATHSIG)
            supervisor.wait(timeout=30)
    text = supervisor_log.read_text()
    assert len(re.findall(r" died \(", text)) == 1, text  # the one kill, nothing else
    for job in JOBS:  # an orderly stop: each job ended after its SIGTERM, none had to be killed
        assert re.search(rf"supervisor: {job} stopped \(", text), text
    assert not re.search(r"supervisor: \w+ killed \(", text) and "all children stopped" in text
    for job in JOBS:
        assert "Traceback" not in (run_dir / "logs" / f"{job}.log").read_text(), f"{job} failed or stopped badly"
    every_group = set(first_pids.values()) | set(pids.values())
    assert live_members(every_group) == [], "a child or its JVM outlived trendoff run"
    status = read_status(run_dir)
    assert status["state"] == "stopped" and status["children"]["speed"]["starts"] == 2
