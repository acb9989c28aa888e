"""The producer against the real broker: every source round-trips field by field, nothing is lost."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from trendoff import avro_codec
from trendoff.cli import run_main
from trendoff.config import Settings
from trendoff.producer.main import main as produce_main
from trendoff.producer.sources import csv_tweets, jsonl_tweets
from trendoff.tweet_columns import PRESETS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "x_api"


def consume_all(settings: Settings, expected: int, timeout_seconds: float = 30) -> list[Any]:
    """Every message on the test's topic, read back with a plain consumer."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_seconds
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                if len(messages) >= expected:
                    break
                continue
            assert message.error() is None, message.error()
            messages.append(message)
    finally:
        consumer.close()
    return messages


def connection_args(settings: Settings) -> list[str]:
    return ["--bootstrap", settings.bootstrap_servers, "--topic", settings.topic]


def by_id(messages: list[Any]) -> dict[int, dict[str, Any]]:
    return {record["id"]: record for record in (avro_codec.decode(m.value()) for m in messages)}


def test_538_csv_round_trip_field_by_field_with_per_user_order(
    pipeline_settings: Settings, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data_dir / "fivethirtyeight_twitter_ratio" / "BarackObama.csv"
    expected = [tweet for _, tweet in csv_tweets(path, PRESETS["538"])]
    assert run_main(produce_main, ["csv", str(path), *connection_args(pipeline_settings)]) == 0
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
    assert run_main(produce_main, ["jsonl", str(path), *connection_args(pipeline_settings)]) == 0
    messages = consume_all(pipeline_settings, len(expected))
    assert by_id(messages) == expected and len(messages) == 2198
    assert all(m.key().decode() == avro_codec.decode(m.value())["user"] for m in messages)


def test_replaying_twice_sends_the_same_ids(pipeline_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "no_ids.csv"
    path.write_text("who,body,when\nann,first words here,2016-01-01 10:00:00\nbob,more words,2016-01-01 10:01:00\n")
    argv = ["csv", str(path), "--user-col", "who", "--text-col", "body", "--time-col", "when",
            "--time-format", "%Y-%m-%d %H:%M:%S", *connection_args(pipeline_settings)]
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
        b'5,carol,"' + b"long " * 20_000 + b'",2016-01-01T10:00:00',
        b"6,carol,too,many,fields",
        b"7,dave,fine again,2016-01-01T10:05:00Z",
    ]
    path.write_bytes(b"\n".join(rows) + b"\n")
    argv = ["csv", str(path), "--id-col", "id", "--user-col", "who", "--text-col", "body", "--time-col", "when",
            *connection_args(pipeline_settings)]
    assert run_main(produce_main, argv) == 0
    out = capsys.readouterr().out
    assert "read 7, sent 2, delivered 2, failed 0, skipped 5" in out
    for reason in ("empty-text 1", "bad-timestamp 1", "bad-encoding 1", "text-too-long 1", "malformed-row 1"):
        assert reason in out
    assert "mixed.csv:4: bad-timestamp" in out
    assert sorted(by_id(consume_all(pipeline_settings, 2))) == [1, 7]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["csv", "/no/such/file.csv"], "no such file"),
        (["csv", "{data}/fivethirtyeight_twitter_ratio/BarackObama.csv", "--text-col", "body"], "no column 'body'"),
        (["x", "--users", "someone"], "TRENDOFF_X_BEARER_TOKEN"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    pipeline_settings: Settings, data_dir: Path, argv: list[str], message: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRENDOFF_X_BEARER_TOKEN", raising=False)
    argv = [arg.replace("{data}", str(data_dir)) for arg in argv]
    assert run_main(produce_main, [*argv, *connection_args(pipeline_settings)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_synthetic_tweets_round_trip(pipeline_settings: Settings) -> None:
    argv = ["synthetic", "--tweets", "500", "--users", "20", "--seed", "11", *connection_args(pipeline_settings)]
    assert run_main(produce_main, argv) == 0
    messages = consume_all(pipeline_settings, 500)
    assert len(by_id(messages)) == 500
    assert all(isinstance(r["created_at"], dt.datetime) for r in by_id(messages).values())
