"""The built book in a real browser (Debian's chromium), served on localhost with every other host blocked."""

from __future__ import annotations

import pytest

from gradcourse.book.build import build

from conftest import Visit, serve

@pytest.fixture
def tab(browser):
    visit = Visit(browser)
    yield visit
    visit.context.close()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_start_page_shows_typeset_math_with_no_network(tab, book_url, lang):
    """The math arrives typeset (no script draws it) and KaTeX's fonts come from the book's own files."""
    tab.page.goto(f"{book_url}/{lang}/index.html", wait_until="load")
    assert tab.page.locator(".katex .katex-html").count() > 0
    assert tab.page.locator(".katex math").count() == tab.page.locator(".katex").count()  # what screen readers read
    assert tab.page.evaluate("""document.fonts.ready.then(() =>
      [...document.fonts].some((f) => f.family === 'KaTeX_Main' && f.status === 'loaded'))""")
    assert tab.page.get_attribute("html", "lang") == lang
    tab.assert_clean()


def test_landing_page_leads_to_each_language(tab, book_url):
    tab.page.goto(f"{book_url}/index.html")
    tab.page.click("a[hreflang=es]")
    tab.page.wait_for_url("**/es/index.html")
    assert tab.page.get_attribute("html", "lang") == "es"
    tab.assert_clean()


@pytest.mark.parametrize("path", ["index.html", "chapters/softmax-cross-entropy.html", "glossary.html"])
def test_switcher_lands_on_the_twin_and_back(tab, book_url, path):
    tab.page.goto(f"{book_url}/en/{path}")
    tab.page.click(".course-lang-switch a[hreflang=es]")
    tab.page.wait_for_url(f"**/es/{path}")
    assert tab.page.get_attribute("html", "lang") == "es"
    tab.page.click(".course-lang-switch a[hreflang=en]")
    tab.page.wait_for_url(f"**/en/{path}")
    assert tab.page.get_attribute("html", "lang") == "en"
    tab.assert_clean()


@pytest.mark.parametrize(("lang", "word"), [("es", "gradientes"), ("en", "gradients")])
def test_search_finds_a_word_of_the_page_language(tab, book_url, lang, word):
    tab.page.goto(f"{book_url}/{lang}/search.html?q={word}")
    # Results appear one by one; the summary line ("found N pages" / "se encontraron N páginas") comes last.
    tab.page.wait_for_function(
        "(document.querySelector('#search-results .search-summary') || {}).textContent?.match(/[0-9]/)",
        timeout=20_000)
    results = tab.page.locator("#search-results ul.search li")
    assert results.count() >= 1
    assert any(href.endswith("index.html") for href in results.locator("a").evaluate_all("as => as.map(a => a.href)"))
    tab.assert_clean()


WIDGET_PAGE = """# Widget

```{code-cell} ipython3
import ipywidgets as widgets

slider = widgets.IntSlider(value=3, min=0, max=10, description="n")
label = widgets.Label()
widgets.jslink((slider, "value"), (label, "value"))
widgets.VBox([slider, label])
```
"""


def test_widgets_render_offline_and_run_their_front_end_links(browser, make_course):
    """RequireJS, the widget manager and its fonts come from the book's own files at any page depth, and links
    between widgets that live in the browser work with no kernel."""
    site = build(make_course(WIDGET_PAGE, WIDGET_PAGE, extra={"chapters/deeper": WIDGET_PAGE})).parent
    visit = Visit(browser)
    with serve(site) as url:
        for page in ("es/index.html", "en/chapters/deeper.html"):
            visit.page.goto(f"{url}/{page}")
            handle = visit.page.locator(".widget-slider .noUi-handle").first
            handle.wait_for(timeout=20_000)
            handle.focus()
            visit.page.keyboard.press("ArrowRight")
            visit.page.wait_for_function("document.querySelector('div.widget-label').textContent === '4'")
    visit.assert_clean()
    visit.context.close()
