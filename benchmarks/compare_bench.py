"""Serving latency: `compare` of random user pairs with 10,000 users in the views.

Run against a running stack (`trendoff stack up`):
    python benchmarks/compare_bench.py [--users 10000] [--queries 1000]
Fills a throwaway keyspace (dropped at the end) with a published batch version (a JSON blob of
100-1,000 words per user) and some newer speed rows, then times the CLI's code path
(published row, two batch rows, two speed ranges, merge, rank) without process start-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

from serve_bench import fill_views  # benchmarks run as scripts from this folder

from trendoff.clients import cassandra_io
from trendoff.config import load_settings
from trendoff.logs import configure_logging
from trendoff.serving.query import compare
from trendoff.serving.views import ViewReader


def run(users: int = 10_000, queries: int = 1_000, seed: int = 5) -> dict[str, float]:
    settings = load_settings(keyspace=f"bench_compare_{uuid.uuid4().hex[:8]}")
    handles = fill_views(settings, users, seed)  # the same views the service benchmark times
    rng = random.Random(seed)
    session = cassandra_io.connect(settings)
    try:
        reader = ViewReader(session, settings.keyspace)
        for _ in range(50):  # warm up prepared statements and caches
            compare(reader, *rng.sample(handles, 2))
        latencies = []
        for _ in range(queries):
            a, b = rng.sample(handles, 2)
            started = time.perf_counter()
            answer = compare(reader, a, b)
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.top, "random users share words"
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
        session.cluster.shutdown()
    latencies.sort()
    return {"users": float(users), "queries": float(queries), "p50_ms": statistics.median(latencies),
            "p95_ms": latencies[int(0.95 * len(latencies)) - 1], "max_ms": latencies[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args()
    configure_logging("WARNING")
    f = run(args.users, args.queries)
    print(f"compare: {f['queries']:,.0f} queries, {f['users']:,.0f} users in the views: "
          f"p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms, max {f['max_ms']:.1f} ms")


if __name__ == "__main__":
    main()
