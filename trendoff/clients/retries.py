"""Riding out a Cassandra that is away for a while (restarted, paused, overloaded): the failures that
pass, retried with a bounded backoff; past the bound the failure is raised as it was.

tenacity does the waiting and counting: what to retry, how long to wait between tries and when to give
up are declarations here rather than a hand-written loop. Only idempotent work may be retried; every
write of the jobs is (rows keyed by what they describe, no counters).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from cassandra import OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

# What a node that is restarting, paused or briefly overloaded looks like to the driver.
TRANSIENT_CASSANDRA_ERRORS = (NoHostAvailable, OperationTimedOut, Unavailable, ReadTimeout, WriteTimeout)
# How long a micro-batch keeps trying: a restart or a pause of a minute is ridden out.
RETRY_BUDGET_SECONDS = 120.0
T = TypeVar("T")


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: Cassandra did not answer (%s); retrying in %.0f s (try %d, giving up after %.0f s)",
                    what, type(error).__name__, wait, state.attempt_number + 1, RETRY_BUDGET_SECONDS)
    return before_sleep


def retry_cassandra(what: str, work: Callable[[], T], budget_seconds: float = RETRY_BUDGET_SECONDS) -> T:
    """``work()``, tried again after 1, 2, 4, 8, then every 10 s while Cassandra fails transiently, for at
    most ``budget_seconds``; then its last failure is raised."""
    retrying = Retrying(
        retry=retry_if_exception_type(TRANSIENT_CASSANDRA_ERRORS),
        wait=wait_exponential(multiplier=1, min=1, max=10),
        stop=stop_after_delay(budget_seconds),
        before_sleep=_log_retry(what),
        reraise=True,
    )
    return retrying(work)
