"""Messages the topic's retention deleted before a streaming job read them: noticed, counted, recorded.

A job resumes from offsets it stored (checkpoint or progress rows). When the broker no longer holds
them (the job was stopped, or behind, for longer than the topic's retention.ms), Spark's Kafka source
fails rather than skip. The job then records each gap in `retention_gaps` and goes on from the first
message still there: the loss is logged, counted and queryable (`trendoff status`, every batch run),
and nothing else is skipped. A job that never stored a position (new, or --reset) just starts at the
earliest message left; nothing was promised about messages it never started on.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from cassandra.cluster import Session

from trendoff.clients import kafka_offsets
from trendoff.settings import Settings

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Gap:
    partition: int
    from_offset: int
    to_offset: int  # exclusive

    @property
    def messages(self) -> int:
        return self.to_offset - self.from_offset


def gaps_before(resume: dict[int, int], first_on_broker: dict[int, int]) -> list[Gap]:
    """The offsets between where a job would resume and the first message the broker still holds."""
    return [Gap(p, offset, first_on_broker[p]) for p, offset in sorted(resume.items())
            if p in first_on_broker and offset < first_on_broker[p]]


def with_added_partitions(resume: dict[int, int], first_on_broker: dict[int, int]) -> dict[int, int]:
    """``resume`` (a checkpoint's offsets, which name every partition its query knew of) with each partition
    of the topic it lacks at offset 0: such a partition was added since (`trendoff topic --partitions`), so
    the job has read none of it and must read it from its first offset, which Kafka made 0."""
    return {**{partition: 0 for partition in first_on_broker}, **resume}


def find_and_record(settings: Settings, session: Session, job: str, topic_id: str, resume: dict[int, int],
                    *, from_checkpoint: bool = False) -> dict[int, int]:
    """Record the gaps between ``resume`` and the broker's first offsets; return where to resume instead.

    With ``from_checkpoint``, partitions added to the topic after the checkpoint count from offset 0
    (with_added_partitions): retention that deleted their first messages before the job read them is a gap
    too. Spark's source fails on such a partition (it "starts from N instead of 0"), so it must be recorded
    and skipped here, or the job would fail the same way at every start.
    """
    first_on_broker = kafka_offsets.start_offsets(settings, settings.topic)
    known = with_added_partitions(resume, first_on_broker) if from_checkpoint else resume
    gaps = gaps_before(known, first_on_broker)
    if not gaps:
        return resume
    insert = session.prepare(
        f"INSERT INTO {settings.keyspace}.retention_gaps (job, topic, kafka_partition, from_offset, to_offset, "
        "topic_id, noticed_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
    now = dt.datetime.now(dt.UTC)
    for gap in gaps:
        session.execute(insert, (job, settings.topic, gap.partition, gap.from_offset, gap.to_offset, topic_id, now))
    consequence = ("no layer counts them" if job == "ingest" else
                   "the speed view lacks them until a batch run covers them (ingest landed them, if it read them)")
    log.warning("%s: %s messages of %s were deleted by the topic's retention before it read them (%s): "
                "recorded in %s.retention_gaps; %s. Going on from the first message left",
                job, f"{sum(g.messages for g in gaps):,}", settings.topic,
                ", ".join(f"p{g.partition} offsets {g.from_offset} to {g.to_offset - 1}" for g in gaps),
                settings.keyspace, consequence)
    return {**known, **{gap.partition: gap.to_offset for gap in gaps}}


def messages_missed(session: Session, keyspace: str, job: str, topic: str, topic_id: str | None) -> int:
    """How many messages of this incarnation of ``topic`` (None: of any) retention deleted before ``job``
    read them."""
    rows = session.execute(f"SELECT from_offset, to_offset, topic_id FROM {keyspace}.retention_gaps "
                           "WHERE job = %s AND topic = %s", (job, topic))
    return sum(row.to_offset - row.from_offset for row in rows if topic_id is None or row.topic_id == topic_id)
