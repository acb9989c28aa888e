"""The one SparkSession factory: connector jars, Kafka/Cassandra settings, loopback, small shuffles."""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from trendoff.clients import security
from trendoff.clients.cassandra_io import ensure_schema
from trendoff.clients.jars import spark_connector_jars
from trendoff.settings import Settings

log = logging.getLogger(__name__)


def spark_session(settings: Settings, app_name: str) -> SparkSession:
    """Build (or reuse) the session for a local run or under spark-submit.

    Under spark-submit the master and jars come from the submit command (``--master``,
    ``--jars``/``--packages``) and are left alone; locally they come from the settings.
    """
    builder = SparkSession.builder.appName(app_name)
    if not _under_spark_submit():
        # Python workers must run this interpreter (the one with trendoff installed), and the
        # driver binds loopback: local runs and tests talk to nothing else.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(settings.spark_master)
            .config("spark.jars", ",".join(spark_connector_jars(settings)))
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.default.parallelism", "4")
            .config("spark.driver.memory", "1g")
        )
    session = (
        builder.config("spark.cassandra.connection.host", ",".join(settings.cassandra_contact_points))
        .config("spark.cassandra.connection.port", str(settings.cassandra_port))
        # The same level as the Python driver's (connect), for the connector's scans and writes too.
        .config("spark.cassandra.input.consistency.level", settings.cassandra_consistency)
        .config("spark.cassandra.output.consistency.level", settings.cassandra_consistency)
        .config("spark.sql.extensions", "com.datastax.spark.connector.CassandraSparkExtensions")
        .config("spark.sql.session.timeZone", "UTC")
        .config(map=security.spark_cassandra_conf(settings))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    log.info("spark session %s on %s", app_name, session.sparkContext.master)
    return session


def job_spark_session(settings: Settings, app_name: str) -> SparkSession:
    """For a job's main: the keyspace and tables made sure of first (a user mistake in the connection
    settings then fails in seconds, before Spark starts), then the session."""
    ensure_schema(settings)
    return spark_session(settings, app_name)


def _under_spark_submit() -> bool:
    """spark-submit starts the Python driver with the JVM gateway already running."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def stop_spark(spark: SparkSession) -> None:
    """Stop ``spark`` and close the connector's Cassandra sessions with it.

    The connector caches its sessions in the driver's JVM, which outlives the SparkContext in a Python
    process (py4j keeps it): a process that then stops Cassandra (the demo) would otherwise watch them
    log failed reconnections until it exits.
    """
    jvm = spark.sparkContext._jvm
    spark.stop()
    if jvm is not None:
        jvm.com.datastax.spark.connector.cql.CassandraConnector.evictCache()
