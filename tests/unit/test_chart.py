"""The grouped bar chart: real PNG files, the bars' heights, the title of the SPEC."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from trendoff.entry import run_main
from trendoff.errors import TrendoffError
from trendoff.plotting.chart import build_figure, draw_chart
from trendoff.plotting.main import main as plot_main

ARRAYS = {"users": ["barackobama", "realdonaldtrump"], "as_of": None,
          "words": ["president", "american", "a_really_long_word_that_goes_on_and_on"],
          "counts_a": [620, 180, 3], "counts_b": [155, 240, 1]}


def test_bars_title_and_labels() -> None:
    figure = build_figure(ARRAYS)
    axes = figure.axes[0]
    heights = [patch.get_height() for patch in axes.patches]
    assert heights == [620, 180, 3, 155, 240, 1], "one bar per user per word"
    assert axes.get_title() == "barackobama vs realdonaldtrump: words both use"
    labels = [t.get_text() for t in axes.get_xticklabels()]
    assert labels[:2] == ["president", "american"] and labels[2].endswith("\u2026") and len(labels[2]) == 20
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["@barackobama", "@realdonaldtrump"]


def test_png_is_written_and_not_blank(tmp_path: Path) -> None:
    path = draw_chart(ARRAYS, tmp_path / "chart.png")
    image = mpimg.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 500
    colours = np.unique((image[..., :3] * 255).astype(int).reshape(-1, 3), axis=0)
    assert len(colours) > 10, "a blank image has one colour"
    blue = np.all(np.abs(image[..., :3] * 255 - [49, 130, 189]) < 3, axis=-1)
    assert blue.sum() > 1000, "user A's bars are drawn"


def test_plot_command_reads_compare_json_and_rejects_bad_files(tmp_path: Path) -> None:
    compare_json = {"users": ["a", "b"], "as_of": None, "top": [{"word": "w", "counts": [2, 3]}]}
    source = tmp_path / "c.json"
    source.write_text(json.dumps(compare_json))
    assert run_main(plot_main, [str(source), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000
    source.write_text("{\"users\": [\"a\"]}")
    with pytest.raises(TrendoffError):
        plot_main([str(source), "--out", str(tmp_path / "d.png")])
    assert run_main(plot_main, [str(tmp_path / "missing.json"), "--out", str(tmp_path / "e.png")]) == 2
