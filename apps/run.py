"""`trendoff run`: the pipeline as supervised processes: ingest, speed, batch on a schedule, optionally serve.

Run:  trendoff run [--serve] [--batch-every 15m] [--trigger 2s] [connection flags]

Each job runs through its own command line (`python -m trendoff.ingest`, ...), as a child in a process
group of its own with its output in ``<run dir>/logs/<job>.log``; apps/supervisor.py restarts a child that
dies (1 s, 2 s, 4 s ... at most 60 s) and stops them all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from trendoff.apps.supervisor import LOG_FOLDER, STATUS_FILE, ChildSpec, Supervisor, run_dir_lock
from trendoff.clients import topics
from trendoff.clients.cassandra_io import ensure_schema
from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS, Settings
from trendoff.times import DURATION_HELP, duration_type

log = logging.getLogger(__name__)

DEFAULT_BATCH_EVERY_SECONDS = 15 * 60.0
DEFAULT_STOP_TIMEOUT_SECONDS = 30.0
# The connection settings the children get. They go as TRENDOFF_* variables rather than flags: every
# command reads the variables, whichever flags it offers (serve may take fewer than the jobs).
_CONNECTION_FIELDS = ("kafka_bootstrap", "cassandra_hosts", "cassandra_port", "keyspace", "topic")


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "trendoff run",
        "Run the pipeline: ingest, speed and a scheduled batch (and with --serve the web service) as child "
        f"processes, each logging to <run dir>/{LOG_FOLDER}/<job>.log (pids in <run dir>/{STATUS_FILE}). A child "
        "that dies is restarted after 1 s, 2 s, 4 s ... at most 60 s; Ctrl-C or SIGTERM stops them all (twice: "
        "at once).",
        "running-it",
    )
    add_connection_options(parser)
    parser.add_argument("--batch-every", type=duration_type, default=DEFAULT_BATCH_EVERY_SECONDS, metavar="DURATION",
                        help=f"how often batch recounts the master table, {DURATION_HELP}, at least 1s (default 15m)")
    parser.add_argument("--trigger", dest="trigger_seconds", type=duration_type, metavar="DURATION",
                        help="micro-batch interval of ingest and speed (default: theirs, 2s)")
    parser.add_argument("--serve", action="store_true", help="also run `trendoff serve`, the HTTP service")
    parser.add_argument("--serve-host", metavar="HOST", help="with --serve: the address it listens on")
    parser.add_argument("--serve-port", type=int, metavar="PORT", help="with --serve: the port it listens on")
    parser.add_argument("--stop-timeout", type=duration_type, default=DEFAULT_STOP_TIMEOUT_SECONDS,
                        metavar="DURATION", help="how long a stopping child may take before it is killed (default 30s)")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Every mistake in the arguments, before anything is contacted or started."""
    if args.batch_every < 1:
        raise TrendoffError("bad-option", "--batch-every must be at least 1s (a batch run takes longer than that)")
    if args.trigger_seconds is not None and not args.trigger_seconds > 0:
        raise TrendoffError("bad-option", "--trigger must be more than 0 (e.g. 500ms or 2s)")
    if (args.serve_host is not None or args.serve_port is not None) and not args.serve:
        raise TrendoffError("bad-option", "--serve-host and --serve-port go with --serve")
    if args.serve_port is not None and not 0 < args.serve_port < 65536:
        raise TrendoffError("bad-option", f"--serve-port {args.serve_port} is not a port (1-65535)")
    if args.serve and not serve_available():
        raise TrendoffError("no-serve", "--serve needs the `trendoff serve` command, which this version does not have")


def serve_available() -> bool:
    from trendoff.apps.cli import COMMANDS

    entry = COMMANDS.get("serve")
    return entry is not None and importlib.util.find_spec(entry[0]) is not None


def check_services(settings: Settings) -> None:
    """Kafka answers and has the topic, Cassandra answers and has the tables, so a stack that is down is
    one line now rather than every child failing and restarting. Creating what is missing is what the
    producer (topic) and the jobs (tables) do anyway."""
    try:
        topics.wait_for_broker(settings, timeout_seconds=topics.BROKER_CHECK_SECONDS)
    except TrendoffError as error:
        if error.reason in topics.SECURITY_FAILURES:
            raise
        where = settings.bootstrap_servers
        message = f"cannot reach Kafka at {where}: is the stack up? (trendoff stack up)"
        raise TrendoffError("kafka-unreachable", message) from error
    topics.ensure_topic(settings, settings.topic, settings.topic_partitions)
    ensure_schema(settings)


def _as_variable(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def child_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with the effective connection settings (variables and flags) in it."""
    env = dict(environ)
    for name in _CONNECTION_FIELDS:
        value = _as_variable(getattr(settings, name))
        if value:  # empty means "the local stack", which is also what an unset variable means
            env[ENV_VARS[name]] = value
    return env


def _duration_flag(seconds: float) -> str:
    """Seconds as the one duration syntax ('900s', '0.5s'), at most three decimals."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def child_specs(args: argparse.Namespace, env: Mapping[str, str]) -> list[ChildSpec]:
    """The children of one `trendoff run`: each job through its own command line, as a user would start it."""
    python = sys.executable
    stream_flags = [] if args.trigger_seconds is None else ["--trigger", _duration_flag(args.trigger_seconds)]
    specs = [
        ChildSpec("ingest", (python, "-m", "trendoff.ingest", *stream_flags), env),
        ChildSpec("speed", (python, "-m", "trendoff.speed", *stream_flags), env),
        ChildSpec("batch", (python, "-m", "trendoff.batch", "--every", _duration_flag(args.batch_every)), env),
    ]
    if args.serve:
        serve_flags = [] if args.serve_host is None else ["--host", args.serve_host]
        serve_flags += [] if args.serve_port is None else ["--port", str(args.serve_port)]
        specs.append(ChildSpec("serve", (python, "-m", "trendoff.apps.cli", "serve", *serve_flags), env))
    return specs


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    check_arguments(args)
    settings = settings_from_args(args)
    log.info("run: %s, run dir %s", settings.describe(), settings.run_dir)
    check_services(settings)
    with run_dir_lock(settings.run_dir):
        supervisor = Supervisor(child_specs(args, child_environment(settings, os.environ)), settings.run_dir,
                                stop_timeout_seconds=args.stop_timeout)

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            # Only a flag: the loop (main thread) does the stopping. A second signal kills what still runs.
            log.info("%s: stopping the children%s", signal.Signals(signum).name,
                     " now (killing)" if supervisor.stop_requested else "")
            supervisor.request_stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            supervisor.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    log.info("all children stopped")
    return 0
