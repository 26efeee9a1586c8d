"""Math in the feedback is typeset to SVG when the page is made (gradcourse/scoring/mathsvg.py), from the course's own
MathJax, with learner TeX bounded and audited. No nbgrader run here: the filter renders markdown as the feedback
template calls it (the whole page, in Chromium, is tests/test_feedback_browser.py)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

from gradcourse.scoring.mathsvg import SvgMathMarkdown, svg_ok

ROOT = Path(__file__).resolve().parents[1]
# What a page shows when its math was not typeset: the delimiters, or a TeX command, in text outside the SVG.
RAW_TEX = re.compile(r"\$|\\(?:frac|partial|operatorname|top|sum|begin)\b")

pytestmark = pytest.mark.skipif(not SvgMathMarkdown().mathjax_dir or not SvgMathMarkdown().node,
                                reason="node or node_modules/mathjax missing (make setup installs them)")


def render(source: str, **config) -> str:
    return SvgMathMarkdown(**config)({"cell": {}, "resources": {}}, source)


def text_outside_svg(html: str) -> str:
    """The page's text with every typeset formula and every tag taken out: what a reader sees as characters."""
    html = re.sub(r"<mjx-container.*?</mjx-container>", " ", html, flags=re.DOTALL)
    return re.sub(r"<[^>]*>", " ", html)


def lab_markdown(name="lab00-es") -> list[str]:
    nb = json.loads((ROOT / "grader" / "release" / name / "lab00.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def test_every_formula_of_a_lab_is_typeset_and_stock_nbconvert_would_leave_it_raw():
    cells = lab_markdown()
    ours = [render(cell) for cell in cells]
    stock = [MarkdownWithMath(renderer=IPythonRenderer(escape=False)).render(cell) for cell in cells]
    assert sum(page.count("<mjx-container") for page in ours) >= 20
    assert [RAW_TEX.findall(text_outside_svg(page)) for page in ours if RAW_TEX.search(text_outside_svg(page))] == []
    assert "gc-tex" not in "".join(ours)
    # the check above finds raw TeX where it is: nbconvert's own filter leaves it for a MathJax the page cannot run
    assert any(RAW_TEX.search(text_outside_svg(page)) for page in stock)


def test_the_svg_stands_alone_and_is_labelled_with_its_tex():
    html = render(r"Softmax: $p = \operatorname{softmax}(z)$ and $$\frac{\partial L}{\partial z} = p - y$$")
    svgs = re.findall(r"<mjx-container.*?</mjx-container>", html, flags=re.DOTALL)
    assert len(svgs) == 2 and all(svg_ok(svg) for svg in svgs)
    assert 'display="true"' in svgs[1] and 'display="true"' not in svgs[0]
    assert r'aria-label="p = \operatorname{softmax}(z)"' in svgs[0]
    assert not re.search(r"<(use|image|a|script|foreignObject)\b|href|url\(", html)   # glyphs are paths, in place


@pytest.mark.parametrize("tex", [r"\href{javascript:alert(1)}{x}", r"\style{color:red}{x}", r"\require{html}",
                                 r"\class{x}{y}", r"\mmlToken{mi}[href='javascript:x']{x}", r"\label{a}x\ref{a}",
                                 r"\newcommand{\x}{\x\x}\x", r"\def\x{\x}\x", "<img src=x onerror=alert(1)>",
                                 r"\text{<script>alert(1)</script>}"])
def test_learner_tex_that_could_link_style_load_or_loop_is_inert(tex):
    html = render(f"${tex}$")
    assert live_parts(html) == [], html[:2000]
    assert "gc-tex" in html or "<mjx-container" in html


class _Live(HTMLParser):
    """Elements and attributes of rendered HTML that could load, link or run something."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("a", "script", "img", "iframe", "object", "embed", "foreignobject", "use", "image", "style"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or "href" in name or name in ("src", "srcdoc") \
                    or re.search(r"javascript:|url\(", value or "", re.I) and name != "aria-label":
                self.found.append(f"{tag}[{name}={value}]")


def live_parts(html: str) -> list[str]:
    parser = _Live()
    parser.feed(html)
    return parser.found


def test_the_live_parts_check_finds_them():
    assert live_parts('<a href="javascript:x">x</a><svg onload="x"><image href="y"/></svg>') == [
        "a", "a[href=javascript:x]", "svg[onload=x]", "image", "image[href=y]"]


def test_what_cannot_be_typeset_is_shown_as_escaped_tex():
    broken = render(r"Close it: $\frac{a}{b$ and $<b>&</b>$ too")
    assert r'<span class="gc-tex">$\frac{a}{b$</span>' in broken
    long = render("$" + "x+" * 3000 + "x$", max_tex_chars=4000)
    assert '<span class="gc-tex">$x+x+' in long and "<mjx-container" not in long
    display = render("$$\\frac{a}{b$$")
    assert '<span class="gc-tex gc-tex-display">$$\\frac{a}{b$$</span>' in display


def test_a_page_over_its_budget_shows_the_rest_as_tex():
    source = " ".join(f"${i} + x_{{{i}}}$" for i in range(40))
    html = render(source, max_page_svg_bytes=20_000)
    typeset, raw = html.count("<mjx-container"), html.count('class="gc-tex"')
    assert typeset >= 1 and raw >= 1 and typeset + raw == 40


def test_a_formula_out_of_time_is_shown_as_tex_and_the_next_one_is_typeset():
    slow = render(r"$\sum_{i=1}^{n} i^{2} \cdot \frac{1}{2^{i}} + \zeta$", formula_seconds=1e-6)
    assert 'class="gc-tex"' in slow
    assert "<mjx-container" in render(r"$y = \sqrt{2}$ again")     # a new node process, or the cache


def test_without_node_or_mathjax_the_math_is_tex_and_the_log_says_why(caplog, tmp_path):
    html = render(r"$\alpha_{no\ node}$", node="")
    assert html.count('class="gc-tex"') == 1
    html = render(r"$\beta_{no\ mathjax}$", mathjax_dir=str(tmp_path))
    assert html.count('class="gc-tex"') == 1
    assert any("MathJax could not start" in r.message or "shown as TeX" in r.message for r in caplog.records)


@pytest.mark.parametrize("svg", [
    '<mjx-container class="MathJax" jax="SVG"><svg onload="alert(1)"></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg><a href="javascript:x"><path d="M0 0"/></a></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg><script>alert(1)</script></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg style="background: url(http://x/)"></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg><g fill="url(#x)"></g></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg><use xlink:href="http://x/#a"/></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg><foreignObject></foreignObject></svg></mjx-container>',
    '<svg></svg>',
    '<mjx-container class="MathJax" jax="SVG"><svg></svg></mjx-container><img src=x>',
    '<mjx-container class="MathJax" jax="SVG"><svg></svg></mjx-container>after',
    '<mjx-container class="MathJax" jax="SVG"><svg><!-- x --></svg></mjx-container>',
    '<mjx-container class="MathJax" jax="SVG"><svg><path d="M0 0" transform="url(x)"/></svg></mjx-container>',
])
def test_the_svg_audit_rejects_what_mathjax_does_not_write(svg):
    assert not svg_ok(svg)


def test_the_svg_audit_accepts_mathjax_output():
    html = render(r"$$\begin{aligned} a &= \sqrt{b} \\ \bar c &\ne \cancel{d} \end{aligned}$$ and "
                  r"$$\boxed{x} = \underbrace{y}_{n} \tag{1}$$")
    assert html.count("<mjx-container") == 2 and "gc-tex" not in html
