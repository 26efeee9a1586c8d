"""What the browser tests and ``bench/pages.py`` check on a built page, written once so both measure the same way.

- ``WIDGET_PROBE`` (an init script): the moment each widget is in the page, it is used once (a box ticked, a slider
  moved, a quiz sent), and the time from navigation start until the widget's own DOM answers is recorded, and until
  a frame has drawn that answer.
- ``run_axe``: axe-core from ``node_modules`` (never a CDN), WCAG 2.0, 2.1 and 2.2 at levels A and AA.
- ``math_in_source`` counts the equations a page's source holds, parsed by MyST as the build parses it;
  ``MATH_ON_PAGE`` counts those the browser shows typeset, and finds TeX left as text.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# The rules whose verdict depends on colours: all a second (dark) theme can change.
AXE_COLOUR_RULES = ["color-contrast", "link-in-text-block"]
# KaTeX's HTML rendering is aria-hidden presentation (assistive technology reads its MathML twin), takes no focus and
# inherits the colour of the text around it (checked apart, in MATH_ON_PAGE): thousands of spans axe would only
# walk through again, at a cost of seconds per page.
AXE_EXCLUDE = [".katex-html"]
# The book lets the browser skip laying out sections far from the screen (content-visibility: auto, course.css).
# axe measures where every element sits to find what is behind its text; in a skipped section it finds placeholder
# geometry and reports a background no reader sees (a link in a list "on" the grey of a box further down). The
# colours do not depend on it: axe checks the page with every section laid out, as a reader who scrolls sees it.
RENDER_ALL = """() => { for (const el of document.querySelectorAll("*")) {
  if (getComputedStyle(el).contentVisibility === "auto") el.style.contentVisibility = "visible"; } }"""
# What skipping costs the layout. A block the browser may skip (content-visibility: auto) is, once drawn, contained
# (layout, style, paint): the margins of what it holds no longer collapse with its own, and so it may sit lower or
# higher than it would uncontained. Run in the page: each such block drawn contained, then uncontained, and every
# article element whose place differs by more than a pixel between the two, named. (It leaves the blocks drawn, as
# RENDER_ALL does.)
SKIPPING_MOVES = """() => {
  const blocks = [...document.querySelectorAll("*")].filter((el) => getComputedStyle(el).contentVisibility === "auto");
  const items = [...document.querySelectorAll("article *")];
  const where = () => items.map((el) => el.getBoundingClientRect().top + scrollY);
  blocks.forEach((el) => { el.style.contentVisibility = "visible"; el.style.contain = "layout style paint"; });
  const contained = where();
  blocks.forEach((el) => { el.style.contain = ""; });
  const free = where();
  return items.flatMap((el, i) => Math.abs(contained[i] - free[i]) > 1
    ? [`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} "${el.textContent.trim().slice(0, 40)}" `
       + `${Math.round(contained[i] - free[i])} px`] : []).slice(0, 3);
}"""
# Any address but this machine's, matched by Playwright's driver: a page's own requests never pass through Python.
OUTSIDE = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)(:\d+)?/)")

WIDGET_PROBE = """
(() => {
  const seen = new WeakSet();
  window.__gcResponses = [];
  const use = (root) => {
    if (root.tagName === "FORM") {  // a quiz: pick or type something, then send it
      const radio = root.querySelector("input[type=radio]");
      if (radio) radio.checked = true;
      const text = root.querySelector("input[type=text], input[type=number]");
      if (text) text.value = "1";
      // What the quiz hears when its button is pressed. (requestSubmit() would validate the form first, a layout of
      // the page around it that a reader's click, which comes after the page is drawn, never waits for.)
      root.dispatchEvent(new SubmitEvent("submit", { bubbles: true, cancelable: true }));
      return;
    }
    const control = root.querySelector("input[type=checkbox], input[type=radio], input[type=range], select");
    if (!control) return false;
    if (control.type === "range") {
      control.value = control.value === control.max ? control.min : control.max;
      control.dispatchEvent(new Event("input", { bubbles: true }));
    } else if (control.tagName === "SELECT") {
      control.selectedIndex = (control.selectedIndex + 1) % control.options.length;
      control.dispatchEvent(new Event("change", { bubbles: true }));
    } else {
      control.click();
    }
  };
  const probe = () => {
    for (const root of document.querySelectorAll(".gc-widget-root")) {
      if (seen.has(root)) continue;
      seen.add(root);
      const entry = { widget: root.className, ms: null, shown: null };
      window.__gcResponses.push(entry);
      new MutationObserver((_, observer) => {
        entry.ms = performance.now();
        observer.disconnect();
        // A reader sees the answer once a frame has drawn it: the first task after the next frame is rendered. Before
        // the page's first paint that is the first frame, however long it takes to lay out.
        requestAnimationFrame(() => setTimeout(() => { entry.shown = performance.now(); }));
      }).observe(root, { childList: true, subtree: true, characterData: true, attributes: true });
      if (use(root) === false) entry.ms = entry.shown = -1;  // nothing to use: a widget with no control
    }
  };
  new MutationObserver(probe).observe(document, { childList: true, subtree: true });
})();
"""


def block_outside(context, blocked: list[str]) -> None:
    """Refuse every request to another host and note it in ``blocked``. Only those requests are intercepted: a route
    that catches them all sends each of a page's requests through this process and back, which on a busy machine
    delayed a page by more than it took to load."""
    def refuse(route):
        blocked.append(route.request.url)
        route.abort()
    context.route(OUTSIDE, refuse)


def widget_responses(page, count: int, timeout_ms: int = 20_000) -> list[dict]:
    """Wait until each of the page's ``count`` widgets has answered the probe and a frame has drawn the answer; return
    ``{widget, ms, shown}`` for each (ms after navigation start: the answer in the page, then on screen)."""
    page.wait_for_function(
        f"window.__gcResponses && window.__gcResponses.length >= {count} "
        "&& window.__gcResponses.every((r) => r.shown !== null)", timeout=timeout_ms)
    return page.evaluate("window.__gcResponses")


def start_axe(page, rules: list[str] | None = None) -> None:
    """Start axe-core's WCAG A/AA checks (only ``rules``, if given) on the page as it is now, and return at once:
    pages in other browser contexts (other processes) can be checked meanwhile. ``axe_violations`` waits."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
        page.evaluate(RENDER_ALL)
    run_only = {"type": "rule", "values": rules} if rules else {"type": "tag", "values": AXE_TAGS}
    options = {"runOnly": run_only, "resultTypes": ["violations"]}
    context = {"exclude": [[s] for s in AXE_EXCLUDE]}
    page.evaluate("""([context, options]) => {
      window.__axe = undefined;
      axe.run(context, options).then((r) => { window.__axe = r.violations; },
                                     (e) => { window.__axe = [{id: "axe-failed", impact: String(e), help: "",
                                                               nodes: []}]; });
    }""", [context, options])


