"""`trendoff demo`: the whole pipeline on bundled real tweets, end to end, in one command.

Starts the stack (unless external services are configured), runs the ingest and speed streaming
jobs, replays the first half of each input through Kafka, runs a batch in the middle, replays the
rest, waits until both jobs have caught up, then prints the comparison and writes the chart. The
processes it started are stopped at the end; the data stays (``--wipe`` to delete it).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trendoff.clients import cassandra_io
from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.errors import TrendoffError
from trendoff.serving.compare import DEFAULT_TOP, positive_top
from trendoff.settings import Settings
from trendoff.stack.services import Stack
from trendoff.streaming import progress
from trendoff.streaming.job import StreamingJob
from trendoff.times import duration_type
from trendoff.tweets.columns import add_column_options, spec_from_args
from trendoff.tweets.csv_rows import ColumnSpec
from trendoff.tweets.limits import RowRejected

log = logging.getLogger(__name__)

BUNDLED = (
    "data/fivethirtyeight_twitter_ratio/BarackObama.csv",
    "data/fivethirtyeight_twitter_ratio/realDonaldTrump.csv",
)


def read_inputs(paths: list[Path], spec_for: dict[Path, ColumnSpec], rows_per_file: int | None) -> list[list[Any]]:
    """Each file's tweets (at most ``rows_per_file``), in file order; bad rows are reported and left out."""
    from trendoff.producer.sources import csv_tweets

    per_file = []
    for path in paths:
        tweets, rejected = [], 0
        for _where, item in csv_tweets(path, spec_for[path]):
            if isinstance(item, RowRejected):
                rejected += 1
                continue
            tweets.append(item)
            if rows_per_file and len(tweets) >= rows_per_file:
                break
        log.info("%s: %d tweets%s", path.name, len(tweets), f" ({rejected} bad rows left out)" if rejected else "")
        per_file.append(tweets)
    return per_file


def publish(settings: Settings, tweets: list[dict[str, Any]], label: str) -> None:
    from trendoff.producer.publish import Publisher

    summary = Publisher(settings, total=len(tweets), create_topic=True).run(("demo", tweet) for tweet in tweets)
    if summary.failed:
        raise TrendoffError("produce-failed", f"{summary.failed} tweets of the {label} were not delivered")
    print(f"  replayed the {label}: {summary.delivered:,} tweets in {summary.seconds:.1f} s", flush=True)


def wait_for_jobs(settings: Settings, jobs: list[StreamingJob], timeout_seconds: float) -> None:
    def check_jobs() -> None:
        for job in jobs:
            if not job.is_active:
                raise RuntimeError(f"the {job.name} job stopped: {job.failure()}")

    session = cassandra_io.connect(settings)
    try:
        progress.wait_until_caught_up(session, settings.keyspace, ["ingest", "speed"], settings,
                                      settings.topic, timeout_seconds, check_jobs=check_jobs)
    finally:
        session.cluster.shutdown()


