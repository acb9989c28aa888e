"""Create the tweets topic: explicit partition count and broker append time (the batch/speed split)."""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from trendoff.clients import security
from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS, Settings

log = logging.getLogger(__name__)
# librdkafka's own log lines (one per refused connection, per retry) go here instead of raw to stderr;
# trendoff reports failures itself in one line, so logs.configure_logging keeps this quiet unless DEBUG.
LIBRDKAFKA_LOGGER = logging.getLogger("trendoff.librdkafka")
# How long a command waits for the broker to answer before saying it is unreachable.
BROKER_CHECK_SECONDS = 5.0

# The layers split the stream by arrival, so the broker must stamp each message when it appends it.
TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}


# The codes of a refused login and of an untrusted certificate: final, and not "is the stack up?".
SECURITY_FAILURES = ("kafka-auth", "kafka-tls")


class _SecurityFailures:
    """librdkafka's error callback: keeps the authentication and TLS failures, which are final (a retry
    with the same password or certificate fails the same way) but otherwise only end in a timeout."""

    KINDS: ClassVar[dict[int, str]] = {KafkaError._AUTHENTICATION: "kafka-auth", KafkaError._SSL: "kafka-tls"}

    def __init__(self) -> None:
        self.first: tuple[str, str] | None = None

    def __call__(self, error: KafkaError) -> None:
        kind = self.KINDS.get(error.code())
        if kind is not None and self.first is None:
            self.first = (kind, error.str())

    def raise_if_any(self, settings: Settings) -> None:
        if self.first is not None:
            raise security_failure(settings, *self.first)


def security_failure(settings: Settings, kind: str, detail: str) -> TrendoffError:
    """One line for a refused login or an untrusted certificate, naming the settings to look at."""
    if kind == "kafka-auth":
        advice = (f"check {ENV_VARS['kafka_username']}, {ENV_VARS['kafka_password']} and "
                  f"{ENV_VARS['kafka_sasl_mechanism']}")
    else:
        advice = f"check {ENV_VARS['kafka_ca_file']} and {ENV_VARS['kafka_security_protocol']}"
    return TrendoffError(kind, f"Kafka at {settings.bootstrap_servers} refused the connection: {detail} ({advice})")


def client_config(settings: Settings, failures: _SecurityFailures | None = None) -> dict[str, object]:
    """What every Kafka client of trendoff (producer, admin, probe consumers) is configured with: the
    brokers, the security settings (trendoff/clients/security.py) and the log bridge."""
    config: dict[str, object] = {"bootstrap.servers": settings.bootstrap_servers, "logger": LIBRDKAFKA_LOGGER,
                                 **security.kafka_client_options(settings)}
    if failures is not None:
        config["error_cb"] = failures
    return config


def admin_client(settings: Settings, failures: _SecurityFailures | None = None) -> AdminClient:
    return AdminClient({**client_config(settings, failures), "socket.timeout.ms": 10000})


def wait_for_broker(settings: Settings, timeout_seconds: float) -> None:
    """Block until the broker answers a metadata request, or raise TrendoffError (at once for a refused
    login or an untrusted certificate)."""
    deadline = time.monotonic() + timeout_seconds
    failures = _SecurityFailures()
    admin = admin_client(settings, failures)
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(timeout=min(2.0, max(0.5, deadline - time.monotonic())))
            if metadata.brokers:
                return
        except KafkaException as error:
            last_error = error
        admin.poll(0)  # serves the error callback
        failures.raise_if_any(settings)
        time.sleep(0.3)
    failures.raise_if_any(settings)
    raise TrendoffError(
        "kafka-timeout",
        f"Kafka at {settings.bootstrap_servers} did not answer within {timeout_seconds:.0f} s"
        + (f" ({last_error})" if last_error else ""),
    )


def topic_exists(settings: Settings, topic: str, timeout_seconds: float = 10.0) -> bool:
    # All topics' metadata: asking for one by name could make a broker with auto-creation create it.
    try:
        return topic in admin_client(settings).list_topics(timeout=timeout_seconds).topics
    except KafkaException as error:
        raise TrendoffError("kafka-unreachable",
                            f"cannot list the topics on {settings.bootstrap_servers}: {error}") from error


def ensure_topic(settings: Settings, topic: str, partitions: int, timeout_seconds: float = 30.0) -> int:
    """Create ``topic`` if missing and wait until every partition has a leader; return its partition count.

    An existing topic is kept as it is (its partition count may differ), but it must use
    LogAppendTime: with CreateTime the arrival split between batch and speed is not sound.
    """
    admin = admin_client(settings)
    # No replication factor: the broker's default.replication.factor applies (1 locally).
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, config=TOPIC_CONFIG)], request_timeout=timeout_seconds
    )
    try:
        futures[topic].result(timeout=timeout_seconds)
        log.info("created topic %s with %d partitions (LogAppendTime)", topic, partitions)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise TrendoffError("topic-create", f"cannot create topic {topic}: {error}") from error
        _check_append_time(admin, topic)
    return _wait_for_leaders(admin, topic, timeout_seconds)


