"""Sphinx extension for the bilingual book: the language switcher and the mirror check.

Each language is its own Sphinx project (``book/en``, ``book/es``) so that it gets its own ``<html lang>``, theme
translations and search index; this extension ties the projects together.
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.locale import _

from .mirror import describe_unmatched, unmatched_pages

HERE = Path(__file__).parent
SWITCH_LABEL = {"en": "Language", "es": "Idioma"}
# A part of the navigation with pages below it: its link (the current page's reads class="current reference
# internal"), then a <details> whose <summary> holds only an icon. The link's text holds no other link.
NAV_TOGGLE = re.compile(r'(<a class="[^"]*\breference internal\b[^"]*" href="[^"]*">((?:(?!</a>).)*)</a>\s*'
                        r'<details[^>]*>\s*)<summary>', re.S)
TAG = re.compile(r"<[^>]+>")
# The course's code that turns a page into HTML. Sphinx rewrites only pages whose source changed; a change here must
# rewrite them all, so its digest is this extension's env_version (a new version makes Sphinx read every page again).
RENDERING_CODE = [HERE / "sphinxext.py", HERE / "mirror.py", HERE / "katex.py", HERE / "katex_render.cjs",
                  HERE.parent / "widgets" / "sphinxext.py"]


def _languages(app: Sphinx) -> dict:
    return app.config.course_languages or {app.config.language: {"name": app.config.language}}


def _on_config_inited(app: Sphinx, config) -> None:
    config.templates_path.insert(0, str(HERE / "templates"))  # before the themes' own components
    config.html_static_path.append(str(HERE / "static"))
    config.html_css_files.append("course.css")
    if not config.html_favicon:  # without one, browsers ask the server root for /favicon.ico
        config.html_favicon = str(HERE / "static" / "favicon.svg")
    options = config.html_theme_options
    header = options.get("article_header_end", ["article-header-buttons.html"])
    if isinstance(header, str):
        header = [header]
    options["article_header_end"] = ["lang-switch.html", *[h for h in header if h != "lang-switch.html"]]


def _on_builder_inited(app: Sphinx) -> None:
    # The twin of every page must exist before anything is built, or readers would follow the switcher to a 404.
    if not app.config.course_require_mirror:
        return
    langs = list(_languages(app))
    book_dir = Path(app.srcdir).parent
    if len(langs) > 1 and all((book_dir / lang).is_dir() for lang in langs):
        missing = unmatched_pages(book_dir, langs)
        if missing:
            raise ConfigError(describe_unmatched(missing, book_dir))


def _point_widgets_at_static(context: dict, static_url: str) -> None:
    """The widget manager finds its fonts next to its AMD modules, which RequireJS places below the page's own
    folder unless told otherwise; third-party widget modules come from its "CDN" address. Point both at this
    page's ``_static/`` (a relative address: it differs with the page's depth)."""
    scripts = context.get("script_files", [])
    for i, script in enumerate(scripts):
        name = getattr(script, "filename", None) or ""
        if name.endswith("embed-amd.js") and "data-jupyter-widgets-cdn" in script.attributes:
            attributes = {**script.attributes, "data-jupyter-widgets-cdn": static_url}
            scripts[i] = type(script)(name, priority=script.priority, **attributes)
            base = type(script)(None, priority=script.priority, body=f"require.config({{baseUrl: {static_url!r}}});")
            scripts.insert(i, base)
            return


def label_nav_toggles(nav, label: str) -> str:
    """Name each toggle of the navigation after its part (``label`` holds one ``%s``): the theme leaves them as bare
    icons, which a screen reader announces as an unnamed button (WCAG 4.1.2)."""

    def named(m: re.Match) -> str:
        title = html.unescape(TAG.sub("", m.group(2))).strip()
        return f'{m.group(1)}<summary aria-label="{html.escape(label % title)}">'

    return NAV_TOGGLE.sub(named, str(nav))  # the theme hands over a BeautifulSoup tree


def _on_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    _point_widgets_at_static(context, context["pathto"]("_static/", 1))
    if "body" in context:
        # myst-nb names its show/hide toggles "Toggle hidden content" while they read "Show code cell source": a
        # spoken name must contain the visible text (WCAG 2.5.3), so the visible text becomes their only name.
        context["body"] = context["body"].replace('<summary aria-label="Toggle hidden content">', "<summary>")
    context["course_nav_toggles"] = lambda nav: label_nav_toggles(nav, str(_("Pages under “%s”")))
    here = app.config.language
    up = "../" * (pagename.count("/") + 1)
    links = []
    for lang, info in _languages(app).items():
        links.append(
            {
                "lang": lang,
                "name": info.get("name", lang),
                "url": f"{up}{lang}/{pagename}{app.builder.out_suffix}",
                "current": lang == here,
            }
        )
    context["course_switcher"] = links
    context["course_switcher_label"] = SWITCH_LABEL.get(here, "Language")
    alternates = "".join(
        f'<link rel="alternate" hreflang="{link["lang"]}" href="{link["url"]}" />\n' for link in links
    )
    context["metatags"] = context.get("metatags", "") + alternates


def _scripts_after_content(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """On a chapter page, Sphinx's scripts and the extensions' go at the end of the body, in the same order; only
    async ones stay in the head. In the head, each script stopped the parser until every stylesheet had arrived and
    the script had run: the text, and the widgets in it (gradcourse.widgets mounts each as it is parsed), waited
    for all of it. None of these scripts writes into the page as it is parsed; they act on a parsed page."""
    scripts = context.get("script_files")
    if templatename != "page.html" or not scripts:
        return
    context["script_files"] = [s for s in scripts if getattr(s, "attributes", {}).get("async")]
    context["course_scripts_end"] = [s for s in scripts if not getattr(s, "attributes", {}).get("async")]


def _add_missing_translations(app: Sphinx) -> None:
    """Compile our .po files (text Sphinx and the theme leave untranslated) and register them as a fallback."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = Path(app.doctreedir) / "course-locale"
    for po in (HERE / "locale").rglob("*.po"):
        mo = compiled / po.relative_to(HERE / "locale").with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            mo.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as src, mo.open("wb") as dst:
                write_mo(dst, read_po(src))
    app.add_message_catalog("sphinx", str(compiled))


def _always_write_one_page(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Sphinx copies static files only when it writes some page; with one page always due, an edited stylesheet
    or widget module reaches the book even when no page changed (for the cost of one page)."""
    return [app.config.root_doc]


def code_version() -> int:
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in RENDERING_CODE))
    return int(digest.hexdigest()[:12], 16)


def setup(app: Sphinx) -> dict:
    _add_missing_translations(app)
    app.add_config_value("course_languages", {}, "html", [dict])
    # Draft builds of a few pages (`build --page`) switch the check off while twins are being written.
    app.add_config_value("course_require_mirror", True, "env", [bool])
    app.connect("config-inited", _on_config_inited)
    app.connect("builder-inited", _on_builder_inited)
    app.connect("html-page-context", _on_page_context)
    app.connect("html-page-context", _scripts_after_content, priority=900)  # after every extension's changes
    app.connect("env-get-outdated", _always_write_one_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": code_version()}
