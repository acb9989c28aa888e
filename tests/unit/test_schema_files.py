"""The one Avro schema and the one DDL file: loadable, complete, and filled in safely."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from trendoff.errors import TrendoffError
from trendoff.tweets import avro_codec
from trendoff.views.schema import ddl_statements


def test_schema_has_the_eight_fields_of_the_spec_in_order() -> None:
    assert avro_codec.field_names() == [
        "id", "user", "text", "created_at", "lang", "is_retweet", "retweet_count", "favorite_count"
    ]
    fields = {f["name"]: f for f in json.loads(avro_codec.schema_json())["fields"]}
    assert fields["created_at"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    # Fields after the required three have defaults, so old messages still decode.
    assert all("default" in fields[name] for name in ("lang", "is_retweet", "retweet_count", "favorite_count"))


def test_avro_round_trip_keeps_every_field() -> None:
    record = {
        "id": 922440008971292672,
        "user": "realDonaldTrump",
        "text": "Two dozen NFL players … &amp; «ünïcödé»",
        "created_at": dt.datetime(2017, 10, 23, 12, 30, tzinfo=dt.UTC),
        "lang": "en",
        "is_retweet": False,
        "retweet_count": 10243,
        "favorite_count": None,
    }
    assert avro_codec.decode(avro_codec.encode(record)) == record


def test_a_message_value_is_plain_avro_byte_for_byte() -> None:
    # What Spark's from_avro reads: the fields in schema order from the first byte, no registry header
    # (magic byte and schema id) before them. Longs are zigzag varints, a string is its length then
    # UTF-8, a union is the branch index then the value. Worked out by hand:
    record = {"id": 1, "user": "ab", "text": "hi", "created_at": dt.datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=dt.UTC),
              "lang": "en", "is_retweet": True, "retweet_count": None, "favorite_count": 3}
    assert avro_codec.encode(record) == bytes([
        0x02,  # id 1
        0x04, *b"ab",  # user
        0x04, *b"hi",  # text
        0x02,  # created_at: 1 ms after the epoch
        0x02, 0x04, *b"en",  # lang: branch 1 (string), "en"
        0x01,  # is_retweet
        0x00,  # retweet_count: branch 0 (null)
        0x02, 0x06,  # favorite_count: branch 1 (long), 3
    ])


def test_ddl_is_filled_in_and_idempotent() -> None:
    statements = ddl_statements("ks_test", "{'class': 'SimpleStrategy', 'replication_factor': 1}", 3600)
    assert statements[0].startswith("CREATE KEYSPACE IF NOT EXISTS ks_test")
    assert all("IF NOT EXISTS" in statement for statement in statements)
    assert not any("{" + "keyspace}" in s or "{speed_ttl_seconds}" in s for s in statements)
    tables = {s.split("ks_test.")[1].split()[0] for s in statements[1:]}
    assert {"tweets", "speed_words", "batch_words", "batch_published", "ingest_progress"} <= tables
    assert any("default_time_to_live = 3600" in s for s in statements)


@pytest.mark.parametrize("bad", ["ks-1", "1ks", "ks; DROP TABLE x", ""])
def test_keyspace_names_that_could_inject_cql_are_refused(bad: str) -> None:
    with pytest.raises(TrendoffError):
        ddl_statements(bad, "{'class': 'SimpleStrategy', 'replication_factor': 1}", 3600)
