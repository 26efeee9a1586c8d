"""Sphinx extension: the book's math typeset at build time with KaTeX (npm), so no math script runs when a page opens.

MathJax typeset every page in the reader's browser: a quarter of a megabyte of script per page, and seconds of work
on the main thread during which the widgets could not answer. Here every ``$...$`` and ``$$...$$`` (labelled,
numbered, aligned) becomes HTML plus MathML when the book is built; the reader's browser gets one stylesheet and
the fonts an equation uses. An equation KaTeX cannot typeset, or would only guess at, is a build warning, and the
build treats warnings as errors: a page never shows TeX source in place of an equation.

One ``node`` process per build typesets for both languages (``katex_render.cjs``, one JSON line per equation);
equations the two books share are typeset once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

HERE = Path(__file__).parent
SCRIPT = HERE / "katex_render.cjs"
CSS = "katex/katex.min.css"  # staged by gradcourse.book.assets
# The faces nearly every equation uses. Named in the head, they arrive with the stylesheets: text waiting for a font
# is laid out again when it comes (KaTeX's faces block), and a page of equations is slow to lay out.
PRELOADED_FONTS = ("KaTeX_Main-Regular", "KaTeX_Math-Italic")
logger = logging.getLogger(__name__)
AMS_NUMBERED = re.compile(r"\\(begin|end)\{(equation|align|alignat|gather|multline|flalign)\}")


class KatexError(RuntimeError):
    pass


class Katex:
    """A ``node`` process running KaTeX, started on first use; ``render`` answers from memory when it can."""

    def __init__(self, katex_dir: Path):
        self.katex_dir = katex_dir
        self.proc: subprocess.Popen | None = None
        self.pid = 0
        self.done: dict[tuple[str, bool], str] = {}
        self.lock = threading.Lock()

    def render(self, tex: str, display: bool) -> str:
        key = (tex, display)
        if key in self.done:
            return self.done[key]
        with self.lock:
            answer = self._ask({"tex": tex, "display": display})
        if "error" in answer:
            raise KatexError(answer["error"])
        self.done[key] = answer["html"]
        return answer["html"]

    def _ask(self, request: dict) -> dict:
        # A forked Sphinx worker must not share the parent's pipes: it starts its own process.
        if self.proc is None or self.proc.poll() is not None or self.pid != os.getpid():
            self.proc = subprocess.Popen(
                ["node", str(SCRIPT), str(self.katex_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, encoding="utf8", bufsize=1,
            )
            self.pid = os.getpid()
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise KatexError(f"node stopped while typesetting (exit status {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.pid == os.getpid():
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        self.proc = None


_katex: Katex | None = None  # one per Python process: both languages' builds share it (and its memory)


def katex_dir(app: Sphinx) -> Path:
    modules = app.config.course_node_modules or Path(app.srcdir).resolve().parents[1] / "node_modules"
    return Path(modules) / "katex"


def _check_node(app: Sphinx) -> None:
    global _katex
    if app.builder.format != "html":
        return
    if shutil.which("node") is None:
        raise ConfigError("the book typesets its math with KaTeX, which runs on Node.js: install it "
                          "(Debian: apt-get install nodejs npm), then run `make setup`")
    folder = katex_dir(app)
    if not (folder / "package.json").is_file():
        raise ConfigError(f"{folder} is missing: run `npm ci` (or `make setup`) so the book can typeset its math")
    if _katex is None or _katex.katex_dir != folder:
        _katex = Katex(folder)


def _typeset(translator, node: nodes.Element, tex: str, display: bool) -> str:
    try:
        return _katex.render(tex, display)
    except KatexError as exc:
        logger.warning("KaTeX cannot typeset %r: %s", tex, exc, location=node, type="math", subtype="katex")
        return f'<code class="math-error">{translator.encode(tex)}</code>'


def visit_math(self, node: nodes.math) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate nohighlight"))
    self.body.append(_typeset(self, node, node.astext(), display=False) + "</span>")
    raise nodes.SkipNode


def display_tex(node: nodes.math_block) -> str:
    """The TeX of a display block as MathJax would read it: an amsmath environment as written (``nowrap``);
    otherwise one equation, or several (separated by blank lines) gathered and aligned."""
    if node["nowrap"]:  # KaTeX numbers these environments itself; Sphinx numbers equations, MathJax did not
        return AMS_NUMBERED.sub(r"\\\1{\2*}", node.astext())
    parts = [part for part in node.astext().split("\n\n") if part.strip()]
    parts = [rf"\begin{{split}}{part}\end{{split}}" if r"\\" in part else part for part in parts]
    if len(parts) > 1:
        return r"\begin{aligned}" + r"\\".join(parts) + r"\end{aligned}"
    return parts[0] if parts else ""


def visit_displaymath(self, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math notranslate nohighlight"))
    if node["number"] and not node["nowrap"]:
        self.body.append(f'<span class="eqno">({get_node_equation_number(self, node)})')
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    # A display equation wider than the page scrolls sideways; to scroll it by keyboard, it takes focus (as every
    # MathJax equation did). WCAG 2.1.1, axe's scrollable-region-focusable.
    typeset = _typeset(self, node, display_tex(node), display=True)
    self.body.append(typeset.replace('<span class="katex-display">', '<span class="katex-display" tabindex="0">', 1))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def _preload_fonts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if 'class="katex"' in context.get("body", ""):
        fonts = context["pathto"]("_static/katex/fonts/", 1)
        context["metatags"] = context.get("metatags", "") + "".join(
            f'<link rel="preload" href="{fonts}{face}.woff2" as="font" type="font/woff2" crossorigin />\n'
            for face in PRELOADED_FONTS)


def _close(app: Sphinx, exception) -> None:
    if _katex is not None:
        _katex.close()


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_node_modules", "", "env", [str])
    app.add_html_math_renderer("katex", (visit_math, None), (visit_displaymath, None))
    app.connect("builder-inited", _check_node)
    # On every page, not only those with equations: a page's navigation may show another page's heading, math
    # included. Its fonts load only when a page uses them.
    app.add_css_file(CSS)
    app.connect("html-page-context", _preload_fonts)
    app.connect("build-finished", _close)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
