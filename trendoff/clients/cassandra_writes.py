"""Reads and writes of many rows with the Cassandra driver, as the streaming jobs and csv_loader make them:
IN lookups by id, concurrent statements, and unlogged batches grouped by partition or by replicas."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, BoundStatement, PreparedStatement

LOOKUP_CHUNK = 100
LOOKUP_CONCURRENCY = 16
WRITE_CONCURRENCY = 64
# Rows of one partition per unlogged batch: speed_words rows hold ~40-60 bytes of data, so 80 stay
# under Cassandra's 5 KiB batch warning for ordinary words (80 measured faster than 40 per batch).
ROWS_PER_BATCH = 80
# Partitions per unlogged batch of one-row partitions: Cassandra warns above 10 by default
# (unlogged_batch_across_partitions_warn_threshold).
PARTITIONS_PER_BATCH = 10
# Bytes per batch, whatever its row count: Cassandra refuses a batch whose mutations exceed
# batch_size_fail_threshold (50 KiB by default; jvm/cassandra/cassandra.yaml keeps the default), and it
# fails the same way on every replay, so ten 5 KB tweets in one batch stopped a job for good. The
# estimate counts only the bound values (statement_bytes); Cassandra's measure adds a few bytes of
# cell metadata per value, so the bound stays well below the threshold. A row over it goes alone, as
# a plain statement (no batch check; a mutation may be up to half the commit log segment, 8 MiB here).
MAX_BATCH_BYTES = 20 * 1024
# Per value: its 4-byte length on the wire; per row: room for the cell timestamps Cassandra adds.
VALUE_OVERHEAD_BYTES = 4
ROW_OVERHEAD_BYTES = 16


def lookup_by_id(session: Session, keyspace: str, table: str, columns: Sequence[str], ids: Iterable[int]
                 ) -> dict[int, Any]:
    """The rows of ``table`` (keyed by ``id``) for ``ids``, by id; ``columns`` must include ``id``.

    `IN` queries of LOOKUP_CHUNK ids, a few in flight: most ids of a micro-batch are new, so few rows
    come back, and on this scale it is several times cheaper than the connector's per-key join.
    """
    ids = list(ids)
    statement = session.prepare(f"SELECT {', '.join(columns)} FROM {keyspace}.{table} WHERE id IN ?")
    chunks = [(ids[start:start + LOOKUP_CHUNK],) for start in range(0, len(ids), LOOKUP_CHUNK)]
    found: dict[int, Any] = {}
    for _success, result in execute_concurrent_with_args(
        session, statement, chunks, concurrency=LOOKUP_CONCURRENCY, raise_on_first_error=True
    ):
        found.update((row.id, row) for row in result)
    return found


def execute_all(session: Session, statement: PreparedStatement, parameters: Sequence[Sequence[Any]]) -> None:
    """Run ``statement`` once per parameter tuple, WRITE_CONCURRENCY in flight; the first failure raises."""
    execute_concurrent_with_args(
        session, statement, parameters, concurrency=WRITE_CONCURRENCY, raise_on_first_error=True
    )


def write_wide(
    session: Session, statement: PreparedStatement, rows: Sequence[Sequence[Any]],
    partition_of: Callable[[Sequence[Any]], Any],
) -> None:
    """Write many rows per partition: each partition's rows go as unlogged batches of at most
    ROWS_PER_BATCH rows and MAX_BATCH_BYTES (one partition per batch: one mutation, no batch log)."""
    groups: dict[Any, list[BoundStatement]] = {}
    for values in rows:
        groups.setdefault(partition_of(values), []).append(statement.bind(values))
    _execute_batches(session, groups, ROWS_PER_BATCH)


def write_narrow(session: Session, keyspace: str, statement: PreparedStatement,
                 rows: Sequence[Sequence[Any]]) -> None:
    """Write rows of one partition each (keyed by id): rows whose partitions live on the same replicas
    go as unlogged batches of at most PARTITIONS_PER_BATCH rows and MAX_BATCH_BYTES, sent to one of
    those replicas.

    A request per row is what limits a micro-batch here (the Python driver's per-request cost); a
    batch of partitions that share their replicas costs the coordinator no extra hop.
    """
    metadata = session.cluster.metadata
    groups: dict[Any, list[BoundStatement]] = {}
    for values in rows:
        bound = statement.bind(values)
        replicas = tuple(sorted(str(host.endpoint) for host in metadata.get_replicas(keyspace, bound.routing_key)))
        groups.setdefault(replicas, []).append(bound)
    _execute_batches(session, groups, PARTITIONS_PER_BATCH)


def statement_bytes(bound: BoundStatement) -> int:
    """The estimated size of a bound statement's row: its serialized values plus a little per value."""
    values = [value for value in bound.values if isinstance(value, bytes | bytearray)]
    return ROW_OVERHEAD_BYTES + sum(VALUE_OVERHEAD_BYTES + len(value) for value in values)


def plan_batches(sizes: Sequence[int], max_rows: int, max_bytes: int = MAX_BATCH_BYTES) -> list[range]:
    """Consecutive runs of rows, each at most ``max_rows`` rows and ``max_bytes`` bytes (``sizes`` in
    order); a row larger than ``max_bytes`` is a run of its own."""
    runs: list[range] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= max_rows or total + size > max_bytes):
            runs.append(range(start, index))
            start, total = index, 0
        total += size
    if sizes:
        runs.append(range(start, len(sizes)))
    return runs


def _execute_batches(session: Session, groups: dict[Any, list[BoundStatement]], max_rows: int) -> None:
    requests: list[tuple[BatchStatement | BoundStatement, None]] = []
    for statements in groups.values():
        for run in plan_batches([statement_bytes(bound) for bound in statements], max_rows):
            if len(run) == 1:  # one row (possibly over the byte bound): no batch around it
                requests.append((statements[run.start], None))
                continue
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for index in run:
                batch.add(statements[index])
            requests.append((batch, None))
    execute_concurrent(session, requests, concurrency=WRITE_CONCURRENCY, raise_on_first_error=True)
