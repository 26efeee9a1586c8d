"""Is a language's book already built from exactly today's inputs? Then a build can skip Sphinx for it.

Sphinx finds out that nothing changed only after importing jupyter-book and starting a project per language,
several seconds in all. A digest of everything a language's HTML depends on answers the same question in
milliseconds. It is stored beside that language's doctrees after a successful build only, together with the list
of HTML files as they were written, so a failed build, a deleted ``_build`` folder or a touched output page all
make the next build run Sphinx again. When in doubt (an unreadable cache, say), the answer is "not current".
"""

from __future__ import annotations

import hashlib
import contextlib
import json
import os
import sqlite3
import sys
import sysconfig
from pathlib import Path

# Bump when the driver changes what it hands to Sphinx in a way that none of the hashed files shows.
VERSION = 1
PACKAGE = Path(__file__).resolve().parents[1]
# The course's code that ends up in the HTML: Sphinx extensions, templates, static files, widget front ends.
SHARED_CODE = ("book", "widgets")
STAMP = "course-build.json"


def inputs(root: Path, lang: str, toc: Path, cache: Path, options: dict) -> dict:
    """What the HTML of ``book/<lang>`` is built from: its sources and the shared files, then the execution cache
    apart, because a build writes to the cache itself (see :func:`record`)."""
    shared = [root / "_config.yml", toc, root / "package-lock.json", root / "node_modules" / ".package-lock.json"]
    shared += [f for name in SHARED_CODE for f in _tree(PACKAGE / name)]
    every_page = _digest([VERSION, options, sys.version, _installed()], shared)
    return {"sources": _digest([every_page], _tree(root / "book" / lang)), "shared": every_page,
            "cache": _cache_records(cache / "global.db")}


def shared_changed(stamp: Path, now: dict) -> bool:
    """Has what every page is made with (configuration, templates, stylesheets, scripts, extensions) changed since
    the last successful build? Sphinx writes again only the pages whose sources changed, and a page it does not write
    keeps linking its stylesheets and scripts by their old names (``?v=`` checksums, the stylesheet bundle's content
    hash): a reader's cached copy of the old file would go on being used. When in doubt, yes."""
    try:
        return json.loads(stamp.read_text(encoding="utf8"))["inputs"]["shared"] != now["shared"]
    except (OSError, ValueError, KeyError, TypeError):
        return True


def _digest(values: list, files: list[Path]) -> str:
    digest = hashlib.sha256(json.dumps(values).encode())
    for f in files:
        digest.update(f"\0{f}\0".encode())
        try:
            digest.update(f.read_bytes())
        except FileNotFoundError:
            digest.update(b"\0missing")
    return digest.hexdigest()


def is_current(stamp: Path, now: dict, html: Path) -> bool:
    try:
        saved = json.loads(stamp.read_text(encoding="utf8"))
    except (OSError, ValueError):
        return False
    if None in now.values() or saved.get("inputs") != now or not saved.get("outputs"):
        return False
    return all(_stat(html / name) == listed for name, listed in saved["outputs"].items())


def record(stamp: Path, before: dict, after: dict, html: Path) -> None:
    """Store ``after``, taken once the build succeeded: the cache now holds what this build executed. But if a
    source changed while Sphinx ran, the HTML may predate it, so nothing is stored and the next build runs."""
    if before["sources"] != after["sources"] or None in after.values():
        return
    outputs = {}
    for folder, _, names in os.walk(html):
        for name in names:
            path = Path(folder, name)
            outputs[path.relative_to(html).as_posix()] = _stat(path)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"inputs": after, "outputs": outputs}), encoding="utf8")


def _tree(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _installed() -> list[str]:
    # Upgrading Sphinx, the theme or anything the kernels import changes these names (they carry the version).
    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(n for folder in folders if os.path.isdir(folder) for n in os.listdir(folder)
                  if n.endswith((".dist-info", ".egg-info")))


def _cache_records(db: Path) -> str | None:
    """The executed notebooks the cache holds. Reading a record updates its access time, so the file itself
    changes on every build and cannot be hashed whole."""
    if not db.exists():
        return "empty"
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as con:
            rows = con.execute("SELECT pk, hashkey, created FROM nbcache ORDER BY pk").fetchall()
    except sqlite3.Error:
        return None
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]
