"""`trendoff compare A B`: the top words both users use, with each user's count, as a table, JSON,
the --out arrays and the chart. Composes the serving layer (the answer) and plotting (the chart)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trendoff.config import add_connection_options, settings_from_args
from trendoff.errors import TrendoffError
from trendoff.serving.compare import DEFAULT_TOP
from trendoff.serving.query import run_compare

log = logging.getLogger(__name__)


def _top(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("--top must be at least 1")
    return value


def write_json(path: Path, content: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise TrendoffError("cannot-write", f"cannot write {path}: {error.strerror}") from error


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff compare", description=__doc__.splitlines()[0])
    parser.add_argument("user_a", metavar="A", help="a screen name (case and a leading @ do not matter)")
    parser.add_argument("user_b", metavar="B")
    parser.add_argument("--top", type=_top, default=DEFAULT_TOP, help=f"how many words (default {DEFAULT_TOP})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--out", type=Path, help="write the words and both users' counts as JSON (for plotting)")
    parser.add_argument("--plot", type=Path, help="write the grouped bar chart to this PNG file")
    add_connection_options(parser)
    args = parser.parse_args(argv)
    comparison = run_compare(settings_from_args(args), args.user_a, args.user_b, args.top)
    print(json.dumps(comparison.as_json(), ensure_ascii=False) if args.json else comparison.table())
    if args.out:
        write_json(args.out, comparison.as_arrays())
        log.info("wrote %s", args.out)
    if args.plot:
        from trendoff.plotting.chart import draw_chart

        draw_chart(comparison.as_arrays(), args.plot)
        log.info("wrote chart %s", args.plot)
    return 0
