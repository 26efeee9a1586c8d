"""A notebook figure's PNG drawn once, not twice (imported where the figures are drawn).

IPython's inline backend saves each figure with ``bbox_inches="tight"``, and matplotlib then draws the figure
twice: once with drawing disabled, to learn where everything lands, and once for real, inside the box found. The
first pass still resamples every image and transforms every path, only to throw the result away: a third of the
time a lab's figure takes. For plain 2D axes, ``Figure.get_tightbbox`` finds the same box without it (it updates the
ticks, titles, aspect and axes locators itself), so the figure is drawn once, into that box, padded as matplotlib
pads it.

Where the dry pass matters, the stock path runs:

- a layout engine (``tight_layout``, ``constrained_layout``) moves the axes while the figure is drawn, so the box
  is only known after a draw;
- axes of another kind than plain 2D ones (polar, 3D, ``axisartist``) or subfigures: some lay out their labels or
  margins only as they are drawn (a partial polar plot's margin, axisartist's axis labels), so the box found
  without a draw can differ;
- code run on ``draw_event`` may move things after the dry pass, where the box is measured (a red team moved a
  text that way);
- a figure with no axes and no lines gives no image at all, as in IPython;
- (not caught: code that changes the figure while it draws by another route, such as an artist subclass whose
  ``draw`` moves others, or an ``xlim_changed`` or stale callback that moves a text. There the image shows the
  figure as after one draw, where IPython's shows it after two; only the feedback's picture differs, never a score);
- a figure moved to another canvas than Agg's is saved by that canvas.

The learner keeps control: ``%config InlineBackend.figure_formats`` or ``%matplotlib inline`` replace this
formatter with IPython's own, as they would replace IPython's previous one. The pixels are the same as IPython's
(tests/test_tight_png.py compares them figure by figure).
"""

from __future__ import annotations

import functools

from IPython.core.pylabtools import print_figure

_STOCK_KWARGS = {"bbox_inches": "tight"}


def png(fig, base64: bool = True):
    """The figure as IPython's inline backend shows it (base64 PNG), cut to the same tight box."""
    import matplotlib
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if (fig.get_layout_engine() is not None or not (fig.axes or fig.lines) or fig.subfigs
            or any(type(axes) is not Axes for axes in fig.axes)
            or not isinstance(fig.canvas, FigureCanvasAgg)  # (the inline backend's canvas is Agg's)
            or _runs_code_on_draw(fig.canvas)):
        return print_figure(fig, "png", base64=base64, **_STOCK_KWARGS)
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    pad = matplotlib.rcParams["savefig.pad_inches"]
    return print_figure(fig, "png", base64=base64, bbox_inches=box.padded(pad))


def _runs_code_on_draw(canvas) -> bool:
    """A draw_event callback is registered, or the canvas's registry is not matplotlib's (so none can be ruled out)."""
    registered = getattr(getattr(canvas, "callbacks", None), "callbacks", None)
    return not isinstance(registered, dict) or bool(registered.get("draw_event"))


def _is_stock(printer) -> bool:
    """IPython's own PNG printer with its default arguments (and not one the learner configured)."""
    return (isinstance(printer, functools.partial) and printer.func is print_figure
            and printer.keywords == {"fmt": "png", "base64": True, **_STOCK_KWARGS} and not printer.args)


def install(shell) -> bool:
    """Draw the shell's inline figures once, if its PNG printer for figures is IPython's default one."""
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    if not _is_stock(formatter.type_printers.get(Figure)):
        return False
    formatter.for_type(Figure, png)
    return True
