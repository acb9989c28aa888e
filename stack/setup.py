"""`trendoff setup`: fetch the JVM jars (idempotent, quick when nothing changed)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from trendoff.config import load_settings
from trendoff.entry import command_parser
from trendoff.errors import TrendoffError
from trendoff.settings import Settings

log = logging.getLogger(__name__)

JVM_PARTS = ("kafka", "cassandra", "spark")


def _stamp_for(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def fetch_jars(settings: Settings, parts: tuple[str, ...] = JVM_PARTS) -> dict[str, float]:
    """Copy each part's runtime jars into .jvm/<part>; skip a part whose pom has not changed."""
    mvn = shutil.which("mvn")
    timings: dict[str, float] = {}
    for part in parts:
        pom = settings.home / "jvm" / part / "pom.xml"
        if not pom.is_file():
            raise TrendoffError("no-pom", f"{pom} is missing: run trendoff from its checkout or set TRENDOFF_HOME")
        target = settings.downloads_dir / part
        stamp = target / ".pom.sha256"
        if stamp.is_file() and stamp.read_text() == _stamp_for(pom) and any(target.glob("*.jar")):
            log.info("%s jars are up to date in %s", part, target)
            continue
        if mvn is None:
            raise TrendoffError("no-maven", "Maven (mvn) is needed to fetch the jars: apt-get install maven")
        shutil.rmtree(target, ignore_errors=True)
        started = time.monotonic()
        log.info("fetching %s jars from Maven Central into %s", part, target)
        result = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={target}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise TrendoffError(
                "maven-failed",
                f"Maven could not fetch the {part} jars (exit {result.returncode})",
                detail=(result.stdout + result.stderr)[-3000:],
            )
        stamp.write_text(_stamp_for(pom))
        timings[part] = time.monotonic() - started
        log.info("%s: %d jars in %.1f s", part, len(list(target.glob("*.jar"))), timings[part])
    return timings


def executor_requirements() -> list[str]:
    """trendoff's requirements as installed, but pyspark and the extras: what an executor's Python worker
    imports beyond the pyspark of its node's Spark (which puts its own on the worker's path)."""
    from packaging.requirements import Requirement

    wanted = []
    for line in metadata.requires("trendoff") or []:
        requirement = Requirement(line)
        if requirement.name.lower() == "pyspark":
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's (the tests'), or for another platform
        wanted.append(str(requirement))
    return wanted


def main(argv: Sequence[str]) -> int:
    parser = command_parser("trendoff setup", "Fetch the Kafka, Cassandra and Spark connector jars from Maven Central "
                            "into .jvm/ (idempotent: a part whose pom has not changed is skipped).")
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(JVM_PARTS)} (default: all)")
    parser.add_argument("--print-spark-jars", action="store_true",
                        help="fetch the Spark connector jars if needed, then print them as the comma-separated "
                             "list `spark-submit --jars` takes (for clusters without Maven access)")
    parser.add_argument("--print-executor-requirements", action="store_true",
                        help="print trendoff's requirements but pyspark, for the Python environment shipped "
                             "to the executors (see the README's cluster section)")
    args = parser.parse_args(argv)
    if args.print_executor_requirements:
        print(" ".join(executor_requirements()))
        return 0
    if args.print_spark_jars:
        from trendoff.clients.jars import spark_connector_jars

        settings = load_settings()
        fetch_jars(settings, ("spark",))
        print(",".join(spark_connector_jars(settings.with_overrides(spark_jars=""))))
        return 0
    unknown = sorted(set(args.parts) - set(JVM_PARTS))
    if unknown:
        raise TrendoffError("bad-part", f"unknown part {unknown[0]!r}: choose from {', '.join(JVM_PARTS)}")
    settings = load_settings()
    timings = fetch_jars(settings, tuple(args.parts) or JVM_PARTS)
    for part in args.parts or JVM_PARTS:
        took = f"fetched in {timings[part]:.1f} s" if part in timings else "up to date"
        print(f"{part:<10} {settings.downloads_dir / part}  ({took})")
    return 0
