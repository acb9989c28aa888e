"""Publish Tweet records to Kafka: Avro values keyed by user, idempotent, nothing lost, bounded memory."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from trendoff.clients import topics
from trendoff.errors import Terminated, TrendoffError
from trendoff.settings import ENV_VARS, Settings
from trendoff.tweets import avro_codec
from trendoff.tweets.csv_rows import BrokenInputError
from trendoff.tweets.limits import RowRejected

log = logging.getLogger(__name__)

SHOWN_REJECTIONS = 5
PROGRESS_EVERY_SECONDS = 5.0
# librdkafka's local queue is capped, so a fast source waits for the broker instead of filling memory.
QUEUE_MAX_MESSAGES = 100_000
QUEUE_MAX_KBYTES = 64 * 1024
PRODUCE_BATCH = 1000


@dataclass
class PublishSummary:
    """What a run did: printed at the end, and the exit code depends on ``failed``."""

    read: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    shown: list[str] = field(default_factory=list)
    # Why messages failed, and how many failed that way (one broker problem fails thousands alike).
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    interrupted: bool = False
    # Where the input stopped being readable (a truncated or corrupt gzip): what came before was sent.
    broken: str | None = None

    def lines(self) -> list[str]:
        rate = self.delivered / self.seconds if self.seconds > 0 else 0.0
        skipped = sum(self.skipped.values())
        lines = [
            f"read {self.read:,}, sent {self.sent:,}, delivered {self.delivered:,}, failed {self.failed:,}, "
            f"skipped {skipped:,} in {self.seconds:.1f} s ({rate:,.0f} tweets/s)"
        ]
        if skipped:
            lines.append("skipped by reason: " + ", ".join(f"{r} {n:,}" for r, n in self.skipped.most_common()))
            lines.extend(f"  {line}" for line in self.shown)
            if skipped > len(self.shown):
                lines.append(f"  ... and {skipped - len(self.shown):,} more")
        lines.extend(f"  delivery failed: {why} ({n:,})" for why, n in self.failures.most_common(SHOWN_REJECTIONS))
        return lines


class RateLimiter:
    """Spaces out sends to at most ``per_second`` (for replays at a realistic pace)."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.interval


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        **topics.client_config(settings),
        # Idempotence makes librdkafka's retries safe: no duplicates, per-partition order kept.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": QUEUE_MAX_MESSAGES,
        # The default (1 GiB) would let a replay of long texts grow the process far past its usual size.
        "queue.buffering.max.kbytes": QUEUE_MAX_KBYTES,
        "message.timeout.ms": 120_000,
    }


