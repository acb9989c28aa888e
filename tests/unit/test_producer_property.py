"""Property tests of the CSV and JSON-lines readers: no exception escapes, every physical line is accounted for.

Hypothesis writes files from CSV-ish and JSON-ish fragments (quotes, commas, every kind of line end,
bad bytes, deep nesting, huge numbers) and cuts gzip streams anywhere.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trendoff.producer.sources import BrokenInputError, csv_tweets, jsonl_tweets
from trendoff.tweets.csv_rows import ColumnSpec, iter_csv_spans
from trendoff.tweets.limits import RowRejected

SPEC = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s",
                  retweets_col="rts")
HEADER = "id,who,body,when,rts\r\n"
# A physical line, as the readers split them: ended by \n, \r\n or \r, or the last one without an end.
PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

csv_fragment = st.sampled_from(['"', '""', ",", "\n", "\r", "\r\n", " ", "@", "ann", "RT @x", "1", "-1", "1e400",
                                "inf", "9" * 30, "x" * 50, "\u00e9", "\U0001f600", "\x00", '"q"', "\ud800"])
csv_field = st.lists(csv_fragment, max_size=6).map("".join)


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    """Rows of five fields: some written by csv.writer (valid), some joined raw (quotes unbalanced)."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        fields = draw(st.lists(csv_field, min_size=3, max_size=6))
        if draw(st.booleans()):
            lines.append(",".join(csv_row(fields)))
        else:
            lines.append(",".join(fields))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return HEADER + ending.join(lines) + draw(st.sampled_from(["", ending]))


def csv_row(fields: list[str]) -> list[str]:
    return ['"' + field.replace('"', '""') + '"' if any(c in field for c in ',"\r\n') else field for field in fields]


def is_blank(line: str) -> bool:
    """What the reader may skip: a line of only whitespace or empty fields."""
    return not "".join(next(csv.reader([line]), [])).strip()


@SETTINGS
@given(csv_files())
def test_csv_reader_accounts_for_every_physical_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        records = list(iter_csv_spans(path, SPEC))
        items = list(csv_tweets(path, SPEC))  # every record becomes a tweet or a rejection, never a traceback
    lines = PHYSICAL_LINE.findall(text)
    covered: set[int] = set()
    previous_end = 1
    for first, span, values in records:
        assert first > previous_end and span >= 1, "records are in file order and do not overlap"
        assert isinstance(values, RowRejected) or len(values) == 5
        covered.update(range(first, first + span))
        previous_end = first + span - 1
    assert previous_end <= len(lines)
    for number in set(range(2, len(lines) + 1)) - covered:
        assert is_blank(lines[number - 1]), f"line {number} {lines[number - 1]!r} was lost"
    assert len(items) == len(records)
    assert all(isinstance(item, dict | RowRejected) for _, item in items)


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.sampled_from(["2021-10-04T17:08:22Z", "9999-12-31T23:59:59-01:00", "0000-01-01", "@", "und", "retweeted"]),
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "id_str", "text", "full_text", "created_at", "user", "screen_name", "username",
                         "author", "author_id", "data", "includes", "users", "public_metrics", "retweet_count",
                         "like_count", "favorite_count", "referenced_tweets", "type", "lang", "extended_tweet"]),
        children, max_size=6),
    max_leaves=20,
)
raw_line = st.one_of(
    json_value.map(json.dumps),
    st.sampled_from(["[" * 50_000, '{"id": ' + "9" * 5000 + "}", "{not json", "", "   ", "NaN", '{"id": 1e400}',
                     '{"user": {"screen_name": "a"}, "id": Infinity, "text": "t"}']),
    st.binary(max_size=20).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> tuple[str, list[str]]:
    lines = draw(st.lists(raw_line, max_size=8))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return ending.join(lines) + draw(st.sampled_from(["", ending])), lines


def items_by_line(path: Path) -> tuple[dict[int, int], BrokenInputError | None]:
    """How many items each physical line gave (v2 pages give several), and the break if there was one."""
    per_line: dict[int, int] = {}
    try:
        for where, item in jsonl_tweets(path):
            assert isinstance(item, dict | RowRejected)
            name, number = where.rsplit(":", 1)
            assert name == path.name
            per_line[int(number)] = per_line.get(int(number), 0) + 1
    except BrokenInputError as broken:
        return per_line, broken
    return per_line, None


def is_empty_page(line: str) -> bool:
    """A v2 response page without tweets (a poll that found nothing): no tweet, and nothing wrong."""
    try:
        page = json.loads(line)
    except ValueError:
        return False
    return isinstance(page, dict) and "user" not in page and page.get("data") == []


@SETTINGS
@given(jsonl_files())
def test_jsonl_reader_accounts_for_every_physical_line(file: tuple[str, list[str]]) -> None:
    text, _ = file
    content = text.encode("utf-8", "surrogateescape")
    assume(not content.startswith(b"\x1f\x8b"))  # the gzip magic: read as gzip (the test below)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.jsonl"
        path.write_bytes(content)
        per_line, broken = items_by_line(path)
    assert broken is None
    lines = PHYSICAL_LINE.findall(text)
    for number, line in enumerate(lines, start=1):
        if number not in per_line:
            assert not line.strip() or is_empty_page(line), f"line {number} {line!r} was lost"
    assert set(per_line) <= set(range(1, len(lines) + 1))


@SETTINGS
@given(jsonl_files(), st.floats(0, 1))
def test_a_gzip_cut_anywhere_yields_lines_then_one_break(file: tuple[str, list[str]], cut: float) -> None:
    text, _ = file
    whole = gzip.compress(text.encode("utf-8", "surrogateescape"), mtime=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.jsonl.gz"
        path.write_bytes(whole[: int(len(whole) * cut)] if cut < 1 else whole)
        per_line, broken = items_by_line(path)
    if cut >= 1:
        assert broken is None
    lines = PHYSICAL_LINE.findall(text)
    assert set(per_line) <= set(range(1, len(lines) + 1))
    if broken is not None:
        assert broken.message.startswith("fuzz.jsonl.gz: the input breaks after line ")
        assert "\n" not in broken.message, "one line"
