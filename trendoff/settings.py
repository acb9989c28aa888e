"""Every setting of the pipeline, declared once: its field, default, TRENDOFF_* variable and parser.

:mod:`trendoff.config` loads them (defaults, then variables, then flags) and checks them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trendoff.errors import TrendoffError
from trendoff.times import parse_duration

# Secret settings are also read from a file named by the variable with this appended
# (TRENDOFF_KAFKA_PASSWORD_FILE=/run/secrets/kafka), as container secrets are usually handed over.
FILE_SUFFIX = "_FILE"
# Levels that mean the same for a read and a write (ANY and EACH_QUORUM do not).
CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM")


# How a TRENDOFF_* value becomes the field's type (a ValueError says why it cannot).
def as_int(raw: str) -> int:
    return int(raw)


def as_float(raw: str) -> float:
    return float(raw)


def as_hosts(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def as_path(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


def as_str(raw: str) -> str:
    return raw


def as_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError("use true or false")
    return value in ("true", "1", "yes", "on")


def as_upper(raw: str) -> str:
    return raw.strip().upper()


def as_consistency(raw: str) -> str:
    level = raw.strip().upper()
    if level not in CONSISTENCY_LEVELS:
        raise ValueError(f"the consistency level is one of {', '.join(CONSISTENCY_LEVELS)}")
    return level


def as_duration_seconds(raw: str) -> float:
    try:
        return parse_duration(raw)
    except TrendoffError as error:
        raise ValueError(error.message) from None


def setting(variable: str, parse: Callable[[str], object], default: object = dataclasses.MISSING, *,
            default_factory: Callable[[], object] | Any = dataclasses.MISSING, secret: bool = False) -> Any:
    """A field of :class:`Settings` with its environment variable and parser beside it. A secret one is
    left out of repr (and so of every log line) and may be given as a file (``FILE_SUFFIX``)."""
    return field(default=default, default_factory=default_factory, repr=not secret,
                 metadata={"variable": variable, "parse": parse, "secret": secret})


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

    home: Path = setting("TRENDOFF_HOME", as_path, default_factory=_find_home)
    # External services: when set, the stack uses them instead of starting local processes.
    kafka_bootstrap: str = setting("TRENDOFF_KAFKA_BOOTSTRAP", as_str, "")
    cassandra_hosts: tuple[str, ...] = setting("TRENDOFF_CASSANDRA_HOSTS", as_hosts, ())
    cassandra_port: int = setting("TRENDOFF_CASSANDRA_PORT", as_int, 9042)
    keyspace: str = setting("TRENDOFF_KEYSPACE", as_str, "trendoff")
    # CQL replication map; use NetworkTopologyStrategy on a real cluster.
    replication: str = setting("TRENDOFF_REPLICATION", as_str, "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    topic: str = setting("TRENDOFF_TOPIC", as_str, "tweets")
    topic_partitions: int = setting("TRENDOFF_TOPIC_PARTITIONS", as_int, 4)
    kafka_port: int = setting("TRENDOFF_KAFKA_PORT", as_int, 9092)
    kafka_controller_port: int = setting("TRENDOFF_KAFKA_CONTROLLER_PORT", as_int, 9093)
    cassandra_storage_port: int = setting("TRENDOFF_CASSANDRA_STORAGE_PORT", as_int, 7000)
    kafka_heap_mb: int = setting("TRENDOFF_KAFKA_HEAP_MB", as_int, 512)
    cassandra_heap_mb: int = setting("TRENDOFF_CASSANDRA_HEAP_MB", as_int, 1024)
    data_dir: Path | None = setting("TRENDOFF_DATA_DIR", as_path, None)
    jvm_dir: Path | None = setting("TRENDOFF_JVM_DIR", as_path, None)
    spark_master: str = setting("TRENDOFF_SPARK_MASTER", as_str, "local[2]")
    # Comma-separated jar list for spark-submit setups that ship their own jars; empty = .jvm/spark.
    spark_jars: str = setting("TRENDOFF_SPARK_JARS", as_str, "")
    startup_timeout_seconds: float = setting("TRENDOFF_STARTUP_TIMEOUT_SECONDS", as_float, 120.0)
    log_level: str = setting("TRENDOFF_LOG_LEVEL", as_str, "INFO")
    # Secret: never logged (describe() leaves it out); read by the producer's X API source only.
    x_bearer_token: str = setting("TRENDOFF_X_BEARER_TOKEN", as_str, "", secret=True)
    # Replaces the X API host (tests, proxies); empty = the real API.
    x_api_base: str = setting("TRENDOFF_X_API_BASE", as_str, "")
    # Of every read and write, by the Python driver and the Spark connector alike: on a cluster with
    # RF=3 a quorum read sees every quorum write (a first-arrival lookup never misses one).
    cassandra_consistency: str = setting("TRENDOFF_CASSANDRA_CONSISTENCY", as_consistency, "LOCAL_QUORUM")
    # How long speed rows live (a duration: 2d). Batch must publish more often than this, or the speed
    # minutes after its T expire before a newer T covers them.
    speed_ttl_seconds: float = setting("TRENDOFF_SPEED_TTL", as_duration_seconds, 2 * 24 * 3600.0)
    # Fault tests only (trendoff/failpoints.py): places where the process kills itself. Never set it.
    failpoints: str = setting("TRENDOFF_FAILPOINTS", as_str, "")
    # Kafka client security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; SASL with PLAIN or SCRAM-SHA-256/512.
    kafka_security_protocol: str = setting("TRENDOFF_KAFKA_SECURITY_PROTOCOL", as_upper, "PLAINTEXT")
    kafka_sasl_mechanism: str = setting("TRENDOFF_KAFKA_SASL_MECHANISM", as_upper, "")
    kafka_username: str = setting("TRENDOFF_KAFKA_USERNAME", as_str, "")
    kafka_password: str = setting("TRENDOFF_KAFKA_PASSWORD", as_str, "", secret=True)
    # PEM files: the CA that signed the brokers' certificates (empty = the system's), and an optional
    # client certificate with its (unencrypted) key for brokers that ask for one.
    kafka_ca_file: Path | None = setting("TRENDOFF_KAFKA_CA_FILE", as_path, None)
    kafka_cert_file: Path | None = setting("TRENDOFF_KAFKA_CERT_FILE", as_path, None)
    kafka_key_file: Path | None = setting("TRENDOFF_KAFKA_KEY_FILE", as_path, None)
    # Cassandra: PasswordAuthenticator credentials, and client encryption (on with TLS or with a CA file).
    cassandra_username: str = setting("TRENDOFF_CASSANDRA_USERNAME", as_str, "")
    cassandra_password: str = setting("TRENDOFF_CASSANDRA_PASSWORD", as_str, "", secret=True)
    cassandra_tls: bool = setting("TRENDOFF_CASSANDRA_TLS", as_bool, False)
    cassandra_ca_file: Path | None = setting("TRENDOFF_CASSANDRA_CA_FILE", as_path, None)
    cassandra_cert_file: Path | None = setting("TRENDOFF_CASSANDRA_CERT_FILE", as_path, None)
    cassandra_key_file: Path | None = setting("TRENDOFF_CASSANDRA_KEY_FILE", as_path, None)

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
    def kafka_uses_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

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


# Derived from the fields, so a setting is declared in one place only.
ENV_VARS: dict[str, str] = {item.name: item.metadata["variable"] for item in dataclasses.fields(Settings)}
PARSERS: dict[str, Callable[[str], object]] = {item.name: item.metadata["parse"]
                                               for item in dataclasses.fields(Settings)}
# Settings whose values are secrets: never logged, never in describe(), also read from a VAR_FILE.
SECRET_SETTINGS: tuple[str, ...] = tuple(item.name for item in dataclasses.fields(Settings) if item.metadata["secret"])
