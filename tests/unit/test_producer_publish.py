"""The publisher's parts that need no broker: the rate limiter and the run summary."""

from __future__ import annotations

import time
from collections import Counter

from trendoff.producer.publish import PublishSummary, RateLimiter


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