class Publisher:
    """Sends records to the topic and counts what happened to each of them."""

    def __init__(
        self,
        settings: Settings,
        rate: float | None = None,
        total: int | None = None,
        total_exact: bool = True,
        live: bool = False,
        create_topic: bool = False,
    ) -> None:
        """``total`` (how many items the source will yield, exact or estimated) gives progress an ETA.

        ``live``: the source waits for new tweets (the X API), so each one is handed to Kafka at once
        instead of waiting in a batch for the next thousand.
        ``create_topic``: create the topic when it does not exist (otherwise that is an error: a misspelt
        topic would silently start a new one that no job reads).
        """
        self.settings = settings
        self.batch_size = 1 if live or rate else PRODUCE_BATCH
        self.total_exact = total_exact
        self.topic = settings.topic
        self.summary = PublishSummary()
        self.limiter = RateLimiter(rate)
        self.total = total
        self.create_topic = create_topic
        # Built once the broker has answered (run): a client made earlier would retry a dead broker for
        # the whole message timeout before the one-line error could be given.
        self._producer: Producer | None = None
        self._pending: list[dict[str, Any]] = []
        self._started = time.monotonic()
        self._last_progress = self._started
        self._handling = False  # between taking a row from the source and having sent it
        self._stop_requested = False

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(producer_config(self.settings))
        return self._producer

    def ensure_topic(self) -> None:
        try:
            topics.wait_for_broker(self.settings, timeout_seconds=topics.BROKER_CHECK_SECONDS)
        except TrendoffError as error:
            if error.reason in topics.SECURITY_FAILURES:
                raise
            raise TrendoffError(
                "kafka-unreachable",
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: is the stack up? (trendoff stack up)",
            ) from error
        if not self.create_topic and not topics.topic_exists(self.settings, self.topic):
            raise TrendoffError(
                "no-topic", f"topic {self.topic} does not exist on {self.settings.bootstrap_servers}: check --topic "
                f"(${ENV_VARS['topic']}), or pass --create-topic to create it")
        topics.ensure_topic(self.settings, self.topic, self.settings.topic_partitions)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.summary.delivered += 1
        else:
            self.summary.failed += 1
            self.summary.failures[error.str()] += 1

    def reject(self, where: str, rejected: RowRejected) -> None:
        self.summary.skipped[rejected.reason] += 1
        if len(self.summary.shown) < SHOWN_REJECTIONS:
            self.summary.shown.append(f"{where}: {rejected.reason}: {rejected.message}")
        self._maybe_report()

    def send(self, record: dict[str, Any], where: str = "") -> None:
        try:
            message = {"key": record["user"].encode("utf-8"), "value": avro_codec.encode(record)}
        except (ValueError, TypeError, KeyError, UnicodeEncodeError) as error:
            # Sources validate their records; this keeps one odd value from ending a long replay.
            rejected = RowRejected("unencodable", f"not a Tweet record: {error}")
            self.reject(where or f"tweet {record.get('id')}", rejected)
            return
        self.limiter.wait()
        self._pending.append(message)
        # Unthrottled replays hand messages to librdkafka in batches (one call per batch is much cheaper
        # than one per message); rate-limited and live sources send each one at its time.
        if len(self._pending) >= self.batch_size:
            self._produce_pending()

    def _produce_pending(self) -> None:
        pending = self._pending
        self._pending = []
        while pending:
            try:
                self.producer.produce_batch(self.topic, pending, on_delivery=self._on_delivery)
            except BufferError:
                self.producer.poll(0.5)  # local queue full: wait for the broker (backpressure)
                continue
            except KafkaException as error:
                raise TrendoffError("produce-failed", f"cannot produce to {self.topic}: {error}") from error
            retry = []
            for message in pending:
                error = message.pop("_error", None)
                if error is None:
                    self.summary.sent += 1
                elif error.code() == KafkaError._QUEUE_FULL:
                    retry.append(message)
                else:
                    self.summary.failed += 1
                    self.summary.failures[f"not queued: {error.str()}"] += 1
            pending = retry
            # Serve delivery reports; when some did not fit, block a little so the queue drains.
            self.producer.poll(0.5 if retry else 0)
        self._maybe_report()

    def _maybe_report(self) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_EVERY_SECONDS:
            return
        self._last_progress = now
        elapsed = now - self._started
        rate = self.summary.sent / elapsed if elapsed else 0.0
        if self.total:
            left = max(0, self.total - self.summary.read)
            eta = f", ETA {left / rate:.0f} s" if rate else ""
            log.info("%s of %s%s read, %s sent (%.0f tweets/s%s)", f"{self.summary.read:,}",
                     "" if self.total_exact else "about ", f"{self.total:,}", f"{self.summary.sent:,}", rate, eta)
        else:
            log.info("%s read, %s sent (%.0f tweets/s)", f"{self.summary.read:,}", f"{self.summary.sent:,}", rate)

    def run(self, items: Iterable[tuple[str, dict[str, Any] | RowRejected]]) -> PublishSummary:
        """Publish every record, count every rejection, wait for every delivery report."""
        self.ensure_topic()
        self._started = time.monotonic()
        try:
            for where, item in items:
                self._handling = True
                self.summary.read += 1
                if isinstance(item, RowRejected):
                    self.reject(where, item)
                else:
                    self.send(item, where)
                self._handling = False
                if self._stop_requested:
                    raise Terminated()
        except KeyboardInterrupt:
            # Ctrl-C is how a user ends `produce x`: what was read is still delivered and summarised.
            self.summary.interrupted = True
            log.warning("interrupted: delivering what was already read, then stopping")
        except BrokenInputError as error:
            # The rows before the break are real tweets: deliver them, then say where the input broke.
            self.summary.broken = error.message
        finally:
            self.close()
        return self.summary

    def request_stop(self) -> None:
        """SIGTERM: stop after the row in hand is sent (at once when waiting for the source's next row), then
        deliver and summarise as after Ctrl-C. Every row counted as read is sent."""
        self._stop_requested = True
        if not self._handling:
            raise Terminated()

    def close(self, timeout_seconds: float = 120.0) -> None:
        """Flush with a deadline; anything still undelivered then counts as failed."""
        self._produce_pending()
        deadline = time.monotonic() + timeout_seconds
        while len(self.producer) and time.monotonic() < deadline:
            self.producer.flush(min(5.0, max(0.1, deadline - time.monotonic())))
        stuck = len(self.producer)
        if stuck:
            self.summary.failed += stuck
            self.summary.failures[f"no delivery report within {timeout_seconds:.0f} s"] += stuck
        self.summary.seconds = time.monotonic() - self._started
