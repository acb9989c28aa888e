"""Instants as the pipeline stores them: epoch milliseconds (Avro, Kafka, Cassandra) and aware UTC datetimes."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS = dt.timedelta(milliseconds=1)


def epoch_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch, floored; a naive datetime (as the Cassandra driver returns them) is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - EPOCH) // _ONE_MS


def from_epoch_ms(millis: int) -> dt.datetime:
    """The aware UTC datetime of an epoch-milliseconds value."""
    return EPOCH + dt.timedelta(milliseconds=millis)


def floor_to_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)
