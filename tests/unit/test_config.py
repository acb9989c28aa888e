"""Settings: defaults, TRENDOFF_* variables, then explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from trendoff.config import ENV_VARS, Settings, load_settings
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


def test_every_setting_with_a_variable_exists() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert set(ENV_VARS) <= fields
    assert all(name.startswith("TRENDOFF_") for name in ENV_VARS.values())