def _check_append_time(admin: AdminClient, topic: str) -> None:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    kind = configs.get("message.timestamp.type")
    if kind is not None and kind.value != "LogAppendTime":
        raise TrendoffError(
            "topic-timestamps",
            f"topic {topic} uses {kind.value}; trendoff needs message.timestamp.type=LogAppendTime "
            f"(kafka-configs --alter --entity-type topics --entity-name {topic} "
            "--add-config message.timestamp.type=LogAppendTime)",
        )


def _wait_for_leaders(admin: AdminClient, topic: str, timeout_seconds: float) -> int:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic=topic, timeout=5)
        described = metadata.topics.get(topic)
        ready = described is not None and described.error is None and bool(described.partitions)
        if ready and all(p.leader >= 0 for p in described.partitions.values()):
            return len(described.partitions)
        time.sleep(0.2)
    raise TrendoffError("topic-timeout", f"topic {topic} has no leader for every partition yet")


def delete_topic(settings: Settings, topic: str, timeout_seconds: float = 30.0) -> None:
    """Delete ``topic``; one that is already gone is fine (tests and benchmarks clean up their own topics)."""
    admin = admin_client(settings)  # kept referenced: the futures fail if the client is collected
    futures = admin.delete_topics([topic], request_timeout=timeout_seconds)
    try:
        futures[topic].result(timeout=timeout_seconds)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise


def topic_id(settings: Settings, topic: str, timeout_seconds: float = 10.0) -> str:
    """Kafka's id of ``topic``: a topic deleted and created again under the same name gets a new one."""
    from confluent_kafka import TopicCollection

    bootstrap = settings.bootstrap_servers
    admin = admin_client(settings)  # kept until the answer is in: a destroyed client fails its futures
    future = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_seconds)[topic]
    try:
        return str(future.result(timeout=timeout_seconds).topic_id)
    except KafkaException as error:
        if error.args and error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise TrendoffError("no-topic", f"topic {topic} does not exist on {bootstrap}") from error
        if error.args and (kind := _SecurityFailures.KINDS.get(error.args[0].code())):
            raise security_failure(settings, kind, error.args[0].str()) from error
        raise TrendoffError("kafka-unreachable", f"cannot describe topic {topic} on {bootstrap}: {error}") from error


def partition_count(settings: Settings, topic: str, timeout_seconds: float = 10.0) -> int:
    """How many partitions ``topic`` has, by the broker's metadata."""
    bootstrap = settings.bootstrap_servers
    admin = admin_client(settings)
    try:
        # All topics' metadata, as in topic_exists: naming a missing topic could make the broker create it.
        described = admin.list_topics(timeout=timeout_seconds).topics.get(topic)
    except KafkaException as error:
        raise TrendoffError("kafka-unreachable", f"cannot list the topics on {bootstrap}: {error}") from error
    if described is None:
        raise TrendoffError("no-topic", f"topic {topic} does not exist on {bootstrap} (trendoff stack up creates it)")
    if described.error is not None:
        raise TrendoffError("kafka-unreachable", f"cannot describe topic {topic} on {bootstrap}: {described.error}")
    return len(described.partitions)


def raise_partitions(settings: Settings, topic: str, partitions: int, timeout_seconds: float = 30.0) -> int:
    """Give ``topic`` ``partitions`` partitions, on a running pipeline; return how many it had.

    Kafka can only add partitions (the messages of one cannot be moved or merged), so a count that is
    not above the current one is a user mistake. The new partitions start empty at offset 0 and use
    the topic's LogAppendTime like the others; the streaming jobs' Kafka source finds them by itself.
    Returns once every partition has a leader, so a producer started afterwards can write to all of them.
    """
    from confluent_kafka.admin import NewPartitions

    current = partition_count(settings, topic, timeout_seconds)
    if partitions <= current:
        raise TrendoffError("partitions-not-raised", f"topic {topic} has {current} partitions and Kafka can only "
                            f"add partitions: --partitions must be more than {current}")
    admin = admin_client(settings)  # kept referenced: the futures fail if the client is collected
    futures = admin.create_partitions([NewPartitions(topic, partitions)], request_timeout=timeout_seconds,
                                      operation_timeout=timeout_seconds)
    try:
        futures[topic].result(timeout=timeout_seconds)
    except KafkaException as error:
        kafka_error = error.args[0]
        if kafka_error.code() == KafkaError.INVALID_PARTITIONS:
            # Someone else raised it meanwhile (the count was checked above): say what the broker said.
            raise TrendoffError("partitions-not-raised", f"cannot give topic {topic} {partitions} partitions: "
                                f"{kafka_error.str()}") from error
        raise TrendoffError("partitions-raise", f"cannot add partitions to topic {topic}: {error}") from error
    _wait_for_partition_count(admin, topic, partitions, timeout_seconds)
    log.info("topic %s: %d -> %d partitions", topic, current, partitions)
    return current


def _wait_for_partition_count(admin: AdminClient, topic: str, partitions: int, timeout_seconds: float) -> None:
    """Wait until the metadata shows ``partitions`` partitions, each with a leader (the answer to the request
    comes when the controller has the change; a broker's metadata may show it a moment later)."""
    deadline = time.monotonic() + timeout_seconds
    while (count := _wait_for_leaders(admin, topic, max(1.0, deadline - time.monotonic()))) < partitions:
        if time.monotonic() > deadline:
            raise TrendoffError("topic-timeout", f"topic {topic} still shows {count} partitions, not {partitions}")
        time.sleep(0.2)
