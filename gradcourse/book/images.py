"""Sphinx extension: the book's PNG images are served as lossless WebP, the same pixels in under half the bytes.

The figures stay PNG where they are made (matplotlib outputs, the instructors' screenshots); once Sphinx has copied
them into ``_images/``, each gets a WebP twin and the pages point at it. A screenshot of the class report went from
97 KB to 36 KB, and the page showing two of them from 357 KB to 230 KB. Every browser that runs the book's widgets
(ES modules) shows WebP. A twin carries its PNG's modification time, so a PNG that changes gets a new twin.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
IMAGE_REF = re.compile(r"(_images/[^\"'\s)<>]+)\.png\b")


def webp_twin(png: Path) -> Path | None:
    """Write (or reuse) the lossless WebP of ``png``; None when it would not be smaller or cannot be written."""
    webp = png.with_suffix(".webp")
    mtime = png.stat().st_mtime_ns
    if not (webp.is_file() and webp.stat().st_mtime_ns == mtime):
        from PIL import Image

        with Image.open(png) as image:
            image.save(webp, "WEBP", lossless=True)
        os.utime(webp, ns=(mtime, mtime))
    return webp if webp.stat().st_size < png.stat().st_size else None


def _serve_webp(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    try:
        from PIL import features
    except ImportError:
        return
    if not features.check("webp"):
        logger.info("Pillow has no WebP support here: the book's images stay PNG")
        return
    folder = Path(app.outdir) / "_images"
    twins = {png.stem for png in folder.glob("*.png") if webp_twin(png)} if folder.is_dir() else set()
    if not twins:
        return
    for page in Path(app.outdir).rglob("*.html"):
        html = page.read_text(encoding="utf8")
        if "_images/" not in html:
            continue
        pointed = IMAGE_REF.sub(lambda m: m[1] + (".webp" if Path(m[1]).name in twins else ".png"), html)
        if pointed != html:
            page.write_text(pointed, encoding="utf8")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _serve_webp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
