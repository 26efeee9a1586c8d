"""Every page of both books in Chromium, served as `make serve` serves it, every other host blocked: its math was
typeset when the book was built (as many equations on the page as in its source, no TeX left as text, no math
script, KaTeX's fonts from the book itself), every widget answers when used, and axe-core finds no WCAG 2.0, 2.1 or
2.2 A/AA violation, in the light theme and in the dark one.

One browser, one tab per language, pages visited in turn; the checkers are proved on small pages that fail them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Visit, serve
from pagechecks import (AXE_COLOUR_RULES, MATH_ON_PAGE, SKIPPING_MOVES, WIDGET_PROBE, axe_violations, block_outside,
                        describe_violations, math_in_source, run_axe, settle, start_axe, widget_responses)

sync_api = pytest.importorskip("playwright.sync_api")
SKIP = {"_static", "_sources", "_images", "jupyter_execute"}
# The theme's pages switch by their data-theme attribute; the landing page follows the system setting by itself.
DARK = """() => document.documentElement.dataset.theme !== undefined
  ? document.documentElement.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches"""


def site_pages(site: Path, lang: str) -> list[str]:
    found = [p.relative_to(site).as_posix() for p in (site / lang).rglob("*.html")
             if not SKIP & set(p.relative_to(site).parts)]
    return sorted(found) + (["index.html"] if lang == "en" else [])  # the landing page, once


def source_of(site: Path, page: str) -> Path | None:
    """The page's source as Sphinx copied it into the site (``_sources/``), or None for generated pages."""
    lang, _, rel = page.partition("/")
    folder = site / lang / "_sources" / Path(rel).parent
    found = sorted(folder.glob(f"{Path(rel).stem}.*")) if folder.is_dir() else []
    return found[0] if found else None


def open_page(tab: Visit, url: str) -> None:
    tab.page.goto(url)
    if tab.page.locator(".gc-widget").count():
        tab.page.wait_for_function("document.documentElement.dataset.gcWidgets === 'ready'", timeout=20_000)


def check_math(tab: Visit, site: Path, page: str) -> list[str]:
    found = tab.page.evaluate(MATH_ON_PAGE)
    problems = []
    source = source_of(site, page)
    if source is not None:
        expected = math_in_source(source.read_text(encoding="utf8"), Path(source.name.removesuffix(".txt")).suffix)
        if found["typeset"] != expected:
            problems.append(f"{found['typeset']} equations typeset, {expected} in {source.name}")
    elif not page.endswith(("genindex.html", "search.html")) and page != "index.html":
        problems.append("no source in _sources/ to count its equations")
    if found["raw"]:
        problems.append(f"TeX left as text: {found['raw'][:3]}")
    if found["errors"] or found["empty"] or found["coloured"]:
        problems.append(f"{found['errors']} KaTeX errors, {found['empty']} empty equations, "
                        f"{found['coloured']} coloured apart from their text")
    if found["typeset"] and not found["fonts"]:
        problems.append("KaTeX's fonts did not load")
    if tab.page.locator("script[src*='mathjax' i], script[src*='katex' i]").count():
        problems.append("a math script is loaded")
    return problems


@pytest.fixture(scope="module")
def tabs(browser):
    """One tab per language, each in its own browser context: a context is a process of its own, so axe checks an
    English page and its Spanish twin at the same time."""
    tabs = {lang: Visit(browser) for lang in ("en", "es")}
    for tab in tabs.values():
        # Visit sends each of a page's requests through this process and back; only those to other hosts now.
        tab.context.unroute("**/*")
        block_outside(tab.context, tab.blocked)
        tab.context.add_init_script(WIDGET_PROBE)
    yield tabs
    for tab in tabs.values():
        tab.context.close()


def report(failures: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}: {'; '.join(problems)}" for page, problems in failures.items())


def check_widgets(tab: Visit) -> list[str]:
    """Each widget answers when used, and it answers as soon as the page is parsed, before DOMContentLoaded: it
    waits for no font, image, theme script or math script, however busy the machine. (bench/pages.py times it.)"""
    widgets = tab.page.locator(".gc-widget").count()
    if not widgets:
        return []
    answers = widget_responses(tab.page, widgets)
    problems = [f"widget {a['widget']} has nothing to use" for a in answers if a["ms"] < 0]
    parsed = tab.page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventStart")
    late = [a for a in answers if a["ms"] > parsed]
    if late:
        problems.append(f"{len(late)} widgets answered only after the page was parsed ({parsed:.0f} ms), the slowest "
                        f"at {max(a['ms'] for a in late):.0f} ms")
    return problems


def open_and_check(tab: Visit, site: Path, url: str, page: str) -> list[str]:
    tab.blocked.clear()
    tab.errors.clear()
    tab.page.emulate_media(color_scheme="light")
    open_page(tab, f"{url}/{page}")
    return check_widgets(tab) + check_math(tab, site, page) + check_skipping(tab)


def check_skipping(tab: Visit) -> list[str]:
    """The blocks the browser may skip until they near the screen sit where they would if it never skipped them."""
    moved = tab.page.evaluate(SKIPPING_MOVES)
    return [f"drawing its skippable blocks moves what they hold: {moved}"] if moved else []


