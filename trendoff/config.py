"""Settings loaded and checked for every layer: defaults for the local stack, then TRENDOFF_* variables,
then flags. What each setting is (field, variable, parser) is declared once, in :mod:`trendoff.settings`."""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from trendoff.errors import TrendoffError
from trendoff.settings import CONSISTENCY_LEVELS, ENV_VARS, FILE_SUFFIX, PARSERS, SECRET_SETTINGS, Settings, as_hosts

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _convert(name: str, raw: str) -> object:
    try:
        return PARSERS[name](raw)
    except ValueError as error:
        raise TrendoffError("bad-setting", f"{ENV_VARS[name]}={raw!r} is not valid: {error}") from error


def _var(name: str) -> str:
    return ENV_VARS[name]


# Names that go into CQL text, Kafka requests and checkpoint folder names: plain identifiers only.
_KEYSPACE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
# Kafka's legal topic characters, minus nothing; "." and ".." alone are refused by Kafka and would be
# folder names with a meaning of their own in a checkpoint path.
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_DATACENTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_REPLICATION_CLASSES = ("SimpleStrategy", "NetworkTopologyStrategy")


def check_keyspace_name(keyspace: str) -> str:
    if not _KEYSPACE_NAME.match(keyspace):
        raise TrendoffError(
            "bad-keyspace", f"keyspace {keyspace!r} must be a letter then letters, digits or _ (max 48)"
        )
    return keyspace


def check_topic_name(topic: str) -> str:
    if not _TOPIC_NAME.match(topic) or topic in (".", ".."):
        raise TrendoffError(
            "bad-topic", f"topic {topic!r} must be 1 to 249 letters, digits, '.', '_' or '-' (and not '.' or '..')"
        )
    return topic


def replication_cql(raw: str) -> str:
    """The keyspace replication setting as a validated CQL map.

    Read as a literal map (never evaluated as code, never pasted into CQL as given):
    ``{'class': 'SimpleStrategy', 'replication_factor': N}`` or
    ``{'class': 'NetworkTopologyStrategy', 'dc1': N, ...}``, each factor a whole number from 1 to 99.
    """
    try:
        parsed = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        parsed = None
    problem = _replication_problem(parsed)
    if problem:
        raise TrendoffError(
            "bad-replication",
            f"{ENV_VARS['replication']}={raw!r}: {problem} (e.g. \"{{'class': 'NetworkTopologyStrategy', 'dc1': 3}}\")",
        )
    assert isinstance(parsed, dict)
    factors = ", ".join(f"'{key}': {int(value)}" for key, value in parsed.items() if key != "class")
    return f"{{'class': '{parsed['class']}', {factors}}}"


def _replication_problem(parsed: object) -> str:
    if not isinstance(parsed, dict) or parsed.get("class") not in _REPLICATION_CLASSES:
        return f"not a replication map with 'class' one of {', '.join(_REPLICATION_CLASSES)}"
    factors = {key: value for key, value in parsed.items() if key != "class"}
    if parsed["class"] == "SimpleStrategy" and set(factors) != {"replication_factor"}:
        return "SimpleStrategy takes exactly 'replication_factor'"
    if not factors:
        return "no replication factor"
    for key, value in factors.items():
        if not isinstance(key, str) or not _DATACENTER_NAME.match(key):
            return f"{key!r} is not a data-centre name"
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
            return f"the factor of {key!r} must be a whole number from 1 to 99"
    return ""


def check_x_api_base(base: str) -> None:
    """The bearer token goes to this address: https, or plain http only to this machine (tests, a local proxy)."""
    if not base:
        return
    parts = urllib.parse.urlsplit(base)
    host = (parts.hostname or "").lower()
    loopback = host in {"localhost", "::1"} or host.startswith("127.")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise TrendoffError("bad-setting", f"{ENV_VARS['x_api_base']}={base!r}: the X API token is only sent over "
                            "https (plain http only to a loopback address)")


def _problem(message: str) -> TrendoffError:
    return TrendoffError("bad-setting", message)


