"""`trendoff status` against the real stack and jobs: lag per partition that falls to 0 as each job catches
up, the age of the last micro-batch, dead letters per job, the published batch, a broker that is down."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.support import connection_args, free_port, kafka_consumer_group_lag, produce_tweets, run_until_idle, tweet
from trendoff.apps import status as status_app
from trendoff.apps.status import pipeline_status
from trendoff.clients import kafka_offsets
from trendoff.entry import run_main
from trendoff.settings import Settings

NOT_AVRO = "not an Avro Tweet (tweets/tweet.avsc)"


def status_tweets(count: int) -> list[dict[str, Any]]:
    return [tweet(5000 + n, f"user{n % 4}", f"status check number {n} for lagging jobs",
                  dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n)) for n in range(count)]


def lags(status: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {job: info["lag"] for job, info in status["jobs"].items()}


def test_lag_goes_to_zero_as_each_job_catches_up(
    pipeline_settings: Settings, spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = pipeline_settings
    produce_tweets(settings, status_tweets(30), poison=[b"\x00\x01not avro at all", b"\x02"])
    ends = kafka_offsets.end_offsets(settings, settings.topic)
    assert sum(ends.values()) == 32 and len(ends) == 3

    before = pipeline_status(settings, None)
    assert before["stack"]["kafka"]["reachable"] and before["stack"]["cassandra"]["reachable"]
    every_message = {str(p): n for p, n in sorted(ends.items())}  # no job has run: everything is behind
    assert lags(before) == {"ingest": every_message, "speed": every_message}
    assert before["jobs"]["ingest"]["lag_total"] == 32
    assert before["jobs"]["speed"]["last_batch_at"] is None and before["batch"] is None
    assert before["jobs"]["ingest"]["dead_letters"] == {"count": 0, "more": False, "by_reason": {}}

    run_until_idle(spark, settings, "ingest", tmp_path)
    middle = pipeline_status(settings, None)
    zero = {str(p): 0 for p in sorted(ends)}
    assert lags(middle) == {"ingest": zero, "speed": every_message}
    ingest = middle["jobs"]["ingest"]
    assert 0 <= ingest["last_batch_age_seconds"] < 300
    assert ingest["dead_letters"] == {"count": 2, "more": False, "by_reason": {NOT_AVRO: 2}}
    assert middle["jobs"]["speed"]["dead_letters"]["count"] == 0

    run_until_idle(spark, settings, "speed", tmp_path)
    after = pipeline_status(settings, None)
    assert lags(after) == {"ingest": zero, "speed": zero}
    assert after["jobs"]["speed"]["lag_total"] == 0
    assert after["jobs"]["speed"]["dead_letters"]["count"] == 2

    # More tweets: behind again by exactly those, on the partitions they went to.
    produce_tweets(settings, status_tweets(35)[30:], partition=1)
    behind = pipeline_status(settings, None)
    assert lags(behind)["ingest"] == {**zero, "1": 5} and behind["jobs"]["speed"]["lag_total"] == 5
    # Kafka's own tool reads the same lag from the offsets each job commits to its consumer group.
    for job in ("ingest", "speed"):
        group = behind["jobs"][job]["consumer_group"]
        assert group == f"trendoff-{job}-{settings.keyspace}-{settings.topic}"
        assert kafka_consumer_group_lag(settings, group) == lags(behind)[job]

    capsys.readouterr()
    assert run_main(status_app.main, connection_args(settings)) == 0
    text = capsys.readouterr().out
    assert "ingest    lag 5 (p0 0, p1 5, p2 0)" in text and "dead letters 2" in text
    assert "batch     nothing published yet (speed view only)" in text
    assert run_main(status_app.main, ["--json", *connection_args(settings)]) == 0
    assert lags(json.loads(capsys.readouterr().out)) == lags(behind)


def test_a_broker_that_is_down_is_reported_and_exits_1(
    pipeline_settings: Settings, cassandra_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    published_at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
    cutoff = published_at.replace(second=0) - dt.timedelta(minutes=2)
    cassandra_session.execute("INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) "
                              "VALUES ('words', 3, %s, %s)", (cutoff, published_at))
    down = pipeline_settings.with_overrides(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    status = pipeline_status(down, None)
    assert status["stack"]["kafka"]["reachable"] is False and "did not answer" in status["stack"]["kafka"]["error"]
    assert status["stack"]["cassandra"]["reachable"] is True
    assert status["jobs"]["ingest"]["lag"] is None and status["jobs"]["speed"]["lag_total"] is None
    batch = status["batch"]
    assert (batch["version"], batch["cutoff"], batch["published_at"]) == (3, cutoff.isoformat(),
                                                                         published_at.isoformat())
    assert 600 <= batch["age_seconds"] < 700 and batch["cutoff_age_seconds"] >= batch["age_seconds"] + 120

    capsys.readouterr()
    assert run_main(status_app.main, connection_args(down)) == 1
    text = capsys.readouterr().out
    assert "kafka" in text and "DOWN" in text and "lag unknown" in text and "version 3" in text
