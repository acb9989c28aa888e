"""`trendoff topic`: the tweets topic's partition count, and `--partitions N` to raise it on a running pipeline."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from trendoff.clients import topics
from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser

log = logging.getLogger(__name__)


def _partition_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if count < 1:
        raise argparse.ArgumentTypeError("a topic has at least 1 partition")
    return count


def main(argv: Sequence[str]) -> int:
    parser = command_parser(
        "trendoff topic",
        "Show how many partitions the tweets topic has, or raise the count with --partitions N while the "
        "pipeline runs. Kafka can only add partitions. The running ingest and speed jobs read the new "
        "partitions from their first message and batch's cutoff covers them, so every tweet is still "
        "counted once; a user's later tweets may go to another partition than their earlier ones.",
    )
    add_connection_options(parser, cassandra=False)
    parser.add_argument("--partitions", type=_partition_count, metavar="N",
                        help="the new partition count: more than the topic has now")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    if args.partitions is None:
        count = topics.partition_count(settings, settings.topic)
        print(f"topic {settings.topic}: {count} partitions")
        return 0
    before = topics.raise_partitions(settings, settings.topic, args.partitions)
    # A producer that is already running learns of the new partitions at its next metadata refresh
    # (librdkafka's topic.metadata.refresh.interval.ms, 5 minutes by default); until then it keeps
    # writing to the old ones, which loses nothing.
    print(f"topic {settings.topic}: {before} -> {args.partitions} partitions (a running producer uses the new "
          "ones within 5 minutes, a new one at once)")
    return 0
