"""What a streaming job resumes from, checked at start against what its state describes.

A job's state is its Spark checkpoint (offsets Spark has committed) and its progress rows in
Cassandra (offsets whose effects are written). Both only mean something for one incarnation of the
topic (Kafka's topic id: a topic deleted and created again under the same name restarts its offsets)
and one incarnation of the keyspace (the id Cassandra gave the job's progress table when it was
created: a wiped and recreated keyspace has new ones). The checkpoint folder records both in
IDENTITY_FILE; a job started against anything else stops with one line instead of skipping or
re-reading messages unasked.

The progress rows are the truth about what the store holds: they are written after a micro-batch's
effects, before Spark commits the micro-batch. A checkpoint ahead of them means writes the store had
acknowledged are gone (a node killed before its commit log reached the disk); the job then resumes
from the progress rows instead, and its idempotent writes put back what was lost. Offsets it would
resume from that the topic's retention deleted are recorded (trendoff/streaming/retention.py), never skipped unsaid.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from cassandra.cluster import Session

from trendoff.clients import topics
from trendoff.errors import TrendoffError
from trendoff.settings import Settings
from trendoff.streaming import progress, retention

log = logging.getLogger(__name__)

IDENTITY_FILE = "trendoff-identity.json"


@dataclass(frozen=True)
class StateIdentity:
    topic_id: str
    keyspace_id: str  # the id of the job's progress table


def current_identity(settings: Settings, session: Session, job: str) -> StateIdentity:
    row = session.execute("SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
                          (settings.keyspace, progress.PROGRESS_TABLES[job])).one()
    if row is None:
        raise TrendoffError("no-schema", f"keyspace {settings.keyspace} has no {progress.PROGRESS_TABLES[job]} "
                            "table (is the schema applied? trendoff stack up)")
    return StateIdentity(topics.topic_id(settings, settings.topic), str(row.id))


def _stored_identity(folder: Path) -> StateIdentity | None:
    try:
        return StateIdentity(**json.loads((folder / IDENTITY_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise TrendoffError("bad-checkpoint", f"{folder / IDENTITY_FILE} is not readable ({error}): start over "
                            "with --reset") from error


def committed_offsets(folder: Path, topic: str) -> dict[int, int] | None:
    """The offsets Spark resumes from: the end offsets of the last micro-batch the checkpoint committed
    (None when it committed none). Spark's layout: commits/<id> marks micro-batch <id> done, and the
    last line of offsets/<id> holds each source's end offsets as {"topic": {"partition": offset}}."""
    commits = [int(path.name) for path in (folder / "commits").glob("*") if path.name.isdigit()]
    if not commits:
        return None
    try:
        last_line = (folder / "offsets" / str(max(commits))).read_text(encoding="utf-8").strip().splitlines()[-1]
        return {int(partition): int(offset) for partition, offset in json.loads(last_line)[topic].items()}
    except (OSError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise TrendoffError("bad-checkpoint", f"cannot read the committed offsets in {folder} ({error}): start over "
                            "with --reset") from error


# What a Spark streaming checkpoint folder holds (and this module's file): --reset deletes nothing else.
_CHECKPOINT_PARTS = {"offsets", "commits", "metadata", "sources", IDENTITY_FILE}


def _check_is_a_checkpoint(folder: Path) -> None:
    """Refuse to delete a folder that is not a streaming checkpoint (a mistyped --checkpoint)."""
    if not folder.exists() or not any(folder.iterdir()):
        return
    if not folder.is_dir() or not {part.name for part in folder.iterdir()} <= _CHECKPOINT_PARTS | {".metadata.crc"}:
        raise TrendoffError("not-a-checkpoint", f"--reset deletes only a streaming checkpoint, and {folder} holds "
                            "other files: check --checkpoint")


def _changed(stored: StateIdentity, current: StateIdentity, settings: Settings) -> str:
    if stored.topic_id != current.topic_id:
        return f"topic {settings.topic} was deleted and created again since this job's checkpoint was made"
    return f"keyspace {settings.keyspace} was wiped or recreated since this job's checkpoint was made"


@dataclass(frozen=True)
class StartPlan:
    identity: StateIdentity
    # Next offset per partition to start from, replacing the checkpoint's (None: resume from the
    # checkpoint, or from the start of the topic); a partition left out starts at its earliest offset.
    starting: dict[int, int] | None


def is_local_folder(folder: Path) -> bool:
    """False for a checkpoint on another file system (hdfs:/..., s3a://...): Spark reaches it, this module not."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", str(folder)) is None


def prepare_start(settings: Settings, session: Session, job: str, folder: Path, reset: bool) -> StartPlan:
    """Check the job's state before its query starts, and say where it starts.

    A checkpoint on another file system gets the progress-row checks only (and --reset deletes only the
    rows: delete the checkpoint with that file system's tools).
    """
    identity = current_identity(settings, session, job)
    local = is_local_folder(folder)
    if reset:
        log.warning("%s --reset: deleting its checkpoint %s and progress rows; the topic is read again from the "
                    "start", job, folder if local else "(not local: delete it yourself)")
        if local:
            _check_is_a_checkpoint(folder)
            shutil.rmtree(folder, ignore_errors=True)
        progress.delete_positions(session, settings.keyspace, job, settings.topic)
    if not local:
        log.warning("%s: checkpoint %s is not a local folder: its topic and keyspace are not checked", job, folder)
    stored = _stored_identity(folder) if local else None
    how = f"start over with `trendoff {job} --reset` (it reads the topic again from the start)"
    if stored is not None and stored != identity:
        raise TrendoffError("state-mismatch", f"{job}: {_changed(stored, identity, settings)}; its offsets "
                            f"mean other messages now: {how}")
    others = progress.other_topic_ids(session, settings.keyspace, job, settings.topic, identity.topic_id)
    if others:
        raise TrendoffError("state-mismatch", f"{job}: the progress rows in keyspace {settings.keyspace} are for "
                            f"an earlier topic {settings.topic} (deleted and created again since): {how}")
    positions = progress.job_positions(session, settings.keyspace, job, settings.topic, identity.topic_id)
    if not local:
        return StartPlan(identity, None)
    committed = committed_offsets(folder, settings.topic) if folder.exists() else None
    starting: dict[int, int] | None = None
    if committed is not None:
        ahead = {p: offset - positions.get(p, 0) for p, offset in committed.items() if offset > positions.get(p, 0)}
        if ahead:
            log.warning("%s: the checkpoint is ahead of what Cassandra holds by %s messages (%s): writes it had "
                        "acknowledged are gone; resuming from the progress rows instead", job,
                        f"{sum(ahead.values()):,}", ", ".join(f"p{p} {n:,}" for p, n in sorted(ahead.items())))
            _clear_checkpoint(folder)
            starting = positions
    elif not (folder / "offsets").is_dir() and positions:
        # No checkpoint (a new --checkpoint folder, or one deleted by hand) but progress rows: resume where
        # the store says the job got to rather than reading the whole topic again.
        log.info("%s: no checkpoint in %s; resuming from the progress rows", job, folder)
        starting = positions
    # Where Spark would resume; offsets there that retention deleted are recorded, and the job starts at
    # the first message left (Spark's source would fail on them, and must not skip them unsaid).
    resume = starting if starting is not None else committed if committed is not None else positions
    if resume:
        after_gaps = retention.find_and_record(settings, session, job, identity.topic_id, resume,
                                               from_checkpoint=starting is None and committed is not None)
        if after_gaps != resume:
            _clear_checkpoint(folder)
            starting = after_gaps
    folder.mkdir(parents=True, exist_ok=True)
    (folder / IDENTITY_FILE).write_text(json.dumps(asdict(identity)) + "\n", encoding="utf-8")
    return StartPlan(identity, starting)


def _clear_checkpoint(folder: Path) -> None:
    """Delete the checkpoint's offsets and commits (keeping its identity): the next query starts anew."""
    if folder.is_dir():
        for part in folder.iterdir():
            if part.name != IDENTITY_FILE:
                shutil.rmtree(part) if part.is_dir() else part.unlink()
