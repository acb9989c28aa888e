"""`trendoff stack up|down|status`: the local Kafka broker and Cassandra node (or external ones)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from trendoff.config import load_settings
from trendoff.entry import command_parser
from trendoff.stack import secure
from trendoff.stack.services import Stack

log = logging.getLogger(__name__)


def main(argv: Sequence[str]) -> int:
    parser = command_parser(
        "trendoff stack",
        "Start, stop or check the local Kafka broker and Cassandra node. With $TRENDOFF_KAFKA_BOOTSTRAP and "
        "$TRENDOFF_CASSANDRA_HOSTS set, the external services are checked and prepared instead.",
        "running-it",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start both (in parallel), wait until they answer, apply schema and topic")
    up.add_argument("--secure", action="store_true",
                    help="Kafka with SASL_SSL (SCRAM) and Cassandra with logins and TLS; certificates and passwords "
                    "made under run/secure/, and run/secure/env to source before other trendoff commands")
    down = actions.add_parser("down", help="stop the processes `up` started (data is kept)")
    down.add_argument("--wipe", action="store_true", help="also delete their data folders")
    actions.add_parser("status", help="say what runs where")
    args = parser.parse_args(argv)
    stack = Stack(load_settings()) if args.action == "down" else Stack.open(load_settings(), args.action == "up"
                                                                             and args.secure)
    settings = stack.settings
    if args.action == "up":
        started = time.monotonic()
        timings = stack.up()
        for state in stack.status():
            print(state.line())
        extra = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
        print(f"stack up in {time.monotonic() - started:.1f} s ({extra})")
        print(f"keyspace {settings.keyspace}, topic {settings.topic}, data in {settings.run_dir}")
        if stack.secure:
            print(f"secured: run `. {secure.secure_files(settings).env}` before other trendoff commands")
        return 0
    if args.action == "down":
        stopped = stack.down(wipe=args.wipe)
        print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        if args.wipe:
            print(f"wiped data under {settings.run_dir}")
        return 0
    states = stack.status()
    for state in states:
        print(state.line())
    return 0 if all(state.running for state in states) else 1
