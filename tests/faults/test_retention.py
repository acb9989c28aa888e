"""Retention deleting messages a running ingest job had not read yet (the job, here frozen with SIGSTOP, was
behind for longer than the topic keeps messages): the job notices, records and logs the gap, goes on from
the first message left without a restart, and `trendoff status` shows the loss. On a stack of the module's
own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import connection_args, delete_messages_before, produce_tweets, simple_tweets, wait_until
from tests.support_faults import ingest_lag, ingest_process, stored_ids, with_own_keyspace_and_topic
from trendoff.settings import Settings


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the job's Python process and the Spark JVM it started), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(current := todo.pop())
        todo.extend(children.get(current, []))
    return tree


def test_a_running_job_records_what_retention_deleted_and_goes_on(private_stack: Settings, tmp_path: Path) -> None:
    settings = with_own_keyspace_and_topic(private_stack)
    batch = simple_tweets(50, 20_000)
    produce_tweets(settings, batch[:20], partition=0)
    log_path = tmp_path / "ingest.log"
    with ingest_process(settings, log_path, tmp_path / "ingest") as job:
        wait_until(lambda: ingest_lag(settings) == 0, 180, "ingest to land the first tweets")
        frozen = process_tree(job.pid)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            produce_tweets(settings, batch[20:], partition=0)
            delete_messages_before(settings, 0, 35)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        wait_until(lambda: ingest_lag(settings) == 0, 180, "ingest to land what retention left")
        assert job.poll() is None, f"the job died:\n{log_path.read_text()[-3000:]}"
        status = subprocess.run([sys.executable, "-m", "trendoff.apps.cli", "status", "--json",
                                 *connection_args(settings)], check=False, capture_output=True, text=True,
                                timeout=120)
        job.send_signal(signal.SIGTERM)
        assert job.wait(60) == 0
    log = log_path.read_text()
    assert "ingest: 15 messages of" in log and "p0 offsets 20 to 34" in log, log[-3000:]
    # Spark logs the failed fetch (with its stack traces) before the job handles it; after that, all is quiet.
    after = log.split("started again past the messages retention deleted", 1)
    assert len(after) == 2 and "Traceback" not in after[1] and "ERROR" not in after[1], log[-3000:]
    assert stored_ids(settings) == {t["id"] for t in batch[:20] + batch[35:]}
    assert json.loads(status.stdout)["jobs"]["ingest"]["lost_to_retention"] == 15, status.stderr[-2000:]
