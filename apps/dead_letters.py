"""`trendoff dead-letters`: what the streaming jobs refused, where it was (partition, offset), why, and a preview."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trendoff.clients.cassandra_io import connect
from trendoff.config import add_connection_options, settings_from_args
from trendoff.errors import TrendoffError
from trendoff.settings import Settings

log = logging.getLogger(__name__)

JOBS = ("ingest", "speed")
PREVIEW_CHARS = 60


@dataclass(frozen=True)
class DeadLetter:
    job: str
    topic: str
    partition: int
    offset: int
    reason: str
    recorded_at: dt.datetime | None
    key: bytes | None  # the first KiB the job kept
    value: bytes | None
    key_length: int | None  # the whole length in bytes
    value_length: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job, "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "reason": self.reason,
            "recorded_at": None if self.recorded_at is None else self.recorded_at.isoformat(),
            "key": preview(self.key), "key_length": self.key_length,
            "value": preview(self.value), "value_length": self.value_length,
        }


def preview(data: bytes | None, width: int = PREVIEW_CHARS) -> str | None:
    """A printable, escaped start of ``data``: the repr of its text when it is printable UTF-8, else of its
    bytes (``b'\\x02\\x0cbob…'``), cut to ``width`` characters with a trailing … when longer."""
    if data is None:
        return None
    text = _printable_text(data)
    shown = repr(text) if text is not None else repr(data)
    return shown if len(shown) <= width else shown[:width - 1] + "…"


def _printable_text(data: bytes) -> str | None:
    # The stored preview may end inside a UTF-8 character (it is cut at 1 KiB): drop up to 3 bytes.
    for cut in range(4):
        try:
            text = data[:len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return text if text.isprintable() else None
    return None


def read_dead_letters(session: Any, settings: Settings, jobs: Sequence[str], limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters of ``jobs`` on the topic, by job, then partition and offset."""
    letters: list[DeadLetter] = []
    # A keyspace no job has started on since the length columns came has none (the jobs add them).
    table = session.cluster.metadata.keyspaces[settings.keyspace].tables["dead_letters"]
    lengths = ", key_length, value_length" if "key_length" in table.columns else ""
    statement = session.prepare(
        f"SELECT job, topic, kafka_partition, kafka_offset, reason, recorded_at, message_key, message_value{lengths} "
        f"FROM {settings.keyspace}.dead_letters WHERE job = ? AND topic = ? LIMIT ?"
    )
    for job in jobs:
        for row in session.execute(statement, (job, settings.topic, limit - len(letters))):
            key = None if row.message_key is None else bytes(row.message_key)
            value = None if row.message_value is None else bytes(row.message_value)
            key_length, value_length = getattr(row, "key_length", None), getattr(row, "value_length", None)
            letters.append(DeadLetter(
                row.job, row.topic, row.kafka_partition, row.kafka_offset, row.reason,
                None if row.recorded_at is None else row.recorded_at.replace(tzinfo=dt.UTC), key, value,
                # Rows written before the lengths were kept held the whole key and value.
                key_length if key_length is not None else (None if key is None else len(key)),
                value_length if value_length is not None else (None if value is None else len(value)),
            ))
        if len(letters) >= limit:
            break
    return letters


def _table(letters: list[DeadLetter]) -> str:
    header = ("job", "partition", "offset", "reason", "when (UTC)", "bytes", "value")
    rows = [
        (d.job, str(d.partition), str(d.offset), d.reason,
         "" if d.recorded_at is None else d.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
         "" if d.value_length is None else f"{d.value_length:,}", preview(d.value) or "(no value)")
        for d in letters
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
             for row in [header, *rows]]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff dead-letters", description=__doc__.split(": ", 1)[1].strip())
    add_connection_options(parser, kafka=False)
    parser.add_argument("--topic", metavar="NAME", help="the jobs' Kafka topic ($TRENDOFF_TOPIC; default tweets)")
    parser.add_argument("--job", help="only this job's dead letters: ingest or speed (default both)")
    parser.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    parser.add_argument("--json", action="store_true", help="print a JSON array of objects")
    args = parser.parse_args(argv)
    if args.job is not None and args.job not in JOBS:
        raise TrendoffError("bad-option", f"--job must be ingest or speed, not {args.job!r}")
    if args.limit <= 0:
        raise TrendoffError("bad-option", "--limit must be greater than 0")
    settings = settings_from_args(args)
    session = connect(settings)
    try:
        keyspace = session.cluster.metadata.keyspaces.get(settings.keyspace)
        if keyspace is None or "dead_letters" not in keyspace.tables:
            raise TrendoffError("no-keyspace", f"keyspace {settings.keyspace} has no dead_letters table: "
                                "is it the right keyspace? (trendoff stack up creates it)")
        letters = read_dead_letters(session, settings, [args.job] if args.job else list(JOBS), args.limit)
    finally:
        session.cluster.shutdown()
    if args.json:
        print(json.dumps([letter.as_json() for letter in letters], ensure_ascii=False, indent=1))
    elif not letters:
        print(f"no dead letters on topic {settings.topic} in keyspace {settings.keyspace}")
    else:
        print(_table(letters))
    return 0
