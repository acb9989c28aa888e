"""Settings for every layer: defaults for the local stack, then TRENDOFF_* variables, then flags."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trendoff.errors import TrendoffError
from trendoff.times import parse_duration

# One place for the environment variable of each setting (the README's table is built from it).
ENV_VARS: dict[str, str] = {
    "home": "TRENDOFF_HOME",
    "kafka_bootstrap": "TRENDOFF_KAFKA_BOOTSTRAP",
    "cassandra_hosts": "TRENDOFF_CASSANDRA_HOSTS",
    "cassandra_port": "TRENDOFF_CASSANDRA_PORT",
    "keyspace": "TRENDOFF_KEYSPACE",
    "replication": "TRENDOFF_REPLICATION",
    "topic": "TRENDOFF_TOPIC",
    "topic_partitions": "TRENDOFF_TOPIC_PARTITIONS",
    "kafka_port": "TRENDOFF_KAFKA_PORT",
    "kafka_controller_port": "TRENDOFF_KAFKA_CONTROLLER_PORT",
    "cassandra_storage_port": "TRENDOFF_CASSANDRA_STORAGE_PORT",
    "kafka_heap_mb": "TRENDOFF_KAFKA_HEAP_MB",
    "cassandra_heap_mb": "TRENDOFF_CASSANDRA_HEAP_MB",
    "data_dir": "TRENDOFF_DATA_DIR",
    "jvm_dir": "TRENDOFF_JVM_DIR",
    "spark_master": "TRENDOFF_SPARK_MASTER",
    "spark_jars": "TRENDOFF_SPARK_JARS",
    "startup_timeout_seconds": "TRENDOFF_STARTUP_TIMEOUT_SECONDS",
    "log_level": "TRENDOFF_LOG_LEVEL",
    "x_bearer_token": "TRENDOFF_X_BEARER_TOKEN",
    "x_api_base": "TRENDOFF_X_API_BASE",
    "cassandra_consistency": "TRENDOFF_CASSANDRA_CONSISTENCY",
    "speed_ttl_seconds": "TRENDOFF_SPEED_TTL",
    "failpoints": "TRENDOFF_FAILPOINTS",
    # Client security (trendoff/security.py turns these into each client's options).
    "kafka_security_protocol": "TRENDOFF_KAFKA_SECURITY_PROTOCOL",
    "kafka_sasl_mechanism": "TRENDOFF_KAFKA_SASL_MECHANISM",
    "kafka_username": "TRENDOFF_KAFKA_USERNAME",
    "kafka_password": "TRENDOFF_KAFKA_PASSWORD",
    "kafka_ca_file": "TRENDOFF_KAFKA_CA_FILE",
    "kafka_cert_file": "TRENDOFF_KAFKA_CERT_FILE",
    "kafka_key_file": "TRENDOFF_KAFKA_KEY_FILE",
    "cassandra_username": "TRENDOFF_CASSANDRA_USERNAME",
    "cassandra_password": "TRENDOFF_CASSANDRA_PASSWORD",
    "cassandra_tls": "TRENDOFF_CASSANDRA_TLS",
    "cassandra_ca_file": "TRENDOFF_CASSANDRA_CA_FILE",
    "cassandra_cert_file": "TRENDOFF_CASSANDRA_CERT_FILE",
    "cassandra_key_file": "TRENDOFF_CASSANDRA_KEY_FILE",
}
# Settings whose values are secrets: never logged, never in describe(), and also read from a file named by
# the variable with _FILE appended (TRENDOFF_KAFKA_PASSWORD_FILE=/run/secrets/kafka), as container
# secrets are usually handed over.
SECRET_SETTINGS = ("x_bearer_token", "kafka_password", "cassandra_password")
FILE_SUFFIX = "_FILE"


def _find_home() -> Path:
    """The project folder holding jvm/ (poms and server configs); run data and downloads go below it."""
    # TRENDOFF_HOME, when set, replaces this default in load_settings (as every variable does).
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "jvm" / "kafka" / "pom.xml").is_file():
            return candidate
    # An editable install: the checkout is the parent of this package.
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / "jvm" / "kafka" / "pom.xml").is_file():
        return source_root
    return cwd


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline. Build with :func:`load_settings`; pass it down explicitly."""

    home: Path = field(default_factory=_find_home)
    # External services: when set, the stack uses them instead of starting local processes.
    kafka_bootstrap: str = ""
    cassandra_hosts: tuple[str, ...] = ()
    cassandra_port: int = 9042
    keyspace: str = "trendoff"
    # CQL replication map; use NetworkTopologyStrategy on a real cluster.
    replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    topic: str = "tweets"
    topic_partitions: int = 4
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    cassandra_storage_port: int = 7000
    kafka_heap_mb: int = 512
    cassandra_heap_mb: int = 1024
    data_dir: Path | None = None
    jvm_dir: Path | None = None
    spark_master: str = "local[2]"
    # Comma-separated jar list for spark-submit setups that ship their own jars; empty = .jvm/spark.
    spark_jars: str = ""
    startup_timeout_seconds: float = 120.0
    log_level: str = "INFO"
    # Secret: never logged (describe() leaves it out); read by the producer's X API source only.
    x_bearer_token: str = field(default="", repr=False)
    # Replaces the X API host (tests, proxies); empty = the real API.
    x_api_base: str = ""
    # Of every read and write, by the Python driver and the Spark connector alike: on a cluster with
    # RF=3 a quorum read sees every quorum write (a first-arrival lookup never misses one).
    cassandra_consistency: str = "LOCAL_QUORUM"
    # How long speed rows live (a duration: 2d). Batch must publish more often than this, or the speed
    # minutes after its T expire before a newer T covers them.
    speed_ttl_seconds: float = 2 * 24 * 3600.0
    # Fault tests only (trendoff/failpoints.py): places where the process kills itself. Never set it.
    failpoints: str = ""
    # Kafka client security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; SASL with PLAIN or SCRAM-SHA-256/512.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_username: str = ""
    kafka_password: str = field(default="", repr=False)
    # PEM files: the CA that signed the brokers' certificates (empty = the system's), and an optional
    # client certificate with its (unencrypted) key for brokers that ask for one.
    kafka_ca_file: Path | None = None
    kafka_cert_file: Path | None = None
    kafka_key_file: Path | None = None
    # Cassandra: PasswordAuthenticator credentials, and client encryption (on with TLS or with a CA file).
    cassandra_username: str = ""
    cassandra_password: str = field(default="", repr=False)
    cassandra_tls: bool = False
    cassandra_ca_file: Path | None = None
    cassandra_cert_file: Path | None = None
    cassandra_key_file: Path | None = None

    @property
    def kafka_external(self) -> bool:
        return bool(self.kafka_bootstrap)

    @property
    def cassandra_external(self) -> bool:
        return bool(self.cassandra_hosts)

    @property
    def cassandra_encrypted(self) -> bool:
        return self.cassandra_tls or self.cassandra_ca_file is not None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def cassandra_contact_points(self) -> tuple[str, ...]:
        return self.cassandra_hosts or ("127.0.0.1",)

    @property
    def run_dir(self) -> Path:
        return self.data_dir or self.home / "run"

    @property
    def downloads_dir(self) -> Path:
        return self.jvm_dir or self.home / ".jvm"

    @property
    def checkpoint_root(self) -> Path:
        return self.run_dir / "checkpoints"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (None values are ignored, so argparse defaults pass through)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def describe(self) -> dict[str, str]:
        """The effective settings for one start-up log line (nothing here is secret)."""
        return {
            "kafka": self.bootstrap_servers + (" (external)" if self.kafka_external else " (local)"),
            "cassandra": ",".join(self.cassandra_contact_points)
            + f":{self.cassandra_port}"
            + (" (external)" if self.cassandra_external else " (local)"),
            "keyspace": self.keyspace,
            "topic": self.topic,
        }


