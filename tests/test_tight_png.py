"""The learner's figures, drawn once (gradcourse/scoring/tight_png.py), show the same pixels as IPython's own inline
PNG, which draws each figure twice: for the kinds of plot a learner makes and the ones that move things at draw
time (legends placed "best" or outside, annotations, figure text, insets, colorbars, layout engines, partial polar
axes, axisartist labels, 3D axes, subfigures, a text moved on draw_event: the last ones go IPython's way)."""

import base64
import functools
import io
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("agg")
import matplotlib.image as mimage  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gradcourse" / "scoring"))
import tight_png  # noqa: E402

def errors_against_steps(rng):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    h = np.logspace(-14, -1, 27)
    ax.loglog(h, h * 1e3 + 1e-12, "o-", label="forward")
    ax.loglog(h, h**2 + 1e-9, "s-", label="centred")
    ax.axvline(1e-5, color="gray")
    ax.set_xlabel("h")
    ax.set_ylabel("error")
    ax.legend()
    return fig


def jacobian_heatmap(rng):
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    image = ax.imshow(rng.normal(size=(5, 5)), cmap="RdBu_r", vmin=-2, vmax=2)
    ax.set_title(r"$J = \mathrm{diag}(p) - p p^\top$")
    fig.colorbar(image, ax=ax)
    return fig


def grid_with_suptitle(rng):
    fig, axes = plt.subplots(2, 2, sharex=True, sharey=True)
    for ax in axes.flat:
        ax.plot(rng.normal(size=20))
    fig.suptitle("four runs")
    return fig


def legend_outside(rng):
    fig, ax = plt.subplots()
    for k in range(3):
        ax.plot(np.arange(10) * k, label=f"a rather long label {k}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def legend_best(rng):
    fig, ax = plt.subplots()
    ax.plot(np.sin(np.linspace(0, 6, 50)), label="sin")
    ax.plot(np.cos(np.linspace(0, 6, 50)), label="cos")
    ax.legend(loc="best")
    return fig


def annotation_outside(rng):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.annotate("far away", xy=(1, 1), xytext=(1.4, 1.3), arrowprops={"arrowstyle": "->"})
    return fig


def figure_text_outside(rng):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    fig.text(1.05, 0.5, "beside the figure")
    return fig


def twin_axes(rng):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], color="C0")
    other = ax.twinx()
    other.semilogy([1, 10, 1000], color="C1")
    other.set_ylabel("loss (log)")
    return fig


def rotated_ticks_and_bars(rng):
    fig, ax = plt.subplots()
    bars = ax.bar([f"category number {i}" for i in range(5)], rng.uniform(1, 5, 5))
    ax.bar_label(bars, fmt="%.2f")
    ax.tick_params(axis="x", labelrotation=60)
    return fig


def inset_and_equal_aspect(rng):
    fig, ax = plt.subplots()
    ax.scatter(*rng.normal(size=(2, 50)))
    ax.set_aspect("equal")
    inset = ax.inset_axes([0.6, 0.6, 0.35, 0.35])
    inset.hist(rng.normal(size=200), bins=15)
    return fig


def matshow_shared_colorbar(rng):
    fig, (left, right) = plt.subplots(1, 2)
    left.matshow(rng.normal(size=(4, 6)))
    image = right.imshow(rng.normal(size=(6, 4)))
    fig.colorbar(image, ax=[left, right], location="bottom")
    return fig


def polar_and_errorbars(rng):
    fig = plt.figure()
    polar = fig.add_subplot(1, 2, 1, projection="polar")
    polar.plot(np.linspace(0, 6, 40), np.linspace(0, 1, 40))
    ax = fig.add_subplot(1, 2, 2)
    ax.errorbar(np.arange(5), rng.normal(size=5), yerr=0.3, capsize=3)
    ax.fill_between(np.arange(5), -1, 1, alpha=0.2)
    return fig


def with_tight_layout(rng):
    fig, axes = plt.subplots(1, 3)
    for ax in axes:
        ax.set_title("a title long enough to collide")
    fig.tight_layout()
    return fig


def with_constrained_layout(rng):
    fig, axes = plt.subplots(2, 1, layout="constrained")
    image = axes[0].imshow(rng.normal(size=(3, 8)))
    fig.colorbar(image, ax=axes[0])
    axes[1].plot([3, 1, 2])
    return fig


def partial_polar(rng):
    fig = plt.figure()
    ax = fig.add_subplot(projection="polar")
    ax.plot(np.linspace(np.pi / 4, 3 * np.pi / 4, 30), rng.uniform(0.5, 1, 30))
    ax.set_thetamin(45)
    ax.set_thetamax(135)
    return fig