def axe_violations(page, timeout_ms: int = 300_000) -> list[dict]:
    page.wait_for_function("window.__axe !== undefined", timeout=timeout_ms, polling=100)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5], "count": len(v["nodes"])}
            for v in page.evaluate("window.__axe")]


def run_axe(page, rules: list[str] | None = None) -> list[dict]:
    """axe-core's WCAG A/AA violations on the page as it is now (only ``rules``, if given)."""
    start_axe(page, rules)
    return axe_violations(page)


def settle(page) -> None:
    """Wait until the page's CSS transitions and animations are over (a theme switch fades some colours)."""
    page.evaluate("() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null)))")


def describe_violations(violations: list[dict]) -> str:
    return "; ".join(f"{v['id']} ({v['impact']}, {v['count']}x: {json.dumps(v['nodes'])[:200]})" for v in violations)


# --- math --------------------------------------------------------------------------------------------------------

# Directives whose body is code or raw text: no markdown, so no equation, inside ({math} is one equation).
_LITERAL_DIRECTIVES = {"code-cell", "code", "code-block", "sourcecode", "literalinclude", "raw", "math", "eval-rst"}
_OPTION = re.compile(r"^[ \t]*:[\w-]+:.*$", re.M)
_EQUATION_TOKENS = {"math_inline", "math_inline_double", "math_block", "math_block_label", "amsmath"}


@functools.lru_cache(maxsize=1)
def _myst():
    """The markdown parser the build uses (myst-parser), with the extensions _config.yml turns on."""
    import yaml
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    extensions = set(config.get("parse", {}).get("myst_enable_extensions", []))
    return create_md_parser(MdParserConfig(enable_extensions=extensions), RendererHTML)


def _equations(token) -> int:
    if token.type in _EQUATION_TOKENS:
        return 1
    if token.type == "myst_role":
        return int(token.meta.get("name") == "math")
    if token.type in ("fence", "colon_fence"):
        name, _, title = token.info.strip().partition(" ")  # {admonition} A title with $x$
        if name == "{math}":
            return 1
        if name.startswith("{") and name.strip("{}") not in _LITERAL_DIRECTIVES:  # a directive with markdown inside
            return _markdown_math(title) + _markdown_math(_OPTION.sub("", token.content))
        return 0
    return sum(_equations(child) for child in token.children or [])


def _markdown_math(text: str) -> int:
    return sum(_equations(token) for token in _myst().parse(text))


def math_in_source(source: str, suffix: str) -> int:
    """How many equations (inline and display) a page's source holds, as MyST reads it: a MyST Markdown page, or
    the markdown cells of a notebook. Code (code cells, fences, inline code) holds none."""
    if suffix == ".ipynb":
        cells = json.loads(source)["cells"]
        return sum(_markdown_math("".join(c["source"])) for c in cells if c["cell_type"] == "markdown")
    parts = source.split("---\n", 2)  # the jupytext header, if any
    return _markdown_math(parts[2] if source.startswith("---\n") and len(parts) == 3 else source)


# Run in the page: equations typeset in the article, math left as TeX in the article's visible text (code excluded),
# KaTeX errors, equations that take no room, math coloured apart from its text, and KaTeX's fonts in use.
MATH_ON_PAGE = r"""() => {
  const article = document.querySelector("article.bd-article") || document.body;
  const typeset = article.querySelectorAll(".katex");
  const raw = [];
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => node.parentElement.closest(".katex, pre, code, script, style, .highlight")
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const found = node.textContent.match(/\$|\\[A-Za-z]+|\\[()[\]]/);
    if (found && node.parentElement.getClientRects().length) raw.push(node.textContent.trim().slice(0, 80));
  }
  const empty = [...typeset].filter((k) => !k.querySelector(".katex-html")
    || k.querySelector(".katex-html").getBoundingClientRect().width === 0).length;
  const coloured = [...article.querySelectorAll(".katex-html [style*=color]")].length;
  const fonts = [...document.fonts].filter((f) => f.family.startsWith("KaTeX") && f.status === "loaded").length;
  return { typeset: typeset.length, raw, errors: article.querySelectorAll(".math-error, .katex-error").length,
           empty, coloured, fonts };
}"""
