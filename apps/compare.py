"""`trendoff compare A B`: serving's answer (table, JSON, --out arrays) plus plotting's chart (--plot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trendoff.serving.main import answer, build_parser


def main(argv: Sequence[str]) -> int:
    parser = build_parser(prog="trendoff compare")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw the grouped bar chart to this PNG")
    args = parser.parse_args(argv)
    comparison = answer(args)
    if args.plot:
        from trendoff.plotting.chart import draw_chart

        draw_chart(comparison.as_arrays(), args.plot)
        print(f"chart: {args.plot}")
    return 0
