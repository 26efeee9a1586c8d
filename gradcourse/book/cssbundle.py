"""One stylesheet per page instead of a dozen: the theme, Sphinx and the extensions each add their own, and one of
them (the theme's) imports another, which the browser finds only once the first has arrived.

Every stylesheet holds up a page's first paint until it has arrived, and so the widgets on it: on a machine with two
cores, each of eleven requests costs the browser, its network process and the server a little, and together they
cost 20 to 50 ms before a chapter's widgets are drawn (tests/pagechecks.py's probe, median over the chapters, in
alternating runs of bench/pages.py --site against a site without bundles). After
the build, each page's run of consecutive stylesheet links in its head becomes one link to their concatenation, in
their order, imports put in place and relative ``url()`` references rewritten for the bundle's folder. The bundle is
named after its content, so a reader's browser never keeps an old one. A run with a link for some media only (print,
say) or with an import this module does not understand is left as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from sphinx.application import Sphinx

STYLESHEETS = re.compile(r'(?:<link\b[^>]*\brel="stylesheet"[^>]*>\s*){2,}')
LINK = re.compile(r"<link\b[^>]*>")
HREF = re.compile(r'\bhref="([^"]+)"')
# An import of a whole sheet, for every medium: the only kind this module inlines.
IMPORT = re.compile(r'@import\s+(?:url\(\s*)?(["\']?)([^"\')\s;]+)\1\s*\)?\s*;')
ANY_IMPORT = re.compile(r"@import\b")
URL = re.compile(r'url\(\s*(["\']?)([^)"\']+)\1\s*\)')
DROPPED = re.compile(r'@charset\s+"[^"]*";|/\*#\s*sourceMappingURL=[^*]*\*/')
# The link bundle_page writes.
BUNDLE_LINK = re.compile(r'<link rel="stylesheet" href="[^"]*_static/(bundle-[0-9a-f]+\.css)" />')
SKIP_FOLDERS = {"_static", "_sources", "_images", "jupyter_execute"}


class Unbundleable(Exception):
    """A stylesheet this module would change the meaning of by inlining it."""


def inline(sheet: Path, folder: Path, seen: frozenset = frozenset()) -> str:
    """``sheet``'s rules as they would read from a file in ``folder``: its imports first (where CSS puts their
    rules), then its own rules with each relative ``url()`` rewritten. Raises Unbundleable for an import with a
    media list or a layer, or an import cycle."""
    if sheet in seen:
        raise Unbundleable(f"{sheet} imports itself")
    text = DROPPED.sub("", sheet.read_text(encoding="utf8"))
    imports = list(IMPORT.finditer(text))
    own = IMPORT.sub("", text)
    if ANY_IMPORT.search(own):
        raise Unbundleable(f"{sheet} has an import for some media or layer only")
    parts = [inline((sheet.parent / urlsplit(m.group(2)).path).resolve(), folder, seen | {sheet}) for m in imports]

    def rebase(match: re.Match) -> str:
        quote, ref = match.groups()
        if ref.startswith(("data:", "/", "#")) or "://" in ref:
            return match.group(0)
        target = Path(os.path.relpath((sheet.parent / ref).resolve(), folder)).as_posix()
        return f"url({quote}{target}{quote})"

    return "\n".join(parts + [f"/* {sheet.name} */\n" + URL.sub(rebase, own)])


def bundle_page(page: Path, static: Path, made: dict) -> bool:
    """Replace the run of stylesheet links in ``page``'s head by one link to their bundle, written to ``static``
    once per list of sheets (``made`` remembers them). Returns whether the page changed."""
    html = page.read_text(encoding="utf8")
    run = STYLESHEETS.search(html, 0, html.find("</head>"))
    if not run:
        return False
    links = LINK.findall(run.group(0))
    if any(re.search(r'\bmedia="(?!all")', link) for link in links):
        return False
    sheets = tuple((page.parent / urlsplit(HREF.search(link).group(1)).path).resolve() for link in links)
    if not all(static in sheet.parents and sheet.is_file() for sheet in sheets):
        return False
    if sheets not in made:
        try:
            css = "\n".join(inline(sheet, static) for sheet in sheets)
        except Unbundleable:
            made[sheets] = None
        else:
            bundle = static / f"bundle-{hashlib.sha256(css.encode()).hexdigest()[:16]}.css"
            bundle.write_text(css, encoding="utf8")
            made[sheets] = bundle
    if made[sheets] is None:
        return False
    href = Path(os.path.relpath(made[sheets], page.parent)).as_posix()
    page.write_text(f'{html[:run.start()]}<link rel="stylesheet" href="{href}" />\n{html[run.end():]}', encoding="utf8")
    return True


def bundle_site(html: Path) -> int:
    """Bundle the stylesheets of every page of a built site; returns how many pages changed. Bundles no page links
    to any more (an earlier build's) are deleted."""
    static, made = html / "_static", {}
    pages = sorted(p for p in html.rglob("*.html") if not SKIP_FOLDERS & set(p.relative_to(html).parts))
    changed = sum(bundle_page(page, static, made) for page in pages)
    linked = {name for page in pages for name in BUNDLE_LINK.findall(page.read_text(encoding="utf8"))}
    for old in static.glob("bundle-*.css"):
        if old.name not in linked:
            old.unlink()
    return changed


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        bundle_site(Path(app.outdir))


def setup(app: Sphinx) -> dict:
    # Last: the theme writes its own pygments.css when the build finishes, over Sphinx's.
    app.connect("build-finished", _on_build_finished, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
