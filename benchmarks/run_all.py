"""The benchmark suite: every benchmark in turn against the running stack, then one table.

    trendoff stack up && python benchmarks/run_all.py [--quick]

Never part of the test command. Prints what each benchmark measured and the peak resident memory
of each kind of process seen meanwhile (Kafka broker, Cassandra node, Spark driver JVMs, Python).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = [
    ("producer", ["producer_bench.py"], ["producer_bench.py", "--tweets", "20000"]),
    ("streaming", ["streaming_bench.py"], ["streaming_bench.py", "--tweets", "5000", "--duration", "15s"]),
    ("batch", ["batch_bench.py"], ["batch_bench.py", "--tweets", "100000"]),
    ("compare", ["compare_bench.py"], ["compare_bench.py", "--users", "2000", "--queries", "300"]),
    ("serve", ["serve_bench.py"], ["serve_bench.py", "--users", "2000", "--requests", "300"]),
]


def classify(cmdline: str) -> str | None:
    if "kafka.Kafka" in cmdline:
        return "Kafka broker"
    if "CassandraDaemon" in cmdline:
        return "Cassandra node"
    if "org.apache.spark.deploy.SparkSubmit" in cmdline:
        return "Spark driver JVM"
    if "-m trendoff." in cmdline:
        return "streaming job Python driver"
    if "benchmarks/" in cmdline and "python" in cmdline and "run_all" not in cmdline:
        return "benchmark Python process"
    return None


class PeakMemory(threading.Thread):
    """Samples VmRSS of every process twice a second and keeps the peak per kind."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[str, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    kind = classify((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                    if kind is None:
                        continue
                    for line in (entry / "status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            mib = int(line.split()[1]) / 1024
                            self.peaks[kind] = max(self.peaks.get(kind, 0.0), mib)
                except OSError:
                    continue
            self.stopped.wait(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    sampler = PeakMemory()
    sampler.start()
    rows: list[tuple[str, str]] = []
    failed = False
    for name, full, quick in SUITE:
        script, *rest = quick if args.quick else full
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / script), *rest], capture_output=True, text=True,
                                check=False, env=dict(os.environ, TRENDOFF_LOG_LEVEL="WARNING"))
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        try:  # a benchmark that prints one JSON object: one row per figure
            figures = json.loads(result.stdout)
            lines = [f"{group} {key}: {value}" for group, values in figures.items() if group != "settings"
                     for key, value in values.items()]
        except (json.JSONDecodeError, AttributeError):
            pass
        if result.returncode != 0:
            failed = True
            lines = [f"FAILED (exit {result.returncode}): " + (result.stderr.strip().splitlines() or ["?"])[-1]]
        print(f"--- {name} ({time.monotonic() - started:.0f} s)\n" + "\n".join(lines), flush=True)
        rows.extend((name, line) for line in lines)
    sampler.stopped.set()
    sampler.join()
    cores, memory = os.cpu_count(), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"\n## Benchmarks ({dt.date.today().isoformat()}, {cores} cores, {memory:.0f} GiB, "
          f"`python benchmarks/run_all.py{' --quick' if args.quick else ''}`)\n")
    print("| benchmark | result |\n| --- | --- |")
    for name, line in rows:
        print(f"| {name} | {line.replace('|', '/')} |")
    for kind, mib in sorted(sampler.peaks.items()):
        print(f"| peak memory | {kind}: {mib:,.0f} MiB resident |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
