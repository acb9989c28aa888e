"""The grouped bar chart of a comparison: one group per word, one bar per user (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from trendoff.errors import TrendoffError

COLORS = ("#3182bd", "#bdbdbd")  # the original's two colours: blue for A, grey for B
MAX_LABEL = 20


def short(word: str) -> str:
    return word if len(word) <= MAX_LABEL else word[: MAX_LABEL - 1] + "\u2026"


def arrays_from(content: dict[str, Any]) -> tuple[list[str], list[str], list[int], list[int]]:
    """(users, words, counts of A, counts of B) from a `compare --out` file or `compare --json` output."""
    try:
        users = [str(u) for u in content["users"]]
        if "top" in content:
            words = [str(item["word"]) for item in content["top"]]
            counts_a = [int(item["counts"][0]) for item in content["top"]]
            counts_b = [int(item["counts"][1]) for item in content["top"]]
        else:
            words = [str(w) for w in content["words"]]
            counts_a = [int(c) for c in content["counts_a"]]
            counts_b = [int(c) for c in content["counts_b"]]
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise TrendoffError("bad-chart-input", f"not a compare --out or --json file: {error!r}") from error
    if len(users) != 2 or not len(words) == len(counts_a) == len(counts_b):
        raise TrendoffError("bad-chart-input", "expected two users and one count per word for each")
    return users, words, counts_a, counts_b


def build_figure(content: dict[str, Any]) -> Figure:
    users, words, counts_a, counts_b = arrays_from(content)
    width = max(6.0, 0.55 * len(words) + 2)
    figure, axes = plt.subplots(figsize=(width, 5.5), layout="constrained")
    positions = range(len(words))
    bar = 0.4
    axes.bar([p - bar / 2 for p in positions], counts_a, bar, label=f"@{users[0]}", color=COLORS[0])
    axes.bar([p + bar / 2 for p in positions], counts_b, bar, label=f"@{users[1]}", color=COLORS[1])
    axes.set_xticks(list(positions), [short(w) for w in words], rotation=45, ha="right")
    axes.set_ylabel("times used")
    axes.set_title(f"{users[0]} vs {users[1]}: words both use")
    axes.legend()
    if not words:
        axes.text(0.5, 0.5, "no word is used by both", ha="center", va="center", transform=axes.transAxes)
    return figure


def draw_chart(content: dict[str, Any], path: Path) -> Path:
    return save_figure(build_figure(content), path)


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG (its folder made if missing); a path that cannot be written is one line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    except OSError as error:
        raise TrendoffError("cannot-write", f"cannot write {path}: {error.strerror}") from error
    finally:
        plt.close(figure)
    return path


def read_content(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrendoffError("no-file", f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TrendoffError("bad-chart-input", f"{path} is not JSON: {error}") from error
