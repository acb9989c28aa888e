"""`trendoff serve` as a real process against the real Cassandra: each answer equals the CLI's, errors are JSON
with the right status (404, 422, 503 when Cassandra stops answering), and a schemathesis run finds no 5xx."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support import EXPECTED_SERVING_ANSWER as EXPECTED
from tests.support import connection_args, running_service, seed_serving_views, wait_until
from trendoff.apps import compare as compare_app
from trendoff.apps import status as status_app
from trendoff.entry import run_main
from trendoff.settings import Settings
from trendoff.views.keys import batch_bucket


class CuttableProxy:
    """A TCP proxy to a real server that the test can cut, so the service sees Cassandra stop answering."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_off:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and drop the open ones (as a stopped node does)."""
        self.cut_off = True
        self.listener.close()
        for sock in self.sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def service(pipeline_settings: Settings, cassandra_session: Any, tmp_path: Path) -> Iterator[str]:
    seed_serving_views(cassandra_session)
    with running_service(pipeline_settings, tmp_path) as base:
        yield base


def cli_json(capsys: pytest.CaptureFixture[str], main: Any, args: list[str]) -> tuple[int, Any]:
    capsys.readouterr()
    code = run_main(main, args)
    return code, json.loads(capsys.readouterr().out)


def test_compare_equals_the_cli_and_the_hand_written_answer(
    service: str, pipeline_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = connection_args(pipeline_settings, kafka=False)
    for a, b, top in [("BarackObama", "realDonaldTrump", None), ("@barackobama", " REALDONALDTRUMP ", "2"),
                      ("realDonaldTrump", "BarackObama", "3"), ("BarackObama", "BarackObama", "1"),
                      ("baracklive", "barackobama", None), ("someone_else", "barackfriend", "5")]:
        params = {"a": a, "b": b, **({"top": top} if top else {})}
        response = httpx.get(f"{service}/api/compare", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        code, printed = cli_json(capsys, compare_app.main, [a, b, "--json", *flags, *(["--top", top] if top else [])])
        assert code == 0
        assert response.json() == printed, (a, b, top)
    assert httpx.get(f"{service}/api/compare", params={"a": "BarackObama", "b": "realDonaldTrump"}).json() == EXPECTED
    two = httpx.get(f"{service}/api/compare", params={"a": "BarackObama", "b": "realDonaldTrump", "top": 2}).json()
    assert two["top"] == EXPECTED["top"][:2]
    swapped = httpx.get(f"{service}/api/compare", params={"a": "realDonaldTrump", "b": "BarackObama"}).json()
    assert [row["counts"] for row in swapped["top"]] == [[7, 4], [9, 3], [1, 8], [1, 5]]
    # A user with speed rows only shares nothing here: an empty top, not an error.
    assert httpx.get(f"{service}/api/compare", params={"a": "baracklive", "b": "barackobama"}).json()["top"] == []


def test_contrast_and_rates_equal_the_cli(
    service: str, pipeline_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from trendoff.apps import contrast as contrast_app

    flags = connection_args(pipeline_settings, kafka=False)
    for params, argv in [({"top": "3"}, ["--top", "3"]), ({"prior_weight": "5"}, ["--prior-weight", "5"])]:
        response = httpx.get(f"{service}/api/contrast", params={"a": "BarackObama", "b": "realDonaldTrump", **params})
        assert response.status_code == 200, response.text
        code, printed = cli_json(capsys, contrast_app.main, ["BarackObama", "realDonaldTrump", "--json", *argv, *flags])
        assert code == 0 and response.json() == printed
    rates = httpx.get(f"{service}/api/compare", params={"a": "BarackObama", "b": "realDonaldTrump", "per": 100}).json()
    code, printed = cli_json(capsys, compare_app.main, ["BarackObama", "realDonaldTrump", "--per", "100", "--json",
                                                        *flags])
    assert code == 0 and rates == printed and rates["totals"] == [23, 29]
    for params in ({"prior_weight": "0"}, {"prior_weight": "inf"}, {"top": "0"}):
        refused = httpx.get(f"{service}/api/contrast", params={"a": "BarackObama", "b": "realDonaldTrump", **params})
        assert refused.status_code == 422 and refused.json()["error"] == "bad-parameter"
    unknown = httpx.get(f"{service}/api/contrast", params={"a": "BarackObama", "b": "nobody_here"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown-user"


def test_users_by_prefix_are_bounded_sorted_and_case_insensitive(service: str) -> None:
    def users(prefix: str) -> list[str]:
        response = httpx.get(f"{service}/api/users", params={"prefix": prefix})
        assert response.status_code == 200, response.text
        assert response.json()["prefix"] == prefix
        return response.json()["users"]

    assert users("BaRa") == ["barackfriend", "baracklive", "barackobama"]  # batch and speed-only users
    assert users("@barack") == users("barack") == ["barackfriend", "baracklive", "barackobama"]
    assert users("barackl") == ["baracklive"]
    assert users("r") == ["realdonaldtrump"]
    assert users("fan") == [f"fan{n:02d}" for n in range(20)]  # at most 20, from across the buckets
    assert users("fan2") == ["fan20", "fan21", "fan22", "fan23", "fan24"]
    assert users("old") == []  # only in version 6, which is not published
    assert users("zz") == []
    assert users("")[:5] == ["barackfriend", "baracklive", "barackobama", "fan00", "fan01"]
    assert len(users("")) == 20


def test_errors_are_json_with_the_right_status(service: str) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"a": "BarackObama", "b": "nobody_here"}, 404, "unknown-user"),
        ({"a": "oldversion", "b": "BarackObama"}, 404, "unknown-user"),  # only in an unpublished version
        ({"a": "   ", "b": "BarackObama"}, 422, "bad-user"),  # nothing left once trimmed
        ({"a": "@", "b": "BarackObama"}, 422, "bad-user"),
        ({"a": "", "b": "BarackObama"}, 422, "bad-parameter"),
        ({"a": "BarackObama"}, 422, "bad-parameter"),
        ({"a": "BarackObama", "b": "realDonaldTrump", "top": "0"}, 422, "bad-parameter"),
        ({"a": "BarackObama", "b": "realDonaldTrump", "top": "-3"}, 422, "bad-parameter"),
        ({"a": "BarackObama", "b": "realDonaldTrump", "top": "ten"}, 422, "bad-parameter"),
        ({"a": "x" * 201, "b": "BarackObama"}, 422, "bad-parameter"),
        ({"a": "x" * 200, "b": "BarackObama"}, 404, "unknown-user"),
        ({"a": "\u00e9l\u00e8ve\u0000", "b": "BarackObama"}, 404, "unknown-user"),
    ]
    for params, status, reason in cases:
        response = httpx.get(f"{service}/api/compare", params=params)
        assert (response.status_code, response.json()["error"]) == (status, reason), (params, response.text)
        assert response.json()["message"], params
    unknown = httpx.get(f"{service}/api/compare", params={"a": "BarackObama", "b": "nobody_here"}).json()
    assert "@nobody_here" in unknown["message"]
    assert httpx.get(f"{service}/api/users", params={"prefix": "p" * 201}).status_code == 422
    missing = httpx.get(f"{service}/api/nothing")
    assert (missing.status_code, missing.json()["error"]) == (404, "not-found")
    assert httpx.post(f"{service}/api/compare").status_code == 405
    # The page and its files are served by the service itself.
    page = httpx.get(f"{service}/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert httpx.get(f"{service}/static/app.js").status_code == 200
    assert httpx.get(f"{service}/docs").status_code == 404  # the docs page would load its scripts from a CDN


def test_openapi_document_and_status_equal_the_cli(
    service: str, pipeline_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    document = httpx.get(f"{service}/openapi.json").json()
    assert {"/api/compare", "/api/contrast", "/api/users", "/api/status", "/healthz"} <= document["paths"].keys()
    assert "/" not in document["paths"]
    assert httpx.get(f"{service}/healthz").json() == {"status": "ok"}
    from_api = httpx.get(f"{service}/api/status").json()
    code, from_cli = cli_json(capsys, status_app.main, ["--json", *connection_args(pipeline_settings)])
    assert code == 0

    def timeless(status: dict[str, Any]) -> dict[str, Any]:
        """The status without the moment it was taken (and the ages measured from it)."""
        copy = json.loads(json.dumps(status))
        del copy["generated_at"]
        copy["batch"].pop("age_seconds")
        copy["batch"].pop("cutoff_age_seconds")
        for job in copy["jobs"].values():
            job.pop("last_batch_age_seconds")
        return copy

    assert timeless(from_api) == timeless(from_cli)
    assert from_api["batch"]["version"] == 7
    assert from_api["batch"]["cutoff"] == "2026-01-01T12:00:00+00:00"
    assert from_api["batch"]["published_at"] == "2026-01-01T12:30:00+00:00"
    assert from_api["stack"]["kafka"]["reachable"] and from_api["stack"]["cassandra"]["reachable"]
    assert from_api["jobs"]["ingest"]["lag"] == {"0": 0, "1": 0, "2": 0}  # an empty topic of 3 partitions


def test_cassandra_that_stops_answering_is_a_503(
    pipeline_settings: Settings, cassandra_session: Any, tmp_path: Path
) -> None:
    seed_serving_views(cassandra_session)
    proxy = CuttableProxy(pipeline_settings.cassandra_port)
    with running_service(pipeline_settings, tmp_path, cassandra_port=proxy.port) as base:
        params = {"a": "BarackObama", "b": "realDonaldTrump"}
        assert httpx.get(f"{base}/api/compare", params=params).json() == EXPECTED
        proxy.cut()
        for path, query in [("/api/compare", params), ("/api/users", {"prefix": "b"}), ("/healthz", {})]:
            response = httpx.get(f"{base}{path}", params=query, timeout=60)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"] == "cassandra-unavailable"
        status = httpx.get(f"{base}/api/status", timeout=60).json()
        assert status["stack"]["cassandra"]["reachable"] is False and status["jobs"] is None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzing_the_openapi_document_finds_no_server_error(service: str, mode: GenerationMode) -> None:
    # Schemathesis's own pytest plugin (from_fixture) does not work with pytest 9, so its strategy runs
    # under a plain Hypothesis test: every operation of the document, valid (POSITIVE) or not (NEGATIVE).
    api = schemathesis.openapi.from_url(f"{service}/openapi.json")
    seen: set[str] = set()

    @given(case=api.as_strategy(mode))
    @settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def no_server_error(case: Any) -> None:
        seen.add(case.path)
        response = case.call(timeout=30)
        assert response.status_code < 500, (case.path, case.query, response.status_code, response.text)
        if mode is GenerationMode.NEGATIVE and case.path == "/api/compare":
            assert response.status_code in (200, 404, 422), (case.query, response.text)
        case.validate_response(response)

    no_server_error()
    assert {"/api/compare", "/api/users"} <= seen


def test_a_new_batch_version_is_served_within_seconds_despite_the_cache(
    service: str, cassandra_session: Any
) -> None:
    """The service caches batch rows per (version, user) and the published row for a second: a newly
    published version (with other counts for the same user) must still reach the answers."""
    seed_serving_views(cassandra_session)
    before = httpx.get(f"{service}/api/compare", params={"a": "BarackObama", "b": "realDonaldTrump"}).json()
    assert before == EXPECTED  # version 7, now cached
    insert = cassandra_session.prepare("INSERT INTO batch_words (version, bucket, user, word_counts, tweets_counted) "
                                       "VALUES (?, ?, ?, ?, ?)")
    for user, counts in {"barackobama": {"wall": 2}, "realdonaldtrump": {"wall": 5}}.items():
        cassandra_session.execute(insert, (8, batch_bucket(user), user, json.dumps(counts), 1))
    later = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)  # after every speed row: only version 8 counts
    cassandra_session.execute("INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) "
                              "VALUES ('words', 8, %s, %s)", (later, later))
    expected = {"users": ["barackobama", "realdonaldtrump"], "as_of": "2027-01-01T00:00:00+00:00",
                "top": [{"word": "wall", "counts": [2, 5]}]}

    def answer() -> Any:
        return httpx.get(f"{service}/api/compare", params={"a": "BarackObama", "b": "realDonaldTrump"}).json()

    assert wait_until(lambda: answer() == expected, 10, "the service to answer from version 8")
