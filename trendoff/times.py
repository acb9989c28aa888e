"""Instants as the pipeline stores them: epoch milliseconds (Avro, Kafka, Cassandra) and aware UTC datetimes."""

from __future__ import annotations

import argparse
import datetime as dt
import re

from trendoff.errors import TrendoffError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MS = dt.timedelta(milliseconds=1)


def epoch_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch, floored; a naive datetime (as the Cassandra driver returns them) is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - EPOCH) // _ONE_MS


def aware_epoch_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, exactly: the time in the derived-id recipe.

    Exact because float timestamps can round 0.123 s down to 122 ms. Rows always carry aware UTC
    times, so a naive datetime is a TypeError here (epoch_ms above, for times read back from
    Cassandra, takes naive ones as UTC instead).
    """
    return (moment - EPOCH) // _ONE_MS


def from_epoch_ms(millis: int) -> dt.datetime:
    """The aware UTC datetime of an epoch-milliseconds value."""
    return EPOCH + dt.timedelta(milliseconds=millis)


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A datetime read back from Cassandra (the driver returns naive UTC) made aware, so it is never taken
    for local time; an aware one as it is."""
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def floor_to_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_HELP = "a duration such as 500ms, 2s, 15m, 1h or 2d"


def parse_duration(raw: str, *, allow_zero: bool = False) -> float:
    """Every duration flag and setting takes one syntax: a number and a unit ('2s', '15m', '1.5h') -> seconds.
    Zero ('0', '0s') only where it means "none" (a margin, a grace period), never for an interval."""
    text = raw.strip()
    if allow_zero and text == "0":
        return 0.0
    matched = _DURATION.match(text)
    if not matched or (float(matched.group(1)) <= 0 and not allow_zero):
        raise TrendoffError("bad-duration", f"{raw!r} is not {DURATION_HELP}{' (or 0)' if allow_zero else ''}")
    return float(matched.group(1)) * _UNIT_SECONDS[matched.group(2)]


def duration_type(raw: str) -> float:
    """parse_duration for argparse: a bad value is argparse's usage error (exit 2), naming the flag."""
    try:
        return parse_duration(raw)
    except TrendoffError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def duration_or_zero_type(raw: str) -> float:
    """duration_type that also takes 0, for margins and grace periods."""
    try:
        return parse_duration(raw, allow_zero=True)
    except TrendoffError as error:
        raise argparse.ArgumentTypeError(error.message) from None
