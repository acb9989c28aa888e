"""Sources without Kafka: JSON lines (v1.1 and v2), the real archives, the synthetic generator."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from trendoff import avro_codec
from trendoff.errors import TrendoffError
from trendoff.producer.sources import csv_tweets, estimated_rows, jsonl_tweets, synthetic_tweets
from trendoff.tweet_columns import PRESETS, RowRejected

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
