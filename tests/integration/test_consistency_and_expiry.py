"""The consistency setting reaches the driver and the connector, the speed TTL setting reaches the tables
(also ones made with another TTL), old batches are warned about, and publishing never goes backwards;
all against the real Cassandra and Spark."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cassandra.cluster import NoHostAvailable
from pyspark.sql import SparkSession

from tests.support import connection_args, seed_serving_views
from trendoff.apps import compare as compare_app
from trendoff.batch.job import publish
from trendoff.clients import cassandra_io
from trendoff.entry import run_main
from trendoff.settings import Settings
from trendoff.views.schema import apply_schema

EXPIRING = ("speed_seen", "speed_words")


def table_ttls(session: Any, keyspace: str) -> dict[str, int]:
    rows = session.execute("SELECT table_name, default_time_to_live FROM system_schema.tables "
                           "WHERE keyspace_name = %s", (keyspace,))
    return {row.table_name: row.default_time_to_live for row in rows if row.default_time_to_live}


def test_the_consistency_setting_is_what_the_driver_asks_for(pipeline_settings: Settings) -> None:
    # RF=1: LOCAL_QUORUM needs the one replica; THREE cannot be met, so Cassandra refuses the read.
    for level, works in (("LOCAL_QUORUM", True), ("THREE", False)):
        session = cassandra_io.connect(pipeline_settings.with_overrides(cassandra_consistency=level))
        try:
            query = f"SELECT * FROM {pipeline_settings.keyspace}.batch_published"
            if works:
                assert session.execute(query).all() == []
            else:
                with pytest.raises(NoHostAvailable) as refused:
                    session.execute(query)
                assert "Cannot achieve consistency level THREE" in str(refused.value)
        finally:
            session.cluster.shutdown()


def test_the_spark_session_uses_the_same_consistency(spark: SparkSession, stack_settings: Settings) -> None:
    assert spark.conf.get("spark.cassandra.input.consistency.level") == stack_settings.cassandra_consistency
    assert spark.conf.get("spark.cassandra.output.consistency.level") == stack_settings.cassandra_consistency


def test_the_speed_ttl_setting_reaches_new_and_existing_tables(
    pipeline_settings: Settings, cassandra_session: Any
) -> None:
    keyspace = pipeline_settings.keyspace
    default = int(pipeline_settings.speed_ttl_seconds)
    assert table_ttls(cassandra_session, keyspace) == dict.fromkeys(EXPIRING, default)
    apply_schema(cassandra_session, pipeline_settings.with_overrides(speed_ttl_seconds=3600.0))
    assert table_ttls(cassandra_session, keyspace) == dict.fromkeys(EXPIRING, 3600)
    cassandra_session.execute("INSERT INTO speed_words (user, arrival_minute, word, tweet_id, count) "
                              "VALUES ('ann', '2026-01-01 12:00:00+0000', 'vote', 1, 1)")
    ttl = cassandra_session.execute("SELECT TTL(count) FROM speed_words WHERE user = 'ann'").one()[0]
    assert 3500 < ttl <= 3600


def test_compare_warns_when_the_published_batch_is_older_than_half_the_ttl(
    pipeline_settings: Settings, cassandra_session: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    seed_serving_views(cassandra_session)  # T = 2026-01-01 12:00, long before today
    args = ["BarackObama", "realDonaldTrump", *connection_args(pipeline_settings, kafka=False)]
    capsys.readouterr()
    assert run_main(compare_app.main, args) == 0
    printed = capsys.readouterr()
    assert "america" in printed.out, "the answer is still printed"
    warning = [line for line in printed.err.splitlines() if "WARNING" in line and "expire" in line]
    assert len(warning) == 1 and "2026-01-01T12:00:00+00:00" in warning[0] and "expire after 48 h" in warning[0]

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cassandra_session.execute("UPDATE batch_published SET arrival_cutoff = %s WHERE view_name = 'words'", (now,))
    assert run_main(compare_app.main, args) == 0
    assert "expire" not in capsys.readouterr().err, "a fresh batch is not warned about"


def test_publishing_never_moves_the_version_or_t_backwards(cassandra_session: Any) -> None:
    older_t = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    newer_t = older_t + dt.timedelta(minutes=15)

    def published() -> tuple[int, dt.datetime]:
        row = cassandra_session.execute("SELECT version, arrival_cutoff FROM batch_published "
                                        "WHERE view_name = 'words'").one()
        return row.version, row.arrival_cutoff.replace(tzinfo=dt.UTC)

    # Two runs at once: the one that started later (a larger version, a later T) finishes first.
    assert publish(cassandra_session, 2000, newer_t)
    assert not publish(cassandra_session, 1000, older_t), "the older run must not replace the newer"
    assert published() == (2000, newer_t)
    assert publish(cassandra_session, 2000, newer_t), "a retried publish of the same version is applied"
    assert not publish(cassandra_session, 3000, older_t), "a newer version with an earlier T is refused too"
    assert publish(cassandra_session, 3000, newer_t + dt.timedelta(minutes=1))
    assert published() == (3000, newer_t + dt.timedelta(minutes=1))
