"""The HTTP API and web page of `trendoff serve`: serving's comparison, a user picker and the status, as JSON.

The app is built over one open Cassandra session (the process's); every answer comes from the code
the CLI runs (serving.query, apps.status), so `/api/compare` is exactly `compare --json`. Every
error is a JSON object {"error": reason, "message": text}: unknown user 404, bad parameter 422,
Cassandra not answering 503.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable, ResponseFuture, Session
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from trendoff import __version__
from trendoff.apps.status import pipeline_status
from trendoff.errors import TrendoffError
from trendoff.serving.compare import DEFAULT_TOP
from trendoff.serving.contrast import DEFAULT_PRIOR_WEIGHT, MAX_PRIOR_WEIGHT
from trendoff.serving.query import contrast_of, start_compare, users_by_prefix
from trendoff.serving.views import USERS_LIMIT, ViewReader
from trendoff.settings import Settings

log = logging.getLogger(__name__)

# A handle longer than this cannot be in the views (their keys have at most 100 characters); the bound
# also keeps a query parameter from becoming a partition key Cassandra refuses (64 KiB).
MAX_HANDLE_CHARS = 200
# The batch rows the service keeps in memory, as their JSON text: 10,000 users of ~500 words fit in
# ~100 MiB (a row is at most 4 MiB).
BATCH_CACHE_BYTES = 256 * 1024 * 1024
# A handle names a user once whitespace and leading @s are taken off (views.keys.user_key): it holds a
# character that is neither. Python's whitespace, spelled out, so the document says what the code does.
_PYTHON_WHITESPACE = "".join(f"\\u{code:04x}" for code in range(0x3001) if chr(code).isspace())
HANDLE_PATTERN = f"[^{_PYTHON_WHITESPACE}@]"
# The two handles of /api/compare and /api/contrast, checked alike.
HandleA = Annotated[str, Query(min_length=1, max_length=MAX_HANDLE_CHARS, pattern=HANDLE_PATTERN,
                               description="a screen name")]
HandleB = Annotated[str, Query(min_length=1, max_length=MAX_HANDLE_CHARS, pattern=HANDLE_PATTERN,
                               description="the other screen name")]
# TrendoffError reasons that are the caller's mistake, by HTTP status; any other reason is a 503.
_STATUS_BY_REASON = {"unknown-user": 404, "bad-user": 422}


def web_dir() -> Path:
    """The page's html, js and css (package data of trendoff.apps)."""
    return Path(str(resources.files("trendoff.apps").joinpath("web")))


class ApiError(BaseModel):
    error: str = Field(description="a short machine-readable reason, e.g. unknown-user, bad-parameter")
    message: str = Field(description="what went wrong, for a person")


class MutualWordOut(BaseModel):
    word: str
    counts: list[int] = Field(min_length=2, max_length=2, description="the count of user a, then of user b")


class MutualWordRatesOut(MutualWordOut):
    rates: list[float] | None = Field(default=None, min_length=2, max_length=2,
                                      description="with per: each count per `per` of that user's counted words")


class ComparisonOut(BaseModel):
    users: list[str] = Field(min_length=2, max_length=2, description="the two view keys (lower-cased handles)")
    as_of: str | None = Field(description="the published batch cutoff T (ISO-8601), null before the first batch")
    top: list[MutualWordRatesOut]
    per: int | None = Field(default=None, description="with per: the N of the rates")
    totals: list[int] | None = Field(default=None, description="with per: each user's counted words")


class DistinctiveWordOut(BaseModel):
    word: str
    z: float = Field(description="the log-odds z: above 0 more user a's, below 0 more user b's")
    counts: list[int] = Field(min_length=2, max_length=2, description="the count of user a, then of user b")


class ContrastOut(BaseModel):
    users: list[str] = Field(min_length=2, max_length=2, description="the two view keys (lower-cased handles)")
    as_of: str | None = Field(description="the published batch cutoff T (ISO-8601), null before the first batch")
    since: str | None = Field(description="the window's first day (null: no window yet)")
    until: str | None = Field(description="the day after the window (null: no window yet)")
    prior_weight: float
    a: list[DistinctiveWordOut] = Field(description="the words most characteristic of user a, z descending")
    b: list[DistinctiveWordOut] = Field(description="the words most characteristic of user b, z ascending")


class UsersOut(BaseModel):
    prefix: str
    users: list[str] = Field(max_length=USERS_LIMIT)


class HealthOut(BaseModel):
    status: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ApiError, "description": "a bad parameter"},
    503: {"model": ApiError, "description": "Cassandra does not answer"},
}


async def driver_futures_done(futures: list[ResponseFuture]) -> None:
    """Wait, without blocking the event loop, until every driver future has an answer or an error (the
    driver calls back on its own thread; one wake-up of the loop for all of them)."""
    if not futures:
        return
    loop = asyncio.get_running_loop()
    all_done: asyncio.Future[None] = loop.create_future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_outcome: object = None) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            loop.call_soon_threadsafe(lambda: all_done.done() or all_done.set_result(None))

    for future in futures:
        future.add_callbacks(one_done, one_done)
    await all_done


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": reason, "message": message}, status_code=status)


