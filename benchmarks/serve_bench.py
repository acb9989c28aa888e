"""Service latency: `GET /api/compare` of random user pairs at 1, 10 and 50 concurrent clients, 10,000 users.

Run against a running stack (`trendoff stack up`):
    python benchmarks/serve_bench.py [--users 10000] [--requests 2000] [--clients 1,10,50]
Fills a throwaway keyspace (dropped at the end) as compare_bench.py does (a published batch version with
100-1,000 words per user, and newer speed rows), starts `trendoff serve` on it in its own process, and
times requests from closed-loop clients (each sends its next request when the last answer is in) over
keep-alive HTTP/1.1 connections, with a minimal asyncio client so the client costs little CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from cassandra.concurrent import execute_concurrent_with_args

from trendoff.clients import cassandra_io
from trendoff.config import load_settings
from trendoff.logs import configure_logging
from trendoff.settings import Settings
from trendoff.views.keys import batch_bucket
from trendoff.views.schema import apply_schema


def fill_views(settings: Settings, users: int, seed: int) -> list[str]:
    """A published batch version of ``users`` users and five speed rows per user after its T; the handles."""
    session = cassandra_io.connect(settings)
    try:
        apply_schema(session, settings)
        rng = random.Random(seed)
        vocabulary = [f"word{n}" for n in range(5000)]
        ks = settings.keyspace
        handles = [f"user{n:05d}" for n in range(users)]
        rows = []
        for handle in handles:
            words = rng.sample(vocabulary, rng.randint(100, 1000))
            rows.append((1, batch_bucket(handle), handle, json.dumps({w: rng.randint(1, 50) for w in words}),
                         len(words)))
        insert = session.prepare(f"INSERT INTO {ks}.batch_words (version, bucket, user, word_counts, "
                                 "tweets_counted) VALUES (?, ?, ?, ?, ?)")
        execute_concurrent_with_args(session, insert, rows, concurrency=64)
        cutoff = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
        speed = session.prepare(f"INSERT INTO {ks}.speed_words (user, arrival_minute, word, tweet_id, count) "
                                "VALUES (?, ?, ?, ?, 1)")
        speed_rows = [(h, cutoff + dt.timedelta(minutes=rng.randint(0, 14)), rng.choice(vocabulary), n)
                      for n, h in enumerate(rng.choices(handles, k=users * 5))]
        execute_concurrent_with_args(session, speed, speed_rows, concurrency=64)
        session.execute(f"INSERT INTO {ks}.batch_published (view_name, version, arrival_cutoff) "
                        "VALUES ('words', 1, %s)", (cutoff,))
        return handles
    finally:
        session.cluster.shutdown()


async def _client(port: int, paths: list[str], latencies: list[float]) -> None:
    """One keep-alive connection sending ``paths`` one after the other; every answer must be a 200."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            body = await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != b"200":
                raise RuntimeError(f"{path}: HTTP {status.decode()} {body[:200]!r}")
    finally:
        writer.close()


async def _level(port: int, pairs: list[tuple[str, str]], clients: int, requests: int) -> tuple[list[float], float]:
    paths = [f"/api/compare?{urllib.parse.urlencode({'a': a, 'b': b})}" for a, b in pairs[:requests]]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, paths[n::clients], latencies) for n in range(clients)))
    return latencies, time.perf_counter() - started


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cassandra_pid(settings: Settings) -> int | None:
    """The local stack's Cassandra node (run/cassandra/pid), for its CPU per request; None when external."""
    try:
        return int((settings.run_dir / "cassandra" / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(users: int = 10_000, requests: int = 2_000, levels: tuple[int, ...] = (1, 10, 50),
        seed: int = 5) -> dict[int, dict[str, float]]:
    settings = load_settings(keyspace=f"bench_serve_{uuid.uuid4().hex[:8]}")
    port = _free_port()
    service: subprocess.Popen[bytes] | None = None
    try:
        handles = fill_views(settings, users, seed)
        cassandra_pid = _cassandra_pid(settings)
        service = subprocess.Popen(
            [sys.executable, "-m", "trendoff.apps.cli", "serve", "--port", str(port), "--keyspace", settings.keyspace,
             "--cassandra", ",".join(settings.cassandra_contact_points), "--cassandra-port",
             str(settings.cassandra_port)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if service.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.3)
        rng = random.Random(seed)
        figures: dict[int, dict[str, float]] = {}
        warm = [tuple(rng.sample(handles, 2)) for _ in range(200)]
        asyncio.run(_level(port, warm, 10, len(warm)))  # prepared statements, caches, thread pool
        for clients in levels:
            pairs = [tuple(rng.sample(handles, 2)) for _ in range(requests)]
            cpu_before = [_cpu_seconds(pid) for pid in (service.pid, cassandra_pid, os.getpid())]
            latencies, seconds = asyncio.run(_level(port, pairs, clients, requests))
            cpu = [(_cpu_seconds(pid) - before) * 1000 / requests
                   for pid, before in zip((service.pid, cassandra_pid, os.getpid()), cpu_before, strict=True)]
            latencies.sort()
            figures[clients] = {"requests": float(len(latencies)), "p50_ms": statistics.median(latencies),
                                "p95_ms": latencies[int(0.95 * len(latencies)) - 1], "max_ms": latencies[-1],
                                "per_second": len(latencies) / seconds, "service_cpu_ms": cpu[0],
                                "cassandra_cpu_ms": cpu[1], "client_cpu_ms": cpu[2]}
        return figures
    finally:
        if service is not None:
            service.terminate()
            service.wait(30)
        session = cassandra_io.connect(settings)
        try:
            session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
        finally:
            session.cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000, help="requests per concurrency level")
    parser.add_argument("--clients", default="1,10,50", help="concurrency levels, comma-separated")
    args = parser.parse_args()
    configure_logging("WARNING")
    levels = tuple(int(part) for part in args.clients.split(","))
    for clients, f in run(args.users, args.requests, levels).items():
        print(f"serve /api/compare, {clients} concurrent clients, {f['requests']:,.0f} requests, {args.users:,} "
              f"users: p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms, max {f['max_ms']:.1f} ms, "
              f"{f['per_second']:,.0f} requests/s; CPU per request: service {f['service_cpu_ms']:.2f} ms, "
              f"Cassandra {f['cassandra_cpu_ms']:.2f} ms, client {f['client_cpu_ms']:.2f} ms")


if __name__ == "__main__":
    main()
