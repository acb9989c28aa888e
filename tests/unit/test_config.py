"""Settings: defaults, TRENDOFF_* variables, then explicit overrides."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pytest

from tests.support import connection_args
from trendoff.config import add_connection_options, load_settings, replication_cql, settings_from_args
from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS
from trendoff.views.published import speed_expiry_warning
from trendoff.views.schema import ddl_statements


def test_defaults_describe_the_local_stack() -> None:
    settings = load_settings(environ={})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.cassandra_contact_points == ("127.0.0.1",)
    assert not settings.kafka_external and not settings.cassandra_external
    assert settings.topic == "tweets" and settings.keyspace == "trendoff"


def test_environment_selects_external_services_and_overrides_win() -> None:
    env = {
        "TRENDOFF_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
        "TRENDOFF_CASSANDRA_HOSTS": "cass-a, cass-b",
        "TRENDOFF_TOPIC_PARTITIONS": "12",
        "TRENDOFF_DATA_DIR": "/tmp/trendoff-x",
    }
    settings = load_settings(environ=env, topic="other")
    assert settings.kafka_external and settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.cassandra_contact_points == ("cass-a", "cass-b")
    assert settings.topic_partitions == 12
    assert settings.run_dir == Path("/tmp/trendoff-x")
    assert settings.topic == "other"


def test_a_bad_number_in_the_environment_is_a_user_error() -> None:
    with pytest.raises(TrendoffError, match="TRENDOFF_KAFKA_PORT='ninety'"):
        load_settings(environ={"TRENDOFF_KAFKA_PORT": "ninety"})


def test_every_variable_is_a_trendoff_variable() -> None:
    # That each field has exactly one variable is tests/unit/test_env_vars.py's.
    assert all(name.startswith("TRENDOFF_") for name in ENV_VARS.values())
    assert len(set(ENV_VARS.values())) == len(ENV_VARS), "two settings read the same variable"


@pytest.mark.parametrize(("kafka", "cassandra"), [(True, True), (True, False), (False, True)])
def test_the_connection_flags_tests_pass_are_the_ones_commands_take(
    kafka: bool, cassandra: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)
    wanted = load_settings(environ={}, kafka_bootstrap="k1:9092,k2:9092", topic="tweets_x",
                           cassandra_hosts=("c1", "c2"), cassandra_port=9142, keyspace="ks_x")
    parser = argparse.ArgumentParser()
    add_connection_options(parser, kafka=kafka, cassandra=cassandra)
    parsed = settings_from_args(parser.parse_args(connection_args(wanted, kafka=kafka, cassandra=cassandra)))
    if kafka:
        assert (parsed.bootstrap_servers, parsed.topic) == ("k1:9092,k2:9092", "tweets_x")
    if cassandra:
        assert (parsed.cassandra_contact_points, parsed.cassandra_port, parsed.keyspace) == (("c1", "c2"), 9142, "ks_x")


@pytest.mark.parametrize(("raw", "cql"), [
    ("{'class': 'SimpleStrategy', 'replication_factor': 1}", "{'class': 'SimpleStrategy', 'replication_factor': 1}"),
    (" {'class':'NetworkTopologyStrategy','dc1':3, 'dc-2': 2} ",
     "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc-2': 2}"),
])
def test_replication_is_read_as_a_map_and_written_back_canonically(raw: str, cql: str) -> None:
    assert replication_cql(raw) == cql
    assert ddl_statements("ks", raw, 3600)[0] == f"CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {cql}"


@pytest.mark.parametrize("raw", [
    "{'class': 'SimpleStrategy', 'replication_factor': 1}; DROP KEYSPACE x",
    "{'class': 'SimpleStrategy', 'replication_factor': 1} AND durable_writes = false",
    "{'class': 'SimpleStrategy', 'replication_factor': '1; DROP KEYSPACE x'}",
    "{'class': 'NetworkTopologyStrategy', 'dc1; DROP KEYSPACE x': 3}",
    "{'class': 'SimpleStrategy', 'replication_factor': 0}",
    "{'class': 'SimpleStrategy', 'replication_factor': True}",
    "{'class': 'SimpleStrategy', 'dc1': 3}",
    "{'class': 'LocalStrategy'}",
    "__import__('os').system('true')",
    "[1, 2]",
])
def test_a_replication_value_that_is_not_a_plain_map_is_refused_before_any_cql(raw: str) -> None:
    with pytest.raises(TrendoffError, match="TRENDOFF_REPLICATION"):
        load_settings({"TRENDOFF_REPLICATION": raw})
    with pytest.raises(TrendoffError):
        ddl_statements("ks", raw, 3600)


@pytest.mark.parametrize("topic", ["..", ".", "../../etc", "a/b", "tweets tweets", "", "t" * 250, "tw\u00e9ets"])
def test_topic_names_kafka_refuses_or_that_leave_a_folder_are_refused(topic: str) -> None:
    with pytest.raises(TrendoffError, match="topic"):
        load_settings({}, topic=topic)


@pytest.mark.parametrize("topic", ["tweets", "tweets.v2", "team_a-tweets", "t" * 249])
def test_ordinary_topic_names_are_kept(topic: str) -> None:
    assert load_settings({}, topic=topic).topic == topic


def test_a_keyspace_flag_is_checked_like_the_variable() -> None:
    with pytest.raises(TrendoffError, match="keyspace"):
        load_settings({}, keyspace="ks; DROP TABLE x")


@pytest.mark.parametrize(("variable", "raw", "words"), [
    ("TRENDOFF_CASSANDRA_CONSISTENCY", "EACH_QUORUM", "one of ONE, TWO"),
    ("TRENDOFF_CASSANDRA_CONSISTENCY", "strong", "one of ONE, TWO"),
    ("TRENDOFF_SPEED_TTL", "172800", "not a duration"),
    ("TRENDOFF_SPEED_TTL", "30s", "at least 1m"),
])
def test_bad_consistency_and_ttl_settings_are_one_line_errors(variable: str, raw: str, words: str) -> None:
    with pytest.raises(TrendoffError) as refused:
        load_settings({variable: raw})
    assert refused.value.reason == "bad-setting" and words in refused.value.message


def test_the_speed_expiry_warning_starts_past_half_the_ttl() -> None:
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    day = 24 * 3600.0
    assert speed_expiry_warning(None, now, 2 * day) is None
    assert speed_expiry_warning(now - dt.timedelta(hours=24), now, 2 * day) is None
    warning = speed_expiry_warning(now - dt.timedelta(hours=25), now, 2 * day)
    assert warning is not None and "25.0 h old" in warning and "expire after 48 h" in warning


@pytest.mark.parametrize(("base", "allowed"), [
    ("https://api.x.example", True), ("http://127.0.0.1:8123", True), ("http://localhost:9", True),
    ("http://[::1]:9", True), ("http://api.x.example", False), ("ftp://127.0.0.1", False), ("api.x.com", False),
])
def test_the_x_api_token_only_goes_over_https_or_to_this_machine(base: str, allowed: bool) -> None:
    if allowed:
        assert load_settings({"TRENDOFF_X_API_BASE": base}).x_api_base == base
    else:
        with pytest.raises(TrendoffError) as refused:
            load_settings({"TRENDOFF_X_API_BASE": base})
        assert "https" in refused.value.message
