"""The producer against the real broker: every source round-trips field by field, nothing is lost."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from tests.support import by_id, connection_args, consume_all
from trendoff.clients import topics
from trendoff.entry import run_main
from trendoff.producer.main import main as produce_main
from trendoff.producer.publish import Publisher
from trendoff.producer.sources import SourceItem, csv_tweets, jsonl_tweets, synthetic_tweets
from trendoff.settings import Settings
from trendoff.tweets import avro_codec
from trendoff.tweets.columns import PRESETS


def test_538_csv_round_trip_field_by_field_with_per_user_order(
    pipeline_settings: Settings, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data_dir / "fivethirtyeight_twitter_ratio" / "BarackObama.csv"
    expected = [tweet for _, tweet in csv_tweets(path, PRESETS["538"])]
    assert run_main(produce_main, ["csv", str(path), *connection_args(pipeline_settings, cassandra=False)]) == 0
    assert "read 3,207, sent 3,207, delivered 3,207, failed 0, skipped 0" in capsys.readouterr().out
    messages = consume_all(pipeline_settings, len(expected))
    assert by_id(messages) == {tweet["id"]: tweet for tweet in expected}
    assert {m.key() for m in messages} == {b"BarackObama"}
    assert len({m.partition() for m in messages}) == 1
    in_partition_order = [avro_codec.decode(m.value())["id"] for m in sorted(messages, key=lambda m: m.offset())]
    assert in_partition_order == [tweet["id"] for tweet in expected], "one user's tweets keep the file's order"


def test_jsonl_round_trip_of_every_rtweet_fixture(pipeline_settings: Settings, data_dir: Path) -> None:
    path = data_dir / "rtweet_fixtures" / "rtweet_fixture_tweets.jsonl.gz"
    expected = {tweet["id"]: tweet for _, tweet in jsonl_tweets(path)}
    assert run_main(produce_main, ["jsonl", str(path), *connection_args(pipeline_settings, cassandra=False)]) == 0
    messages = consume_all(pipeline_settings, len(expected))
    assert by_id(messages) == expected and len(messages) == 2198
    assert all(m.key().decode() == avro_codec.decode(m.value())["user"] for m in messages)


def test_replaying_twice_sends_the_same_ids(pipeline_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "no_ids.csv"
    path.write_text("who,body,when\nann,first words here,2016-01-01 10:00:00\nbob,more words,2016-01-01 10:01:00\n")
    argv = ["csv", str(path), "--user-col", "who", "--text-col", "body", "--time-col", "when",
            "--time-format", "%Y-%m-%d %H:%M:%S", *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 0
    assert run_main(produce_main, argv) == 0
    messages = consume_all(pipeline_settings, 4)
    ids = [avro_codec.decode(m.value())["id"] for m in messages]
    assert len(ids) == 4 and len(set(ids)) == 2, "a replay re-sends the same derived ids, so downstream upserts"


def test_bad_rows_are_counted_and_shown_and_the_rest_is_sent(
    pipeline_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.csv"
    rows = [
        b"id,who,body,when",
        b"1,ann,good one,2016-01-01T10:00:00",
        b"2,ann,,2016-01-01T10:00:00",
        b"3,bob,bad time,last tuesday",
        b"4,bob,caf\xe9 latin-1 byte,2016-01-01T10:00:00",
        b'5,carol,"' + b"long " * 6_000 + b'",2016-01-01T10:00:00',
        b"6,carol,too,many,fields",
        b"7,dave,fine again,2016-01-01T10:05:00Z",
        b'8,"erin,a stray quote swallows the next lines,2016-01-01T10:00:00',  # they are read again
        b"9,frank,after the stray quote,2016-01-01T10:06:00Z",
        b"10," + b"g" * 101 + b",handle too long,2016-01-01T10:00:00",
        b"11,gina,far future,9999-12-31T23:59:59+01:00",
        b"12,hal," + b"z" * 200_000 + b",2016-01-01T10:00:00",
        b"13,ivy,last one,2016-01-01T10:07:00Z",
    ]
    path.write_bytes(b"\n".join(rows) + b"\n")
    argv = ["csv", str(path), "--id-col", "id", "--user-col", "who", "--text-col", "body", "--time-col", "when",
            *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 0
    out = capsys.readouterr().out
    assert "read 13, sent 4, delivered 4, failed 0, skipped 9" in out, "13 data lines, every one accounted for"
    for reason in ("empty-text 1", "bad-timestamp 1", "bad-encoding 1", "text-too-long 1", "malformed-row 2",
                   "user-too-long 1", "time-out-of-range 1", "line-too-long 1"):
        assert reason in out
    assert "mixed.csv:4: bad-timestamp" in out
    assert sorted(by_id(consume_all(pipeline_settings, 4))) == [1, 7, 9, 13]


def test_a_truncated_gzip_delivers_what_came_before_then_one_line_and_exit_1(
    pipeline_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "".join(json.dumps({"id": str(n), "text": f"tweet number {n}", "created_at": "2021-10-04T17:08:22Z",
                                "author": {"username": "ann"}}) + "\n" for n in range(1, 2001))
    whole = gzip.compress(lines.encode(), mtime=0)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    assert run_main(produce_main, ["jsonl", str(path), *connection_args(pipeline_settings, cassandra=False)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    # One line says where the input broke (the other stderr lines are the progress log).
    [broken] = [line for line in captured.err.splitlines() if line.startswith("trendoff:")]
    assert broken.startswith("trendoff: cut.jsonl.gz: the input breaks after line ")
    assert broken.endswith(": Compressed file ended before the end-of-stream marker was reached")
    delivered = int(broken.removeprefix("trendoff: cut.jsonl.gz: the input breaks after line ").split(" ")[0])
    assert 100 < delivered < 2000
    assert captured.out.startswith(f"read {delivered:,}, sent {delivered:,}, delivered {delivered:,}, failed 0, "
                                   "skipped 0")
    assert sorted(by_id(consume_all(pipeline_settings, delivered))) == list(range(1, delivered + 1))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["csv", "/no/such/file.csv"], "no such file"),
        (["csv", "{data}/fivethirtyeight_twitter_ratio/BarackObama.csv", "--text-col", "body"], "no column 'body'"),
        (["x", "--users", "someone"], "TRENDOFF_X_BEARER_TOKEN"),
        (["jsonl", "/no/such/tweets.jsonl.gz"], "no such file"),
        (["csv", "{data}/fivethirtyeight_twitter_ratio/BarackObama.csv", "--encoding", "klingon"], "klingon"),
        (["csv", "{data}/fivethirtyeight_twitter_ratio"], "is not a file"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    pipeline_settings: Settings, data_dir: Path, argv: list[str], message: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRENDOFF_X_BEARER_TOKEN", raising=False)
    argv = [arg.replace("{data}", str(data_dir)) for arg in argv]
    assert run_main(produce_main, [*argv, *connection_args(pipeline_settings, cassandra=False)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_synthetic_tweets_round_trip(pipeline_settings: Settings) -> None:
    argv = ["synthetic", "--tweets", "500", "--users", "20", "--seed", "11",
            *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 0
    messages = consume_all(pipeline_settings, 500)
    assert len(by_id(messages)) == 500
    assert all(isinstance(r["created_at"], dt.datetime) for r in by_id(messages).values())


FOLLOWTHEHASHTAG_HEADER = (
    "Tweet Id,Date,Hour,User Name,Nickname,Bio,Tweet content,Favs,RTs,Latitude,Longitude,Country,"
    "Place (as appears on Bio),Profile picture,Followers,Following,Listed,Tweet language (ISO 639-1),Tweet Url"
)


def test_followthehashtag_export_is_detected_and_round_trips(
    pipeline_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        FOLLOWTHEHASHTAG_HEADER + "\n"
        '721318437075685382,2016-04-16,12:44,Bill S,@BillSchulhoff,"Weather, NY",'
        '"Wind 3.2 mph NNE.\nBarometer 30.20 in, Rising slowly.",,2,40.77,-73.06,US,"Holtsville, NY",'
        "http://pbs.twimg.com/a.jpg,386,1,24,en,http://twitter.com/BillSchulhoff/status/721318437075685382\n"
        "721318436429881344,2016-04-16,12:44,Jo,jo_ny,,RT @mets: Lets go,3,1000,,,US,,,10,20,0,en,\n",
        encoding="utf-8",
    )
    assert run_main(produce_main, ["csv", str(path), *connection_args(pipeline_settings, cassandra=False)]) == 0
    assert "read 2, sent 2, delivered 2, failed 0, skipped 0" in capsys.readouterr().out
    records = by_id(consume_all(pipeline_settings, 2))
    assert records == {
        721318437075685382: {
            "id": 721318437075685382, "user": "BillSchulhoff",
            "text": "Wind 3.2 mph NNE.\nBarometer 30.20 in, Rising slowly.",
            "created_at": dt.datetime(2016, 4, 16, 12, 44, tzinfo=dt.UTC), "lang": "en", "is_retweet": False,
            "retweet_count": 2, "favorite_count": None,
        },
        721318436429881344: {
            "id": 721318436429881344, "user": "jo_ny", "text": "RT @mets: Lets go",
            "created_at": dt.datetime(2016, 4, 16, 12, 44, tzinfo=dt.UTC), "lang": "en", "is_retweet": True,
            "retweet_count": 1000, "favorite_count": 3,
        },
    }


def test_any_csv_through_column_options_round_trips(pipeline_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_bytes(
        "tid;handle;body;stamp;language;shared;rt_count;likes\n"
        "11;@Ann;Caf\u00e9 \u00e0 Paris;17/03/2019 08:15;fr;No;5;12\n"
        "12;Ann;second one;17/03/2019 08:16;;YES;;\n".encode("latin-1")
    )
    # Semicolons are not commas: the file is read as one column, so the named columns are missing.
    argv = ["csv", str(path), "--format", "columns", "--encoding", "latin-1", "--id-col", "tid", "--user-col",
            "handle", "--text-col", "body", "--time-col", "stamp", "--time-format", "%d/%m/%Y %H:%M",
            "--lang-col", "language", "--retweet-col", "shared", "--retweets-col", "rt_count",
            "--favorites-col", "likes", *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 2
    path.write_bytes(path.read_bytes().replace(b";", b","))
    assert run_main(produce_main, argv) == 0
    assert by_id(consume_all(pipeline_settings, 2)) == {
        11: {"id": 11, "user": "Ann", "text": "Caf\u00e9 \u00e0 Paris",
             "created_at": dt.datetime(2019, 3, 17, 8, 15, tzinfo=dt.UTC), "lang": "fr", "is_retweet": False,
             "retweet_count": 5, "favorite_count": 12},
        12: {"id": 12, "user": "Ann", "text": "second one",
             "created_at": dt.datetime(2019, 3, 17, 8, 16, tzinfo=dt.UTC), "lang": None, "is_retweet": True,
             "retweet_count": None, "favorite_count": None},
    }


def test_rate_limits_the_replay(pipeline_settings: Settings, tmp_path: Path) -> None:
    argv = ["synthetic", "--tweets", "30", "--users", "3", "--rate", "50",
            *connection_args(pipeline_settings, cassandra=False)]
    started = time.monotonic()
    assert run_main(produce_main, argv) == 0
    assert time.monotonic() - started >= 29 / 50, "30 tweets at 50/s take at least 0.58 s"
    messages = consume_all(pipeline_settings, 30)
    assert len(messages) == 30
    for key in {m.key() for m in messages}:  # each user's tweets keep the generator's order
        ids = [avro_codec.decode(m.value())["id"] for m in sorted(messages, key=lambda m: m.offset())
               if m.key() == key]
        assert ids == sorted(ids)


def test_undelivered_messages_mean_exit_1(
    stack_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broker that refuses every message (topic limit below one record) is reported, not lost silently."""
    topic = f"tiny_{uuid.uuid4().hex[:10]}"
    admin = topics.admin_client(stack_settings)
    config = {**topics.TOPIC_CONFIG, "max.message.bytes": "20"}
    admin.create_topics([NewTopic(topic, num_partitions=1, config=config)])[topic].result(timeout=30)
    try:
        argv = ["synthetic", "--tweets", "5", "--users", "2", "--bootstrap", stack_settings.bootstrap_servers,
                "--topic", topic]
        assert run_main(produce_main, argv) == 1
        captured = capsys.readouterr()
        assert "read 5, sent 5, delivered 0, failed 5" in captured.out
        assert "  delivery failed: Broker: Message size too large (5)" in captured.out.splitlines()
        assert "5 messages were not delivered" in captured.err
    finally:
        topics.delete_topic(stack_settings, topic)


