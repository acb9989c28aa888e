"""Sources without Kafka: JSON lines (v1.1 and v2), CSV quotes and long lines, the real archives, the generator."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from trendoff.errors import TrendoffError
from trendoff.producer.sources import (
    MAX_JSON_LINE_CHARS,
    BrokenInputError,
    csv_tweets,
    estimated_rows,
    jsonl_tweets,
    synthetic_tweets,
    v2_tweets,
)
from trendoff.tweets import avro_codec
from trendoff.tweets.columns import PRESETS, RowReader, row_to_tweet
from trendoff.tweets.csv_rows import MAX_CSV_RECORD_CHARS, ColumnSpec, iter_csv_rows, iter_csv_spans
from trendoff.tweets.limits import RowRejected

V1 = {"created_at": "Sat Jan 07 05:44:28 +0000 2023", "id": 1611580330, "id_str": "1611580330",
      "full_text": "RT @CNN: Breaking &amp; news", "user": {"screen_name": "cnnbrk"}, "lang": "en",
      "retweeted_status": {"id": 1}, "retweet_count": 12, "favorite_count": 0}
V2 = {"data": [{"id": "1445080462406664192", "text": "Hello from v2", "author_id": "42",
                "created_at": "2021-10-04T17:08:22.000Z", "lang": "en",
                "public_metrics": {"retweet_count": 3, "like_count": 7}}],
      "includes": {"users": [{"id": "42", "username": "TwitterDev"}]}}


def test_v1_and_v2_objects_become_tweets(tmp_path: Path) -> None:
    path = tmp_path / "tweets.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(V1) + "\n\n" + json.dumps(V2) + "\n{not json\n[1]\n{\"id\": 3}\n")
    items = [item for _, item in jsonl_tweets(path)]
    assert items[0] == {"id": 1611580330, "user": "cnnbrk", "text": "RT @CNN: Breaking &amp; news",
                        "created_at": dt.datetime(2023, 1, 7, 5, 44, 28, tzinfo=dt.UTC), "lang": "en",
                        "is_retweet": True, "retweet_count": 12, "favorite_count": 0}
    assert items[1] == {"id": 1445080462406664192, "user": "TwitterDev", "text": "Hello from v2",
                        "created_at": dt.datetime(2021, 10, 4, 17, 8, 22, tzinfo=dt.UTC), "lang": "en",
                        "is_retweet": False, "retweet_count": 3, "favorite_count": 7}
    assert [i.reason for i in items[2:]] == ["malformed-json", "malformed-json", "not-a-tweet"]


def test_rtweet_fixtures_load_completely(data_dir: Path) -> None:
    items = [item for _, item in jsonl_tweets(data_dir / "rtweet_fixtures" / "rtweet_fixture_tweets.jsonl.gz")]
    rejected = Counter(i.reason for i in items if isinstance(i, RowRejected))
    tweets = [i for i in items if isinstance(i, dict)]
    assert rejected == Counter() and len(tweets) == 2198
    assert len({t["id"] for t in tweets}) == 2198
    assert Counter(t["user"] for t in tweets).most_common(1) == [("justinbieber", 199)]


def test_538_files_load_completely(data_dir: Path) -> None:
    folder = data_dir / "fivethirtyeight_twitter_ratio"
    for name, expected in (("BarackObama.csv", 3207), ("realDonaldTrump.csv", 3232)):
        items = [item for _, item in csv_tweets(folder / name, PRESETS["538"])]
        assert not [i for i in items if isinstance(i, RowRejected)]
        assert len(items) == expected and {t["user"] for t in items} == {name.removesuffix(".csv")}
        assert 300 < sum(t["is_retweet"] for t in items) < 400  # ~350 retweets per user, per the data notes


def test_synthetic_is_seeded_zipfian_and_realistic() -> None:
    first = [t for _, t in synthetic_tweets(2000, users=100, seed=5)]
    assert first == [t for _, t in synthetic_tweets(2000, users=100, seed=5)]
    assert first != [t for _, t in synthetic_tweets(2000, users=100, seed=6)]
    per_user = Counter(t["user"] for t in first).most_common()
    assert per_user[0][1] > 5 * per_user[-1][1], "a few prolific users and a long tail"
    words = Counter(w for t in first for w in t["text"].split())
    assert words.most_common(1)[0][1] > 20 * words.most_common()[-1][1]
    times = [t["created_at"] for t in first]
    assert times == sorted(times) and len({t["id"] for t in first}) == 2000
    assert 0.05 < sum(t["is_retweet"] for t in first) / 2000 < 0.15


def test_jsonl_bad_bytes_odd_shapes_and_long_texts_are_rejections(tmp_path: Path) -> None:
    good_v2 = {"id": "7", "text": "one tweet per line", "created_at": "2021-10-04T17:08:22Z",
               "author": {"username": "@Bob"}, "lang": "und"}
    lines = [
        b'{"id": 5, "text": "caf\xe9", "created_at": "2021-10-04T17:08:22Z", "author_id": "1", "username": "ann"}',
        b'{"id": 6, "text": "lone \\udce9 escape", "created_at": "2021-10-04T17:08:22Z", "username": "ann",'
        b' "author_id": "1"}',
        b'{"user": "not-an-object", "id": 1}',
        b'{"data": ["not-an-object"]}',
        json.dumps({**V1, "full_text": "x" * 100_000}).encode(),
        json.dumps({**V1, "created_at": "yesterday"}).encode(),
        json.dumps({**V1, "id_str": "", "id": None}).encode(),
        json.dumps(good_v2).encode(),
    ]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(jsonl_tweets(path))
    reasons = [item.reason if isinstance(item, RowRejected) else "ok" for _, item in items]
    assert reasons == ["bad-encoding", "bad-encoding", "malformed-tweet", "not-a-tweet", "text-too-long",
                       "bad-timestamp", "bad-id", "ok"]
    assert [where for where, _ in items][:2] == ["odd.jsonl:1", "odd.jsonl:2"]
    assert items[-1][1] == {"id": 7, "user": "Bob", "text": "one tweet per line",
                            "created_at": dt.datetime(2021, 10, 4, 17, 8, 22, tzinfo=dt.UTC), "lang": None,
                            "is_retweet": False, "retweet_count": None, "favorite_count": None}


def test_v2_retweets_are_marked_from_referenced_tweets_or_the_rt_prefix(tmp_path: Path) -> None:
    page = {"data": [
        {"id": "1", "text": "quoted, not a retweet", "author_id": "9", "created_at": "2021-10-04T17:08:22Z",
         "referenced_tweets": [{"type": "quoted", "id": "5"}]},
        {"id": "2", "text": "shortened retweet text", "author_id": "9", "created_at": "2021-10-04T17:08:22Z",
         "referenced_tweets": [{"type": "retweeted", "id": "6"}]},
        {"id": "3", "text": "RT @someone: old style", "author_id": "9", "created_at": "2021-10-04T17:08:22Z"},
        {"id": "4", "text": "author missing from includes", "author_id": "8", "created_at": "2021-10-04T17:08:22Z"},
    ], "includes": {"users": [{"id": "9", "username": "nine"}]}}
    path = tmp_path / "page.jsonl"
    path.write_text(json.dumps(page) + "\n")
    items = [item for _, item in jsonl_tweets(path)]
    assert [i["is_retweet"] for i in items[:3]] == [False, True, True]
    assert isinstance(items[3], RowRejected) and items[3].reason == "missing-user"


def test_missing_jsonl_file_is_a_user_mistake(tmp_path: Path) -> None:
    with pytest.raises(TrendoffError, match="no such file"):
        list(jsonl_tweets(tmp_path / "nope.jsonl"))


def test_estimated_rows_counts_lines_of_plain_files_only(tmp_path: Path) -> None:
    plain = tmp_path / "t.csv"
    plain.write_text("h\n1\n2\n3\n")
    assert estimated_rows(plain, header_lines=1) == 3
    gzipped = tmp_path / "t.jsonl.gz"
    with gzip.open(gzipped, "wt") as handle:
        handle.write("{}\n{}\n")
    assert estimated_rows(gzipped) is None


def test_synthetic_tweets_encode_and_carry_every_field() -> None:
    for _, tweet in synthetic_tweets(200, users=1000, seed=1):
        assert avro_codec.decode(avro_codec.encode(tweet)) == tweet
        assert tweet["is_retweet"] == tweet["text"].startswith("RT @")
    assert len({t["user"] for _, t in synthetic_tweets(5000, users=1000, seed=1)}) > 300, "many users"


def test_streamed_v1_objects_use_the_extended_text(tmp_path: Path) -> None:
    streamed = {"created_at": "Wed Oct 10 20:19:24 +0000 2018", "id_str": "1050118621198921728",
                "text": "To make room for more expression, we will now count all emojis as equal\u2026 https://t.co/x",
                "truncated": True, "user": {"screen_name": "@TwitterAPI"},
                "extended_tweet": {"full_text": "To make room for more expression, we will now count all emojis "
                                                "as equal\u2014including those with gender and skin tone."}}
    path = tmp_path / "stream.jsonl"
    path.write_text(json.dumps(streamed) + "\n", encoding="utf-8")
    [(_, tweet)] = list(jsonl_tweets(path))
    assert tweet["text"].endswith("gender and skin tone.") and tweet["user"] == "TwitterAPI"
    assert tweet["id"] == 1050118621198921728 and tweet["lang"] is None and tweet["retweet_count"] is None


# --- replays never end in a traceback (issue 11): one JSON line per case, written out by hand -------

def v2_line(**change: object) -> str:
    tweet = {"id": "7", "text": "one tweet", "created_at": "2021-10-04T17:08:22Z", "author": {"username": "ann"},
             "public_metrics": {"retweet_count": 1, "like_count": 2}} | change
    return json.dumps(tweet)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": 1e400, "text": "t", "created_at": "2021-10-04T17:08:22Z", "author": {"username": "a"}}', "bad-id"),
        ('{"id": Infinity, "text": "t", "created_at": "2021-10-04T17:08:22Z", "author": {"username": "a"}}',
         "bad-id"),
        ('{"id": NaN, "text": "t", "created_at": "2021-10-04T17:08:22Z", "author": {"username": "a"}}', "bad-id"),
        (v2_line(id=-1), "bad-id"),
        (v2_line(id=2**63), "bad-id"),
        (v2_line(id=True), "bad-id"),
        (v2_line(id="9" * 40), "bad-id"),
        ('{"id": ' + "9" * 5000 + ', "text": "t"}', "malformed-json"),  # json.loads refuses > 4,300 digits
        (v2_line(public_metrics={"retweet_count": 1e300 * 1e300}), "bad-count"),  # inf
        ('{"id": "7", "text": "t", "created_at": "2021-10-04T17:08:22Z", "author": {"username": "a"}, '
         '"public_metrics": {"like_count": 1e400}}', "bad-count"),
        ('{"id": "7", "text": "t", "created_at": "2021-10-04T17:08:22Z", "author": {"username": "a"}, '
         '"public_metrics": {"like_count": NaN}}', "bad-count"),
        (v2_line(public_metrics={"retweet_count": -1}), "bad-count"),
        (v2_line(public_metrics={"retweet_count": 2**64}), "bad-count"),
        (v2_line(public_metrics={"retweet_count": [1]}), "bad-count"),
        (v2_line(created_at="9999-12-31T23:59:59-01:00"), "time-out-of-range"),  # UTC is in year 10000
        (v2_line(created_at="9999-12-31T23:59:59+01:00"), "time-out-of-range"),  # a datetime, but not storable
        (v2_line(created_at="0000-01-01T00:00:00Z"), "bad-timestamp"),
        (v2_line(created_at="10000-01-01T00:00:00Z"), "bad-timestamp"),
        (v2_line(created_at=1633367302), "bad-timestamp"),  # an epoch number is not an API time
        (v2_line(created_at="Fri Dec 31 23:59:59 -0100 9999"), "time-out-of-range"),
        (v2_line(created_at="Thu Jan 01 00:00:00 +0000 2100"), "time-out-of-range"),
        (v2_line(author={"username": "a" * 101}), "user-too-long"),
        (v2_line(author={"username": "@"}), "missing-user"),
        (v2_line(author={"username": 5}), "missing-user"),
        ("[" * 100_000, "malformed-json"),                   # RecursionError inside json.loads
        ('{"data": ' + "[" * 50_000 + "]" * 50_000 + "}", "malformed-json"),
        ('"a string"', "malformed-json"),
        ("42", "malformed-json"),
        ("null", "malformed-json"),
        ('{"user": {"screen_name": "a"}, "id_str": "1", "full_text": "t", "created_at": "Sat Jan 07 05:44:28 '
         '+0000 2023", "favorite_count": 1e400}', "bad-count"),
    ],
)
def test_values_python_cannot_convert_are_rejected_rows(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(line + "\n" + v2_line() + "\n")
    items = list(jsonl_tweets(path))
    assert [where for where, _ in items] == ["one.jsonl:1", "one.jsonl:2"]
    assert isinstance(items[0][1], RowRejected) and items[0][1].reason == reason, items[0][1]
    assert items[1][1]["id"] == 7, "the line after it is read as usual"


def test_a_json_time_at_the_edge_of_the_range_passes() -> None:
    [tweet] = v2_tweets(json.loads(v2_line(created_at="2099-12-31T23:59:59.999Z")))
    assert tweet["created_at"] == dt.datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)


def gzipped_lines(count: int) -> bytes:
    return gzip.compress("".join(v2_line(id=str(n + 1)) + "\n" for n in range(count)).encode(), mtime=0)


def test_a_truncated_gzip_delivers_what_came_before_then_says_where_it_broke(tmp_path: Path) -> None:
    whole = gzipped_lines(2000)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    got: list[int] = []
    with pytest.raises(BrokenInputError) as broken:
        for _, tweet in jsonl_tweets(path):
            got.append(tweet["id"])
    assert got == list(range(1, len(got) + 1)) and 100 < len(got) < 2000, "every line before the break"
    assert broken.value.message.startswith(f"cut.jsonl.gz: the input breaks after line {len(got):,} (")
    assert f"of {len(whole) // 2:,} bytes read)" in broken.value.message
    assert "Compressed file ended before the end-of-stream marker was reached" in broken.value.message


def test_a_corrupt_gzip_delivers_what_came_before_then_says_where_it_broke(tmp_path: Path) -> None:
    whole = bytearray(gzipped_lines(2000))
    whole[len(whole) // 2: len(whole) // 2 + 64] = b"\xff" * 64  # damaged deflate data in the middle
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(whole))
    got: list[object] = []
    with pytest.raises(BrokenInputError) as broken:
        for _, item in jsonl_tweets(path):
            got.append(item)
    # Deflate decodes damaged data into garbage before the CRC check fails: those lines are rejections.
    assert 100 < len(got) < 2000 and all(isinstance(item, dict | RowRejected) for item in got)
    assert [item["id"] for item in got[:100]] == list(range(1, 101)), "the lines before the damage are tweets"
    assert broken.value.message.startswith(f"bad.jsonl.gz: the input breaks after line {len(got):,} (")
    assert broken.value.reason == "broken-input"


def test_trailing_garbage_after_a_gzip_member_breaks_after_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "tail.jsonl.gz"
    path.write_bytes(gzipped_lines(3) + b"not gzip at all")
    got: list[object] = []
    with pytest.raises(BrokenInputError, match="breaks after line 3"):
        for _, item in jsonl_tweets(path):
            got.append(item)
    assert len(got) == 3


def test_a_30_mb_json_line_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with path.open("w") as handle:
        handle.write('{"id": "1", "text": "')
        for _ in range(30):
            handle.write("x" * 1_000_000)
        handle.write('"}\n' + v2_line() + "\n")
    tracemalloc.start()
    try:
        items = list(jsonl_tweets(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(where, getattr(item, "reason", "ok")) for where, item in items] == [
        ("long.jsonl:1", "line-too-long"), ("long.jsonl:2", "ok")]
    assert peak < 6 * MAX_JSON_LINE_CHARS, f"peak {peak:,} bytes: the 30 MB line was read whole"


# --- CSV quotes and long lines: damage costs only the lines it corrupts -----------------------------

SPANS_SPEC = ColumnSpec(id_col="id", user_col="who", text_col="body", time_col="when", time_format="epoch-s")


def outcomes(path: Path) -> list[tuple[int, int, str]]:
    """(first line, physical lines, the id or the rejection reason) of every record after the header."""
    return [(line, span, values.reason if isinstance(values, RowRejected) else values[0])
            for line, span, values in iter_csv_spans(path, SPANS_SPEC)]


def test_a_stray_quote_at_the_start_of_a_field_costs_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,who,body,when\n1,ann,"oops,1\n2,bob,fine,2\n3,cat,also fine,3\n')
    # Before: one malformed-row from line 2 to the end of the file, and no tweet.
    assert outcomes(path) == [(2, 1, "malformed-row"), (3, 1, "2"), (4, 1, "3")]


def test_an_unbalanced_quote_before_a_later_quoted_field_glues_nothing(tmp_path: Path) -> None:
    rows = "".join(f"{n},user{n},words {n},{n}\n" for n in range(2, 600))
    path = tmp_path / "t.csv"
    path.write_text(f'id,who,body,when\n1,ann,"hello,1\n{rows}600,zed,"a quoted one",600\n')
    # Before: one accepted tweet whose text held 599 rows, and no rejection at all.
    got = outcomes(path)
    assert got[0] == (2, 1, "malformed-row")
    assert got[1:] == [(n + 1, 1, str(n)) for n in range(2, 601)]
    assert sum(span for _, span, _ in got) == 600, "every data line is accounted for"


def test_genuine_multi_line_fields_still_work(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,who,body,when\r\n1,ann,"two\nlines",1\r\n2,bob,"cr\rand crlf\r\nand ""quoted""",2\r\n'
                     b'3,cat,plain,3')
    assert outcomes(path) == [(2, 2, "1"), (4, 3, "2"), (7, 1, "3")]
    texts = [row_to_tweet(row, SPANS_SPEC)["text"] for _, row in iter_csv_rows(path, SPANS_SPEC)]
    assert texts == ["two\nlines", 'cr\rand crlf\r\nand "quoted"', "plain"]


