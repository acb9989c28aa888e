"""`trendoff status`: is the stack up, how far behind is each streaming job, what batch is published.

One function, :func:`pipeline_status`, builds the answer; the command prints it and the service's
`/api/status` returns the same object.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable, Session

from trendoff.clients import kafka_offsets, topics
from trendoff.clients.cassandra_io import connect
from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.errors import TrendoffError
from trendoff.settings import Settings
from trendoff.streaming import progress, retention
from trendoff.times import as_utc
from trendoff.views.published import read_published

log = logging.getLogger(__name__)

# How long each service may take to answer before it counts as unreachable.
PROBE_SECONDS = 3.0
# Dead letters are counted row by row (a COUNT(*) would scan the partition anyway): at most this many.
DEAD_LETTERS_CAP = 10_000


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _age_seconds(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return round((now - moment).total_seconds(), 3) if moment else None


def _job_status(session: Session, settings: Settings, job: str, ends: dict[int, int] | None,
                now: dt.datetime, topic_id: str | None) -> dict[str, Any]:
    rows = list(session.execute(
        f"SELECT kafka_partition, next_offset, updated_at FROM {settings.keyspace}.{progress.PROGRESS_TABLES[job]} "
        "WHERE topic = %s", (settings.topic,)))
    last = max((as_utc(row.updated_at) for row in rows if row.updated_at), default=None)
    answer: dict[str, Any] = {"consumer_group": kafka_offsets.consumer_group(job, settings.keyspace, settings.topic),
                              "last_batch_at": _iso(last), "last_batch_age_seconds": _age_seconds(last, now)}
    if ends is None:  # Kafka unreachable: no end offsets, so no lag
        answer.update(lag=None, lag_total=None)
    else:
        positions = {row.kafka_partition: row.next_offset for row in rows}
        behind = progress.Lag(job, {p: max(0, end - positions.get(p, 0)) for p, end in sorted(ends.items())})
        answer.update(lag={str(p): n for p, n in behind.behind.items()}, lag_total=behind.total)
    reasons: Counter[str] = Counter()
    dead = session.execute(f"SELECT reason FROM {settings.keyspace}.dead_letters WHERE job = %s AND topic = %s "
                           f"LIMIT {DEAD_LETTERS_CAP + 1}", (job, settings.topic))
    for row in dead:
        reasons[row.reason or ""] += 1
    answer["lost_to_retention"] = retention.messages_missed(session, settings.keyspace, job, settings.topic, topic_id)
    capped = reasons.total() > DEAD_LETTERS_CAP
    answer["dead_letters"] = {"count": min(reasons.total(), DEAD_LETTERS_CAP), "more": capped,
                              "by_reason": dict(sorted(reasons.items()))}
    return answer


def _batch_status(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any] | None:
    published = read_published(session, settings.keyspace)
    if published.version is None:
        return None
    cutoff, published_at = published.cutoff, published.published_at
    return {"version": published.version, "cutoff": _iso(cutoff), "cutoff_age_seconds": _age_seconds(cutoff, now),
            "published_at": _iso(published_at), "age_seconds": _age_seconds(published_at, now)}


def _end_offsets(settings: Settings) -> tuple[dict[int, int] | None, bool, str | None]:
    """The topic's end offsets (None when unknown), whether the broker answers, and what went wrong."""
    try:
        topics.wait_for_broker(settings, PROBE_SECONDS)
    except TrendoffError as error:
        return None, False, error.message
    try:
        return kafka_offsets.end_offsets(settings, settings.topic, PROBE_SECONDS), True, None
    except TrendoffError as error:  # a missing topic: the broker answers, the lag is unknown
        return None, error.reason != "kafka-unreachable", error.message


def _topic_id(settings: Settings) -> str | None:
    try:
        return topics.topic_id(settings, settings.topic, PROBE_SECONDS)
    except TrendoffError:  # the gaps of every incarnation, then
        return None


