"""The `trendoff` command: one subcommand per layer, each dispatching to that layer's main(argv)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

from trendoff.entry import run_main

log = logging.getLogger(__name__)

# subcommand -> (module with a main(argv) function, one-line help). Modules load only when used,
# so `trendoff stack status` does not pay for importing pyspark.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("trendoff.demo.main", "run the whole pipeline on the bundled real tweets and chart the comparison"),
    "setup": ("trendoff.stack.setup", "fetch the Kafka, Cassandra and Spark connector jars from Maven Central"),
    "stack": ("trendoff.stack.main", "start, stop or check the local Kafka broker and Cassandra node"),
    "produce": ("trendoff.producer.main", "publish tweets from a CSV, JSON lines, the X API or a generator to Kafka"),
    "ingest": ("trendoff.ingest.job", "land every tweet from Kafka in the master table (streaming)"),
    "speed": ("trendoff.speed.job", "count words per user and arrival minute from Kafka (streaming)"),
    "batch": ("trendoff.batch.job", "recount the master table into a new batch view version (once or --every 15m)"),
    "run": ("trendoff.apps.run", "run ingest, speed and scheduled batch (--serve: and serve) as supervised processes"),
    "load-csv": ("trendoff.csv_loader.job", "bulk-load a tweet CSV into the master table as history (Spark)"),
    "compare": ("trendoff.apps.compare", "the top words two users both use, with each user's count"),
    "contrast": ("trendoff.apps.contrast", "the words most characteristic of each of two users (log-odds z)"),
    "dead-letters": ("trendoff.apps.dead_letters", "list the messages the streaming jobs refused, where and why"),
    "plot": ("trendoff.plotting.main", "draw the grouped bar chart of a `compare --out` file"),
    "serve": ("trendoff.apps.serve", "serve the comparison, a user picker and the status over HTTP, and a web page"),
    "status": ("trendoff.apps.status", "is the stack up, how far behind is each job, which batch is published"),
    "topic": ("trendoff.apps.topic", "show the topic's partition count, or raise it on a running pipeline"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "usage: trendoff COMMAND [options]\n\ncommands:\n" + "\n".join(lines) + (
        "\n\nRun `trendoff COMMAND --help` (or `trendoff help COMMAND`) for the options of one command."
        "\nThe contract (message schema, word rule, views, commands): docs/contract.md"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["help"] and len(args) > 1:
        args = [args[1], "--help"]  # `trendoff help demo` is `trendoff demo --help`
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from trendoff import __version__
        print(f"trendoff {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"trendoff: error: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return run_main(module.main, rest)


if __name__ == "__main__":
    sys.exit(main())