def test_a_sloppy_quote_inside_one_line_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,who,body,when\n1,ann,"he said "hi" ok",1\n2,bob,"a "quote" and\nmore",2\n3,cat,x,3\n')
    rows = list(iter_csv_rows(path, SPANS_SPEC))
    assert rows[0] == (2, {"id": "1", "who": "ann", "body": 'he said hi" ok"', "when": "1"})  # what csv always gave
    # Across lines the parse is strict: the damaged record costs its first line, the rest is read again.
    assert [(line, row.reason if isinstance(row, RowRejected) else row["id"]) for line, row in rows[1:]] == [
        (3, "malformed-row"), (4, "malformed-row"), (5, "3")]


def test_a_quote_open_for_too_many_lines_is_given_up(tmp_path: Path) -> None:
    many = "".join(f"line {n}\n" for n in range(600))  # no quote anywhere: the open one never closes
    path = tmp_path / "t.csv"
    path.write_text(f'id,who,body,when\n1,ann,"{many}",1\n2,bob,fine,2\n')
    got = outcomes(path)
    assert got[0] == (2, 1, "malformed-row")
    assert got[-1] == (603, 1, "2") and sum(span for _, span, _ in got) == 602
    assert {reason for _, _, reason in got[1:-1]} == {"malformed-row"}, "'line n' rows have 1 field, not 4"