def pipeline_status(settings: Settings, session: Session | None) -> dict[str, Any]:
    """The status object: stack, per-job lag per partition and last micro-batch, batch, dead letters.

    ``session`` is an open session (the service's), or None to open one here for this answer.
    """
    now = dt.datetime.now(dt.UTC)
    ends, kafka_reachable, kafka_error = _end_offsets(settings)
    cassandra_error: str | None = None
    owned = None
    try:
        if session is None:
            session = owned = connect(settings, timeout_seconds=PROBE_SECONDS)
        session.execute("SELECT release_version FROM system.local", timeout=PROBE_SECONDS)
    except TrendoffError as error:
        cassandra_error = error.message
    except Exception as error:  # any driver failure means "not answering"; the status says which
        cassandra_error = f"Cassandra does not answer: {error}"
    try:
        answer: dict[str, Any] = {
            "generated_at": now.isoformat(),
            "keyspace": settings.keyspace,
            "topic": settings.topic,
            "stack": {
                "kafka": {"address": settings.bootstrap_servers, "reachable": kafka_reachable,
                          "error": kafka_error},
                "cassandra": {"address": ",".join(settings.cassandra_contact_points) + f":{settings.cassandra_port}",
                              "reachable": cassandra_error is None, "error": cassandra_error},
            },
            "jobs": None,
            "batch": None,
            "error": None,
        }
        if cassandra_error is None and session is not None:
            try:
                topic_id = _topic_id(settings) if ends is not None else None
                answer["jobs"] = {job: _job_status(session, settings, job, ends, now, topic_id)
                                  for job in progress.PROGRESS_TABLES}
                answer["batch"] = _batch_status(session, settings, now)
            except (DriverException, NoHostAvailable) as error:  # e.g. no such keyspace: say so, not a traceback
                answer.update(jobs=None, batch=None, error=f"cannot read keyspace {settings.keyspace}: {error}")
        return answer
    finally:
        if owned is not None:
            owned.cluster.shutdown()


def status_text(status: dict[str, Any]) -> str:
    """The status for a person: one line per service, job and the batch."""
    lines = []
    for name, service in status["stack"].items():
        state = "reachable" if service["reachable"] else f"DOWN ({service['error']})"
        lines.append(f"{name:<9} {service['address']}: {state}")
    if status["stack"]["kafka"]["error"] and status["stack"]["kafka"]["reachable"]:
        lines.append(f"topic     {status['topic']}: {status['stack']['kafka']['error']}")
    for job, info in (status["jobs"] or {}).items():
        if info["lag"] is None:
            lag = "lag unknown (no end offsets)"
        else:
            parts = ", ".join(f"p{p} {n:,}" for p, n in info["lag"].items())
            lag = f"lag {info['lag_total']:,} ({parts})"
        age = info["last_batch_age_seconds"]
        last = f"last micro-batch {age:.0f} s ago" if age is not None else "no micro-batch yet"
        dead = info["dead_letters"]
        more = "+" if dead["more"] else ""
        lost = f"; {info['lost_to_retention']:,} lost to retention" if info["lost_to_retention"] else ""
        lines.append(f"{job:<9} {lag}; {last}; dead letters {dead['count']:,}{more}{lost}")
    batch = status["batch"]
    if status["error"]:
        lines.append(f"views     {status['error']}")
    if status["jobs"] is not None:
        if batch is None:
            lines.append("batch     nothing published yet (speed view only)")
        else:
            age = f", published {batch['age_seconds']:.0f} s ago" if batch["age_seconds"] is not None else ""
            lines.append(f"batch     version {batch['version']}, T {batch['cutoff']}{age}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = command_parser("trendoff status", "The stack (Kafka and Cassandra reachable?), each streaming job's lag "
                            "per partition and the age of its last micro-batch, the published batch version "
                            "with its cutoff T, and dead letters per job. Exit code 1 when a service is down "
                            "or the keyspace cannot be read.")
    parser.add_argument("--json", action="store_true", help="print one JSON object (what /api/status returns)")
    add_connection_options(parser)
    args = parser.parse_args(argv)
    status = pipeline_status(settings_from_args(args), None)
    print(json.dumps(status, ensure_ascii=False) if args.json else status_text(status))
    healthy = all(service["reachable"] for service in status["stack"].values()) and not status["error"]
    return 0 if healthy else 1
