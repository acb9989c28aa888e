"""`trendoff serve`: the HTTP API and web page (apps/api.py) under uvicorn, one Cassandra session per process."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator, Sequence

from cassandra import DriverException

from trendoff.clients.cassandra_io import connect
from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321


def port_number(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535 (0: any free port)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("trendoff serve", "Serve the comparison over HTTP: /api/compare (what `compare --json` "
                            "prints), /api/users, /api/status, /healthz, /openapi.json, and the web page at /.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, metavar="PORT",
                        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--access-log", action="store_true", help="log one line per request")
    add_connection_options(parser)
    return parser


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts, so a taken port is one line, not a traceback."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        raise TrendoffError("cannot-listen", f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    return sock


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """Uvicorn stops on SIGINT/SIGTERM and then raises the signal again under the handler it found; with
    the default handlers that would kill the process before the session is closed. These handlers let
    ``main`` return instead (exit 0 after a clean stop)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, lambda *_: None) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    import uvicorn

    from trendoff.apps.api import create_app

    sock = listen(args.host, args.port)
    session = connect(settings)  # the one session of this process, closed when the server stops
    try:
        try:
            app = create_app(settings, session)
        except DriverException as error:  # most often: no such keyspace (the statements cannot be prepared)
            raise TrendoffError("views-unreadable", f"cannot read the views in keyspace {settings.keyspace}: "
                                f"{error} (is the schema applied? trendoff stack up)") from error
        # log_config=None: uvicorn logs through trendoff's logging set-up instead of its own.
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=args.access_log))
        host, port = sock.getsockname()[:2]
        log.info("serving keyspace %s on http://%s:%d/", settings.keyspace, host, port)
        with _signals_end_quietly():
            server.run(sockets=[sock])
    finally:
        session.cluster.shutdown()
        sock.close()
    return 0
