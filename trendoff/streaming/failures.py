"""Streaming failures a user can act on, recognised in the query's failure text (Spark wraps them in a JVM
traceback), each made one line that says what to do. Anything else is left as it is: a bug to report."""

from __future__ import annotations

from trendoff.errors import TrendoffError

_OFFSETS_GONE = ("the offsets it was to read next are gone from the topic (retention deleted them, or the topic "
                 "was recreated): start it again (it records what retention deleted and goes on); if the topic was "
                 "recreated, start over with --reset (locally: `trendoff stack down --wipe` wipes both)")
_CASSANDRA_AWAY = ("Cassandra stopped answering: check it (`trendoff stack status`), then start the job again; "
                   "it resumes from its checkpoint")

# (marker in the failure text, reason, what to say after the job's name)
_KNOWN_FAILURES = (
    ("some data may have been missed", "offsets-gone", _OFFSETS_GONE),
    ("Some data may have been lost", "offsets-gone", _OFFSETS_GONE),
    ("OffsetOutOfRange", "offsets-gone", _OFFSETS_GONE),
    ("NoHostAvailable", "cassandra-unreachable", _CASSANDRA_AWAY),
    ("AllNodesFailedException", "cassandra-unreachable", _CASSANDRA_AWAY),
    ('[Invalid query] message="keyspace', "keyspace-gone",
     "its keyspace no longer exists (wiped or dropped while it ran): apply the schema (`trendoff stack up`), "
     "then start the job again with --reset"),
    ("the lease was lost", "lease-lost",
     "another copy of this job took over its lease (this one could not renew it in time): it stopped writing; "
     "see `trendoff status` for the one running"),
)


def known_failure(job_name: str, failure_text: str) -> TrendoffError | None:
    """The one-line error for a streaming failure a user can act on, or None for any other (a bug)."""
    for marker, reason, advice in _KNOWN_FAILURES:
        if marker in failure_text:
            return TrendoffError(reason, f"{job_name} stopped: {advice}")
    return None
