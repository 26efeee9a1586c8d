"""Build the English and the Spanish book from the one ``_config.yml`` and ``_toc.yml``.

Each language is built as its own Sphinx project (``book/<lang>`` into ``_build/html/<lang>``) so that it has
its own ``<html lang>``, theme text and search index. Both share one execution cache: their code cells are
identical, so the second language reuses the first one's outputs instead of running them again.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

from . import assets, fingerprint
from .mirror import describe_unmatched, unmatched_pages

LANDING = Path(__file__).parent / "templates" / "landing.html"
# Thebe runs code on a remote Binder kernel: useless offline, it loads from a CDN and declares its globals twice.
DROPPED_EXTENSIONS = {"sphinx_thebe"}


class BuildError(RuntimeError):
    pass


def find_root(start: Path | None = None) -> Path:
    """The course folder: the nearest one above ``start`` holding ``_config.yml`` and ``book/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "book").is_dir():
            return folder
    raise BuildError(f"no _config.yml with a book/ folder beside it above {here}")


def load_config(root: Path) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))


def partial_toc(root: Path, langs: list[str], dest: Path, only: list[str] | None = None) -> Path:
    """A copy of ``_toc.yml`` without the pages that some language does not have yet, or without every page
    but ``only`` (for drafts: the full build is never partial)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))

    def present(entry: dict) -> bool:
        name = entry.get("file")
        if only is not None and name not in only:
            return False
        return name is None or all((root / "book" / lang / f"{name}.md").exists() for lang in langs)

    toc["chapters"] = [c for c in toc.get("chapters", []) if present(c)]
    if not toc["chapters"]:  # a book needs chapters; a single start page is an article
        del toc["chapters"]
        toc["format"] = "jb-article"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf8")
    return dest


def quiet_kernels(ipython_dir: Path) -> None:
    """Kernels started by this build log only real failures: without this, every page prints ipykernel's warning
    about unencrypted local TCP, and shutting a kernel down prints a KeyboardInterrupt, which reads like a broken
    build. Errors in cells are still reported by the build itself."""
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.IPKernelApp.log_level = "CRITICAL"\nc.HistoryManager.enabled = False\n', encoding="utf8"
    )
    os.environ["IPYTHONDIR"] = str(ipython_dir)


def build(
    root: Path,
    langs: list[str] | None = None,
    out: Path | None = None,
    partial: bool = False,
    only: list[str] | None = None,
) -> Path:
    """Build the books; return the landing page. Raises BuildError naming what failed.

    A language whose inputs are unchanged since its last successful build is not handed to Sphinx at all (see
    fingerprint), and jupyter-book is imported only if some language needs building."""
    config = load_config(root)
    languages: dict = config["languages"]
    langs = langs or list(languages)
    out = (out or root / "_build").resolve()
    book = root / "book"

    partial = partial or only is not None
    missing = unmatched_pages(book, list(languages))
    if missing and not partial:
        raise BuildError(describe_unmatched(missing, book))

    toc = partial_toc(root, list(languages), out / "partial_toc.yml", only) if partial else root / "_toc.yml"
    cache = out / ".jupyter_cache"
    options = {"partial": partial, "only": only, "out": str(out)}
    sphinx = None
    failed = []
    for lang in langs:
        name, html, stamp = languages[lang]["name"], out / "html" / lang, out / "doctrees" / lang / fingerprint.STAMP
        # Taken per language, just before its build: the previous language may have filled the shared cache.
        before = fingerprint.inputs(root, lang, toc, cache, options)
        if fingerprint.is_current(stamp, before, html):
            print(f"== book/{lang} ({name}) is up to date ==", flush=True)
            continue
        every_page = fingerprint.shared_changed(stamp, before)
        stamp.unlink(missing_ok=True)  # a build that fails half-way leaves no claim that the HTML is current
        started = time.perf_counter()
        print(f"== building book/{lang} ({name}) ==", flush=True)
        sphinx = sphinx or sphinx_runner(root, out, toc, partial, languages)
        status = sphinx(lang, every_page)
        seconds = time.perf_counter() - started
        if status != 0:
            failed.append(lang)
            print(f"== the {lang} book FAILED after {seconds:.1f} s (warnings are errors; see above) ==", flush=True)
        else:
            fingerprint.record(stamp, before, fingerprint.inputs(root, lang, toc, cache, options), html)
            print(f"== {lang} built in {seconds:.1f} s ==", flush=True)
    if failed:
        raise BuildError(f"the book did not build for: {', '.join(failed)}")
    return write_landing(out / "html", languages)


def sphinx_runner(root: Path, out: Path, toc: Path, partial: bool, languages: dict):
    """Set up what every Sphinx run shares; return a function that builds one language and returns its status."""
    # jsonschema compiles a grammar for its "iri" format check on import, over a second of every build; neither
    # jupyter-book's config schema nor nbformat's uses that format, so this process goes without it.
    sys.modules.setdefault("rfc3987_syntax", None)
    from jupyter_book.config import get_final_config
    from jupyter_book.sphinx import build_sphinx

    static = assets.stage(root / "node_modules", out / "assets")
    quiet_kernels(out / "ipython")
    defaults, _ = get_final_config(user_yaml=root / "_config.yml", cli_config={"latex_individualpages": False})
    extensions = [e for e in defaults["extensions"] if e not in DROPPED_EXTENSIONS]

    def run(lang: str, every_page: bool) -> int:
        overrides = {
            "external_toc_path": toc.as_posix(),
            "extensions": extensions,
            "latex_individualpages": False,
            "language": lang,
            "project": languages[lang]["title"],
            "html_title": languages[lang]["title"],
            "course_languages": {code: {"name": info["name"]} for code, info in languages.items()},
            "html_static_path": [str(static)],
            "course_node_modules": str(root / "node_modules"),
            "nb_execution_cache_path": str(out / ".jupyter_cache"),
            "course_require_mirror": not partial,
            **languages[lang].get("sphinx", {}),
        }
        return build_sphinx(
            root / "book" / lang,
            out / "html" / lang,
            noconfig=True,
            path_config=str(root / "_config.yml"),
            confoverrides=overrides,
            doctreedir=out / "doctrees" / lang,
            force_all=every_page,  # rewritten without being read or executed again (fingerprint.shared_changed)
            warningiserror=True,
            keep_going=True,
            quiet=True,
        )

    return run


def write_landing(html: Path, languages: dict) -> Path:
    """The page at the root of the site, where a reader picks a language."""
    choices = "\n".join(
        f'    <li><a href="{code}/index.html" hreflang="{code}" lang="{code}">'
        f'<span class="title">{info["title"]}</span><span class="name">{info["name"]}</span></a></li>'
        for code, info in languages.items()
    )
    page = LANDING.read_text(encoding="utf8").replace("{{ choices }}", choices)
    html.mkdir(parents=True, exist_ok=True)
    (html / ".nojekyll").touch()
    landing = html / "index.html"
    landing.write_text(page, encoding="utf8")
    return landing
