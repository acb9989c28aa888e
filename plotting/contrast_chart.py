"""The chart of `trendoff contrast`: one horizontal bar per word, z to the right for A's words and to the
left for B's, each labelled with the two counts (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from trendoff.errors import TrendoffError
from trendoff.plotting.chart import COLORS, save_figure, short


def build_contrast_figure(answer: dict[str, Any]) -> Figure:
    """From `contrast --json`: A's words on top (largest z first), then B's (most negative last)."""
    try:
        users = [str(user) for user in answer["users"]]
        rows = [(str(item["word"]), float(item["z"]), [int(c) for c in item["counts"]], 0) for item in answer["a"]]
        rows += [(str(item["word"]), float(item["z"]), [int(c) for c in item["counts"]], 1)
                 for item in reversed(answer["b"])]
        weight = float(answer["prior_weight"])
    except (KeyError, TypeError, ValueError) as error:
        raise TrendoffError("bad-chart-input", f"not a contrast --json answer: {error!r}") from error
    figure = Figure(figsize=(9.0, max(3.0, 0.32 * len(rows) + 1.8)), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(rows)))[::-1]  # the first row at the top
    axes.barh(positions, [z for _, z, _, _ in rows], color=[COLORS[side] for *_, side in rows])
    axes.set_yticks(positions, [short(word) for word, *_ in rows])
    for position, (_, z, counts, _) in zip(positions, rows, strict=True):
        axes.annotate(f"{counts[0]:,} / {counts[1]:,}", (z, position), xytext=(4 if z >= 0 else -4, 0),
                      textcoords="offset points", ha="left" if z >= 0 else "right", va="center", fontsize=7)
    axes.axvline(0, color="#636363", linewidth=0.8)
    axes.margins(x=0.25)
    axes.set_xlabel(f"log-odds z, informative Dirichlet prior of weight {weight:g} (labels: counts of each user)")
    as_of = answer.get("as_of")
    figure.suptitle(f"@{users[0]} vs @{users[1]}: distinctive words")
    axes.set_title(f"blue: more @{users[0]}, grey: more @{users[1]}; batch cutoff {as_of or 'none yet'}", fontsize=9)
    return figure


def draw_contrast(answer: dict[str, Any], path: Path) -> Path:
    return save_figure(build_contrast_figure(answer), path)
