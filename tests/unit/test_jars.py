"""The explicit spark.jars list: connector jars minus what pyspark already ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from trendoff.clients.jars import artifact_name, spark_connector_jars
from trendoff.config import load_settings
from trendoff.errors import TrendoffError


@pytest.mark.parametrize(
    ("jar", "artifact"),
    [
        ("kafka-clients-3.4.1.jar", "kafka-clients"),
        ("spark-sql-kafka-0-10_2.12-3.5.7.jar", "spark-sql-kafka-0-10_2.12"),
        ("java-driver-shaded-guava-25.1-jre-graal-sub-1.jar", "java-driver-shaded-guava"),
        ("scala-library-2.12.19.jar", "scala-library"),
    ],
)
def test_artifact_name_drops_the_version(jar: str, artifact: str) -> None:
    assert artifact_name(Path(jar)) == artifact


def test_jars_pyspark_ships_are_left_out(tmp_path: Path) -> None:
    spark_dir = tmp_path / "spark"
    spark_dir.mkdir()
    for name in ("scala-library-2.12.19.jar", "spark-avro_2.12-3.5.7.jar", "slf4j-api-1.7.36.jar"):
        (spark_dir / name).write_bytes(b"")
    jars = spark_connector_jars(load_settings(environ={}, jvm_dir=tmp_path))
    assert [Path(j).name for j in jars] == ["spark-avro_2.12-3.5.7.jar"]


def test_missing_jars_say_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(TrendoffError, match="trendoff setup"):
        spark_connector_jars(load_settings(environ={}, jvm_dir=tmp_path))


def test_an_explicit_jar_list_wins(tmp_path: Path) -> None:
    settings = load_settings(environ={}, spark_jars="/a/x.jar, /b/y.jar", jvm_dir=tmp_path)
    assert spark_connector_jars(settings) == ["/a/x.jar", "/b/y.jar"]


def test_setup_prints_the_spark_jars_as_one_comma_separated_list(capsys: pytest.CaptureFixture[str]) -> None:
    # The jars are downloaded by the test command's set-up; the list is what spark-submit --jars takes.
    from trendoff.stack.setup import main as setup_main

    assert setup_main(["--print-spark-jars"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1, "one line, for $(...)"
    jars = printed[0].split(",")
    assert jars == spark_connector_jars(load_settings(environ={}))
    assert any("spark-cassandra-connector" in jar for jar in jars) and all(Path(jar).is_file() for jar in jars)