def test_a_30_mb_line_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with path.open("w") as handle:
        handle.write("id,who,body,when\n1,ann,")
        for _ in range(30):
            handle.write("x" * 1_000_000)
        handle.write(",1\n2,bob,fine,2\n")
    tracemalloc.start()
    try:
        got = outcomes(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [(2, 1, "line-too-long"), (3, 1, "2")]
    assert peak < 3_000_000, f"peak {peak:,} bytes: the 30 MB line was read whole"


def test_a_line_cut_by_the_limit_between_cr_and_lf_is_one_line(tmp_path: Path) -> None:
    head = "1,ann,"
    body = "y" * (MAX_CSV_RECORD_CHARS - len(head) - 2)
    path = tmp_path / "t.csv"
    path.write_bytes(f"id,who,body,when\r\n{head}{body},1\r\n2,bob,fine,2\r\n".encode())
    assert outcomes(path) == [(2, 1, "1"), (3, 1, "2")]


def test_every_line_of_the_bundled_csvs_is_accounted_for(data_dir: Path) -> None:
    rtweet = ColumnSpec(id_col="id_str", user_col="screen_name", text_col="text", time_col="created_at",
                        time_format="%a %b %d %H:%M:%S %z %Y", lang_col="lang", retweet_col="is_retweet",
                        retweets_col="retweet_count", favorites_col="favorite_count")
    files = [(data_dir / "fivethirtyeight_twitter_ratio" / "BarackObama.csv", PRESETS["538"], 3207, 3416),
             (data_dir / "fivethirtyeight_twitter_ratio" / "realDonaldTrump.csv", PRESETS["538"], 3232, 4006),
             (data_dir / "rtweet_fixtures" / "rtweet_fixture_tweets.csv", rtweet, 2198, 5387)]
    for path, spec, tweets, data_lines in files:
        header: list[str] = []
        records = list(iter_csv_spans(path, spec, header))
        reader = RowReader(spec, header)
        assert [reader.tweet(values) for _, _, values in records if not isinstance(values, RowRejected)]
        assert len(records) == tweets and sum(span for _, span, _ in records) == data_lines, path.name
        assert max(span for _, span, _ in records) <= 32
