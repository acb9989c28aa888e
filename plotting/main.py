"""`trendoff plot FILE.json --out chart.png`: draw the chart of a `compare --out` (or --json) file."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from trendoff.plotting.chart import draw_chart, read_content


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff plot", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="the file `trendoff compare --out` wrote (or --json output)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    print(draw_chart(read_content(args.input), args.out))
    return 0
