"""Book build times: the course's driver against stock `jupyter-book build`, same pages, same run.

    python bench/book.py [--repeat 3]

In a fresh copy of the course, for each tool: a clean build of both languages, a rebuild after editing one page
(prose and one code cell, in both languages), and a rebuild with nothing changed. Prints the median of each over
the repeats. Stock means `jupyter-book build book/<lang>` once per language with the same _config.yml and
_toc.yml and its own default cache per language (what a Jupyter Book user would run); it cannot switch the
language of the theme, so its Spanish pages come out with English theme text.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = "chapters/chain-rule.md"


def copy_course(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns("_build", ".venv", "node_modules", ".git", "grader"))
    (dest / "node_modules").symlink_to(ROOT / "node_modules")
    return dest


def ours(course: Path) -> None:
    subprocess.run([sys.executable, "-m", "gradcourse.book", "build"], cwd=course, check=True, capture_output=True)


def stock(course: Path) -> None:
    jb = str(Path(sys.executable).parent / "jupyter-book")
    for lang in ("en", "es"):
        subprocess.run([jb, "build", f"book/{lang}", "--config", str(course / "_config.yml"),
                        "--toc", str(course / "_toc.yml"), "--path-output", f"_stock/{lang}", "-W", "--keep-going",
                        "-q"],
                       cwd=course, check=True, capture_output=True)


def edit(course: Path, n: int) -> None:
    for lang in ("en", "es"):
        page = course / "book" / lang / PAGE
        text = page.read_text()
        page.write_text(text.replace("import numpy as np\n", f"import numpy as np\n_edit = {n}\n", 1))


def timed(fn, course: Path) -> float:
    started = time.perf_counter()
    fn(course)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {}
    for name, build in (("stock", stock), ("course", ours)):
        runs = figures[name] = {"clean": [], "one-page edit": [], "no-op": []}
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
                course = copy_course(Path(tmp) / "course")
                runs["clean"].append(timed(build, course))
                edit(course, i)
                runs["one-page edit"].append(timed(build, course))
                runs["no-op"].append(timed(build, course))
    print(f"book build, both languages, median of {args.repeat}, {os.cpu_count()} cores (seconds)")
    print(f"{'build':<15} {'stock':>8} {'course':>8} {'ratio':>7}")
    for step in figures["stock"]:
        s, c = statistics.median(figures["stock"][step]), statistics.median(figures["course"][step])
        print(f"{step:<15} {s:>8.1f} {c:>8.1f} {s / c:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
