"""The log-odds z of `trendoff contrast` on counts small enough to work out by hand, and its chart."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trendoff.plotting.contrast_chart import build_contrast_figure, draw_contrast
from trendoff.serving.contrast import log_odds_z, prior_weight_type, rank_distinctive

# n_a = n_b = 7, so with A0 = 7 the prior is alpha(w) = (y_a + y_b) / 2.
A = {"tax": 4, "jobs": 2, "war": 1}
B = {"jobs": 2, "hope": 4, "peace": 1}
# tax: alpha = 2; delta = ln(6 / (14 - 6)) - ln(2 / (14 - 2)) = ln(4.5); variance 1/6 + 1/2.
TAX = math.log(4.5) / math.sqrt(1 / 6 + 1 / 2)
# war: alpha = 0.5; delta = ln(1.5 / 12.5) - ln(0.5 / 13.5) = ln(3.24); variance 1/1.5 + 1/0.5.
WAR = math.log(3.24) / math.sqrt(1 / 1.5 + 1 / 0.5)


def test_z_by_hand_both_signs_and_a_shared_word_at_zero() -> None:
    z = {item.word: item.z for item in log_odds_z(A, B, prior_weight=7)}
    assert z["tax"] == pytest.approx(TAX, rel=1e-12) and round(TAX, 6) == 1.842111
    assert z["war"] == pytest.approx(WAR, rel=1e-12) and round(WAR, 6) == 0.719889
    assert z["hope"] == pytest.approx(-TAX, rel=1e-12) and z["peace"] == pytest.approx(-WAR, rel=1e-12)
    assert z["jobs"] == 0.0, "used as often by both, relative to what each wrote"


def test_ranking_takes_the_top_of_each_side_with_ties_by_word() -> None:
    of_a, of_b = rank_distinctive(A, B, top=3, prior_weight=7)
    assert [(w.word, w.count_a, w.count_b) for w in of_a] == [("tax", 4, 0), ("war", 1, 0), ("jobs", 2, 2)]
    assert [w.word for w in of_b] == ["hope", "peace", "jobs"]
    # x and y have the same counts, so the same z: the word breaks the tie, on both sides.
    tied_a, tied_b = rank_distinctive({"y": 1, "x": 1}, {"z": 2}, top=3, prior_weight=10)
    assert [w.word for w in tied_a] == ["x", "y", "z"] and [w.word for w in tied_b] == ["z", "x", "y"]
    assert tied_a[0].z == tied_a[1].z > 0 > tied_b[0].z


def test_a_larger_prior_pulls_every_z_towards_zero() -> None:
    weak, strong = (dict((w.word, w.z) for w in log_odds_z(A, B, weight)) for weight in (7, 700))
    assert all(abs(strong[word]) < abs(weak[word]) for word in ("tax", "war", "hope", "peace"))


def test_one_word_for_both_users_is_zero_not_a_crash() -> None:
    assert [(w.word, w.z) for w in log_odds_z({"same": 3}, {"same": 5}, 1000)] == [("same", 0.0)]


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "lots"])
def test_the_prior_weight_must_be_a_number_above_zero(raw: str) -> None:
    with pytest.raises(Exception, match=r"above 0|not a number"):
        prior_weight_type(raw)


def test_the_chart_has_one_bar_per_word_on_its_side(tmp_path: Path) -> None:
    of_a, of_b = rank_distinctive(A, B, top=2, prior_weight=7)
    answer = {"users": ["alice", "bob"], "as_of": None, "prior_weight": 7.0,
              "a": [{"word": w.word, "z": w.z, "counts": [w.count_a, w.count_b]} for w in of_a],
              "b": [{"word": w.word, "z": w.z, "counts": [w.count_a, w.count_b]} for w in of_b]}
    figure = build_contrast_figure(answer)
    widths = [patch.get_width() for patch in figure.axes[0].patches]
    assert widths == pytest.approx([TAX, WAR, -WAR, -TAX])
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == ["hope", "peace", "tax", "war"]
    path = draw_contrast(answer, tmp_path / "contrast.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