def test_python_m_and_the_trendoff_command_run_the_producer(pipeline_settings: Settings, tmp_path: Path) -> None:
    missing = subprocess.run([sys.executable, "-m", "trendoff.producer", "jsonl", str(tmp_path / "gone.jsonl")],
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"trendoff: error: {tmp_path / 'gone.jsonl'}: no such file"
    # The console script of the environment running the tests (CI does not activate the venv).
    trendoff = str(Path(sys.executable).parent / "trendoff")
    done = subprocess.run([trendoff, "produce", "synthetic", "--tweets", "7", "--users", "2",
                           *connection_args(pipeline_settings, cassandra=False)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("read 7, sent 7, delivered 7, failed 0, skipped 0")
    assert len(consume_all(pipeline_settings, 7)) == 7


def test_a_topic_that_does_not_exist_is_an_error_unless_asked_to_create_it(
    pipeline_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    misspelt = pipeline_settings.with_overrides(topic=pipeline_settings.topic + "-typo")
    argv = ["synthetic", "--tweets", "5", "--users", "2", *connection_args(misspelt, cassandra=False)]
    try:
        assert run_main(produce_main, argv) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"trendoff: error: topic {misspelt.topic} does not exist") and "--create-topic" in last
        assert not topics.topic_exists(misspelt, misspelt.topic), "nothing was created"
        assert run_main(produce_main, [*argv, "--create-topic"]) == 0
        assert len(consume_all(misspelt, 5)) == 5
    finally:
        topics.delete_topic(misspelt, misspelt.topic)


def test_ctrl_c_still_delivers_what_was_read(pipeline_settings: Settings) -> None:
    def source_stopped_by_the_user() -> Iterator[SourceItem]:
        for number, item in enumerate(synthetic_tweets(10, users=2, seed=4)):
            if number == 3:
                raise KeyboardInterrupt
            yield item

    summary = Publisher(pipeline_settings).run(source_stopped_by_the_user())
    assert summary.interrupted and (summary.read, summary.sent, summary.delivered) == (3, 3, 3)
    expected = [tweet for _, tweet in synthetic_tweets(3, users=2, seed=4)]
    assert sorted(by_id(consume_all(pipeline_settings, 3)).values(), key=lambda t: t["id"]) == expected


def test_a_live_source_publishes_each_tweet_before_the_next_arrives(pipeline_settings: Settings) -> None:
    seen_while_waiting: list[int] = []

    def slow_live_source() -> Iterator[SourceItem]:
        tweets = synthetic_tweets(3, users=2, seed=8)
        yield next(tweets)
        yield next(tweets)
        # A poll loop sleeping until the next poll: what was read must already be on the topic.
        seen_while_waiting.append(len(consume_all(pipeline_settings, 2, timeout_seconds=15)))
        yield next(tweets)

    summary = Publisher(pipeline_settings, live=True).run(slow_live_source())
    assert seen_while_waiting == [2]
    assert (summary.read, summary.delivered) == (3, 3)


def test_limit_stops_after_that_many_rows(
    pipeline_settings: Settings, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data_dir / "fivethirtyeight_twitter_ratio" / "realDonaldTrump.csv"
    argv = ["csv", str(path), "--limit", "25", *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 0
    assert "read 25, sent 25, delivered 25, failed 0, skipped 0" in capsys.readouterr().out
    first_rows = [tweet for _, tweet in itertools.islice(csv_tweets(path, PRESETS["538"]), 25)]
    assert by_id(consume_all(pipeline_settings, 25)) == {tweet["id"]: tweet for tweet in first_rows}