# How a TRENDOFF_* value becomes the field's type. Keyed by field name, not by annotation text, so a new
# setting without a converter fails loudly here instead of silently staying a string.
def _to_int(raw: str) -> int:
    return int(raw)


def _to_float(raw: str) -> float:
    return float(raw)


def _to_hosts(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _to_path(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


def _to_str(raw: str) -> str:
    return raw


def _to_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError("use true or false")
    return value in ("true", "1", "yes", "on")


def _to_upper(raw: str) -> str:
    return raw.strip().upper()


# Levels that mean the same for a read and a write (ANY and EACH_QUORUM do not).
CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM")


def _to_consistency(raw: str) -> str:
    level = raw.strip().upper()
    if level not in CONSISTENCY_LEVELS:
        raise ValueError(f"the consistency level is one of {', '.join(CONSISTENCY_LEVELS)}")
    return level


def _to_duration_seconds(raw: str) -> float:
    try:
        return parse_duration(raw)
    except TrendoffError as error:
        raise ValueError(error.message) from None


_CONVERTERS: dict[str, Callable[[str], object]] = {
    "home": _to_path, "kafka_bootstrap": _to_str, "cassandra_hosts": _to_hosts, "cassandra_port": _to_int,
    "keyspace": _to_str, "replication": _to_str, "topic": _to_str, "topic_partitions": _to_int,
    "kafka_port": _to_int, "kafka_controller_port": _to_int, "cassandra_storage_port": _to_int,
    "kafka_heap_mb": _to_int, "cassandra_heap_mb": _to_int, "data_dir": _to_path, "jvm_dir": _to_path,
    "spark_master": _to_str, "spark_jars": _to_str, "startup_timeout_seconds": _to_float,
    "log_level": _to_str, "x_bearer_token": _to_str, "x_api_base": _to_str,
    "cassandra_consistency": _to_consistency, "speed_ttl_seconds": _to_duration_seconds, "failpoints": _to_str,
    "kafka_security_protocol": _to_upper, "kafka_sasl_mechanism": _to_upper, "kafka_username": _to_str,
    "kafka_password": _to_str, "kafka_ca_file": _to_path, "kafka_cert_file": _to_path, "kafka_key_file": _to_path,
    "cassandra_username": _to_str, "cassandra_password": _to_str, "cassandra_tls": _to_bool,
    "cassandra_ca_file": _to_path, "cassandra_cert_file": _to_path, "cassandra_key_file": _to_path,
}


def _convert(name: str, raw: str) -> object:
    try:
        return _CONVERTERS[name](raw)
    except ValueError as error:
        raise TrendoffError("bad-setting", f"{ENV_VARS[name]}={raw!r} is not valid: {error}") from error


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
    from trendoff import security  # imported here: security imports this module

    security.check_security(settings)
    return settings


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Defaults, then TRENDOFF_* variables from ``environ`` (default os.environ), then ``overrides``."""
    env = os.environ if environ is None else environ
    from_env = {name: _convert(name, env[var]) for name, var in ENV_VARS.items() if env.get(var)}
    from trendoff import security

    from_env.update(security.secrets_from_files(env))
    return _checked(Settings().with_overrides(**from_env).with_overrides(**overrides))


def add_connection_options(parser: argparse.ArgumentParser, *, kafka: bool = True, cassandra: bool = True) -> None:
    """The connection flags of a command (only those of the services it uses); each overrides its variable."""
    group = parser.add_argument_group("connections (each flag overrides its environment variable)")
    if kafka:
        group.add_argument("--bootstrap", dest="kafka_bootstrap", metavar="HOST:PORT[,...]",
                           help=f"Kafka bootstrap servers (${ENV_VARS['kafka_bootstrap']}; default the local broker)")
        group.add_argument("--topic", metavar="NAME", help=f"Kafka topic (${ENV_VARS['topic']}; default tweets)")
    if cassandra:
        group.add_argument("--cassandra", dest="cassandra_hosts", type=_to_hosts, metavar="HOST[,...]",
                           help=f"Cassandra contact points (${ENV_VARS['cassandra_hosts']}; default the local node)")
        group.add_argument("--cassandra-port", dest="cassandra_port", type=int, metavar="PORT",
                           help=f"Cassandra CQL port (${ENV_VARS['cassandra_port']}; default 9042)")
        group.add_argument("--keyspace", metavar="NAME",
                           help=f"Cassandra keyspace (${ENV_VARS['keyspace']}; default trendoff)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with the shared connection flags of :func:`add_connection_options` applied."""
    names = ("kafka_bootstrap", "cassandra_hosts", "cassandra_port", "keyspace", "topic")
    return load_settings(**{name: getattr(args, name, None) for name in names})
