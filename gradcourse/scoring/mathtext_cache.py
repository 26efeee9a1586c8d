"""Typeset math in figures once per process, not once per figure (imported where the figures are drawn).

matplotlib caches a parsed math string per renderer, and every figure gets a new renderer: each figure with
log-scale axes parses its tick labels (``$\\mathdefault{10^{-6}}$``) again with pyparsing, about 18 ms each, half
the time it takes to draw such a figure. Here the cache is shared by every renderer of the process and keyed by
everything the parse reads: the string, the resolution, the font (a copy, as matplotlib keys it), antialiasing,
hinting, the kind of output, the font file the font resolves to, and the ``mathtext.*`` and ``font.*`` settings,
which matplotlib reads while parsing without keying its own cache by them. The code that draws a parse never
changes it (matplotlib already reuses one for every draw of a figure), and every caller gets its own copy of the
glyph lists, so the pixels are the same.

A parse names the fonts its glyphs are drawn with, and a font cannot cross a fork (matplotlib reopens its fonts in
a forked child; a forked learner has also closed every descriptor the fonts read from). The first use of a parse
after a fork swaps its fonts for this process's own, opened from the same files.
"""

from __future__ import annotations

import functools
import os

import matplotlib
from matplotlib.font_manager import FontPath, findfont, get_font
from matplotlib.mathtext import MathTextParser

_uncached = MathTextParser._parse_cached.__wrapped__
_forks = 0   # counts the forks this process descends from: a parse made before the last one has foreign fonts


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


@functools.lru_cache(maxsize=1024)
def _parse(output_type, settings, s, dpi, prop, antialiased, load_glyph_flags):
    parser = MathTextParser("path" if output_type == "vector" else "agg")
    return [_forks, _uncached(parser, s, dpi, prop, antialiased, load_glyph_flags)]


_SETTINGS = sorted(k for k in matplotlib.rcParams if k.startswith(("mathtext.", "font.")))


def _parse_shared(self, s, dpi, prop, antialiased, load_glyph_flags):
    settings = tuple(str(dict.__getitem__(matplotlib.rcParams, k)) for k in _SETTINGS)   # unvalidated: fast
    resolved = str(findfont(prop)) if prop is not None else ""   # where font.* or a patched lookup leads
    entry = _parse(self._output_type, (settings, resolved), s, dpi, prop, antialiased, load_glyph_flags)
    if entry[0] != _forks:
        entry[:] = [_forks, _with_own_fonts(entry[1])]
    parse = entry[1]
    if hasattr(parse, "glyphs"):   # a copy of the lists: what the caller does with them stays with the caller
        parse = parse._replace(glyphs=list(parse.glyphs), rects=list(parse.rects))
    return parse


def _with_own_fonts(parse):
    glyphs = getattr(parse, "glyphs", None)
    if not glyphs:
        return parse
    own = {}
    for glyph in glyphs:
        font = glyph[0]
        if id(font) not in own:
            own[id(font)] = get_font(FontPath(font.fname, font.face_index))
    return parse._replace(glyphs=[(own[id(glyph[0])], *glyph[1:]) for glyph in glyphs])


def install() -> None:
    MathTextParser._parse_cached = _parse_shared


def parse_log_tick_labels(figure, exponents=range(-17, 4)) -> None:
    """Fill the cache with the labels of log-scale axes, ``10^k``, as ``figure`` would draw them (its resolution,
    the tick labels' font): the math nearly every log-log plot of the course shows, step sizes and errors from
    about 1e-17 to 1e3. Each costs a grading process about 18 ms to fill, whether or not a lab plots it."""
    axes = figure.add_subplot()
    prop = axes.xaxis.get_major_ticks()[0].label1.get_fontproperties()
    parser = MathTextParser("path")
    for k in exponents:
        parser.parse(f"$\\mathdefault{{10^{{{k}}}}}$", figure.dpi, prop, antialiased=True)
    figure.delaxes(axes)
