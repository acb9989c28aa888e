"""Writes sized by bytes, never by a row count alone (issue 11): how rows are cut into unlogged batches,
how a row's size is estimated, and how many tasks a micro-batch is shared by (cases written out by hand),
and which Cassandra sessions a task's Python worker keeps."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

import pytest
from cassandra.query import UNSET_VALUE

from trendoff.clients.cassandra_writes import (
    MAX_BATCH_BYTES,
    ROW_OVERHEAD_BYTES,
    VALUE_OVERHEAD_BYTES,
    plan_batches,
    statement_bytes,
)
from trendoff.settings import Settings
from trendoff.streaming import tasks
from trendoff.streaming.job import batch_messages
from trendoff.streaming.messages import ROWS_PER_CHUNK
from trendoff.streaming.tasks import task_count

KIB = 1024


def runs(sizes: list[int], max_rows: int, max_bytes: int = MAX_BATCH_BYTES) -> list[list[int]]:
    return [list(run) for run in plan_batches(sizes, max_rows, max_bytes)]


def test_small_rows_are_cut_by_the_row_count() -> None:
    assert runs([50] * 7, max_rows=3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_ten_five_kb_texts_never_share_one_batch_over_the_bound() -> None:
    # The case that stopped ingest for good: ten ~5 KB tweets in one 10-partition batch (~50 KiB).
    sizes = [5_100] * 10
    assert runs(sizes, max_rows=10) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(sum(sizes[i] for i in run) <= 20 * KIB for run in runs(sizes, max_rows=10))


def test_a_row_over_the_bound_goes_alone_and_its_neighbours_still_batch() -> None:
    assert runs([100, 100, 30 * KIB, 100, 100], max_rows=10) == [[0, 1], [2], [3, 4]]
    assert runs([30 * KIB, 30 * KIB], max_rows=10) == [[0], [1]]


def test_a_run_may_fill_the_bound_exactly_but_not_pass_it() -> None:
    assert runs([10, 10, 10, 1], max_rows=10, max_bytes=30) == [[0, 1, 2], [3]]
    assert runs([10, 21], max_rows=10, max_bytes=30) == [[0], [1]]


def test_no_rows_no_batches() -> None:
    assert runs([], max_rows=10) == []


def test_a_statement_is_estimated_from_its_serialized_values() -> None:
    # What the driver's BoundStatement.bind leaves in .values: bytes, None for a null, UNSET for unset.
    bound = SimpleNamespace(values=[b"\x00" * 8, b"x" * 5_000, None, UNSET_VALUE])
    assert statement_bytes(bound) == ROW_OVERHEAD_BYTES + (VALUE_OVERHEAD_BYTES + 8) + (VALUE_OVERHEAD_BYTES + 5_000)


def test_a_micro_batch_is_sized_by_the_offsets_since_the_previous_one_up_to_max_offsets() -> None:
    # 4 partitions, 300 new messages since the previous micro-batch of this run.
    assert batch_messages({0: 1_100, 1: 1_000, 2: 1_000, 3: 1_000}, {0: 1_000, 1: 900, 2: 950, 3: 950}, 50_000) == 300
    # Nothing known about where it starts: everything on the topic counts, up to maxOffsetsPerTrigger.
    assert batch_messages({0: 4_000_000}, {}, 50_000) == 50_000
    assert batch_messages({0: 2_500}, {}, None) == 2_500
    assert batch_messages({0: 0, 1: 0}, {}, 50_000) == 0
    # Kafka did not answer the end offsets: the micro-batch is at most maxOffsetsPerTrigger (or a chunk).
    assert batch_messages(None, {0: 5}, 50_000) == 50_000
    assert batch_messages(None, {}, None) == ROWS_PER_CHUNK


def test_a_micro_batch_in_the_tasks_is_shared_only_when_each_task_gets_enough() -> None:
    # 300 new messages: one task, no shuffle, however many cores the executors have.
    assert task_count(batch_messages({0: 1_100, 1: 1_000}, {0: 1_000, 1: 800}, 50_000), parallelism=8) == 1
    # 5,000 messages: 2,000 or more per task, so 3 tasks of 8 cores, and 2 of 2.
    assert task_count(batch_messages({0: 5_000}, {}, 50_000), parallelism=8) == 3
    assert task_count(batch_messages({0: 5_000}, {}, 50_000), parallelism=2) == 2
    # A backlog is bounded by maxOffsetsPerTrigger, then spread over every core.
    assert task_count(batch_messages({0: 4_000_000}, {}, 50_000), parallelism=8) == 8
    assert task_count(batch_messages({0: 0}, {}, 50_000), parallelism=8) == 1


def test_a_python_worker_keeps_the_sessions_it_used_last_and_closes_the_older(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []

    def connect(settings: Settings) -> SimpleNamespace:  # no Cassandra here: the cache's own bookkeeping
        return SimpleNamespace(is_shutdown=False, keyspace=settings.keyspace,
                               cluster=SimpleNamespace(shutdown=lambda: closed.append(settings.keyspace)))

    monkeypatch.setattr(tasks.cassandra_io, "connect", connect)
    monkeypatch.setattr(tasks, "_WORKER_SESSIONS", OrderedDict())
    first = tasks.worker_session(Settings(keyspace="k0"))
    assert tasks.worker_session(Settings(keyspace="k0")) is first  # reused across tasks and micro-batches
    for n in range(1, tasks.WORKER_SESSIONS_KEPT + 1):
        tasks.worker_session(Settings(keyspace=f"k{n}"))
    assert closed == ["k0"] and len(tasks._WORKER_SESSIONS) == tasks.WORKER_SESSIONS_KEPT
    tasks.worker_session(Settings(keyspace="k1"))  # used again: now the newest
    tasks.worker_session(Settings(keyspace="k9"))
    assert closed == ["k0", "k2"]
