"""The README's cluster recipe on a real Spark standalone cluster: a master and two workers (1 core, 1 GiB
each) on loopback, started from pyspark's own jars; the zip built and the jobs submitted with the very
lines of README.md's "Running on a cluster" (tests/support_cluster.py reads them from it).

ingest, speed, batch and csv_loader run through `spark-submit --master spark://...`, the streaming ones
until they have caught up and then stopped with SIGTERM; ingest and speed do their micro-batches' writes in
the executors, with the Python environment the recipe packs and ships.
Serving's counts equal the oracle over the raw tweets, both workers ran executors of every application, and
both ran write tasks of ingest and of speed (the drivers' Spark UI says which executor ran which task).
An executor killed (kill -9 of its JVM) while a micro-batch's write tasks run loses nothing and doubles
nothing: Spark runs the lost task again elsewhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.support import PROJECT_ROOT, expected_word_counts, free_port, produce_tweets, random_tweets, wait_until
from tests.support_cluster import (
    NOT_COPIED,
    StandaloneCluster,
    activated_env,
    cluster_recipe,
    python_driver,
    run_line,
    shell_line,
    start_cluster,
    stop_group,
    write_tasks,
)
from trendoff.serving.compare import rank_mutual
from trendoff.serving.views import ViewReader
from trendoff.settings import ENV_VARS, Settings
from trendoff.streaming import progress

USERS = ["BarackObama", "realDonaldTrump", "CNN", "nytimes"]  # the first two are the README's serving line
VOCABULARY = ["vote", "jobs", "america", "climate", "health", "families", "people", "rally", "news", "#maga",
              "tonight", "the", "and", "of", "&amp;"]
MASTER_IN_README = "spark://master:7077"
APPS = sorted(["trendoff-csv-loader", "trendoff-ingest", "trendoff-batch", "trendoff-ingest", "trendoff-speed"])


# How this module's tweets are drawn (tests.support.random_tweets): as a FiveThirtyEight file holds them
# (minute times, a retweet is text starting "RT @").
TWEETS: dict[str, Any] = {"users": USERS, "vocabulary": VOCABULARY, "retweet_share": 0.1,
                          "start": dt.datetime(2016, 1, 1, tzinfo=dt.UTC), "span_minutes": 1_500_000}


def write_538_csv(path: Path, tweets: list[dict[str, Any]]) -> Path:
    """The FiveThirtyEight twitter-ratio layout (the id ends the status URL), which the CSV readers detect."""
    with path.open("w", newline="", encoding="ascii") as out:
        writer = csv.writer(out)
        writer.writerow(["created_at", "text", "url", "replies", "retweets", "favorites", "user"])
        for tweet in tweets:
            moment = tweet["created_at"]
            writer.writerow([f"{moment.month}/{moment.day}/{moment:%y %H:%M}", tweet["text"],
                             f"https://twitter.com/{tweet['user']}/status/{tweet['id']}", 1, 2, 3, tweet["user"]])
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    running = start_cluster(tmp_path_factory.mktemp("cluster"), workers=2, cores=1, memory="1g")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout (the build leaves the developer's own alone, and no older wheel is in dist/)
    in which the README's lines built the zip and packed the executors' environment."""
    folder = tmp_path_factory.mktemp("recipe")
    copy = folder / "checkout"
    shutil.copytree(PROJECT_ROOT, copy, ignore=shutil.ignore_patterns(*NOT_COPIED))
    recipe = cluster_recipe()
    for name, line in (("build", recipe.build), ("pack", recipe.pack)):
        run_line(shell_line(recipe, line, {}), copy, activated_env({}), folder / f"{name}.log")
    return copy


