"""`trendoff produce x` through tweepy's real client code, answered by recorded X API v2 responses.

A local HTTP server on 127.0.0.1 plays the X API from hand-written fixtures (tests/fixtures/x_api);
TRENDOFF_X_API_BASE makes the producer mount a requests adapter that sends tweepy's calls there.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support import by_id, connection_args, consume_all
from trendoff.entry import run_main
from trendoff.producer.main import main as produce_main
from trendoff.settings import Settings
from trendoff.tweets import avro_codec

FIXTURES = Path(__file__).parent.parent / "fixtures" / "x_api"
XDEV = "2244994945"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class RecordedXApi(BaseHTTPRequestHandler):
    """Answers like api.twitter.com for the calls the producer makes; remembers what it was asked."""

    requests_seen: ClassVar[list[str]] = []
    rule_posts: ClassVar[list[dict[str, Any]]] = []
    rate_limited_once = False
    # "forbidden": the plan has no filtered stream (HTTP 403 on every stream call).
    plan = "full"

    protocol_version = "HTTP/1.0"  # the stream ends when the connection closes, as requests expects

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == "Bearer good-token":
            return True
        self._send(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
        return False

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        type(self).requests_seen.append(self.path)
        if not self._authorized():
            return
        if url.path.startswith("/2/tweets/search/stream") and type(self).plan == "forbidden":
            self._send(403, fixture("forbidden.json"))
        elif url.path == "/2/users/by":
            self._send(200, fixture("users.json"))
        elif url.path == f"/2/users/{XDEV}/tweets":
            if not type(self).rate_limited_once:
                type(self).rate_limited_once = True
                self._send(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
                           {"x-rate-limit-reset": str(int(time.time()) + 1), "x-rate-limit-remaining": "0"})
            elif "since_id" in query:
                self._send(200, fixture("user_tweets_newer.json"))
            elif "pagination_token" in query:
                self._send(200, fixture("user_tweets_page2.json"))
            else:
                self._send(200, fixture("user_tweets_page1.json"))
        elif url.path == "/2/tweets/search/stream/rules":
            self._send(200, fixture("stream_rules.json"))
        elif url.path == "/2/tweets/search/stream":
            self._stream()
        else:
            self._send(404, {"title": "Not Found Error", "status": 404})

    def do_POST(self) -> None:
        type(self).requests_seen.append(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if not self._authorized():
            return
        if urlparse(self.path).path != "/2/tweets/search/stream/rules":
            self._send(404, {"title": "Not Found Error", "status": 404})
            return
        type(self).rule_posts.append(body)
        self._send(200, fixture("stream_rules_deleted.json" if "delete" in body else "stream_rules_added.json"))

    def _stream(self) -> None:
        """The recorded lines (one has a keep-alive after it), then keep-alives until the client hangs up."""
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        try:
            for line in (FIXTURES / "stream_lines.jsonl").read_text(encoding="utf-8").splitlines():
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()
            for _ in range(100):
                time.sleep(0.1)
                self.wfile.write(b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def recorded_x_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RecordedXApi]]:
    RecordedXApi.requests_seen = []
    RecordedXApi.rule_posts = []
    RecordedXApi.rate_limited_once = False
    RecordedXApi.plan = "full"
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedXApi)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TRENDOFF_X_API_BASE", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("TRENDOFF_X_BEARER_TOKEN", "good-token")
    yield RecordedXApi
    server.shutdown()
    server.server_close()


def test_polls_pages_then_newer_tweets_and_waits_out_a_rate_limit(
    pipeline_settings: Settings, recorded_x_api: type[RecordedXApi], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["x", "--users", "@XDevelopers", "--rounds", "2", "--poll", "100ms",
            *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 0
    assert "read 4, sent 4, delivered 4, failed 0, skipped 0" in capsys.readouterr().out
    messages = consume_all(pipeline_settings, 4)
    records = by_id(messages)
    assert records[1460323737035677698] == {
        "id": 1460323737035677698, "user": "XDevelopers",
        "text": "Introducing a new era for the Twitter Developer Platform! \U0001f4e3 https://t.co/7ZpRSS4P4N",
        "created_at": dt.datetime(2021, 11, 15, 19, 8, 5, tzinfo=dt.UTC), "lang": "en", "is_retweet": False,
        "retweet_count": 151, "favorite_count": 520,
    }
    assert records[1458172421115101189]["is_retweet"] is True
    assert records[1455953449422516226]["text"] == "Got feedback? We're listening &amp; we read every reply."
    # One user, one partition: the topic holds the timeline oldest first, as the tweets were written.
    in_offset_order = [avro_codec.decode(m.value())["id"] for m in sorted(messages, key=lambda m: m.offset())]
    assert in_offset_order == [1455953449422516226, 1458172421115101189, 1460323737035677698, 1461000000000000000]
    assert {m.key() for m in messages} == {b"XDevelopers"}
    tweet_calls = [p for p in recorded_x_api.requests_seen if "/tweets" in p]
    assert len(tweet_calls) == 4, "a 429 waited out and retried, page 2, then the since_id poll"
    assert "since_id=1460323737035677698" in tweet_calls[-1]
    assert "pagination_token=7140dibdnow9c7btw3z2vwioavpvutgzrzm9icis4ndix" in tweet_calls[2]


def test_follow_replaces_our_stream_rule_and_publishes_streamed_tweets(
    pipeline_settings: Settings, recorded_x_api: type[RecordedXApi]
) -> None:
    argv = ["x", "--users", "XDevelopers,@TwitterDev", "--follow", "--limit", "3",
            *connection_args(pipeline_settings, cassandra=False)]
    assert run_main(produce_main, argv) == 0
    assert recorded_x_api.rule_posts == [
        {"delete": {"ids": ["1462000000000000001"]}},  # only the rule tagged trendoff, not another app's
        {"add": [{"value": "from:XDevelopers OR from:TwitterDev", "tag": "trendoff"}]},
    ]
    messages = consume_all(pipeline_settings, 3)
    records = by_id(messages)
    assert sorted(records) == [1461011111111111111, 1461022222222222222, 1461033333333333333]
    assert records[1461033333333333333] == {
        "id": 1461033333333333333, "user": "TwitterDev", "text": "Troisi\u00e8me tweet, d'un autre compte",
        "created_at": dt.datetime(2021, 11, 17, 9, 1, tzinfo=dt.UTC), "lang": "fr", "is_retweet": False,
        "retweet_count": 2, "favorite_count": 3,
    }
    assert records[1461022222222222222]["is_retweet"] is True
    assert sorted(m.key() for m in messages) == [b"TwitterDev", b"XDevelopers", b"XDevelopers"]


@pytest.mark.parametrize(
    ("argv", "token", "plan", "expected"),
    [
        (["--users", "XDevelopers"], "stale-token", "full", "refused the bearer token in TRENDOFF_X_BEARER_TOKEN"),
        (["--users", "XDevelopers", "--follow"], "good-token", "forbidden", "may not use that endpoint (403)"),
        (["--users", "nobody_here"], "good-token", "full", "the X API knows no user 'nobody_here'"),
    ],
)
def test_refusals_are_one_line_and_exit_2(
    pipeline_settings: Settings, recorded_x_api: type[RecordedXApi], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], argv: list[str], token: str, plan: str, expected: str,
) -> None:
    monkeypatch.setenv("TRENDOFF_X_BEARER_TOKEN", token)
    recorded_x_api.plan = plan
    assert run_main(produce_main, ["x", *argv, *connection_args(pipeline_settings, cassandra=False)]) == 2
    err = capsys.readouterr().err
    assert expected in err and token not in err and "Traceback" not in err
    # Refusals surface before anything is published, so the error is the only line.
    [line] = err.strip().splitlines()
    assert line.startswith("trendoff: error: ") and expected in line
