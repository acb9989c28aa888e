"""Serving as a Spark job: compare many user pairs at once and write one JSON line per pair.

For batch use on a cluster; the merge and ranking are the same pure functions the CLI uses.
Reads the published batch version and the speed rows after its cutoff through the Spark
Cassandra connector, for the requested users only.

Run:  python -m trendoff.serving.pairs_job --pairs pairs.txt --output answers.jsonl
      (pairs.txt: one "a,b" per line)      or under spark-submit with serving/pairs_job.py
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from trendoff.clients.cassandra_io import SPARK_FORMAT as CASSANDRA
from trendoff.clients.cassandra_io import connect
from trendoff.clients.spark import spark_session
from trendoff.config import add_connection_options, settings_from_args
from trendoff.errors import TrendoffError
from trendoff.serving.compare import DEFAULT_TOP, positive_top, rank_mutual
from trendoff.serving.views import Published, ViewReader
from trendoff.settings import Settings
from trendoff.views.keys import batch_bucket, user_key

log = logging.getLogger(__name__)


def read_pairs(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TrendoffError("no-file", f"{path}: no such file") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [user_key(part) for part in line.split(",")]
        if len(parts) != 2 or not all(parts):
            raise TrendoffError("bad-pairs", f"{path.name}:{number}: expected 'a,b', got {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def user_counts(
    spark: SparkSession, settings: Settings, users: set[str], published: Published
) -> dict[str, Counter[str]]:
    """Merged word counts of ``users``: the published batch rows plus the speed rows after T."""
    wanted = F.col("user").isin(sorted(users))
    # The version and the users' buckets name whole partitions, so the connector reads only those.
    buckets = F.col("bucket").isin(sorted({batch_bucket(user) for user in users}))
    counts: dict[str, Counter[str]] = {user: Counter() for user in users}
    if published.version is not None:
        batch = (spark.read.format(CASSANDRA).options(keyspace=settings.keyspace, table="batch_words").load()
                 .where((F.col("version") == published.version) & buckets & wanted).select("user", "word_counts"))
        for row in batch.toLocalIterator():
            counts[row.user].update(json.loads(row.word_counts))
    speed = spark.read.format(CASSANDRA).options(keyspace=settings.keyspace, table="speed_words").load().where(wanted)
    if published.cutoff is not None:
        speed = speed.where(F.col("arrival_minute") >= F.lit(published.cutoff))
    for row in speed.groupBy("user", "word").agg(F.sum("count").alias("n")).toLocalIterator():
        counts[row.user][row.word] += row.n
    return counts


def run_pairs(spark: SparkSession, settings: Settings, pairs: list[tuple[str, str]], top: int) -> list[dict]:
    session = connect(settings)
    try:
        published = ViewReader(session, settings.keyspace).published()  # one version for every pair
    finally:
        session.cluster.shutdown()
    counts = user_counts(spark, settings, {user for pair in pairs for user in pair}, published)
    as_of = published.cutoff.isoformat() if published.cutoff else None
    answers = []
    for a, b in pairs:
        missing = [user for user in (a, b) if not counts[user]]
        entry: dict = {"users": [a, b], "as_of": as_of}
        if missing:
            entry["error"] = f"no tweets of @{missing[0]} in the views"
        else:
            entry["top"] = [{"word": m.word, "counts": [m.count_a, m.count_b]}
                            for m in rank_mutual(counts[a], counts[b], top)]
        answers.append(entry)
    return answers


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m trendoff.serving.pairs_job", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True, metavar="FILE", help="a file with one 'a,b' pair per line")
    parser.add_argument("--output", type=Path, required=True, metavar="FILE.jsonl", help="the JSON-lines file to write")
    parser.add_argument("--top", type=positive_top, default=DEFAULT_TOP, metavar="N",
                        help=f"how many words per pair (default {DEFAULT_TOP})")
    add_connection_options(parser, kafka=False)
    args = parser.parse_args(argv)
    pairs = read_pairs(args.pairs)
    settings = settings_from_args(args)
    answers = run_pairs(spark_session(settings, "trendoff-serving"), settings, pairs, args.top)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers), encoding="utf-8")
    print(f"{len(answers)} comparisons written to {args.output}")
    return 0


if __name__ == "__main__":
    import sys

    from trendoff.entry import run_main

    sys.exit(run_main(main, sys.argv[1:]))
