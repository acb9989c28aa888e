"""JVM jars from Maven Central: `trendoff setup` fetches them; the Spark factory lists its connectors."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import time
from pathlib import Path

from trendoff.config import Settings
from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

JVM_PARTS = ("kafka", "cassandra", "spark")
# The version starts at the first "-" followed by a dotted number: "spark-sql-kafka-0-10_2.12-3.5.7.jar"
# keeps its "-0-10_2.12", "java-driver-shaded-guava-25.1-jre-graal-sub-1.jar" loses "-25.1-jre-...".
_ARTIFACT_AND_VERSION = re.compile(r"^(?P<artifact>.+?)-\d+(?:\.\d+)+(?:[-_.+].*)?\.jar$")


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


def artifact_name(jar: Path) -> str:
    """`kafka-clients-3.4.1.jar` -> `kafka-clients`: how a jar is matched against pyspark's own."""
    matched = _ARTIFACT_AND_VERSION.match(jar.name)
    return matched.group("artifact") if matched else jar.name.removesuffix(".jar")


def spark_connector_jars(settings: Settings) -> list[str]:
    """The explicit spark.jars list: downloaded connector jars minus artifacts pyspark already ships.

    Two versions of scala-library, hadoop or slf4j on one classpath break Spark, and Spark cannot
    take a glob here, so the list is built file by file.
    """
    if settings.spark_jars:
        return [jar.strip() for jar in settings.spark_jars.split(",") if jar.strip()]
    import pyspark

    shipped = {artifact_name(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    folder = settings.downloads_dir / "spark"
    jars = sorted(str(jar) for jar in folder.glob("*.jar") if artifact_name(jar) not in shipped)
    if not jars:
        raise TrendoffError(
            "no-jars", f"the Spark connector jars are not downloaded to {folder}: run `trendoff setup` first"
        )
    return jars
