"""Serving's command line, `python -m trendoff.serving A B`: the top words both users use, with each
user's count, as a table, JSON or the --out arrays (`trendoff compare` adds the chart)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.errors import TrendoffError
from trendoff.serving.compare import DEFAULT_TOP, positive_top
from trendoff.serving.query import Comparison, Contrast, run_compare
from trendoff.settings import Settings
from trendoff.views.published import speed_expiry_warning

log = logging.getLogger(__name__)


def write_json(path: Path, content: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise TrendoffError("cannot-write", f"cannot write {path}: {error.strerror}") from error


def build_parser(prog: str = "python -m trendoff.serving") -> argparse.ArgumentParser:
    parser = command_parser(prog, "The words both users use most, ranked by the smaller of their two counts, "
                            "from the published batch view plus the newer speed minutes.", "the-comparison")
    parser.add_argument("user_a", metavar="A", help="a screen name (case and a leading @ do not matter)")
    parser.add_argument("user_b", metavar="B", help="the other screen name")
    parser.add_argument("--top", type=positive_top, default=DEFAULT_TOP, metavar="N",
                        help=f"how many words (default {DEFAULT_TOP})")
    parser.add_argument("--per", type=positive_top, metavar="N",
                        help="also show each count per N of that user's counted words (e.g. 10000): a rate that "
                        "does not grow with how much a user wrote")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="also write the words and both users' counts as JSON (the file `trendoff plot` reads)")
    add_connection_options(parser, kafka=False)
    return parser


def print_answer(settings: Settings, answer: Comparison | Contrast, as_json: bool) -> None:
    """A serving answer printed as JSON or its table, after a warning when its batch is so old that
    speed rows after T may be expiring (compare and contrast alike)."""
    warning = speed_expiry_warning(answer.published.cutoff, dt.datetime.now(dt.UTC), settings.speed_ttl_seconds)
    if warning:
        log.warning("%s", warning)
    print(json.dumps(answer.as_json(), ensure_ascii=False) if as_json else answer.table())


def answer(args: argparse.Namespace) -> Comparison:
    """The comparison the arguments ask for, printed (and written to --out)."""
    settings = settings_from_args(args)
    comparison = run_compare(settings, args.user_a, args.user_b, args.top, args.per)
    print_answer(settings, comparison, args.json)
    if args.out:
        write_json(args.out, comparison.as_arrays())
        log.info("wrote %s", args.out)
    return comparison


def main(argv: Sequence[str]) -> int:
    answer(build_parser().parse_args(argv))
    return 0
