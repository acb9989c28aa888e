"""Streaming failures a user can act on become one line with what to do; anything else stays a bug."""

from __future__ import annotations

import pytest

from trendoff.streaming.failures import known_failure

# Failure texts as Spark 3.5 reports them (shortened), with the reason trendoff gives each.
CASES = [
    ("java.lang.IllegalStateException: Partition tweets-3's offset was changed from 3232 to 1616, some data may "
     "have been missed. Some data may have been lost because they are not available in Kafka any more",
     "offsets-gone"),
    ("org.apache.kafka.clients.consumer.OffsetOutOfRangeException: Fetch position FetchPosition{offset=10} is out "
     "of range for partition tweets-0", "offsets-gone"),
    ("An exception was raised by the Python Proxy. Return Message: Traceback ... cassandra.cluster.NoHostAvailable: "
     "('Unable to complete the operation against any hosts', {})", "cassandra-unreachable"),
    ("com.datastax.oss.driver.api.core.AllNodesFailedException: Could not reach any contact point",
     "cassandra-unreachable"),
    # Seen when Cassandra lost a keyspace under a running ingest (kill -9 with cassandra.unsafesystem).
    ("Traceback ... cassandra.InvalidRequest: Error from server: code=2200 [Invalid query] message=\"keyspace "
     "ks_3fbd463e74 does not exist\"", "keyspace-gone"),
]


@pytest.mark.parametrize(("text", "reason"), CASES)
def test_known_failures_are_one_line_with_what_to_do(text: str, reason: str) -> None:
    error = known_failure("ingest-tweets", text)
    assert error is not None and error.reason == reason
    assert error.message.startswith("ingest-tweets stopped: ") and "\n" not in error.message
    assert ("--reset" in error.message) == (reason in ("offsets-gone", "keyspace-gone"))


def test_any_other_failure_is_left_as_a_bug() -> None:
    assert known_failure("speed-tweets", "java.lang.NullPointerException at org.apache.spark.sql...") is None
