"""The pre-warmed interpreter's shared cache of typeset math draws the same pixels, and is used."""

import hashlib
import io
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.mathtext import MathTextParser  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gradcourse" / "scoring"))
import mathtext_cache  # noqa: E402


def png(exponents=(-9, 3), title="") -> str:
    figure, axes = plt.subplots(figsize=(4, 3))
    axes.loglog([10.0 ** exponents[0], 10.0 ** exponents[1]], [1e-3, 1e3], "o-")
    axes.set_title(title)
    out = io.BytesIO()
    figure.savefig(out, format="png", bbox_inches="tight")
    plt.close(figure)
    return hashlib.sha256(out.getvalue()).hexdigest()


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setattr(MathTextParser, "_parse_cached", MathTextParser._parse_cached)   # restored afterwards
    mathtext_cache._parse.cache_clear()
    mathtext_cache.install()
    yield mathtext_cache._parse
    mathtext_cache._parse.cache_clear()


def test_a_second_figure_reuses_the_first_figures_math_and_draws_the_same_pixels(monkeypatch):
    stock = [png(), png(title=r"$\alpha^2$"), png((-3, 1))]
    mathtext_cache._parse.cache_clear()
    monkeypatch.setattr(MathTextParser, "_parse_cached", MathTextParser._parse_cached)
    mathtext_cache.install()
    first = png()
    hits = mathtext_cache._parse.cache_info().hits
    assert [first, png(title=r"$\alpha^2$"), png((-3, 1))] == stock
    assert mathtext_cache._parse.cache_info().hits > hits + 10   # the tick labels of the later figures


def test_prefilled_tick_labels_are_the_ones_a_log_plot_asks_for(shared):
    figure = plt.figure()
    mathtext_cache.parse_log_tick_labels(figure)
    plt.close(figure)
    filled = shared.cache_info().misses
    png((-16, 3))
    assert shared.cache_info().misses == filled   # every label of a plot of errors against step sizes was typeset


def test_math_settings_changed_by_the_learner_are_not_served_from_the_cache(shared):
    plain = png(title=r"$x_1$")
    with matplotlib.rc_context({"mathtext.fontset": "stix"}):
        stix = png(title=r"$x_1$")
    assert stix != plain
    with matplotlib.rc_context({"mathtext.fontset": "stix"}):
        assert png(title=r"$x_1$") == stix


def test_a_font_setting_changed_between_figures_is_drawn_as_without_the_cache(shared, monkeypatch):
    changed = {"font.sans-serif": ["DejaVu Serif"]}
    monkeypatch.setattr(MathTextParser, "_parse_cached", mathtext_cache._uncached)   # matplotlib's, uncached
    plain_stock = png()
    with matplotlib.rc_context(changed):
        changed_stock = png()
    assert plain_stock != changed_stock
    mathtext_cache.install()
    assert png() == plain_stock
    with matplotlib.rc_context(changed):
        assert png() == changed_stock


def test_a_learner_who_edits_a_returned_parse_changes_no_later_figure(shared):
    before = png()
    figure, axes = plt.subplots()
    prop = axes.xaxis.get_major_ticks()[0].label1.get_fontproperties()
    parse = MathTextParser("path").parse(r"$\mathdefault{10^{0}}$", figure.dpi, prop, antialiased=True)
    parse.glyphs.clear()
    parse.rects.append((0, 0, 50, 50))
    plt.close(figure)
    assert png() == before
