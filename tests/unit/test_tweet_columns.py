"""CSV rows to Tweet records: presets, column options and the bad rows, written out by hand."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path

import pytest

from trendoff.errors import TrendoffError
from trendoff.tweets.columns import PRESETS, add_column_options, derived_id, detect_format, row_to_tweet, spec_from_args
from trendoff.tweets.csv_rows import ColumnSpec, iter_csv_rows
from trendoff.tweets.limits import RowRejected

COLUMNS = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s",
                     retweet_col="rt", retweets_col="rts", favorites_col="favs", lang_col="lang")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_column_options(parser)
    return parser.parse_args(argv)


def test_followthehashtag_row_joins_date_and_hour() -> None:
    row = {"Tweet Id": "721318437075685382", "Date": "2016-04-16", "Hour": "12:44", "Nickname": "BillSchulhoff",
           "Tweet content": "Wind 3.2 mph NNE. Barometer 30.20 in", "Favs": "", "RTs": "2",
           "Tweet language (ISO 639-1)": "en"}
    assert row_to_tweet(row, PRESETS["followthehashtag"]) == {
        "id": 721318437075685382, "user": "BillSchulhoff", "text": "Wind 3.2 mph NNE. Barometer 30.20 in",
        "created_at": dt.datetime(2016, 4, 16, 12, 44, tzinfo=dt.UTC), "lang": "en", "is_retweet": False,
        "retweet_count": 2, "favorite_count": None,
    }


def test_538_row_takes_the_id_from_the_status_url_and_spots_retweets() -> None:
    row = {"created_at": "10/2/17 12:41", "text": "RT @POTUS: Michelle &amp; I are praying",
           "url": "https://twitter.com/BarackObama/status/914832655170011137", "replies": "21588",
           "retweets": "405,895", "favorites": "1715753", "user": "BarackObama"}
    tweet = row_to_tweet(row, PRESETS["538"])
    assert tweet["id"] == 914832655170011137
    assert tweet["created_at"] == dt.datetime(2017, 10, 2, 12, 41, tzinfo=dt.UTC)
    assert tweet["is_retweet"] is True and tweet["retweet_count"] == 405895


@pytest.mark.parametrize(("flag", "expected"), [("TRUE", True), ("1", True), ("Yes", True), ("false", False),
                                                 ("0", False), ("NO", False), ("", False)])
def test_flag_column_reads_the_usual_spellings(flag: str, expected: bool) -> None:
    row = {"id": "5", "who": "@Ann", "body": "hi there", "when": "1451606400", "rt": flag, "rts": "", "favs": "",
           "lang": ""}
    tweet = row_to_tweet(row, COLUMNS)
    assert tweet["is_retweet"] is expected and tweet["user"] == "Ann" and tweet["lang"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"when": "yesterday"}, "bad-timestamp"),
        ({"body": "   "}, "empty-text"),
        ({"who": ""}, "missing-user"),
        ({"id": "12ab"}, "bad-id"),
        ({"id": "-4"}, "bad-id"),
        ({"rt": "maybe"}, "bad-flag"),
        ({"rts": "lots"}, "bad-count"),
        ({"body": "x" * 100_000}, "text-too-long"),
        ({"body": "caf\udce9"}, "bad-encoding"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(change: dict[str, str], reason: str) -> None:
    row = {"id": "5", "who": "ann", "body": "hi there", "when": "1451606400", "rt": "", "rts": "", "favs": "",
           "lang": "en"} | change
    with pytest.raises(RowRejected) as rejected:
        row_to_tweet(row, COLUMNS)
    assert rejected.value.reason == reason


def test_a_missing_id_is_derived_stably() -> None:
    row = {"id": "", "who": "Ann", "body": "same words", "when": "1451606400", "rt": "", "rts": "", "favs": "",
           "lang": ""}
    first = row_to_tweet(row, COLUMNS)["id"]
    assert first == row_to_tweet(dict(row), COLUMNS)["id"] == derived_id("ann", 1451606400000, "same words")
    assert 0 < first < 2**63
    assert first != row_to_tweet(row | {"body": "other words"}, COLUMNS)["id"]


def test_detect_format_by_header() -> None:
    assert detect_format(["created_at", "text", "url", "replies", "retweets", "favorites", "user"]) == "538"
    assert detect_format(["id", "text"]) == "columns"


def test_multiline_fields_and_a_broken_record(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,who,body,when,rt,rts,favs,lang\n1,a,"two\nlines",1,,,,\n2,b,short\n3,c,"ok",2,,,,\n')
    rows = list(iter_csv_rows(path, COLUMNS))
    assert rows[0] == (2, {"id": "1", "who": "a", "body": "two\nlines", "when": "1", "rt": "", "rts": "",
                           "favs": "", "lang": ""})
    assert isinstance(rows[1][1], RowRejected) and rows[1][1].reason == "malformed-row"
    assert rows[2][1]["id"] == "3"


def test_auto_detects_538_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "obama.csv"
    path.write_bytes(b"created_at,text,url,replies,retweets,favorites,user\n"
                     + "1/1/16 0:00,It\u2019s time,https://twitter.com/a/status/1,0,0,0,a\n".encode("mac_roman"))
    spec = spec_from_args(parse([]), path)
    assert spec.encoding == "mac_roman"
    rows = [row for _, row in iter_csv_rows(path, spec)]
    assert row_to_tweet(rows[0], spec)["text"] == "It\u2019s time"


def test_unknown_csv_needs_columns_and_wrong_names_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(TrendoffError, match="--user-col") as unknown:
        spec_from_args(parse([]), path)
    assert "a, b, c" in unknown.value.message
    with pytest.raises(TrendoffError, match="no column 'text'"):
        spec_from_args(parse(["--user-col", "a", "--text-col", "text", "--time-col", "c"]), path)
    with pytest.raises(TrendoffError, match="no such file"):
        spec_from_args(parse([]), tmp_path / "missing.csv")


def test_spec_from_a_header_already_read() -> None:
    header = ["created_at", "text", "url", "replies", "retweets", "favorites", "user"]
    assert spec_from_args(parse([]), header) == PRESETS["538"]
    spec = spec_from_args(parse(["--user-col", "who", "--text-col", "body", "--time-col", "t"]), ["who", "body", "t"])
    assert (spec.id_col, spec.user_col, spec.text_col, spec.time_col, spec.time_format) == (
        None, "who", "body", "t", "iso")
    with pytest.raises(TrendoffError, match=r"no column 'whom'; its columns are: who, body, t") as wrong:
        spec_from_args(parse(["--user-col", "whom", "--text-col", "body", "--time-col", "t"]), ["who", "body", "t"])
    assert wrong.value.reason == "unknown-column"


def test_unknown_encoding_is_a_user_mistake(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("who,body,t\n")
    with pytest.raises(TrendoffError, match="--encoding 'klingon'") as error:
        spec_from_args(parse(["--encoding", "klingon"]), path)
    assert error.value.reason == "unknown-encoding"


@pytest.mark.parametrize(
    ("raw", "time_format", "expected"),
    [
        ("2016-04-16 12:44:05", "%Y-%m-%d %H:%M:%S", dt.datetime(2016, 4, 16, 12, 44, 5, tzinfo=dt.UTC)),
        (" 2016-04-16 12:44 ", "%Y-%m-%d %H:%M", dt.datetime(2016, 4, 16, 12, 44, tzinfo=dt.UTC)),
        ("2016-4-6 9:05", "%Y-%m-%d %H:%M", dt.datetime(2016, 4, 6, 9, 5, tzinfo=dt.UTC)),  # strptime path
        ("2016-04-16", "%Y-%m-%d", dt.datetime(2016, 4, 16, tzinfo=dt.UTC)),
        ("2016-04-16T14:44:05+02:00", "iso", dt.datetime(2016, 4, 16, 12, 44, 5, tzinfo=dt.UTC)),
        ("2016-04-16T12:44:05Z", "iso", dt.datetime(2016, 4, 16, 12, 44, 5, tzinfo=dt.UTC)),
        ("1460810645123", "epoch-ms", dt.datetime(2016, 4, 16, 12, 44, 5, 123000, tzinfo=dt.UTC)),
        ("10/2/17 12:41", "%m/%d/%y %H:%M", dt.datetime(2017, 10, 2, 12, 41, tzinfo=dt.UTC)),
    ],
)
def test_time_formats_give_aware_utc_times(raw: str, time_format: str, expected: dt.datetime) -> None:
    row = {"id": "5", "who": "ann", "body": "hi", "when": raw, "rt": "", "rts": "", "favs": "", "lang": ""}
    created_at = row_to_tweet(row, ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when",
                                              time_format=time_format))["created_at"]
    assert created_at == expected and created_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("raw", ["2016-13-01 10:00:00", "2016-01-01 10:00:00+01:00", "", "   "])
def test_times_that_do_not_match_the_format_are_rejected(raw: str) -> None:
    row = {"id": "5", "who": "ann", "body": "hi", "when": raw}
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="%Y-%m-%d %H:%M:%S")
    with pytest.raises(RowRejected) as rejected:
        row_to_tweet(row, spec)
    assert rejected.value.reason == "bad-timestamp"


@pytest.mark.parametrize(("raw_id", "expected"), [("42", 42), (" 42 ", 42), (str(2**63 - 1), 2**63 - 1)])
def test_ids_are_positive_longs(raw_id: str, expected: int) -> None:
    row = {"id": raw_id, "who": "ann", "body": "hi", "when": "1"}
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s")
    assert row_to_tweet(row, spec)["id"] == expected


@pytest.mark.parametrize("raw_id", ["\u00b2", str(2**63), "0", "4.5", "1e9"])
def test_ids_that_are_not_longs_are_rejected(raw_id: str) -> None:
    row = {"id": raw_id, "who": "ann", "body": "hi", "when": "1"}
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s")
    with pytest.raises(RowRejected) as rejected:
        row_to_tweet(row, spec)
    assert rejected.value.reason == "bad-id"


def test_derived_ids_use_exact_milliseconds_and_ignore_user_case() -> None:
    spec = ColumnSpec(id_col=None, user_col="who", text_col="body", time_col="when", time_format="epoch-ms")
    tweet = row_to_tweet({"who": "@Ann", "body": "hi", "when": "1451606400123"}, spec)
    # 1451606400.123 * 1000 is 1451606400122.9998 in floating point: the recipe must not round it down.
    assert tweet["id"] == derived_id("ann", 1451606400123, "hi") != derived_id("ann", 1451606400122, "hi")
    assert derived_id("ANN", 1, "hi") == derived_id("ann", 1, "hi")
    # Pinned: replays and csv_loader rely on the recipe never changing (a change would duplicate tweets).
    assert derived_id("ann", 1451606400000, "same words") == 8463905142213358742


def test_retweet_flag_or_rt_prefix() -> None:
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s",
                      retweet_col="rt")
    row = {"id": "1", "who": "ann", "body": "RT @bob: hello", "when": "1", "rt": "false"}
    assert row_to_tweet(row, spec)["is_retweet"] is True
    assert row_to_tweet(row | {"body": "RT@bob no space"}, spec)["is_retweet"] is False
    assert row_to_tweet(row | {"body": "plain", "rt": "Y"}, spec)["is_retweet"] is True


def test_line_numbers_count_physical_lines_and_blank_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,who,body,when\n1,a,"three\nphysical\nlines",1\n\n,,,\n2,b,x\n3,c,ok,2\n')
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s")
    rows = list(iter_csv_rows(path, spec))
    assert [line for line, _ in rows] == [2, 7, 8]
    assert rows[0][1]["body"] == "three\nphysical\nlines"
    assert isinstance(rows[1][1], RowRejected) and rows[1][1].reason == "malformed-row"
    assert rows[2][1] == {"id": "3", "who": "c", "body": "ok", "when": "2"}


def test_a_bad_byte_costs_one_row_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,who,body,when\n1,a,caf\xe9,1\n2,b,fine,2\n")
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s")
    outcomes = []
    for _, row in iter_csv_rows(path, spec):
        try:
            outcomes.append(row_to_tweet(row, spec)["id"])
        except RowRejected as rejected:
            outcomes.append(rejected.reason)
    assert outcomes == ["bad-encoding", 2]
    latin1 = spec_from_args(parse(["--encoding", "latin-1", "--id-col", "id", "--user-col", "who", "--text-col",
                                   "body", "--time-col", "when", "--time-format", "epoch-s"]), path)
    assert [row_to_tweet(row, latin1)["text"] for _, row in iter_csv_rows(path, latin1)] == ["caf\u00e9", "fine"]


def test_short_dictreader_rows_are_malformed_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,who,body,when\n1,ann,hi\n2,bob,hello,5,surplus\n")
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s")
    with path.open(newline="") as handle:
        short, long = list(csv.DictReader(handle))
    with pytest.raises(RowRejected, match="no value for column 'when'") as rejected:
        row_to_tweet(short, spec)
    assert rejected.value.reason == "malformed-row"
    with pytest.raises(RowRejected, match="more fields than the header"):
        row_to_tweet(long, spec)


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfcreated_at,text,url,replies,retweets,favorites,user\n"
                     b"1/1/16 0:00,hello,https://twitter.com/a/status/9,0,1,2,a\n")
    spec = spec_from_args(parse(["--encoding", "utf-8"]), path)
    assert spec.id_col == "url" and spec.time_col == "created_at"
    [(_, row)] = list(iter_csv_rows(path, spec))
    assert row_to_tweet(row, spec)["created_at"] == dt.datetime(2016, 1, 1, tzinfo=dt.UTC)


# --- values Python cannot convert, and the limits every view needs (issue 11): one row each --------

LIMIT_SPEC = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="iso",
                        retweets_col="rts", favorites_col="favs")
LIMIT_ROW = {"id": "5", "who": "ann", "body": "hi there", "when": "2016-01-01T10:00:00Z", "rts": "3", "favs": ""}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"rts": "inf"}, "bad-count"),
        ({"rts": "nan"}, "bad-count"),
        ({"rts": "1e400"}, "bad-count"),                       # float('1e400') is inf: int() would overflow
        ({"favs": "-1"}, "bad-count"),
        ({"favs": "99999999999999999999"}, "bad-count"),      # more than a long holds
        ({"favs": "9" * 5000}, "bad-count"),                  # beyond int()'s 4,300-digit limit
        ({"id": "inf"}, "bad-id"),
        ({"id": "1e400"}, "bad-id"),
        ({"id": "-1"}, "bad-id"),
        ({"id": "99999999999999999999"}, "bad-id"),
        ({"id": "9" * 5000}, "bad-id"),
        ({"who": "a" * 101}, "user-too-long"),
        ({"who": "@"}, "missing-user"),                       # empty once the '@' is removed
        ({"who": " @ "}, "missing-user"),
        ({"when": "9999-12-31T23:59:59-01:00"}, "time-out-of-range"),  # its UTC time is in year 10000
        ({"when": "9999-12-31T23:59:59+01:00"}, "time-out-of-range"),  # a datetime, but writes broke on it
        ({"when": "2100-01-01T00:00:00Z"}, "time-out-of-range"),
        ({"when": "1969-12-31T23:59:59Z"}, "time-out-of-range"),
        ({"when": "0000-01-01T00:00:00"}, "bad-timestamp"),
        ({"when": "10000-01-01T00:00:00"}, "bad-timestamp"),
        ({"when": "2016-01-01T10:00:00Z" * 10}, "bad-timestamp"),
    ],
)
def test_values_python_cannot_convert_and_limits_are_rejections(change: dict[str, str], reason: str) -> None:
    with pytest.raises(RowRejected) as rejected:
        row_to_tweet(LIMIT_ROW | change, LIMIT_SPEC)
    assert rejected.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "time_format", "reason"),
    [("1e20", "epoch-s", "time-out-of-range"), ("253402300800", "epoch-s", "time-out-of-range"),
     ("-1e20", "epoch-s", "time-out-of-range"), ("1e400", "epoch-ms", "time-out-of-range"),
     ("-1", "epoch-s", "time-out-of-range"), ("nan", "epoch-s", "bad-timestamp")],
)
def test_epoch_values_out_of_range_are_rejections(raw: str, time_format: str, reason: str) -> None:
    spec = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format=time_format)
    with pytest.raises(RowRejected) as rejected:
        row_to_tweet({"id": "5", "who": "ann", "body": "hi", "when": raw}, spec)
    assert rejected.value.reason == reason


def test_handles_and_counts_at_the_limits_pass() -> None:
    tweet = row_to_tweet(LIMIT_ROW | {"who": "@" + "a" * 100, "rts": "1,234", "favs": "12.0"}, LIMIT_SPEC)
    assert (tweet["user"], tweet["retweet_count"], tweet["favorite_count"]) == ("a" * 100, 1234, 12)
    assert row_to_tweet(LIMIT_ROW | {"favs": str(2**63 - 1)}, LIMIT_SPEC)["favorite_count"] == 2**63 - 1
