"""Settings: defaults, TRENDOFF_* variables, then explicit overrides."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.support import connection_args
from trendoff.config import ENV_VARS, add_connection_options, load_settings, settings_from_args
from trendoff.errors import TrendoffError


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
