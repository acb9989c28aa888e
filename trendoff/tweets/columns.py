"""Tweet records from CSV rows: the format presets, column options, time parsing and row rules shared by
the producer and csv_loader.

The CSV reader itself (physical lines, quotes, bounded memory) and ColumnSpec are in
:mod:`trendoff.tweets.csv_rows`; the limits every view needs and tweet_record, the record builder every
source uses, are in :mod:`trendoff.tweets.limits`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from trendoff.errors import TrendoffError
from trendoff.times import aware_epoch_ms
from trendoff.tweets.csv_rows import (
    ColumnSpec,
    DecodeErrors,
    read_header,
)
from trendoff.tweets.limits import SURROGATES, RowRejected, tweet_id_value, tweet_record, whole_number

FLAG_VALUES = {"true": True, "1": True, "yes": True, "t": True, "y": True,
               "false": False, "0": False, "no": False, "f": False, "n": False, "": False}
TIME_FORMATS_HELP = "a strptime format (e.g. '%%Y-%%m-%%d %%H:%%M:%%S'), 'iso', 'epoch-s' or 'epoch-ms'"
# The longest time any format writes is far shorter ("Saturday, September 30, 2023 11:59:59 PM +0000").
MAX_TIME_CHARS = 100
_STATUS_ID = re.compile(r"/status(?:es)?/(\d+)")


PRESETS: dict[str, ColumnSpec] = {
    # The followthehashtag "USA Geolocated tweets" export the original project loaded.
    "followthehashtag": ColumnSpec(
        id_col="Tweet Id",
        user_col="Nickname",
        text_col="Tweet content",
        time_col="Date",
        hour_col="Hour",
        time_format="%Y-%m-%d %H:%M",
        lang_col="Tweet language (ISO 639-1)",
        retweets_col="RTs",
        favorites_col="Favs",
    ),
    # FiveThirtyEight's twitter-ratio files: no id column (it ends the status URL), Mac Roman bytes.
    "538": ColumnSpec(
        id_col="url",
        id_from_url=True,
        user_col="user",
        text_col="text",
        time_col="created_at",
        time_format="%m/%d/%y %H:%M",
        retweets_col="retweets",
        favorites_col="favorites",
        encoding="mac_roman",
        # The files hold UTF-8 punctuation that was mis-decoded once upstream; without these the
        # letters Û/Ó would glue onto the next word ("‰ÛÏPresident").
        repairs=(("\u2030\u00db\u00d3", "\u2014"), ("\u2030\u00db\u00cf", "\u201c"), ("\u2030\u00db\u00f9", "\u201d"),
                 ("\u2030\u00db_", "\u2026"), ("\u2030\u00db\u00aa", "\u2019"), ("\u2030\u00db\u00d2", "\u2013")),
    ),
}
FORMATS = ("auto", *PRESETS, "columns")


def detect_format(header: list[str]) -> str:
    """The preset whose columns are all in ``header``, else 'columns' (column options needed)."""
    present = set(header)
    for name, spec in PRESETS.items():
        if set(spec.columns()) <= present:
            return name
    return "columns"


def add_column_options(parser: argparse.ArgumentParser) -> None:
    """The CSV flags shared by `trendoff produce csv` and `trendoff load-csv`."""
    group = parser.add_argument_group("CSV format (docs/contract.md#csv)")
    group.add_argument("--format", choices=FORMATS, default="auto",
                       help="a known export, or 'columns' to name the columns yourself (default: auto)")
    group.add_argument("--encoding", metavar="CODEC", help="file encoding (default: the preset's, else utf-8)")
    group.add_argument("--id-col", metavar="COLUMN", help="tweet id column (missing: derived from user + time + text)")
    group.add_argument("--user-col", metavar="COLUMN", help="screen name column")
    group.add_argument("--text-col", metavar="COLUMN", help="tweet text column")
    group.add_argument("--time-col", metavar="COLUMN", help="creation time column")
    group.add_argument("--time-format", metavar="FORMAT",
                       help=f"how --time-col is written: {TIME_FORMATS_HELP} (default iso)")
    group.add_argument("--lang-col", metavar="COLUMN", help="language column (optional)")
    group.add_argument("--retweet-col", metavar="COLUMN",
                       help="retweet flag column: true/false, 1/0, yes/no (optional)")
    group.add_argument("--retweets-col", metavar="COLUMN", help="retweet count column (optional)")
    group.add_argument("--favorites-col", metavar="COLUMN", help="favorite count column (optional)")


def spec_from_args(args: argparse.Namespace, source: Path | Sequence[str]) -> ColumnSpec:
    """The column spec from --format and the column options, checked against the file's header.

    ``source`` is the CSV file (its header is read with the right encoding) or a header already read.
    A wrong or missing column is a TrendoffError naming it and listing the columns there are.
    """
    preset_encoding = PRESETS[args.format].encoding if args.format in PRESETS else "utf-8"
    if isinstance(source, Path):
        path = source
        header = read_header(path, args.encoding or preset_encoding)
    else:
        path, header = Path("the CSV"), list(source)
    chosen = args.format
    if chosen == "auto":
        chosen = detect_format(header)
        if isinstance(source, Path) and chosen in PRESETS and not args.encoding and (
            PRESETS[chosen].encoding != preset_encoding
        ):
            header = read_header(path, PRESETS[chosen].encoding)
    if chosen in PRESETS:
        spec = PRESETS[chosen]
    else:
        if not (args.user_col and args.text_col and args.time_col):
            raise TrendoffError(
                "missing-columns",
                f"{path.name} is not a known export: name its columns with --user-col, --text-col and "
                f"--time-col (and --id-col if it has ids). Its columns: {', '.join(header)}",
            )
        spec = ColumnSpec(id_col=None, user_col=args.user_col, text_col=args.text_col, time_col=args.time_col)
    overrides = {
        "id_col": args.id_col, "user_col": args.user_col, "text_col": args.text_col, "time_col": args.time_col,
        "time_format": args.time_format, "lang_col": args.lang_col, "retweet_col": args.retweet_col,
        "retweets_col": args.retweets_col, "favorites_col": args.favorites_col, "encoding": args.encoding,
    }
    spec = replace(spec, **{key: value for key, value in overrides.items() if value})
    if args.id_col:
        spec = replace(spec, id_from_url=False)
    missing = [name for name in spec.columns() if name not in header]
    if missing:
        raise TrendoffError(
            "unknown-column",
            f"{path.name} has no column {missing[0]!r}; its columns are: {', '.join(header)}",
        )
    return spec


# strptime formats that datetime.fromisoformat (C code, ~20x faster) reads the same way.
_NAIVE_ISO_TIME_FORMATS = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"}
_ISO_LIKE_FORMATS = {*_NAIVE_ISO_TIME_FORMATS, "%Y-%m-%d"}


@functools.lru_cache(maxsize=65_536)
def parse_time(raw: str, time_format: str) -> dt.datetime:
    """An aware UTC datetime from ``raw`` (naive times are taken as UTC, as archives write them).

    A ValueError when ``raw`` is not written in ``time_format``; an OverflowError (or OSError) when
    it is, but no datetime can hold it.

    Cached: archives repeat the same minute or second for many rows, and strptime is slow.
    """
    value = raw.strip()
    if not value:
        raise ValueError("empty time")
    if time_format in _NAIVE_ISO_TIME_FORMATS and len(value) == len(_example(time_format)):
        # The replay hot path: one C call gives the aware UTC datetime (the format has no zone).
        return dt.datetime.fromisoformat(value + "+00:00")
    if time_format in ("epoch-s", "epoch-ms"):
        seconds = float(value) / (1000 if time_format == "epoch-ms" else 1)
        if math.isnan(seconds):
            raise ValueError("NaN is not a time")
        try:
            parsed = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except ValueError as error:  # "year 10000 is out of range": a number, but no datetime holds it
            raise OverflowError(str(error)) from None
    elif time_format == "iso" or (time_format in _ISO_LIKE_FORMATS and len(value) == len(_example(time_format))):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        parsed = dt.datetime.strptime(value, time_format)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


@functools.cache
def _example(time_format: str) -> str:
    return dt.datetime(2000, 1, 1).strftime(time_format)


def derived_id(user: str, created_at_ms: int, text: str) -> int:
    """A stable positive 63-bit id for a row without one: the same tweet always gets the same id."""
    digest = hashlib.sha256(f"{user.lower()}\0{created_at_ms}\0{text}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def _count(raw: object, field: str) -> int | None:
    try:
        return whole_number(raw)
    except ValueError:
        shown = raw[:40] if isinstance(raw, str) else raw
        raise RowRejected("bad-count", f"{field} {shown!r} is not a number") from None


def is_retweet_text(text: str) -> bool:
    return text.startswith("RT @")


class RowReader:
    """Turns CSV records of one header into Tweet records; column positions are looked up once."""

    def __init__(self, spec: ColumnSpec, header: list[str]) -> None:
        position = {name: index for index, name in enumerate(header)}
        self.spec = spec
        self.header = header

        def at(name: str | None) -> int | None:
            return position[name] if name else None

        self.user, self.text, self.time = at(spec.user_col), at(spec.text_col), at(spec.time_col)
        self.hour, self.lang, self.flag = at(spec.hour_col), at(spec.lang_col), at(spec.retweet_col)
        self.tweet_id, self.retweets, self.favorites = at(spec.id_col), at(spec.retweets_col), at(spec.favorites_col)

    def tweet(self, values: list[str]) -> dict[str, Any]:
        """One record as a Tweet (the Avro schema's fields), or RowRejected saying why not.

        The hot path of every replay: attribute lookups are kept to a minimum on purpose.
        """
        spec = self.spec
        if DecodeErrors.count and SURROGATES.search("".join(values)):
            bad = next(self.header[i] for i, raw in enumerate(values) if SURROGATES.search(raw))
            raise RowRejected("bad-encoding", f"{bad} has bytes that are not {spec.encoding}; pass --encoding")
        user = values[self.user].strip()
        if user[:1] == "@":
            user = user.lstrip("@")
        text = values[self.text]
        for broken, meant in spec.repairs:
            text = text.replace(broken, meant)
        raw_time = values[self.time]
        if self.hour is not None:
            raw_time = f"{raw_time.strip()} {values[self.hour].strip()}"
        if len(raw_time) > MAX_TIME_CHARS:  # not a time, and parse_time's cache must not keep it
            raise RowRejected("bad-timestamp", f"{spec.time_col} has {len(raw_time):,} characters: not a time")
        try:
            created_at = parse_time(raw_time, spec.time_format)
        except ValueError:
            raise RowRejected(
                "bad-timestamp", f"{spec.time_col} {raw_time[:60]!r} does not match {spec.time_format!r}"
            ) from None
        except (OverflowError, OSError):
            # Well-formed, but no datetime can hold it (an epoch of 1e20, a year-9999 time with an offset).
            raise RowRejected(
                "time-out-of-range", f"{spec.time_col} {raw_time[:60]!r} is not a storable time") from None
        tweet_id = _row_id(values[self.tweet_id] if self.tweet_id is not None else "", spec, user, created_at, text)
        is_retweet = text.startswith("RT @")
        if self.flag is not None:
            raw_flag = values[self.flag].strip().lower()
            if raw_flag not in FLAG_VALUES:
                raise RowRejected("bad-flag", f"{spec.retweet_col} {values[self.flag][:40]!r} is not true/false")
            is_retweet = is_retweet or FLAG_VALUES[raw_flag]
        return tweet_record(
            tweet_id, user, text, created_at, values[self.lang].strip() if self.lang is not None else None, is_retweet,
            _count(values[self.retweets], "retweets") if self.retweets is not None else None,
            _count(values[self.favorites], "favorites") if self.favorites is not None else None,
        )


def row_to_tweet(row: Mapping[str, str], spec: ColumnSpec) -> dict[str, Any]:
    """One CSV row (column -> value) as a Tweet record, or RowRejected saying why not."""
    # csv.DictReader gives None for the fields of a short row and a list under None for surplus ones;
    # iter_csv_rows rejects both the same way.
    for column in spec.columns():
        if row.get(column) is None:
            raise RowRejected("malformed-row", f"the row has no value for column {column!r}")
    if None in row:
        raise RowRejected("malformed-row", "the row has more fields than the header")
    for column, raw in row.items():
        if raw and SURROGATES.search(raw):  # rows from anywhere: always checked
            raise RowRejected("bad-encoding", f"{column} has bytes that are not {spec.encoding}; pass --encoding")
    return RowReader(spec, list(row)).tweet([raw or "" for raw in row.values()])


def _row_id(raw: str, spec: ColumnSpec, user: str, created_at: dt.datetime, text: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and not spec.id_from_url:  # the usual case
        return int(raw)
    raw = raw.strip()
    if spec.id_from_url and raw:
        found = _STATUS_ID.search(raw)
        raw = found.group(1) if found else ""
    if not raw:
        return derived_id(user, aware_epoch_ms(created_at), text)
    return tweet_id_value(raw, spec.id_col or "id")