def _trendoff_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TrendoffError)
    return _error(_STATUS_BY_REASON.get(error.reason, 503), error.reason, error.message)


def _cassandra_error(request: Request, error: Exception) -> JSONResponse:
    # The driver reconnects by itself; until then each question is a 503, logged in one line.
    log.warning("%s %s: Cassandra: %s", request.method, request.url.path, error)
    return _error(503, "cassandra-unavailable", f"Cassandra does not answer: {type(error).__name__}")


def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = error.errors()
    if items and all(item.get("type") == "string_pattern_mismatch" for item in items):
        # Only HANDLE_PATTERN has a pattern: say it as the CLI does, not as a regular expression.
        return _error(422, "bad-user", "; ".join(f"{item.get('input')!r} is not a user handle" for item in items))
    parts = [f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', 'invalid')}" for item in items]
    return _error(422, "bad-parameter", "; ".join(parts) or "bad parameter")


def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    reason = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, f"http-{error.status_code}")
    return JSONResponse({"error": reason, "message": str(error.detail)}, status_code=error.status_code,
                        headers=getattr(error, "headers", None))


def create_app(settings: Settings, session: Session) -> FastAPI:
    """The service over an open session (prepared here; the caller closes the session after the app stops)."""
    # Batch rows are immutable per version, so the service keeps the users it was asked about; the
    # published row is re-read at most once a second (a new batch shows within a second).
    reader = ViewReader(session, settings.keyspace, batch_cache_bytes=BATCH_CACHE_BYTES,
                        published_max_age_seconds=1.0)
    # The interactive docs pages load their scripts from a CDN, so only the OpenAPI document is served.
    # FastAPI's own OpenTelemetry hooks are off: nothing here sets up a tracer, and asking costs each request.
    app = FastAPI(title="trendoff", version=__version__, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False},
                  description="The words two Twitter/X accounts both use: the published batch view plus the "
                              "newer speed minutes, as `trendoff compare --json` prints them.")
    app.add_exception_handler(TrendoffError, _trendoff_error)
    app.add_exception_handler(DriverException, _cassandra_error)
    app.add_exception_handler(NoHostAvailable, _cassandra_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)

    # /api/compare, the busy one, waits for its reads in the event loop; the others are plain `def`
    # endpoints (the driver's calls block) and run in the server's thread pool.
    @app.get("/api/compare", response_model=ComparisonOut,
             responses={404: {"model": ApiError, "description": "a user the views know nothing about"}, **_ERRORS})
    async def api_compare(
        a: HandleA,
        b: HandleB,
        top: Annotated[int, Query(ge=1, description="how many words")] = DEFAULT_TOP,
        per: Annotated[int | None, Query(ge=1, description="also each count per this many of the user's counted "
                                                         "words (compare --per)")] = None,
    ) -> JSONResponse:
        """The words both users use, ranked by the smaller count, then the sum, then the word."""
        in_flight = start_compare(reader, a, b, top, per)
        await driver_futures_done(in_flight.counts.futures)
        return JSONResponse(in_flight.finish().as_json())

    @app.get("/api/contrast", response_model=ContrastOut,
             responses={404: {"model": ApiError, "description": "a user the views know nothing about"}, **_ERRORS})
    async def api_contrast(
        a: HandleA,
        b: HandleB,
        top: Annotated[int, Query(ge=1, description="how many words for each user")] = DEFAULT_TOP,
        prior_weight: Annotated[float, Query(gt=0, le=MAX_PRIOR_WEIGHT, description="the prior's weight A0")
                                ] = DEFAULT_PRIOR_WEIGHT,
    ) -> JSONResponse:
        """The words that set each user apart (`trendoff contrast --json`): log-odds z, informative prior."""
        in_flight = start_compare(reader, a, b, top)
        await driver_futures_done(in_flight.counts.futures)
        return JSONResponse(contrast_of(in_flight, prior_weight).as_json())

    @app.get("/api/users", response_model=UsersOut, responses=_ERRORS)
    def api_users(
        prefix: Annotated[str, Query(max_length=MAX_HANDLE_CHARS, description="the start of a handle")] = "",
    ) -> JSONResponse:
        """Up to 20 handles in the views that start with the prefix (case-insensitive), sorted."""
        return JSONResponse({"prefix": prefix, "users": users_by_prefix(reader, prefix)})

    @app.get("/api/status", responses=_ERRORS)
    def api_status() -> JSONResponse:
        """What `trendoff status --json` prints: the stack, each job's lag, the published batch, dead letters."""
        return JSONResponse(pipeline_status(settings, session))

    @app.get("/healthz", response_model=HealthOut, responses={503: _ERRORS[503]})
    def healthz() -> JSONResponse:
        """200 while Cassandra answers."""
        session.execute("SELECT release_version FROM system.local", timeout=3.0)
        return JSONResponse({"status": "ok"})

    pages = web_dir()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(pages / "index.html")

    app.mount("/static", StaticFiles(directory=pages), name="static")
    return app
