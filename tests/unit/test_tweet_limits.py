"""THE tweet limits: the Python form (producer) and the Spark form (streaming jobs) on one table of rows.

Needs Spark for the column form, but no Kafka or Cassandra.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from trendoff.tweets.limits import MAX_TEXT_CHARS, MAX_USER_CHARS, RowRejected, limit_violation, limit_violation_column

UTC = dt.UTC
GOOD = {"id": 42, "user": "BarackObama", "text": "hello world", "created_at": dt.datetime(2016, 1, 1, tzinfo=UTC),
        "lang": "en", "is_retweet": False, "retweet_count": 1, "favorite_count": 2}

# (what changes from GOOD, the reason tag or None), written out by hand.
CASES: list[tuple[dict[str, Any], str | None]] = [
    ({}, None),
    ({"id": 1}, None),
    ({"id": 2**63 - 1}, None),
    ({"id": 0}, "bad-id"),
    ({"id": -1}, "bad-id"),
    ({"user": "@"}, "missing-user"),                      # empty once the '@' is removed
    ({"user": "@@"}, "missing-user"),
    ({"user": ""}, "missing-user"),
    ({"user": "  "}, "missing-user"),
    ({"user": "a" * 100}, None),
    ({"user": "@" + "a" * 100}, None),                    # the '@' is not part of the key
    ({"user": "a" * 101}, "user-too-long"),
    ({"user": "\U0001f600" * 100}, None),                 # an emoji is one character in both forms
    ({"user": "\U0001f600" * 101}, "user-too-long"),
    ({"text": "x" * 25_000}, None),
    ({"text": "x" * 25_001}, "text-too-long"),
    ({"text": "\U0001f600" * 25_000}, None),              # Java's String.length would say 50,000
    ({"text": "\U0001f600" * 25_001}, "text-too-long"),
    ({"text": ""}, None),                                 # empty text is a producer rule, not a storage limit
    ({"created_at": dt.datetime(1970, 1, 1, tzinfo=UTC)}, None),
    ({"created_at": dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)}, "time-out-of-range"),
    ({"created_at": dt.datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)}, None),
    ({"created_at": dt.datetime(2100, 1, 1, tzinfo=UTC)}, "time-out-of-range"),
    ({"created_at": dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)}, "time-out-of-range"),  # broke writes
    ({"created_at": dt.datetime(1, 1, 1, tzinfo=UTC)}, "time-out-of-range"),
    ({"created_at": dt.datetime(2016, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))}, None),
    # The first broken limit wins, in the same order in both forms.
    ({"id": 0, "user": "@", "text": "x" * 25_001}, "bad-id"),
    ({"user": "a" * 101, "created_at": dt.datetime(2100, 1, 1, tzinfo=UTC)}, "user-too-long"),
    ({"text": "x" * 25_001, "created_at": dt.datetime(2100, 1, 1, tzinfo=UTC)}, "text-too-long"),
]


def test_constants_are_the_documented_limits() -> None:
    assert (MAX_TEXT_CHARS, MAX_USER_CHARS) == (25_000, 100)


@pytest.mark.parametrize(("change", "reason"), CASES)
def test_python_form(change: dict[str, Any], reason: str | None) -> None:
    violation = limit_violation(GOOD | change)
    assert (violation.reason if violation else None) == reason
    assert violation is None or (isinstance(violation, RowRejected) and violation.message)


@pytest.mark.parametrize("bad_id", [True, 4.0, "5", None, 2**63])
def test_python_form_wants_an_int_id(bad_id: object) -> None:
    violation = limit_violation(GOOD | {"id": bad_id})
    assert violation is not None and violation.reason == "bad-id"


def test_python_form_takes_naive_times_as_utc() -> None:
    assert limit_violation(GOOD | {"created_at": dt.datetime(2016, 1, 1)}) is None
    violation = limit_violation(GOOD | {"created_at": dt.datetime(2100, 1, 1)})
    assert violation is not None and violation.reason == "time-out-of-range"


SCHEMA = ("case int, tweet struct<id: long, user: string, text: string, created_at: timestamp, lang: string, "
          "is_retweet: boolean, retweet_count: long, favorite_count: long>")


def test_spark_form_agrees_with_the_python_form_on_every_row(local_spark: SparkSession) -> None:
    rows = [(number, GOOD | change) for number, (change, _) in enumerate(CASES)]
    frame = local_spark.createDataFrame(rows, SCHEMA)
    got = {row["case"]: row["reason"] for row in
           frame.select("case", limit_violation_column(F.col("tweet")).alias("reason")).collect()}
    assert got == {number: reason for number, (_, reason) in enumerate(CASES)}


def test_spark_form_on_nulls(local_spark: SparkSession) -> None:
    """Nulls cannot come out of the Avro schema's required fields, but a null must never pass a check."""
    rows = [(0, None), (1, GOOD | {"id": None}), (2, GOOD | {"user": None}), (3, GOOD | {"created_at": None}),
            (4, GOOD | {"text": None})]
    frame = local_spark.createDataFrame(rows, SCHEMA)
    got = {row["case"]: row["reason"] for row in
           frame.select("case", limit_violation_column(F.col("tweet")).alias("reason")).collect()}
    assert got == {0: "bad-id", 1: "bad-id", 2: "missing-user", 3: "time-out-of-range", 4: None}
    assert [limit_violation(GOOD | {"user": None}).reason, limit_violation(GOOD | {"created_at": None}).reason,
            limit_violation(GOOD | {"text": None})] == ["missing-user", "time-out-of-range", None]
