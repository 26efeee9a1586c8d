"""python -m gradcourse.book {build, check, sync-code, serve}"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from .assets import MissingAssets
from .build import BuildError, build, find_root, load_config
from .mirror import code_cells, code_differences, describe_unmatched, replace_code_cells, unmatched_pages
from .serve import serving


def cmd_build(args) -> int:
    landing = build(find_root(), args.lang, Path(args.out) if args.out else None, args.partial, args.page)
    print(f"\nThe book is built. Open {landing}\n  (file://{landing}), or run `make serve`.")
    return 0


def cmd_check(args) -> int:
    root = find_root()
    langs = list(load_config(root)["languages"])
    book = root / "book"
    missing = unmatched_pages(book, langs)
    problems = [describe_unmatched(missing, book)] if missing else []
    first, *others = langs
    for page in sorted(p for p in (book / first).rglob("*") if p.suffix in (".md", ".ipynb")):
        for other in others:
            twin = book / other / page.relative_to(book / first)
            if twin.exists():
                problems += code_differences(page, twin)
    print("\n\n".join(problems) or "The books are mirrors: same pages, same code cells.")
    return 1 if problems else 0


def cmd_sync_code(args) -> int:
    root = find_root()
    langs = list(load_config(root)["languages"])
    source = Path(args.page).resolve()
    rel_lang = source.relative_to(root / "book").parts[0]
    rel = source.relative_to(root / "book" / rel_lang)
    cells = code_cells(source.read_text(encoding="utf8"))
    for lang in langs:
        if lang == rel_lang:
            continue
        twin = root / "book" / lang / rel
        try:
            twin.write_text(replace_code_cells(twin.read_text(encoding="utf8"), cells), encoding="utf8")
        except ValueError as exc:
            print(f"error: {twin}: {exc}; align the pages by hand first", file=sys.stderr)
            return 1
        print(f"copied {len(cells)} code cells into {twin}")
    return 0


def cmd_serve(args) -> int:
    html = find_root() / "_build" / "html"
    if not (html / "index.html").exists():
        print("error: no built book: run `make book` first", file=sys.stderr)
        return 1
    with serving(html, args.port, quiet=False) as url:
        print(f"Serving the book at {url}/ (Ctrl-C stops)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradcourse.book", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build both books with warnings as errors")
    p.add_argument("--lang", action="append", help="build only this language (repeatable)")
    p.add_argument("--out", help="build folder (default: _build)")
    p.add_argument("--partial", action="store_true", help="draft mode: skip toc pages not yet written in every language")
    p.add_argument("--page", action="append", help="draft mode: build the start page and this toc entry only (repeatable)")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("check", help="same pages and same code cells in every language")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("sync-code", help="copy a page's code cells into its twins")
    p.add_argument("page")
    p.set_defaults(func=cmd_sync_code)
    p = sub.add_parser("serve", help="serve _build/html on localhost")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (BuildError, MissingAssets, OSError) as exc:   # one line, no traceback, like the instructor's commands
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
