"""Math in the feedback, typeset to SVG when the page is made: the page loads nothing and runs no script.

nbconvert leaves ``$...$`` in the HTML for a MathJax the browser would load from a CDN; the feedback page's policy
runs no script, so the learner saw raw TeX. Here the feedback exporter's ``markdown2html`` filter is nbconvert's own,
with the math typeset by MathJax (the course's ``node_modules/mathjax``, run by ``node``) into inline SVG:
glyphs as paths, no font, no script, no stylesheet beyond a few lines in the template.

The TeX comes from the course's markdown and from the learner's written answers, so it is untrusted input:

* only MathJax's ``base``, ``ams``, ``boldsymbol``, ``cancel``, ``braket`` and ``noundefined`` packages are loaded:
  no ``html`` (``\\href``, ``\\style``, ``\\class``), no ``require`` (which loads more), no ``newcommand``
  (macros that expand without end), no ``color``; an unknown macro shows as itself, in red;
* each formula is bounded in length (``max_tex_chars``), in time (``formula_seconds``: past it the node process is
  killed, and started again for the next one) and in output (``max_svg_bytes``); each page in total time
  (``page_seconds``) and output (``max_page_svg_bytes``);
* every SVG is audited against the elements, attributes and values MathJax's SVG output uses, with no link and
  no ``url(...)`` anywhere; what fails the audit, or fails to typeset, is shown as its TeX source, escaped.

Without node or MathJax the math is shown as escaped TeX source, and the log says why once.
"""

from __future__ import annotations

import html
import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import jinja2
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets import Float, Integer, List, Unicode, default
from traitlets.config import LoggingConfigurable

PACKAGES = ["base", "ams", "boldsymbol", "cancel", "braket", "noundefined"]

# One node process answers one JSON line per request: {"svg": ...} or {"error": ...}. formatError throws, so that a
# TeX error reaches Python as an error (MathJax would otherwise typeset the message in place of the formula).
_PROGRAM = r"""
const [dir, packages] = [process.argv[1], process.argv[2].split(',')];
require(dir + '/es5/node-main.js').init({
  loader: {load: ['input/tex-base', ...packages.filter(p => p !== 'base').map(p => '[tex]/' + p),
                  'output/svg', 'adaptors/liteDOM']},
  tex: {packages, formatError: (jax, err) => { throw err; }},
  svg: {fontCache: 'none'},
  startup: {typeset: false},
}).then(MathJax => {
  const adaptor = MathJax.startup.adaptor;
  const lines = require('readline').createInterface({input: process.stdin});
  lines.on('line', line => {
    let reply;
    try {
      const request = JSON.parse(line);
      MathJax.texReset();
      reply = {svg: adaptor.outerHTML(MathJax.tex2svg(request.tex, {display: request.display}))};
    } catch (err) {
      reply = {error: String((err && err.message) || err).slice(0, 300)};
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  });
  lines.on('close', () => process.exit(0));
  process.stdout.write(JSON.stringify({ready: true}) + '\n');
}).catch(err => { process.stdout.write(JSON.stringify({error: String(err)}) + '\n'); process.exit(1); });
"""


def find_mathjax() -> str:
    """The course's MathJax: node_modules/mathjax beside the course folder nbgrader runs in, or in the repository
    this package comes from; "" when neither has it."""
    here = Path.cwd().resolve()
    for folder in [here, *here.parents, Path(__file__).resolve().parents[2]]:
        candidate = folder / "node_modules" / "mathjax"
        if (candidate / "es5" / "node-main.js").is_file():
            return str(candidate)
    return ""


