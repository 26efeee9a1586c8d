"""Browser assets the book serves from its own ``_static``: it must work with no network at all.

They come from npm (``package.json`` and its lock file); this module picks the files a page can request and
stages them in one folder that the build adds to ``html_static_path``. The math is typeset at build time
(gradcourse.book.katex): what a page needs of KaTeX is its stylesheet and fonts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

WIDGET_DIST = "@jupyter-widgets/html-manager/dist"
KATEX_FONTS = "katex/fonts"
# (source inside node_modules, destination inside _static). A folder is copied whole, minus source maps.
ASSETS = [
    ("katex/dist/katex.min.css", "katex/katex.min.css"),
    ("katex/dist/fonts", KATEX_FONTS),
    ("requirejs/require.js", "require.js"),
    ("@jupyter-widgets/html-manager/dist", WIDGET_DIST),
]
# Only what embed-amd.js loads: itself and the icon fonts its CSS points at (no .eot/.svg: no browser we support
# asks for them). Its bundles look for the fonts beside their module addresses, which RequireJS resolves below
# `_static/` (see sphinxext): `@jupyter-widgets/` for base and controls, WIDGET_DIST for the manager.
_WIDGET_FILES = (".woff2", ".woff", ".ttf")
# KaTeX's stylesheet lists woff2 first, and every browser that runs the book's widgets (ES modules) reads woff2.
_KATEX_FILES = (".woff2",)


class MissingAssets(RuntimeError):
    pass


def stage(node_modules: Path, dest: Path) -> Path:
    """Copy the assets into ``dest`` (only files that changed), remove what is no longer one, and return ``dest``."""
    if not node_modules.is_dir():
        raise MissingAssets(
            f"{node_modules} is missing: run `npm ci` (or `make setup`) so the book can serve KaTeX's stylesheet, "
            "RequireJS and the widget manager itself."
        )
    wanted: dict[Path, Path] = {}  # destination: source
    for src_rel, dst_rel in ASSETS:
        src, dst = node_modules / src_rel, dest / dst_rel
        if not src.exists():
            raise MissingAssets(f"{src} is missing: `npm ci` did not install {src_rel.split('/')[0]}.")
        if src.is_file():
            wanted[dst] = src
        elif dst_rel == KATEX_FONTS:
            wanted.update({dst / f.name: f for f in src.iterdir() if f.suffix in _KATEX_FILES})
        elif dst_rel == WIDGET_DIST:
            wanted[dest / "embed-amd.js"] = src / "embed-amd.js"
            for f in src.iterdir():
                if f.suffix in _WIDGET_FILES:
                    wanted[dst / f.name] = f
                    wanted[dest / "@jupyter-widgets" / f.name] = f
        else:
            wanted.update({dst / f.relative_to(src): f for f in src.rglob("*") if f.is_file() and f.suffix != ".map"})
    for dst, src in wanted.items():
        _copy_if_changed(src, dst)
    # Sphinx copies this whole folder into every book: an asset dropped from the list must leave it too.
    for f in [f for f in dest.rglob("*") if f.is_file() and f not in wanted]:
        f.unlink()
    for folder in sorted((d for d in dest.rglob("*") if d.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return dest


def _copy_if_changed(src: Path, dst: Path) -> None:
    # Sphinx copies static files on every build; keeping mtimes stable keeps a no-op rebuild cheap.
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