def axisartist_axes(rng):
    from mpl_toolkits.axisartist.axislines import Axes as ArtistAxes
    fig = plt.figure()
    ax = fig.add_subplot(axes_class=ArtistAxes)
    ax.plot(rng.normal(size=10))
    ax.axis["bottom"].label.set_text("bottom label")
    return fig


def surface_3d(rng):
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    x, y = np.meshgrid(np.linspace(-1, 1, 12), np.linspace(-1, 1, 12))
    ax.plot_surface(x, y, x * y)
    ax.set_zlabel("loss")
    return fig


def subfigures(rng):
    fig = plt.figure()
    left, right = fig.subfigures(1, 2)
    left.subplots().plot(rng.normal(size=8))
    right.subplots().hist(rng.normal(size=50))
    right.suptitle("right")
    return fig


def moved_on_draw(rng):
    fig, ax = plt.subplots()
    ax.plot(rng.normal(size=5))
    text = fig.text(0.5, 0.5, "moved when drawn")
    fig.canvas.mpl_connect("draw_event", lambda event: text.set_position((2.0, 2.0)))
    return fig


def callbacks_not_a_registry(rng):
    """A canvas whose callback registry is not matplotlib's: IPython prints the figure, so must the printer."""
    fig, ax = plt.subplots()
    ax.plot(rng.normal(size=5))

    class Registry:
        def __init__(self, inner):
            self._inner = inner

        def process(self, *args, **kwargs):
            return self._inner.process(*args, **kwargs)

        def connect(self, *args, **kwargs):
            return self._inner.connect(*args, **kwargs)

        def disconnect(self, *args, **kwargs):
            return self._inner.disconnect(*args, **kwargs)

    fig._canvas_callbacks = Registry(fig._canvas_callbacks)
    return fig


FIGURES = [errors_against_steps, jacobian_heatmap, grid_with_suptitle, legend_outside, legend_best,
           annotation_outside, figure_text_outside, twin_axes, rotated_ticks_and_bars, inset_and_equal_aspect,
           matshow_shared_colorbar, polar_and_errorbars,
           with_tight_layout, with_constrained_layout, partial_polar, axisartist_axes, surface_3d, subfigures,
           moved_on_draw, callbacks_not_a_registry]


def pixels(encoded: str) -> np.ndarray:
    return mimage.imread(io.BytesIO(base64.b64decode(encoded)), format="png")


@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_a_figure_drawn_once_has_the_pixels_of_ipythons_inline_png(make):
    stock_figure, figure = make(np.random.default_rng(0)), make(np.random.default_rng(0))
    try:
        stock = print_figure(stock_figure, "png", base64=True, bbox_inches="tight")
        once = tight_png.png(figure)
    finally:
        plt.close("all")
    assert pixels(once).shape == pixels(stock).shape
    assert np.array_equal(pixels(once), pixels(stock))


def test_a_figure_drawn_once_is_drawn_once(monkeypatch):
    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: (draws.append(1), original(self, renderer))[1])
    figure = jacobian_heatmap(np.random.default_rng(0))
    tight_png.png(figure)
    assert len(draws) == 1
    draws.clear()
    print_figure(figure, "png", bbox_inches="tight")
    assert len(draws) == 2   # IPython's: what the module saves
    plt.close("all")


def test_an_empty_figure_gives_no_image_as_in_ipython():
    assert tight_png.png(plt.figure()) is None
    plt.close("all")


class FakeShell:
    def __init__(self, printer):
        from IPython.core.formatters import PNGFormatter
        formatter = PNGFormatter()
        if printer is not None:
            formatter.for_type(Figure, printer)
        self.display_formatter = type("Formatters", (), {"formatters": {"image/png": formatter}})()

    def printer(self):
        return self.display_formatter.formatters["image/png"].type_printers.get(Figure)


def test_only_ipythons_default_printer_is_replaced():
    default = FakeShell(functools.partial(print_figure, fmt="png", base64=True, bbox_inches="tight"))
    assert tight_png.install(default)
    assert default.printer() is tight_png.png
    # What a learner configured stays: another bounding box, a resolution, no PNG printer at all.
    for printer in (functools.partial(print_figure, fmt="png", base64=True, bbox_inches=None),
                    functools.partial(print_figure, fmt="png", base64=True, bbox_inches="tight", dpi=200), None):
        shell = FakeShell(printer)
        assert not tight_png.install(shell)
        assert shell.printer() is printer
