"""`trendoff produce csv|jsonl|x|synthetic`: read tweets from a source and publish them to Kafka."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser, on_sigterm
from trendoff.errors import TrendoffError
from trendoff.producer.publish import Publisher
from trendoff.producer.sources import SourceItem, csv_tweets, estimated_rows, jsonl_tweets, synthetic_tweets
from trendoff.settings import Settings
from trendoff.times import duration_type
from trendoff.tweets.columns import add_column_options, spec_from_args
from trendoff.tweets.limits import MAX_TEXT_CHARS, MAX_USER_CHARS

log = logging.getLogger(__name__)


def _positive(kind: type) -> object:
    def parse(raw: str) -> object:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{raw} must be greater than 0")
        return value

    return parse


BAD_ROWS_HELP = (
    "A bad row is skipped, counted by reason and the first few are shown: malformed-row, line-too-long, "
    f"bad-encoding, missing-user, user-too-long (over {MAX_USER_CHARS} characters), empty-text, text-too-long "
    f"(over {MAX_TEXT_CHARS:,} characters, X's long-post limit), bad-timestamp, time-out-of-range (outside "
    "1970-01-01 .. 2100-01-01 UTC), bad-id, bad-flag, bad-count (JSON lines also malformed-json, not-a-tweet, "
    "malformed-tweet). A missing id is derived from user + time + text, the same on every replay. "
    "Exit code 0 when every tweet read was delivered (or skipped); 1 when a delivery failed or the input broke "
    "off (a truncated or corrupt .gz: what came before is delivered, one line says where it broke); "
    "2 for a mistake in the command (missing file, unknown column)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("trendoff produce", "Read tweets from a CSV, JSON lines, the X API or a generator and "
                            "publish them to Kafka as Avro, keyed by user.", "sources")
    sources = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rate", type=_positive(float), metavar="N",
                        help="at most N tweets per second (default: as fast as the broker takes them)")
    common.add_argument("--limit", type=_positive(int), metavar="N", help="stop after N input rows")
    common.add_argument("--create-topic", action="store_true",
                        help="create the topic if it does not exist (otherwise that is an error)")
    add_connection_options(common, cassandra=False)

    csv_parser = sources.add_parser("csv", parents=[common], help="replay a CSV of tweets", epilog=BAD_ROWS_HELP)
    csv_parser.add_argument("path", type=Path, metavar="FILE.csv", help="the CSV to replay")
    add_column_options(csv_parser)

    jsonl = sources.add_parser("jsonl", parents=[common], help="replay JSON lines (.gz too) of API tweet objects",
                               epilog=BAD_ROWS_HELP)
    jsonl.add_argument("path", type=Path, metavar="FILE.jsonl[.gz]", help="the JSON lines to replay")

    x_api = sources.add_parser(
        "x", parents=[common], help="tweets of named users from the X API v2",
        description="Recent tweets of the named users, then newer ones every --poll (since_id), or with "
        "--follow the filtered stream. Needs an X API v2 bearer token in $TRENDOFF_X_BEARER_TOKEN; rate limits "
        "are waited out.",
    )
    x_api.add_argument("--users", required=True, metavar="A,B,...", help="the screen names to follow")
    x_api.add_argument("--follow", action="store_true", help="use the filtered stream (plans that include it)")
    x_api.add_argument("--poll", type=duration_type, default=60.0, metavar="DURATION",
                       help="time between polls (default 60s)")
    x_api.add_argument("--rounds", type=_positive(int), metavar="N",
                       help="stop after N polls (default: run until stopped)")

    synthetic = sources.add_parser("synthetic", parents=[common], help="seeded generated tweets for load tests")
    synthetic.add_argument("--tweets", type=_positive(int), required=True, metavar="N", help="how many tweets")
    synthetic.add_argument("--users", type=_positive(int), required=True, metavar="N",
                           help="how many users (Zipf-distributed activity)")
    synthetic.add_argument("--seed", type=int, default=7, metavar="S",
                           help="random seed: the same seed gives the same tweets (default 7)")
    return parser


def _limited(items: Iterator[SourceItem], limit: int | None) -> Iterator[SourceItem]:
    # islice stops without asking for one more item: a live source would otherwise wait for a tweet.
    return items if limit is None else itertools.islice(items, limit)


def _estimate(path: Path, header_lines: int, limit: int | None) -> int | None:
    rows = estimated_rows(path, header_lines)
    return rows if limit is None or rows is None else min(rows, limit)


def source_items(args: argparse.Namespace, settings: Settings) -> tuple[Iterator[SourceItem], int | None]:
    """The chosen source's items and, when known, about how many there will be (for the ETA)."""
    if args.source == "csv":
        spec = spec_from_args(args, args.path)
        log.info("reading %s (%s, columns: %s)", args.path, spec.encoding, ", ".join(spec.columns()))
        return csv_tweets(args.path, spec), _estimate(args.path, 1, args.limit)
    if args.source == "jsonl":
        return jsonl_tweets(args.path), _estimate(args.path, 0, args.limit)
    if args.source == "synthetic":
        return synthetic_tweets(args.tweets, args.users, args.seed), min(args.tweets, args.limit or args.tweets)
    from trendoff.producer import x_api

    usernames = [name.strip().lstrip("@") for name in args.users.split(",") if name.strip()]
    if not usernames:
        raise TrendoffError("no-users", "--users needs at least one screen name")
    token, base_url = x_api.bearer_token(settings), settings.x_api_base or None
    if args.follow:
        return x_api.stream_user_tweets(token, usernames, max_tweets=args.limit, base_url=base_url), args.limit
    client = x_api.x_client(token, base_url)
    return x_api.poll_user_tweets(client, usernames, args.poll, args.rounds), None


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    items, total = source_items(args, settings)
    publisher = Publisher(
        settings, rate=args.rate, total=total, total_exact=args.source == "synthetic", live=args.source == "x",
        create_topic=args.create_topic,
    )
    log.info("publishing to topic %s on %s", settings.topic, settings.bootstrap_servers)
    # SIGTERM stops as Ctrl-C does: what was read is delivered and summarised (then exit 0, not 130).
    terminated = []

    def stop() -> None:
        terminated.append(True)
        publisher.request_stop()

    with on_sigterm(stop):
        summary = publisher.run(_limited(items, args.limit))
    if summary.broken:
        print(f"trendoff: {summary.broken}", file=sys.stderr, flush=True)
    for line in summary.lines():
        print(line)
    if summary.broken:
        return 1
    if summary.failed:
        print(f"trendoff: {summary.failed} messages were not delivered", file=sys.stderr)
        return 1
    return 130 if summary.interrupted and not terminated else 0