def check_security(settings: Settings) -> None:
    """Refuse settings that cannot work, or that would silently send less than the user meant to."""
    protocol = settings.kafka_security_protocol
    if protocol not in KAFKA_PROTOCOLS:
        raise _problem(f"{_var('kafka_security_protocol')}={protocol!r} is not one of {', '.join(KAFKA_PROTOCOLS)}")
    if settings.kafka_uses_sasl:
        if settings.kafka_sasl_mechanism not in SASL_MECHANISMS:
            raise _problem(f"{protocol} needs {_var('kafka_sasl_mechanism')}, one of {', '.join(SASL_MECHANISMS)}")
        if not settings.kafka_username or not settings.kafka_password:
            raise _problem(f"{protocol} needs {_var('kafka_username')} and {_var('kafka_password')} "
                           f"(or {_var('kafka_password')}{FILE_SUFFIX})")
    elif settings.kafka_sasl_mechanism or settings.kafka_username or settings.kafka_password:
        raise _problem(f"Kafka credentials are set but {_var('kafka_security_protocol')}={protocol} sends none: "
                       "use SASL_SSL (or SASL_PLAINTEXT)")
    kafka_files = (settings.kafka_ca_file, settings.kafka_cert_file, settings.kafka_key_file)
    if any(kafka_files) and not settings.kafka_uses_tls:
        raise _problem(f"Kafka certificate files are set but {_var('kafka_security_protocol')}={protocol} does "
                       "not use TLS: use SSL or SASL_SSL")
    _check_pair(settings, "kafka")
    if bool(settings.cassandra_username) != bool(settings.cassandra_password):
        raise _problem(f"set both {_var('cassandra_username')} and {_var('cassandra_password')} "
                       f"(or {_var('cassandra_password')}{FILE_SUFFIX}), or neither")
    if (settings.cassandra_cert_file or settings.cassandra_key_file) and not settings.cassandra_encrypted:
        raise _problem(f"a Cassandra client certificate needs TLS: set {_var('cassandra_tls')}=true")
    _check_pair(settings, "cassandra")
    for name in ("kafka_ca_file", "kafka_cert_file", "kafka_key_file", "cassandra_ca_file", "cassandra_cert_file",
                 "cassandra_key_file"):
        path = getattr(settings, name)
        if path is not None and not os.access(path, os.R_OK):
            raise _problem(f"{_var(name)}={str(path)!r}: no readable file there")


def _check_pair(settings: Settings, service: str) -> None:
    cert, key = getattr(settings, f"{service}_cert_file"), getattr(settings, f"{service}_key_file")
    if (cert is None) != (key is None):
        raise _problem(f"a client certificate needs both {_var(service + '_cert_file')} and "
                       f"{_var(service + '_key_file')}")


def secrets_from_files(env: Mapping[str, str]) -> dict[str, str]:
    """The secret settings given as files (VAR_FILE), each without its trailing newline."""
    found = {}
    for name in SECRET_SETTINGS:
        variable = _var(name)
        path = env.get(variable + FILE_SUFFIX)
        if not path:
            continue
        if env.get(variable):
            raise _problem(f"set {variable} or {variable}{FILE_SUFFIX}, not both")
        try:
            found[name] = Path(path).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise _problem(f"{variable}{FILE_SUFFIX}={path!r}: cannot read it ({reason})") from None
    return found


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the environment holds, directly or in a file (for the log filter). A file that cannot
    be read is skipped here: load_settings reports it."""
    env = os.environ if environ is None else environ
    values = [env.get(_var(name), "") for name in SECRET_SETTINGS]
    with contextlib.suppress(TrendoffError):
        values += list(secrets_from_files(env).values())
    return [value for value in values if value]


def _checked(settings: Settings) -> Settings:
    """Every command's settings pass these checks, whether they came from a variable or a flag."""
    check_keyspace_name(settings.keyspace)
    check_topic_name(settings.topic)
    replication_cql(settings.replication)
    if settings.cassandra_consistency not in CONSISTENCY_LEVELS:
        raise TrendoffError("bad-setting", f"consistency {settings.cassandra_consistency!r} is not one of "
                            f"{', '.join(CONSISTENCY_LEVELS)}")
    check_x_api_base(settings.x_api_base)
    if settings.speed_ttl_seconds < 60:
        raise TrendoffError("bad-setting", f"{ENV_VARS['speed_ttl_seconds']} must be at least 1m")
    check_security(settings)
    return settings


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Defaults, then TRENDOFF_* variables from ``environ`` (default os.environ), then ``overrides``."""
    env = os.environ if environ is None else environ
    from_env = {name: _convert(name, env[var]) for name, var in ENV_VARS.items() if env.get(var)}
    from_env.update(secrets_from_files(env))
    return _checked(Settings().with_overrides(**from_env).with_overrides(**overrides))


def add_connection_options(parser: argparse.ArgumentParser, *, kafka: bool = True, cassandra: bool = True) -> None:
    """The connection flags of a command (only those of the services it uses); each overrides its variable."""
    group = parser.add_argument_group("connections (each flag overrides its environment variable)")
    if kafka:
        group.add_argument("--bootstrap", dest="kafka_bootstrap", metavar="HOST:PORT[,...]",
                           help=f"Kafka bootstrap servers (${ENV_VARS['kafka_bootstrap']}; default the local broker)")
        group.add_argument("--topic", metavar="NAME", help=f"Kafka topic (${ENV_VARS['topic']}; default tweets)")
    if cassandra:
        group.add_argument("--cassandra", dest="cassandra_hosts", type=as_hosts, metavar="HOST[,...]",
                           help=f"Cassandra contact points (${ENV_VARS['cassandra_hosts']}; default the local node)")
        group.add_argument("--cassandra-port", dest="cassandra_port", type=int, metavar="PORT",
                           help=f"Cassandra CQL port (${ENV_VARS['cassandra_port']}; default 9042)")
        group.add_argument("--keyspace", metavar="NAME",
                           help=f"Cassandra keyspace (${ENV_VARS['keyspace']}; default trendoff)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with the shared connection flags of :func:`add_connection_options` applied."""
    names = ("kafka_bootstrap", "cassandra_hosts", "cassandra_port", "keyspace", "topic")
    return load_settings(**{name: getattr(args, name, None) for name in names})
