"""The one Avro schema and the one DDL file: loadable, complete, and filled in safely."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from trendoff import avro_codec
from trendoff.cassandra_io import ddl_statements
from trendoff.errors import TrendoffError


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
    payload = avro_codec.encode(record)
    assert payload[:1] != b"\x00" or len(payload) > 5  # plain Avro: no registry header is added
    assert avro_codec.decode(payload) == record


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
        ddl_statements(bad, "{'class': 'SimpleStrategy', 'replication_factor': 1}")
