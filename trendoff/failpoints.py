"""Named places where a fault test kills the process, to show that a crash there loses and doubles nothing.

Off unless TRENDOFF_FAILPOINTS names the place (comma-separated): production never sets it. A failpoint
kills with SIGKILL, as a crash or the OOM killer would: no cleanup, no flush, no finally blocks.
"""

from __future__ import annotations

import logging
import os
import signal

from trendoff.settings import Settings

log = logging.getLogger(__name__)

# The places, for the README and the tests; a name not listed here is a mistake in a test.
FAILPOINTS = (
    "ingest-before-progress",  # a micro-batch's rows written, its progress not
    "speed-before-progress",
    # In a Spark task, on its first attempt only: the Python worker dies
    # after a chunk's rows are written, and Spark's retry of the task writes them again.
    "ingest-task-after-writes",
    "speed-task-after-writes",
    "batch-before-finished",  # a version's rows written, not marked finished
    "batch-before-publish",  # a version finished, not published
)


def failpoint(settings: Settings, name: str) -> None:
    assert name in FAILPOINTS, name
    if name in settings.failpoints.split(","):
        log.warning("failpoint %s: killing this process (TRENDOFF_FAILPOINTS)", name)
        os.kill(os.getpid(), signal.SIGKILL)
