"""The Spark connector jars a session puts on its classpath (downloaded by `trendoff setup` into .jvm/spark)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from trendoff.errors import TrendoffError
from trendoff.settings import Settings

log = logging.getLogger(__name__)

# The version starts at the first "-" followed by a dotted number: "spark-sql-kafka-0-10_2.12-3.5.7.jar"
# keeps its "-0-10_2.12", "java-driver-shaded-guava-25.1-jre-graal-sub-1.jar" loses "-25.1-jre-...".
_ARTIFACT_AND_VERSION = re.compile(r"^(?P<artifact>.+?)-\d+(?:\.\d+)+(?:[-_.+].*)?\.jar$")


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
