"""The Spark serving job gives, pair by pair, the same answers as `trendoff compare`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tests.support import connection_args
from trendoff.entry import run_main
from trendoff.serving.pairs_job import main as job_main
from trendoff.serving.pairs_job import run_pairs
from trendoff.serving.query import run_compare
from trendoff.settings import Settings
from trendoff.views.keys import batch_bucket


def test_pairs_job_matches_the_cli_answers(
    pipeline_settings: Settings, cassandra_session: Any, spark: SparkSession, tmp_path: Path
) -> None:
    session = cassandra_session
    cutoff = dt.datetime(2026, 1, 1, 12, 0)
    for version, user, counts in ((3, "alice", {"vote": 4, "jobs": 2, "solo": 9}), (3, "bob", {"vote": 1, "jobs": 5}),
                                  (3, "carol", {"jobs": 1}), (2, "alice", {"old": 100})):
        session.execute("INSERT INTO batch_words (version, bucket, user, word_counts, tweets_counted) "
                        "VALUES (%s, %s, %s, %s, 1)", (version, batch_bucket(user), user, json.dumps(counts)))
    # Speed rows: one before T (already in the batch view, so not added), two after it.
    for minutes, word, tweet_id in ((-1, "vote", 1), (1, "vote", 2), (2, "rally", 3)):
        session.execute(
            "INSERT INTO speed_words (user, arrival_minute, word, tweet_id, count) VALUES ('bob', %s, %s, %s, 1)",
            (cutoff + dt.timedelta(minutes=minutes), word, tweet_id),
        )
    session.execute(
        "INSERT INTO batch_published (view_name, version, arrival_cutoff) VALUES ('words', 3, %s)", (cutoff,)
    )

    pairs = [("alice", "bob"), ("bob", "carol"), ("alice", "nobody")]
    answers = run_pairs(spark, pipeline_settings, pairs, top=10)
    for (a, b), answer in zip(pairs[:2], answers[:2], strict=True):
        expected = run_compare(pipeline_settings, a, b, top=10).as_json()
        assert answer == expected
    # Both have a smaller count of 2: the larger sum (7) ranks first.
    assert answers[0]["top"] == [{"word": "jobs", "counts": [2, 5]}, {"word": "vote", "counts": [4, 2]}]
    assert answers[2]["error"] == "no tweets of @nobody in the views"

    pairs_file, output = tmp_path / "pairs.txt", tmp_path / "answers.jsonl"
    pairs_file.write_text("# a comment\nAlice,@BOB\n")
    connection = connection_args(pipeline_settings, kafka=False)
    assert run_main(job_main, ["--pairs", str(pairs_file), "--output", str(output), *connection]) == 0
    assert [json.loads(line) for line in output.read_text().splitlines()] == answers[:1]
    pairs_file.write_text("alice\n")
    with pytest.raises(Exception, match="expected 'a,b'"):
        job_main(["--pairs", str(pairs_file), "--output", str(output), *connection])