class _Node:
    """A node process running MathJax, asked one formula at a time, with a deadline per answer."""

    def __init__(self, node: str, mathjax: str, packages: list[str], start_seconds: float):
        self.proc = subprocess.Popen([node, "--max-old-space-size=256", "-e", _PROGRAM, mathjax, ",".join(packages)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd=mathjax, env={"PATH": os.environ.get("PATH", "")})
        self.buffer = b""
        ready = self._reply(start_seconds, 4096)
        if not ready or not ready.get("ready"):
            self.close()
            raise RuntimeError((ready or {}).get("error") or f"MathJax did not start within {start_seconds:g} s")

    def ask(self, tex: str, display: bool, seconds: float, limit: int) -> dict | None:
        """The reply, or None when it did not come in time or was too large (the process is then closed)."""
        try:
            self.proc.stdin.write(json.dumps({"tex": tex, "display": display}).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.close()
            return None
        return self._reply(seconds, limit)

    def _reply(self, seconds: float, limit: int) -> dict | None:
        deadline = time.monotonic() + seconds
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(self.buffer) > limit or not select.select([fd], [], [], left)[0]:
                self.close()
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self.close()
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            self.close()
            return None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class _Budget:
    """What one page may still spend on typesetting: seconds of node time and bytes of SVG."""

    def __init__(self, seconds: float, svg_bytes: int):
        self.seconds, self.svg_bytes = seconds, svg_bytes


class SvgMathMarkdown(LoggingConfigurable):
    """A Jinja filter: nbconvert's ``markdown2html`` with the math typeset to SVG (see the module's docstring).
    Registered as the feedback exporter's ``markdown2html`` by ``gradcourse.scoring.config.harden``."""

    jinja_pass_arg = jinja2.pass_context(lambda: None).jinja_pass_arg   # Jinja passes the template's context

    node = Unicode(help="The node executable (default: the one on PATH)").tag(config=True)
    mathjax_dir = Unicode(help="The MathJax 3 npm package (default: node_modules/mathjax beside the course or in "
                          "the course's repository)").tag(config=True)
    packages = List(Unicode(), PACKAGES, help="MathJax's TeX packages to load; never html, require or "
                    "newcommand, which a learner's TeX could abuse").tag(config=True)
    # The labs' longest formula is about 200 characters; a long derivation step a few hundred.
    max_tex_chars = Integer(4000, help="Longest formula typeset; a longer one is shown as TeX").tag(config=True)
    max_svg_bytes = Integer(400_000, help="Largest SVG kept for one formula").tag(config=True)
    # A lab's text typesets to about 1 MB of SVG; the learner's answers add a little.
    max_page_svg_bytes = Integer(6_000_000, help="SVG budget of one page; past it, math is shown as TeX")\
        .tag(config=True)
    formula_seconds = Float(10.0, help="Time for one formula; past it, node is stopped and the formula shown as "
                            "TeX").tag(config=True)
    page_seconds = Float(30.0, help="Typesetting time of one page; past it, its math is shown as TeX")\
        .tag(config=True)
    start_seconds = Float(60.0, help="Time for node and MathJax to start").tag(config=True)

    _lock = threading.Lock()
    _processes: dict = {}       # (node, mathjax, packages) -> _Node, shared by every page of this process
    _cache: dict = {}           # (tex, display) -> SVG or None: the course's text is the same on every page
    _cache_bytes = 0
    _warned: set = set()

    @default("node")
    def _node_default(self):
        return shutil.which("node") or ""

    @default("mathjax_dir")
    def _mathjax_default(self):
        return find_mathjax()

    def __call__(self, context, source):
        """What nbconvert's HTMLExporter.markdown2html does, with this module's renderer."""
        cell = context.get("cell", {}) or {}
        resources = context.get("resources", {}) or {}
        exporter = self.parent
        renderer = _MathRenderer(
            self, _page_budget(self, resources), escape=False, attachments=cell.get("attachments", {}) or {},
            embed_images=getattr(exporter, "embed_images", False),
            path=(resources.get("metadata", {}) or {}).get("path", ""),
            anchor_link_text=getattr(exporter, "anchor_link_text", "¶"),
            exclude_anchor_links=getattr(exporter, "exclude_anchor_links", False),
            **(getattr(exporter, "lexer_options", {}) or {}))
        return MarkdownWithMath(renderer=renderer).render(source)

    # -- typesetting ------------------------------------------------------------------------------------------

    def typeset(self, tex: str, display: bool, budget: _Budget) -> str | None:
        """The audited SVG of one formula, or None (then it is shown as TeX)."""
        if len(tex) > self.max_tex_chars or not tex.strip():
            return None
        key = (tex, display)
        with self._lock:
            if key in self._cache:
                return self._spend(self._cache[key], budget)
            if budget.seconds <= 0:
                return None
            started = time.monotonic()
            reply = self._ask(tex, display)
            budget.seconds -= time.monotonic() - started
        if reply is None:                # node missing, or the formula ran out of time: not remembered
            return None
        svg = reply.get("svg")
        svg = _labelled(svg, tex) if isinstance(svg, str) and len(svg) <= self.max_svg_bytes and svg_ok(svg) \
            else None
        self._remember(key, svg)
        return self._spend(svg, budget)

    def _spend(self, svg, budget):
        if svg is None or len(svg) > budget.svg_bytes:
            return None
        budget.svg_bytes -= len(svg)
        return svg

    def _ask(self, tex, display):
        where = (self.node, self.mathjax_dir, tuple(self.packages))
        process = self._processes.get(where)
        if process is None or not process.alive:
            if not self.node or not self.mathjax_dir:
                self._warn_once(where, "math in the feedback is shown as TeX: "
                                + ("node is not on PATH" if not self.node else "MathJax is not installed (npm "
                                   "install, in the course's repository, puts it in node_modules/mathjax)"))
                return None
            try:
                process = self._processes[where] = _Node(*where[:2], list(where[2]), self.start_seconds)
            except (OSError, RuntimeError) as exc:
                self._warn_once(where, f"math in the feedback is shown as TeX: MathJax could not start ({exc})")
                return None
        return process.ask(tex, display, self.formula_seconds, self.max_svg_bytes + 4096)

    def _remember(self, key, svg):
        cls = type(self)
        if cls._cache_bytes < 64_000_000:
            cls._cache[key] = svg
            cls._cache_bytes += len(svg or "") + len(key[0])

    def _warn_once(self, where, message):
        if where not in self._warned:
            self._warned.add(where)
            self.log.warning(message)


def _page_budget(owner: SvgMathMarkdown, resources) -> _Budget:
    """One budget per page: nbconvert passes the same resources to every cell of a notebook."""
    budget = resources.get("gradcourse_math_budget") if hasattr(resources, "get") else None
    if budget is None:
        budget = _Budget(owner.page_seconds, owner.max_page_svg_bytes)
        if isinstance(resources, dict):
            resources["gradcourse_math_budget"] = budget
    return budget


class _MathRenderer(IPythonRenderer):
    """nbconvert's renderer, with math as SVG, or as escaped TeX where it cannot be."""

    def __init__(self, owner: SvgMathMarkdown, budget: _Budget, **options):
        super().__init__(**options)
        self.owner, self.budget = owner, budget

    def block_math(self, body: str) -> str:
        return self._math(body, True, "$$", "$$")

    def inline_math(self, body: str) -> str:
        return self._math(body, False, "$", "$")

    def latex_environment(self, name: str, body: str) -> str:
        return self._math(f"\\begin{{{name}}}{body}\\end{{{name}}}", True, "", "")

    def _math(self, tex: str, display: bool, opening: str, closing: str) -> str:
        svg = self.owner.typeset(tex, display, self.budget)
        if svg is not None:
            return svg
        kind = "gc-tex gc-tex-display" if display else "gc-tex"
        return f'<span class="{kind}">{opening}{html.escape(tex, quote=False)}{closing}</span>'


def _labelled(svg: str, tex: str) -> str:
    """The SVG with its TeX as the accessible name (a screen reader reads the source, as MathJax's own would without
    its assistive extension)."""
    return svg.replace("<svg ", f'<svg aria-label="{html.escape(tex, quote=True)}" ', 1)


# -- what MathJax's SVG output may contain ----------------------------------------------------------------------

_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:e-?\d+)?"
_TRANSFORM = re.compile(rf"(?:\s*(?:translate|scale|matrix|rotate)\((?:{_NUMBER}[ ,]*)+\))*\s*")
_PLAIN = re.compile(r"[-\w .,#%]*")                           # no parenthesis: no url(), no expression()
_STYLE = re.compile(r"(?:\s*[-a-z]+\s*:\s*[-\w .,#%\"']*;?)*\s*")
_ATTRIBUTES = {
    "mjx-container": {"class", "jax", "display", "width", "justify", "style"},
    "svg": {"style", "xmlns", "xmlns:xlink", "width", "height", "role", "focusable", "viewbox", "x", "y",
            "aria-label", "aria-hidden", "data-table", "data-labels", "preserveaspectratio"},
    "g": {"stroke", "fill", "stroke-width", "transform", "data-mml-node", "data-mjx-texclass", "data-c", "style",
          "data-semantic-type", "data-mjx-variant", "data-labels", "data-idbox", "id"},
    "path": {"d", "data-c", "transform", "stroke-width", "fill", "stroke"},
    "rect": {"width", "height", "x", "y", "fill", "stroke", "stroke-width", "data-background", "transform",
             "data-frame", "data-line"},
    "line": {"x1", "y1", "x2", "y2", "stroke-width", "stroke", "transform", "data-line"},
    "text": {"data-variant", "transform", "font-size", "font-family", "font-weight", "font-style", "x", "y", "style",
             "fill", "stroke", "data-id-align"},
    "defs": set(),
}
_VALUES = {"d": re.compile(r"[-\d.,\sMLHVCSQTAZmlhvcsqtaz]*"), "transform": _TRANSFORM, "style": _STYLE,
           "aria-label": re.compile(r".*", re.DOTALL), "viewbox": re.compile(rf"(?:{_NUMBER}\s*){{4}}"),
           "xmlns": re.compile(re.escape("http://www.w3.org/2000/svg")),
           "xmlns:xlink": re.compile(re.escape("http://www.w3.org/1999/xlink")),
           "id": re.compile(r"mjx-eqn:[\w.-]{1,40}")}       # an equation's \tag


class _SvgAudit(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ok, self.depth, self.opened = True, 0, []

    def handle_starttag(self, tag, attrs):
        allowed = _ATTRIBUTES.get(tag)
        if allowed is None or (not self.opened and tag != "mjx-container"):
            self.ok = False
            return
        self.opened.append(tag)
        for name, value in attrs:
            value = value or ""
            pattern = _VALUES.get(name, _PLAIN)
            if name not in allowed or not pattern.fullmatch(value):
                self.ok = False

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.opened and self.opened[-1] == tag:
            self.opened.pop()

    def handle_endtag(self, tag):
        if not self.opened or self.opened.pop() != tag:
            self.ok = False

    def handle_data(self, data):
        if not self.opened:          # text outside the container: not MathJax's
            self.ok = self.ok and not data.strip()

    def handle_comment(self, data):
        self.ok = False

    handle_decl = handle_pi = unknown_decl = handle_comment


def svg_ok(svg: str) -> bool:
    """Whether ``svg`` is one ``<mjx-container>`` of the elements and attributes MathJax's SVG output has, with
    values that name no URL, link or script."""
    audit = _SvgAudit()
    audit.feed(svg)
    audit.close()
    return audit.ok and not audit.opened
