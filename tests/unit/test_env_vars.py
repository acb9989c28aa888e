"""Every setting has one environment variable, one converter and a row in the README's table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT
from trendoff.config import load_settings
from trendoff.settings import ENV_VARS, Settings

README = PROJECT_ROOT / "README.md"
FIELDS = [f.name for f in dataclasses.fields(Settings)]


def test_every_setting_is_declared_with_its_variable_and_parser() -> None:
    for item in dataclasses.fields(Settings):
        assert item.metadata["variable"] == ENV_VARS[item.name] and callable(item.metadata["parse"]), item.name
        assert item.repr is not item.metadata["secret"], f"{item.name}: a secret is left out of repr, nothing else"


# Security settings are checked together (trendoff/config.py): each one is given with what it needs.
_SASL = {"TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TRENDOFF_KAFKA_SASL_MECHANISM": "PLAIN",
         "TRENDOFF_KAFKA_USERNAME": "u", "TRENDOFF_KAFKA_PASSWORD": "p"}
_COMPANIONS = {
    "kafka_security_protocol": _SASL, "kafka_sasl_mechanism": _SASL, "kafka_username": _SASL,
    "kafka_password": _SASL, "kafka_ca_file": {"TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SSL"},
    "cassandra_username": {"TRENDOFF_CASSANDRA_PASSWORD": "p"},
    "cassandra_password": {"TRENDOFF_CASSANDRA_USERNAME": "u"},
}
_PAIRS = {"kafka_cert_file": "TRENDOFF_KAFKA_KEY_FILE", "kafka_key_file": "TRENDOFF_KAFKA_CERT_FILE",
          "cassandra_cert_file": "TRENDOFF_CASSANDRA_KEY_FILE", "cassandra_key_file": "TRENDOFF_CASSANDRA_CERT_FILE"}


@pytest.mark.parametrize("name", FIELDS)
def test_each_variable_reaches_its_setting_with_the_fields_type(name: str, tmp_path: Path) -> None:
    default = getattr(Settings(), name)
    environ = dict(_COMPANIONS.get(name, {}))
    if name in _PAIRS:  # a client certificate comes with its key, over TLS
        (tmp_path / "other.pem").write_text("x")
        environ |= {_PAIRS[name]: str(tmp_path / "other.pem"), "TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SSL",
                    "TRENDOFF_CASSANDRA_TLS": "true"}
    if name.endswith("_file"):  # files must be readable
        raw = str(tmp_path / "given.pem")
        (tmp_path / "given.pem").write_text("x")
        expected = tmp_path / "given.pem"
    elif name == "kafka_security_protocol":
        raw, expected = "sasl_ssl", "SASL_SSL"
    elif name == "kafka_sasl_mechanism":
        raw, expected = "scram-sha-256", "SCRAM-SHA-256"
    elif name == "cassandra_tls":
        raw, expected = "true", True
    elif name == "replication":  # checked as a replication map (test_config has the refusals)
        raw = expected = "{'class': 'SimpleStrategy', 'replication_factor': 3}"
    elif name == "cassandra_consistency":  # one of the levels, in any case
        raw, expected = "quorum", "QUORUM"
    elif name == "speed_ttl_seconds":  # a duration
        raw, expected = "3h", 10800.0
    elif name == "x_api_base":  # an https address (test_config has the refusals)
        raw = expected = "https://x.example"
    else:
        raw = {int: "7", float: "2.5", str: "x", tuple: "a, b"}.get(type(default), "/tmp/somewhere")
        expected = {"7": 7, "2.5": 2.5, "x": "x", "a, b": ("a", "b"), "/tmp/somewhere": Path("/tmp/somewhere")}[raw]
    loaded = getattr(load_settings({**environ, ENV_VARS[name]: raw}), name)
    assert loaded == expected and type(loaded) is type(expected)


def test_the_readme_documents_every_variable() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [variable for variable in ENV_VARS.values() if f"`{variable}`" not in text]
    assert not missing


def test_the_bearer_token_is_not_in_the_settings_repr_or_description() -> None:
    settings = load_settings({"TRENDOFF_X_BEARER_TOKEN": "s3cret-token"})
    assert settings.x_bearer_token == "s3cret-token"
    assert "s3cret-token" not in repr(settings) and "s3cret-token" not in str(settings.describe())