class Recipe:
    """The README's cluster commands, run in the built checkout with the test's services and cluster."""

    def __init__(self, checkout: Path, settings: Settings, cluster: StandaloneCluster, folder: Path) -> None:
        self.recipe, self.settings, self.cluster, self.checkout = cluster_recipe(), settings, cluster, checkout
        self.logs = folder / "logs"
        self.logs.mkdir()
        self.runs = 0
        # The cluster's own defaults, where an administrator keeps them: Spark's 200 shuffle partitions would
        # make each batch run a few hundred tasks of a few rows each on these two cores.
        spark_conf = folder / "spark-conf"
        spark_conf.mkdir()
        # A known port for the drivers' UI (one job runs at a time), whose REST API says where tasks ran; no
        # locality wait, so a micro-batch's two write tasks start at once on the two executors' one core each.
        self.ui_url = f"http://127.0.0.1:{free_port()}"
        (spark_conf / "spark-defaults.conf").write_text(
            f"spark.sql.shuffle.partitions 4\nspark.ui.port {self.ui_url.rsplit(':', 1)[1]}\n"
            "spark.locality.wait 0\n", encoding="utf-8")
        # What the README's `export` lines set, for this test's services; the jars already downloaded.
        self.env = activated_env({
            ENV_VARS["kafka_bootstrap"]: settings.bootstrap_servers,
            ENV_VARS["cassandra_hosts"]: ",".join(settings.cassandra_contact_points),
            ENV_VARS["cassandra_port"]: str(settings.cassandra_port),
            ENV_VARS["keyspace"]: settings.keyspace, ENV_VARS["topic"]: settings.topic,
            ENV_VARS["data_dir"]: str(folder / "run"), ENV_VARS["jvm_dir"]: str(settings.downloads_dir),
            "SPARK_CONF_DIR": str(spark_conf),
        })
        self.write_workers: dict[str, set[int]] = {}  # job -> the workers that ran its write tasks
        self.lost_tasks: dict[str, list[str]] = {}  # job -> why attempts of its write tasks failed (last run)
        self.substitutions = {MASTER_IN_README: cluster.master_url}

    def _log(self, name: str) -> Path:
        self.runs += 1
        return self.logs / f"{self.runs:02d}-{name}.log"

    def run(self, line: str, name: str, **files: Path) -> str:
        """One line to its end (exit 0); ``files`` replace the README's example file names."""
        substitutions = {**self.substitutions, **{example: str(path) for example, path in files.items()}}
        script = shell_line(self.recipe, line, substitutions, exec_line=" && " not in line)
        return run_line(script, self.checkout, self.env, self._log(name))

    def submit(self, job: str, **files: Path) -> str:
        return self.run(self.recipe.submits[job], job, **files)

    def stream_until_caught_up(self, job: str, session: Any, timeout_seconds: float = 240.0,
                               meanwhile: Callable[[], None] = lambda: None) -> str:
        """Submit a streaming job, run ``meanwhile()``, wait until its progress reaches the topic's end, then
        SIGTERM its Python driver (a user's way to stop it) and check that it stopped cleanly."""
        log = self._log(job)
        script = shell_line(self.recipe, self.recipe.submits[job], self.substitutions, exec_line=True)
        with log.open("wb") as log_file:
            process = subprocess.Popen(["bash", "-c", script], cwd=self.checkout, env=self.env, stdout=log_file,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            meanwhile()

            def caught_up() -> bool:
                assert process.poll() is None, f"{job} exited {process.returncode}:\n{log.read_text()[-4000:]}"
                return progress.lag(session, self.settings.keyspace, job, self.settings,
                                    self.settings.topic).total == 0

            wait_until(caught_up, timeout_seconds, f"{job} on the cluster to catch up", interval_seconds=1.0)
            app, tasks = write_tasks(self.ui_url)
            self.write_workers.setdefault(job, set()).update(
                self.cluster.worker_of(app, task["executorId"]) for task in tasks if task["status"] == "SUCCESS")
            self.lost_tasks[job] = [task.get("errorMessage", "") for task in tasks if task["status"] == "FAILED"]
            driver = wait_until(lambda: python_driver(process, f"{job}/__main__.py"), 30, f"{job}'s Python driver")
            os.kill(driver, signal.SIGTERM)
            code = process.wait(120)
        finally:
            stop_group(process)
        output = log.read_text(errors="replace")
        assert code == 0 and "stopping (SIGTERM)" in output, f"{job} exit {code}:\n{output[-4000:]}"
        return output


def assert_serving_exact(settings: Settings, session: Any, expected: dict[str, Counter[str]]) -> None:
    """Every user's counts as serving merges them (published batch + speed minutes >= T) equal the oracle."""
    assert set(expected) == {user.lower() for user in USERS}
    reader = ViewReader(session, settings.keyspace)
    published = reader.published()
    assert {user: reader.user_counts(user, published) for user in expected} == expected


def test_the_readme_recipe_on_a_standalone_cluster_counts_every_tweet_once(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, cluster: StandaloneCluster,
    checkout: Path, tmp_path: Path,
) -> None:
    settings, session = pipeline_settings, cassandra_session
    recipe = Recipe(checkout, settings, cluster, tmp_path)
    assert sorted(recipe.recipe.submits) == ["batch", "csv_loader", "ingest", "speed"]
    first, second, history = (random_tweets(count, seed=seed, first_id=seed * 10_000, **TWEETS)
                              for count, seed in ((120, 1), (5_000, 2), (60, 3)))

    with tarfile.open(recipe.checkout / "dist" / "env.tar.gz") as packed:
        top = {name.split("/")[3] for name in packed.getnames() if name.count("/") > 3 and "/site-packages/" in name}
    assert {"cassandra", "confluent_kafka", "tenacity"} <= top and "pyspark" not in top, sorted(top)
    with zipfile.ZipFile(recipe.checkout / "dist" / "trendoff.zip") as built:
        names = set(built.namelist())
    assert {"trendoff/ingest/job.py", "trendoff/speed/job.py", "trendoff/batch/job.py", "trendoff/csv_loader/job.py",
            "trendoff/tweets/tweet.avsc", "trendoff/views/tables.cql"} <= names
    for line in recipe.recipe.prepare:
        recipe.run(line, "prepare")

    # History that never went through Kafka, and tweets through Kafka that ingest lands: the batch run
    # after them counts the history and the tweets that arrived before its T (a minute boundary).
    recipe.run(recipe.recipe.produce, "produce", **{"tweets.csv": write_538_csv(tmp_path / "first.csv", first)})
    loaded = recipe.submit("csv_loader", **{"history.csv": write_538_csv(tmp_path / "history.csv", history)})
    assert f"loaded {len(history)}" in loaded
    recipe.stream_until_caught_up("ingest", session)
    recipe.submit("batch")
    assert reader_cutoff(settings, session) is not None, "the batch run published a version"

    # More tweets and replays of old ids after T: ingest lands them, speed counts what arrived from T on
    # (replays keep their first arrival: counted once, by whichever side counted the first copy).
    replayed = first[:20]
    recipe.run(recipe.recipe.produce, "produce",
               **{"tweets.csv": write_538_csv(tmp_path / "second.csv", second + replayed)})
    recipe.stream_until_caught_up("ingest", session)
    recipe.stream_until_caught_up("speed", session)
    expected = expected_word_counts(spark, first + history + second)
    assert_serving_exact(settings, session, expected)
    printed = recipe.run(recipe.recipe.serve + " --json", "serve")  # its log lines too (stderr)
    answer = json.loads(next(line for line in printed.splitlines() if line.startswith('{"users"')))
    want = rank_mutual(expected["barackobama"], expected["realdonaldtrump"])
    assert answer["top"] == [{"word": m.word, "counts": [m.count_a, m.count_b]} for m in want]

    # The micro-batches of more than 4,000 messages ran in two tasks: one on each worker.
    assert recipe.write_workers == {"ingest": {0, 1}, "speed": {0, 1}}
    # Every submit ran on the cluster, and each application had an executor on both workers.
    apps = cluster.state()["completedapps"]
    assert sorted(app["name"] for app in apps) == APPS and {app["state"] for app in apps} == {"FINISHED"}
    for worker in (0, 1):
        assert {app["id"] for app in apps} <= cluster.executor_apps(worker), f"worker {worker} missed executors"


def reader_cutoff(settings: Settings, session: Any) -> dt.datetime | None:
    return ViewReader(session, settings.keyspace).published().cutoff


def kill_an_executor_amid_writes(recipe: Recipe, session: Any, table: str, total: int) -> Callable[[], None]:
    """What to do while a job runs: once some of a micro-batch's rows are in ``table`` (not all ``total``),
    kill -9 the JVM of an executor that is running a write task (the whole executor, its Python workers
    with it), as a node that dies would."""

    def kill() -> None:
        query = f"SELECT COUNT(*) FROM {recipe.settings.keyspace}.{table}"
        wait_until(lambda: session.execute(query).one()[0] > 0, 240, f"the first rows in {table}", interval_seconds=0.2)
        app, tasks = write_tasks(recipe.ui_url)
        running = [task["executorId"] for task in tasks if task["status"] == "RUNNING"]
        assert running, "a write task was running when its first rows were in"
        landed = session.execute(query).one()[0]
        os.kill(recipe.cluster.executor_pid(app, running[0]), signal.SIGKILL)
        assert landed < total, f"the kill came after the micro-batch's writes ({landed} of {total} rows in)"

    return kill


def test_an_executor_killed_amid_a_micro_batchs_writes_is_replaced_and_every_tweet_counts_once(
    pipeline_settings: Settings, spark: SparkSession, cassandra_session: Any, cluster: StandaloneCluster,
    checkout: Path, tmp_path: Path,
) -> None:
    settings, session = pipeline_settings, cassandra_session
    recipe = Recipe(checkout, settings, cluster, tmp_path)
    for line in recipe.recipe.prepare:
        recipe.run(line, "prepare")
    tweets = random_tweets(30_000, seed=4, first_id=400_000, **TWEETS)  # one micro-batch: two tasks of 15,000
    produce_tweets(settings, tweets)

    for job, table in (("ingest", "tweets"), ("speed", "speed_seen")):
        recipe.stream_until_caught_up(job, session, meanwhile=kill_an_executor_amid_writes(
            recipe, session, table, len(tweets)))
        lost = recipe.lost_tasks[job]
        assert any("ExecutorLostFailure" in reason for reason in lost), f"{job}: the kill hit a write task: {lost}"
    assert session.execute(f"SELECT COUNT(*) FROM {settings.keyspace}.tweets").one()[0] == len(tweets)
    assert_serving_exact(settings, session, expected_word_counts(spark, tweets))
