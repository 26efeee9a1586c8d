"""Browser assets the book serves from its own ``_static``: it must work with no network at all.

They come from npm (``package.json`` and its lock file); this module picks the files a page can request and
stages them in one folder that the build adds to ``html_static_path``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

WIDGET_DIST = "@jupyter-widgets/html-manager/dist"
# (source inside node_modules, destination inside _static). A folder is copied whole, minus source maps.
ASSETS = [
    ("mathjax/es5/tex-chtml.js", "mathjax/tex-chtml.js"),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"),
    ("mathjax/es5/ui", "mathjax/ui"),
    ("mathjax/es5/a11y", "mathjax/a11y"),
    ("requirejs/require.js", "require.js"),
    ("@jupyter-widgets/html-manager/dist", WIDGET_DIST),
]
# Only what embed-amd.js loads: itself and the icon fonts its CSS points at (no .eot/.svg: no browser we support
# asks for them). Its bundles look for the fonts beside their module addresses, which RequireJS resolves below
# `_static/` (see sphinxext): `@jupyter-widgets/` for base and controls, WIDGET_DIST for the manager.
_WIDGET_FILES = (".woff2", ".woff", ".ttf")


class MissingAssets(RuntimeError):
    pass


def stage(node_modules: Path, dest: Path) -> Path:
    """Copy the assets into ``dest`` (only files that changed), and return ``dest``."""
    if not node_modules.is_dir():
        raise MissingAssets(
            f"{node_modules} is missing: run `npm ci` (or `make setup`) so the book can serve MathJax, "
            "RequireJS and the widget manager itself."
        )
    for src_rel, dst_rel in ASSETS:
        src, dst = node_modules / src_rel, dest / dst_rel
        if not src.exists():
            raise MissingAssets(f"{src} is missing: `npm ci` did not install {src_rel.split('/')[0]}.")
        if src.is_file():
            _copy_if_changed(src, dst)
        elif dst_rel == WIDGET_DIST:
            _copy_if_changed(src / "embed-amd.js", dest / "embed-amd.js")
            for f in src.iterdir():
                if f.suffix in _WIDGET_FILES:
                    _copy_if_changed(f, dst / f.name)
                    _copy_if_changed(f, dest / "@jupyter-widgets" / f.name)
        else:
            for f in src.rglob("*"):
                if f.is_file() and f.suffix != ".map":
                    _copy_if_changed(f, dst / f.relative_to(src))
    return dest


def _copy_if_changed(src: Path, dst: Path) -> None:
    # Sphinx copies static files on every build; keeping mtimes stable keeps a no-op rebuild cheap.
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
