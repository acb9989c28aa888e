"""The one SparkSession factory's stop: the connector's Cassandra sessions close with it, so a process that
stops Cassandra afterwards (the demo) does not watch them log failed reconnections."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.support import PROJECT_ROOT
from trendoff.settings import ENV_VARS, Settings

# Run in a process of its own: the suite's SparkSession is shared and must not be stopped.
SCRIPT = textwrap.dedent("""
    from trendoff.clients.cassandra_io import SPARK_FORMAT
    from trendoff.clients.spark import spark_session, stop_spark
    from trendoff.config import load_settings

    settings = load_settings()
    spark = spark_session(settings, "trendoff-test-stop")
    # The connector's companion object (Scala's MODULE$) holds the session cache.
    jvm = spark.sparkContext._jvm
    module = jvm.org.apache.spark.util.Utils.classForName(
        "com.datastax.spark.connector.cql.CassandraConnector$", True, False)
    connector = module.getField("MODULE$").get(None)
    spark.read.format(SPARK_FORMAT).options(keyspace=settings.keyspace, table="tweets").load().count()
    print("sessions before", connector.sessionCache().cache().size(), flush=True)
    stop_spark(spark)
    print("sessions after", connector.sessionCache().cache().size(), flush=True)
""")


def test_stop_spark_closes_the_connectors_cassandra_sessions(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRENDOFF_")}
    env.update({ENV_VARS["kafka_bootstrap"]: settings.bootstrap_servers,
                ENV_VARS["cassandra_hosts"]: ",".join(settings.cassandra_contact_points),
                ENV_VARS["cassandra_port"]: str(settings.cassandra_port), ENV_VARS["keyspace"]: settings.keyspace,
                ENV_VARS["jvm_dir"]: str(settings.downloads_dir)})
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("sessions ")]
    assert lines[0] != "sessions before 0", "the read went through a cached connector session"
    assert lines[1] == "sessions after 0", done.stdout
