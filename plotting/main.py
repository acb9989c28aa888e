"""`trendoff plot FILE.json --out chart.png`: draw the chart of a `compare --out` (or --json) file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trendoff.entry import command_parser
from trendoff.plotting.chart import draw_chart, read_content


def main(argv: Sequence[str]) -> int:
    parser = command_parser("trendoff plot", "Draw the grouped bar chart of two users' mutual words from the file "
                            "`trendoff compare --out` writes (or its --json output).", "the-comparison")
    parser.add_argument("input", type=Path, metavar="FILE.json", help="the words and counts to draw")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.png", help="the PNG to write")
    args = parser.parse_args(argv)
    print(draw_chart(read_content(args.input), args.out))
    return 0
