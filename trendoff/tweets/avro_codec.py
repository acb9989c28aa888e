"""The Tweet Avro schema (tweets/tweet.avsc): load it, encode/decode plain Avro binary with fastavro."""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from typing import Any

import fastavro


@cache
def schema_json() -> str:
    """The schema file's text, as Spark's from_avro wants it."""
    return resources.files("trendoff.tweets").joinpath("tweet.avsc").read_text(encoding="utf-8")


@cache
def parsed_schema() -> Any:
    return fastavro.parse_schema(json.loads(schema_json()))


def field_names() -> list[str]:
    return [field["name"] for field in json.loads(schema_json())["fields"]]


def encode(record: dict[str, Any]) -> bytes:
    """One record as plain Avro binary (no registry header): what goes in a Kafka message value."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema(), record)
    return buffer.getvalue()


def decode(payload: bytes) -> dict[str, Any]:
    """The inverse of :func:`encode`; created_at comes back as a timezone-aware datetime."""
    return fastavro.schemaless_reader(io.BytesIO(payload), parsed_schema(), parsed_schema())