def to_dark(tab: Visit) -> list[str]:
    """A reader whose system is dark: the theme follows the system setting while the page is open."""
    tab.page.emulate_media(color_scheme="dark")
    try:
        tab.page.wait_for_function(DARK, timeout=5_000)
    except sync_api.TimeoutError:
        return ["the page did not switch to its dark theme"]
    settle(tab.page)
    return []


def test_every_page_typesets_its_math_and_passes_axe_light_and_dark(tabs, built_book, book_url):
    """Each English page and its Spanish twin side by side: math, widgets and every axe rule in the light theme;
    then, since the dark theme changes colours only, the rules that judge colours again in the dark one."""
    pages = {lang: site_pages(built_book, lang) for lang in tabs}
    rounds = list(zip(pages["en"], pages["es"])) + [(p, None) for p in pages["en"][len(pages["es"]):]] \
        + [(None, p) for p in pages["es"][len(pages["en"]):]]
    failures = {}
    for pair in rounds:
        working = {lang: page for lang, page in zip(("en", "es"), pair) if page}
        problems = {page: open_and_check(tabs[lang], built_book, book_url, page) for lang, page in working.items()}
        for lang in working:
            start_axe(tabs[lang].page)
        for lang, page in working.items():
            problems[page] += [f"light theme: {describe_violations(v)}" for v in [axe_violations(tabs[lang].page)] if v]
            problems[page] += to_dark(tabs[lang])
            start_axe(tabs[lang].page, AXE_COLOUR_RULES)
        for lang, page in working.items():
            tab = tabs[lang]
            problems[page] += [f"dark theme: {describe_violations(v)}" for v in [axe_violations(tab.page)] if v]
            problems[page] += [f"requested outside localhost: {u}" for u in tab.blocked]
            problems[page] += [f"browser error: {e}" for e in tab.errors]
        failures.update({page: found for page, found in problems.items() if found})
    assert not failures, report(failures)


# --- the checkers fail on pages that deserve it ---------------------------------------------------------------

TRICKY_PAGE = r"""---
jupytext: {}
---
# Title with $x$

Inline $a + b$ and $\frac{1}{2}$, money \$5 and \$6, code `$not math$` and `` `$nor this$` ``.
A line break inside $p -
y$ is still one equation, and so is $q$ after a % sign.

$$
J = \begin{bmatrix} 1 & 2 \end{bmatrix}
$$ (eq-j)

$$
\begin{aligned} a &= b \\ c &= d \end{aligned}
$$

\begin{align}
x &= 1
\end{align}

```{code-cell} ipython3
print("$5 and $6")  # $x$
```

:::{admonition} Question with $k$
:class: tip
Is $k = 2$?
:::

```{math}
:label: eq-m
y = 2
```

Role {math}`z^2`.
% $a comment$
"""


def test_math_counter_counts_what_myst_typesets_and_nothing_else():
    # $x$, $a + b$, $\frac$, $p - y$, $q$, two $$ blocks, align, $k$ twice, {math} directive, {math} role
    assert math_in_source(TRICKY_PAGE, ".md") == 12
    assert math_in_source("No math here: \\$5, `$x$`.\n", ".md") == 0
    notebook = {"cells": [{"cell_type": "markdown", "source": ["Take $x$ and\n", "$$y$$"]},
                          {"cell_type": "code", "source": ["'$z$'"]}]}
    assert math_in_source(json.dumps(notebook), ".ipynb") == 2


BROKEN = """<!doctype html><html lang="en"><head><title>Broken</title>
<style>.faint { color: #bbb; background: #fff; }</style></head>
<body><main><article class="bd-article"><h1>Broken</h1>
<p>Left as TeX: $x$ and \\frac{1}{2}.</p>
<p><span class="katex"><span class="katex-html" aria-hidden="true"><span style="color:red">y</span></span></span></p>
<p class="faint">Faint text nobody can read.</p>
<details><summary><i class="icon"></i></summary><p>Hidden</p></details>
<div class="gc-widget-root"><input type="checkbox" aria-label="does nothing"></div>
<img src="http://example.com/tracker.png" alt="">
<div style="content-visibility: auto"><p style="margin: 3em 0">Its margin leaves it when the box is contained.</p></div>
</article></main></body></html>"""


def test_checkers_reject_a_broken_page(browser, tmp_path):
    (tmp_path / "index.html").write_text(BROKEN, encoding="utf8")
    tab = Visit(browser)
    tab.context.unroute("**/*")
    block_outside(tab.context, tab.blocked)
    tab.context.add_init_script(WIDGET_PROBE)
    with serve(tmp_path) as url:
        tab.page.goto(f"{url}/index.html", wait_until="load")
        assert tab.blocked == ["http://example.com/tracker.png"]  # the page itself, from localhost, was let through
        found = tab.page.evaluate(MATH_ON_PAGE)
        assert found["typeset"] == 1 and found["coloured"] == 1
        assert any("$x$" in text and "\\frac" in text for text in found["raw"])
        assert any("Its margin leaves it" in moved for moved in tab.page.evaluate(SKIPPING_MOVES))  # before axe
        violations = {v["id"] for v in run_axe(tab.page)}
        assert {"summary-name", "color-contrast"} <= violations
        assert {v["id"] for v in run_axe(tab.page, AXE_COLOUR_RULES)} == {"color-contrast"}
        with pytest.raises(sync_api.TimeoutError):  # a widget that never answers is not counted as answering
            widget_responses(tab.page, 1, timeout_ms=1500)
    tab.context.close()
