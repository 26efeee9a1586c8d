"""Both books build with warnings as errors, each in its own language, with nothing fetched from the internet."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from gradcourse.book.build import BuildError, build
from gradcourse.book.images import webp_twin
from gradcourse.book.mirror import pages
from gradcourse.book.sphinxext import label_nav_toggles
from gradcourse.widgets.sphinxext import module_registry, paint_after_last_mount, widget_modules, with_imports

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)


def html_pages(site: Path, lang: str) -> list[Path]:
    return [site / lang / (Path(p).with_suffix(".html")) for p in sorted(pages(ROOT / "book" / lang))]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_page_is_built_in_its_language_with_a_switcher_to_its_twin(built_book, lang):
    other = "es" if lang == "en" else "en"
    for page in html_pages(built_book, lang):
        html = page.read_text(encoding="utf8")
        assert f'<html lang="{lang}"' in html, page
        rel = page.relative_to(built_book / lang).as_posix()
        up = "../" * rel.count("/") + "../"
        assert f'href="{up}{other}/{rel}" hreflang="{other}"' in html, f"{page}: no switcher link to its twin"
        assert (built_book / other / rel).exists()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_pages_load_nothing_from_the_internet(built_book, lang):
    for page in html_pages(built_book, lang):
        html = page.read_text(encoding="utf8")
        assert not EXTERNAL.findall(html), f"{page} loads {EXTERNAL.findall(html)}"
    static = built_book / lang / "_static"
    assert (static / "katex" / "katex.min.css").exists() and list((static / "katex" / "fonts").glob("*.woff2"))
    assert (static / "require.js").exists()
    assert (built_book / lang / "_static" / "embed-amd.js").exists()


STYLESHEET = re.compile(r'<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"'
                        r'|<link\b[^>]*\bhref="([^"]+)"[^>]*\brel="stylesheet"')
CSS_URL = re.compile(r"""url\(\s*(["']?)([^)"']+)\1\s*\)""")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_each_page_links_one_stylesheet_whose_references_all_exist(built_book, lang):
    """gradcourse.book.cssbundle: the theme's, Sphinx's and the extensions' sheets reach a page as one file, the
    book's own last, and every file it refers to (KaTeX's fonts, the theme's images) is in the site. (KaTeX's
    stylesheet also names .woff and .ttf fonts, for browsers older than woff2; the book does not ship them.)"""
    bundles = set()
    for page in html_pages(built_book, lang):
        head = page.read_text(encoding="utf8").split("</head>")[0]
        links = [a or b for a, b in STYLESHEET.findall(head)]
        assert len(links) == 1 and "_static/bundle-" in links[0], f"{page}: {links}"
        bundles.add((page.parent / links[0]).resolve())
    for bundle in bundles:
        css = bundle.read_text(encoding="utf8")
        order = [css.index(f"/* {name} */") for name in ("basic.css", "pydata-sphinx-theme.css", "course.css")]
        assert order == sorted(order), f"{bundle.name}: the sheets are out of order"
        # Bundled last of all: the theme writes its own pygments.css (its accessible colours) over Sphinx's when
        # the build finishes.
        assert (bundle.parent / "pygments.css").read_text(encoding="utf8") in css
        refs = {m.group(2).split("?")[0].split("#")[0] for m in CSS_URL.finditer(css)}
        local = {r for r in refs if not r.startswith(("data:", "/")) and "://" not in r}
        missing = {r for r in local if not (bundle.parent / r).exists() and not r.endswith((".woff", ".ttf"))}
        assert local and not missing, f"{bundle.name} refers to files the site lacks: {sorted(missing)[:5]}"


REGISTRY = re.compile(r'<script async="async" type="module">(import \{ mountAsParsed \} from "[./]*_static/widgets/'
                      r'loader\.js";\n.*?mountAsParsed\(.*?\);)</script>', re.S)
PRELOAD = re.compile(r'<link rel="modulepreload" href="[./]*_static/widgets/([a-z-]+)\.js" />')
SCRIPT = re.compile(r"<script\b[^>]*>", re.S)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_page_mounts_its_widgets_as_it_is_parsed(built_book, lang):
    """A page with widgets imports the loader and their modules in an async module script in its head (fetched
    while the page is parsed: named in the head with what they import), and nothing else in the head can hold the
    parser up: on a chapter page, every other script comes after the text. A page with no widget loads none of it."""
    with_widgets = 0
    for page in html_pages(built_book, lang):
        html = page.read_text(encoding="utf8")
        used = set(re.findall(r'<div class="gc-widget" data-module="([a-z-]+)"', html))
        registry = REGISTRY.search(html)
        head = html[:html.index("</head>")]
        if not used:
            assert registry is None and "widgets/loader.js" not in html and not PRELOAD.search(html), page
            continue
        with_widgets += 1
        assert registry and registry.end() < len(head), f"{page}: no async module script in the head"
        # and the same lines deferred, which run before DOMContentLoaded should the async ones come late
        assert f'<script type="module">{registry.group(1)}</script>' in html[len(head):], f"{page}: no deferred twin"
        listed = set(re.findall(r'"([a-z-]+)": m\d+', registry.group(1)))
        imported = set(re.findall(r'_static/widgets/([a-z-]+)\.js"', registry.group(1))) - {"loader"}
        assert listed == imported == used, f"{page}: lists {listed}, imports {imported}, uses {used}"
        assert set(PRELOAD.findall(head)) == used | {"common", "loader"}, f"{page}: preloads {PRELOAD.findall(head)}"
        # The first paint waits until the parser has read the last mount point, which alone bears that id.
        assert head.count('<link rel="expect" href="#gc-last-widget" blocking="render" />') == 1, page
        marked = [m.start() for m in re.finditer(r'<div id="gc-last-widget" class="gc-widget" data-module=', html)]
        assert len(marked) == 1 and html.count('id="gc-last-widget"') == 1, page
        assert not re.search(r'<div class="gc-widget" data-module=', html[marked[0]:]), f"{page}: not the last one"
        # Before the stylesheets, the theme's colour-mode script (it must run before the first paint) runs at once.
        blocking = [tag for tag in SCRIPT.findall(head[head.index("stylesheet"):])
                    if not re.search(r"\b(async|defer)\b", tag) and "application/" not in tag]
        assert not blocking, f"{page}: scripts that stop the parser in the head: {blocking}"
        body = html[html.index("</head>"):]
        assert body.index("documentation_options.js") < body.index("doctools.js") < body.index("bootstrap.js")
    assert with_widgets >= 3


def test_the_module_list_names_only_modules_that_exist():
    body = '<div class="gc-widget" data-module="quiz"></div><div class="gc-widget" data-module="no-such-widget"></div>'
    assert widget_modules(body + '<div class="gc-widget" data-module="quiz"></div>') == ["quiz"]
    assert module_registry(["quiz", "picker"], "../_static/") == (
        'import { mountAsParsed } from "../_static/widgets/loader.js";\n'
        'import * as m0 from "../_static/widgets/quiz.js";\nimport * as m1 from "../_static/widgets/picker.js";\n'
        'mountAsParsed({ "quiz": m0, "picker": m1 });')
    assert with_imports(["quiz", "picker"]) == ["quiz", "picker", "common"]  # what they import, once


def test_the_first_paint_waits_for_the_last_mount_point_only():
    body = '<p>a</p><div class="gc-widget" data-module="quiz"></div><p>b</p><div class="gc-widget" data-module="x">'
    marked, link = paint_after_last_mount(body)
    assert marked == body.replace('<div class="gc-widget" data-module="x"',
                                  '<div id="gc-last-widget" class="gc-widget" data-module="x"')
    assert link == '<link rel="expect" href="#gc-last-widget" blocking="render" />\n'
    assert paint_after_last_mount("<p>no widget</p>") == ("<p>no widget</p>", "")
    taken = body + '<span id="gc-last-widget"></span>'  # never two elements with the id the paint waits for
    assert paint_after_last_mount(taken) == (taken, "")


def test_png_images_are_served_as_webp_with_the_same_pixels(built_book, tmp_path):
    from PIL import Image

    pages = [p for lang in ("en", "es") for p in html_pages(built_book, lang) if "_images/" in p.read_text("utf8")]
    assert pages, "no page shows an image"
    for page in pages:
        html = page.read_text(encoding="utf8")
        assert not re.search(r"_images/[^\"]+\.png", html), f"{page} still points at a PNG"
        for ref in set(re.findall(r'src="([./]*_images/[^"]+\.webp)"', html)):
            webp = (page.parent / ref).resolve()
            with Image.open(webp) as shown, Image.open(webp.with_suffix(".png")) as made:
                assert shown.size == made.size and shown.convert("RGBA").tobytes() == made.convert("RGBA").tobytes()
    png = tmp_path / "plot.png"
    Image.new("RGB", (64, 32), "white").save(png)
    first = webp_twin(png)
    Image.new("RGB", (64, 32), "black").save(png)  # changed since its twin was written: a new twin
    os.utime(png, ns=(1, 1))
    with Image.open(webp_twin(png)) as again:
        assert first == png.with_suffix(".webp") and again.getpixel((0, 0)) == (0, 0, 0)


NAV = """<li class="toctree-l1"><a class="reference internal" href="a.html">A &amp; B</a></li>
<li class="toctree-l1 has-children"><a class="reference internal" href="labs/index.html">Labs</a><details>
<summary><i class="fa-chevron-down"></i></summary><ul><li class="toctree-l2 has-children">
<a class="current reference internal" href="#">Lab <em>0</em></a><details open="open"><summary><i></i></summary>
</details></li></ul></details></li>"""


def test_each_navigation_toggle_is_named_after_its_own_part():
    named = label_nav_toggles(NAV, "Pages under “%s”")
    assert re.findall(r'<summary aria-label="([^"]*)">', named) == ["Pages under “Labs”", "Pages under “Lab 0”"]


@pytest.mark.parametrize(("lang", "label"), [("en", "Pages under “%s”"), ("es", "Páginas de «%s»")])
def test_every_built_navigation_toggle_names_its_part(built_book, lang, label):
    toggles = 0
    for page in html_pages(built_book, lang):
        nav = page.read_text(encoding="utf8").split('<nav class="bd-links', 1)[1].split("</nav>", 1)[0]
        found = re.findall(r'">([^<>]*)</a>\s*<details[^>]*>\s*<summary aria-label="([^"]*)">', nav)
        assert nav.count("<summary") == len(found), f"{page}: a toggle without its part's name"
        assert all(html.unescape(name) == label % html.unescape(part) for part, name in found), f"{page}: {found}"
        toggles += len(found)
    assert toggles


LABELS = re.compile(r'(?:title|aria-label|placeholder)="([^"]+)"')
# The one English label the theme hard-codes in its print-only layout, where no reader sees it.
UNTRANSLATABLE = {"Page"}


def test_spanish_pages_have_spanish_theme_text_and_search(built_book):
    for en_page, es_page in zip(html_pages(built_book, "en"), html_pages(built_book, "es")):
        en_labels = set(LABELS.findall(en_page.read_text(encoding="utf8")))
        es_labels = set(LABELS.findall(es_page.read_text(encoding="utf8")))
        assert en_labels & es_labels <= UNTRANSLATABLE, f"{es_page}: English theme text {en_labels & es_labels}"
    html = (built_book / "es" / "index.html").read_text(encoding="utf8")
    assert "Buscar en el libro" in html and "Descargar" in html and "siguiente" in html
    assert "SpanishStemmer" in (built_book / "es" / "_static" / "language_data.js").read_text(encoding="utf8")
    assert "SpanishStemmer" not in (built_book / "en" / "_static" / "language_data.js").read_text(encoding="utf8")


def test_landing_page_offers_both_languages(built_book):
    html = (built_book / "index.html").read_text(encoding="utf8")
    assert 'href="en/index.html"' in html and 'href="es/index.html"' in html


CELL = "```{code-cell} ipython3\n:tags: [remove-cell]\nassert %s\n```\n"


def test_a_wrong_worked_number_fails_the_build_and_says_which(make_course, capfd):
    body = "# Title\n\nThe answer is 5.\n\n" + CELL % "2 + 2 == 5, 'the worked answer'"
    with pytest.raises(BuildError, match="en"):
        build(make_course(body, body.replace("The answer is", "La respuesta es")))
    assert "the worked answer" in capfd.readouterr().err


def test_a_warning_fails_the_build(make_course):
    body = "# Title\n\nSee {ref}`no-such-label`.\n"
    with pytest.raises(BuildError):
        build(make_course(body, body))


MATH = r"""
Inline $\operatorname{softmax}(z)_i$ and $\bar{y} = \partial L / \partial y$.

$$
J_h = J_f \, J_g
$$ (eq-mini-chain)

$$
\begin{aligned}
a &= b + c \\
  &= d
\end{aligned}
$$ (eq-mini-aligned)

$$
p = \begin{pmatrix} 1 \\ 2 \end{pmatrix}

q = \tfrac{1}{2}
$$

\begin{align}
x &= 1
\end{align}

By {eq}`eq-mini-chain` and {eq}`eq-mini-aligned`.
"""


def test_the_mini_course_builds_when_nothing_is_wrong_and_typesets_its_math(make_course):
    """Labelled, aligned, several-line and amsmath equations are HTML when the book is built: no math script."""
    body = "# Title\n\nThe answer is 4.\n" + MATH + "\n" + CELL % "2 + 2 == 4"
    landing = build(make_course(body, body.replace("The answer is", "La respuesta es")))
    for lang in ("en", "es"):
        html = (landing.parent / lang / "index.html").read_text(encoding="utf8")
        assert html.count('<span class="katex">') == 6  # 2 inline, 3 $$ blocks, 1 align environment
        assert 'id="equation-eq-mini-chain"' in html and '<span class="eqno">(1)' in html
        assert '<span class="eqno">(2)' in html and 'href="#equation-eq-mini-aligned"' in html
        assert 'eqn-num' not in html and 'katex-tag' not in html  # KaTeX's own numbers would clash with Sphinx's
        assert not re.search(r"<script[^>]*(mathjax|katex)", html, re.I)
        bundle = re.search(r'<link rel="stylesheet" href="([^"]+)"', html).group(1)
        assert "/* katex.min.css */" in (landing.parent / lang / bundle).read_text(encoding="utf8")
        for font in re.findall(r'<link rel="preload" href="([^"]+)" as="font"', html):  # fetched with the stylesheets
            assert (landing.parent / lang / font).is_file(), font
        assert len(re.findall(r'rel="preload" href="[^"]+" as="font"', html)) == 2


def test_math_katex_cannot_typeset_fails_the_build_and_names_it(make_course, capfd):
    body = "# Title\n\nA typo: $\\fracc{1}{2}$.\n"
    with pytest.raises(BuildError):
        build(make_course(body, body))
    err = capfd.readouterr().err
    assert "KaTeX cannot typeset" in err and "\\fracc" in err and "index.md" in err


OUTPUT_HEX = re.compile(r"cell_output.*?<pre>(?:<span></span>)?([0-9a-f]{32})", re.S)


def test_editing_one_page_re_executes_only_that_page(make_course):
    stamp = "```{code-cell} ipython3\nimport uuid\nprint(uuid.uuid4().hex)\n```\n"
    course = make_course("# Start\n", "# Inicio\n", extra={"a": "# A\n\n" + stamp, "b": "# B\n\n" + stamp})
    site = build(course).parent

    def stamps() -> dict[str, str]:
        return {p: OUTPUT_HEX.search((site / "en" / f"{p}.html").read_text()).group(1) for p in "ab"}

    first = stamps()
    assert OUTPUT_HEX.search((site / "es" / "a.html").read_text()).group(1) == first["a"], "ES should reuse EN's run"
    for lang in ("en", "es"):
        page = course / "book" / lang / "a.md"
        page.write_text(page.read_text().replace("print(uuid", "x = 1\nprint(uuid"))
    build(course)
    second = stamps()
    assert second["a"] != first["a"], "the edited page was not executed again"
    assert second["b"] == first["b"], "an untouched page was executed again"
