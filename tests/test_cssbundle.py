"""The build's stylesheet bundle (gradcourse.book.cssbundle): one link per page, the same rules in the same order,
and every reference still pointing at its file."""

from __future__ import annotations

import re
from pathlib import Path

from gradcourse.book import cssbundle

HEAD = """<!doctype html><html><head>
<style>p { color: red }</style>
{links}
<link rel="preload" href="{up}_static/font.woff2" as="font" />
</head><body><p>x</p></body></html>"""


def page(site: Path, rel: str, links: list[str]) -> Path:
    path = site / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    up = "../" * rel.count("/")
    tags = "\n  ".join(f'<link rel="stylesheet" type="text/css" href="{up}_static/{href}" />' for href in links)
    path.write_text(HEAD.replace("{links}", tags).replace("{up}", up), encoding="utf8")
    return path


def sheet(site: Path, rel: str, text: str) -> None:
    path = site / "_static" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")


def test_a_page_gets_one_link_to_its_sheets_in_order_with_imports_in_place_and_urls_rebased(tmp_path):
    sheet(tmp_path, "styles/theme.css", '@charset "UTF-8";\n@import "../basic.css";\n'
                                        '.theme { background: url("../img/x.png") }\n/*# sourceMappingURL=theme.map */')
    sheet(tmp_path, "basic.css", ".basic { background: url(img/y.png) }")
    sheet(tmp_path, "katex/katex.css", "@font-face { src: url(fonts/K.woff2) format('woff2') }"
                                       ".k { background: url(data:image/png;base64,AAAA) }")
    sheet(tmp_path, "course.css", ".course { color: blue }")
    first = page(tmp_path, "en/chapters/one.html", ["styles/theme.css?digest=1", "katex/katex.css?v=2", "course.css"])
    second = page(tmp_path, "en/two.html", ["styles/theme.css", "katex/katex.css", "course.css"])
    assert cssbundle.bundle_site(tmp_path) == 2

    html = first.read_text(encoding="utf8")
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(links) == 1 and links[0].startswith("../../_static/bundle-") and "<style>p" in html
    assert 'rel="preload"' in html  # other links stay
    bundle = (first.parent / links[0]).resolve()
    css = bundle.read_text(encoding="utf8")
    order = [css.index(rule) for rule in (".basic", ".theme", "@font-face", ".course")]
    assert order == sorted(order)
    assert "url(img/y.png)" in css and 'url("img/x.png")' in css and "url(katex/fonts/K.woff2)" in css
    assert "url(data:image/png;base64,AAAA)" in css
    assert "@charset" not in css and "@import" not in css and "sourceMappingURL" not in css
    # The same sheets, from another folder: the same bundle.
    assert re.search(r'href="\.\./_static/(bundle-[0-9a-f]+\.css)"', second.read_text()).group(1) == bundle.name
    assert cssbundle.bundle_site(tmp_path) == 0, "a bundled page was bundled again"


def test_what_bundling_would_change_is_left_alone(tmp_path):
    sheet(tmp_path, "a.css", ".a {}")
    sheet(tmp_path, "print.css", ".p {}")
    sheet(tmp_path, "layered.css", '@import "a.css" layer(base);\n.l {}')
    sheet(tmp_path, "narrow.css", '@import url("a.css") screen and (max-width: 30em);\n.n {}')
    pages = {
        "print": page(tmp_path, "print.html", ["a.css", "print.css"]),
        "layer": page(tmp_path, "layer.html", ["a.css", "layered.css"]),
        "media": page(tmp_path, "media.html", ["a.css", "narrow.css"]),
        "missing": page(tmp_path, "missing.html", ["a.css", "gone.css"]),
        "single": page(tmp_path, "single.html", ["a.css"]),
    }
    before = {name: p.read_text(encoding="utf8") for name, p in pages.items()}
    before["print"] = before["print"].replace('href="_static/print.css"', 'media="print" href="_static/print.css"')
    pages["print"].write_text(before["print"], encoding="utf8")
    assert cssbundle.bundle_site(tmp_path) == 0
    assert {name: p.read_text(encoding="utf8") for name, p in pages.items()} == before
    assert not list((tmp_path / "_static").glob("bundle-*"))
