"""The publisher's parts that need no broker: the rate limiter, the run summary, a broken input."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from trendoff.config import load_settings
from trendoff.producer.publish import Publisher, PublishSummary, RateLimiter
from trendoff.producer.sources import BrokenInputError
from trendoff.tweets.limits import RowRejected


def test_rate_limiter_spaces_sends() -> None:
    limiter = RateLimiter(200.0)
    started = time.monotonic()
    for _ in range(41):
        limiter.wait()
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 1.0, f"41 sends at 200/s take 0.2 s, took {elapsed:.3f} s"


def test_no_rate_means_no_waiting() -> None:
    limiter = RateLimiter(None)
    started = time.monotonic()
    for _ in range(10_000):
        limiter.wait()
    assert time.monotonic() - started < 0.5


def test_summary_lists_reasons_and_the_first_bad_rows() -> None:
    summary = PublishSummary(read=10, sent=4, delivered=4, failed=0, seconds=2.0,
                             skipped=Counter({"bad-timestamp": 4, "empty-text": 2}),
                             shown=["t.csv:3: bad-timestamp: when 'x' does not match 'iso'",
                                    "t.csv:5: empty-text: body is empty"])
    assert summary.lines() == [
        "read 10, sent 4, delivered 4, failed 0, skipped 6 in 2.0 s (2 tweets/s)",
        "skipped by reason: bad-timestamp 4, empty-text 2",
        "  t.csv:3: bad-timestamp: when 'x' does not match 'iso'",
        "  t.csv:5: empty-text: body is empty",
        "  ... and 4 more",
    ]


def test_summary_of_a_clean_run_is_one_line() -> None:
    assert PublishSummary(read=3, sent=3, delivered=3, seconds=1.0).lines() == [
        "read 3, sent 3, delivered 3, failed 0, skipped 0 in 1.0 s (3 tweets/s)"
    ]


def test_a_broken_input_ends_the_run_with_a_summary_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows before the break are counted; the break is kept for the CLI's one line (exit 1)."""

    def source() -> Iterator[tuple[str, dict[str, Any] | RowRejected]]:
        yield "t.jsonl.gz:1", RowRejected("malformed-json", "not a JSON object")
        yield "t.jsonl.gz:2", RowRejected("missing-user", "no user.screen_name")
        raise BrokenInputError("t.jsonl.gz: the input breaks after line 2 (40 of 80 bytes read): cut")

    # Nothing is sent, so no broker is needed; only the topic check would ask for one.
    monkeypatch.setattr(Publisher, "ensure_topic", lambda self: None)
    summary = Publisher(load_settings({"TRENDOFF_KAFKA_BOOTSTRAP": "127.0.0.1:9"})).run(source())
    assert summary.broken == "t.jsonl.gz: the input breaks after line 2 (40 of 80 bytes read): cut"
    assert (summary.read, summary.sent, summary.failed) == (2, 0, 0)
    assert summary.skipped == Counter({"malformed-json": 1, "missing-user": 1})
    assert summary.lines()[0].startswith("read 2, sent 0, delivered 0, failed 0, skipped 2 in ")
