"""`trendoff contrast A B`: the words that set each user apart (log-odds z with an informative Dirichlet
prior, docs/contract.md#distinctive-words), as a table, JSON or a diverging bar chart."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from trendoff.config import add_connection_options, settings_from_args
from trendoff.entry import command_parser
from trendoff.serving.compare import DEFAULT_TOP, positive_top
from trendoff.serving.contrast import DEFAULT_PRIOR_WEIGHT, prior_weight_type
from trendoff.serving.main import print_answer
from trendoff.serving.query import run_contrast

log = logging.getLogger(__name__)


def main(argv: Sequence[str]) -> int:
    parser = command_parser(
        "trendoff contrast",
        "The words most characteristic of each user against the other: Monroe, Colaresi & Quinn's log-odds "
        "ratio with an informative Dirichlet prior from both users' pooled counts, as a z-score (above 0: "
        "relatively more A's, below 0: B's), from the published batch view plus the newer speed minutes.",
        "distinctive-words",
    )
    parser.add_argument("user_a", metavar="A", help="a screen name (case and a leading @ do not matter)")
    parser.add_argument("user_b", metavar="B", help="the other screen name")
    parser.add_argument("--top", type=positive_top, default=DEFAULT_TOP, metavar="N",
                        help=f"how many words for each user (default {DEFAULT_TOP})")
    parser.add_argument("--prior-weight", type=prior_weight_type, default=DEFAULT_PRIOR_WEIGHT, metavar="A0",
                        help=f"the prior's total weight A0: larger pulls rare words towards 0 (default "
                        f"{DEFAULT_PRIOR_WEIGHT:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw both lists as a diverging bar chart")
    add_connection_options(parser, kafka=False)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    answer = run_contrast(settings, args.user_a, args.user_b, args.top, args.prior_weight)
    print_answer(settings, answer, args.json)
    if args.plot:
        from trendoff.plotting.contrast_chart import draw_contrast

        draw_contrast(answer.as_json(), args.plot)
        print(f"chart: {args.plot}")
    return 0