def run_demo(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from trendoff.batch.job import run_batch
    from trendoff.clients.spark import spark_session, stop_spark
    from trendoff.ingest.job import build_job as ingest_job
    from trendoff.plotting.chart import draw_chart
    from trendoff.serving.main import write_json
    from trendoff.serving.query import run_compare
    from trendoff.speed.job import build_job as speed_job
    from trendoff.streaming.job import StreamOptions

    paths, spec_for, (user_a, user_b) = args.paths, args.spec_for, args.user_pair
    halves = [(tweets[: len(tweets) // 2], tweets[len(tweets) // 2:])
              for tweets in read_inputs(paths, spec_for, args.rows_per_file)]

    print("[2/5] starting Spark with the ingest and speed streaming jobs", flush=True)
    from pyspark.sql import SparkSession

    # A session that was running before the demo (the test suite's) is not the demo's to stop.
    own_spark = SparkSession.getActiveSession() is None
    spark = spark_session(settings, "trendoff-demo")
    options = StreamOptions(trigger_seconds=2.0)
    jobs = [ingest_job(spark, settings, options), speed_job(spark, settings, options)]
    try:
        print("[3/5] replaying the first half of each file through Kafka", flush=True)
        publish(settings, [t for first, _ in halves for t in first], "first half")
        wait_for_jobs(settings, jobs, args.timeout)
        print("[4/5] batch run in the middle of the replay, then the rest of the tweets", flush=True)
        _wait_for_next_minute()
        result = run_batch(spark, settings)
        print(f"  batch version {result.version}: T = {result.arrival_cutoff.isoformat()}, "
              f"{result.tweets_counted:,} tweets of {result.users} users", flush=True)
        publish(settings, [t for _, rest in halves for t in rest], "second half")
        wait_for_jobs(settings, jobs, args.timeout)
    finally:
        for job in jobs:
            job.stop()
        # Spark goes before the stack does: its connector would log connection failures for minutes.
        if own_spark:
            stop_spark(spark)
        for job in jobs:
            if job.failure() is not None:
                raise RuntimeError(f"{job.name} failed: {job.failure()}")
    print("[5/5] comparing", flush=True)
    comparison = run_compare(settings, user_a, user_b, args.top)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    arrays_path = args.out_dir / f"{comparison.users[0]}_vs_{comparison.users[1]}.json"
    chart_path = arrays_path.with_suffix(".png")
    write_json(arrays_path, comparison.as_arrays())
    draw_chart(comparison.as_arrays(), chart_path)
    print(json.dumps(comparison.as_json(), ensure_ascii=False) if args.json else comparison.table())
    print(f"chart: {chart_path}\nwords and counts: {arrays_path}")
    return comparison.as_json()


def _wait_for_next_minute(margin_seconds: float = 3.0) -> None:
    """The batch cutoff is a minute boundary: let the minute the first half arrived in close first."""
    now = time.time()
    wait = 60 - now % 60 + margin_seconds
    print(f"  waiting {wait:.0f} s for the arrival minute to close, so the batch covers the first half", flush=True)
    time.sleep(wait)


def _users(raw: str) -> tuple[str, str]:
    users = [u.strip() for u in raw.split(",") if u.strip()]
    if len(users) != 2:
        raise TrendoffError("bad-users", f"--users takes two screen names separated by a comma, not {raw!r}")
    return users[0], users[1]


def main(argv: Sequence[str]) -> int:
    parser = command_parser("trendoff demo", "Run the whole pipeline on the bundled real tweets: start the stack, "
                            "run ingest and speed, replay half of each file, batch, replay the rest, then print "
                            "the comparison and write the chart.")
    parser.add_argument("--users", default="BarackObama,realDonaldTrump", metavar="A,B",
                        help="the two users to compare (default BarackObama,realDonaldTrump)")
    parser.add_argument("--input", type=Path, action="append", metavar="FILE.csv",
                        help="a tweet CSV to replay (repeatable; default: the bundled FiveThirtyEight files)")
    parser.add_argument("--rows-per-file", type=int, metavar="N", help="replay only this many tweets of each file")
    parser.add_argument("--top", type=positive_top, default=DEFAULT_TOP, metavar="N",
                        help=f"how many words (default {DEFAULT_TOP})")
    parser.add_argument("--out-dir", type=Path, default=Path("out"), metavar="DIR",
                        help="where the chart and its JSON go (default out/)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--keep-stack", action="store_true", help="leave the Kafka broker and Cassandra running")
    parser.add_argument("--wipe", action="store_true", help="delete the local stack's data at the end")
    parser.add_argument("--timeout", type=duration_type, default=600.0, metavar="DURATION",
                        help="longest wait for the jobs to catch up (default 10m)")
    add_column_options(parser)
    add_connection_options(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    # Every argument is checked before any server starts: a typo costs a second, not a stack start.
    args.user_pair = _users(args.users)
    args.paths = args.input or [settings.home / name for name in BUNDLED]
    args.spec_for = {path: spec_from_args(args, path) for path in args.paths}
    stack = Stack.open(settings)
    settings = stack.settings
    already_running = {service.name for service in stack.local_services() if service.owned_pid() is not None}
    started = time.monotonic()
    print("[1/5] starting the stack (Kafka broker, Cassandra node)" if stack.local_services()
          else "[1/5] checking the external Kafka and Cassandra", flush=True)
    stack.up()
    try:
        run_demo(settings, args)
    finally:
        if not args.keep_stack:
            for service in stack.local_services():
                if service.name not in already_running:
                    service.stop()
            if args.wipe:
                stack.down(wipe=True)
    print(f"demo finished in {time.monotonic() - started:.0f} s; data kept in keyspace {settings.keyspace}"
          + ("" if args.keep_stack else " (run `trendoff stack up` to look at it again)"))
    return 0
