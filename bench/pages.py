"""The book's pages against their targets: weight, widgets usable at once, accessibility. Every page of both books
opened cold in Chromium, served the way `make serve` serves it (gradcourse.book.serve: gzip for text and one
connection for many files, as static hosts do), with every other host blocked.

    python bench/pages.py [--repeat 3] [--no-build | --site DIR] [--page en/chapters/tensor-ops.html] [--files]
                          [--cpu] [--no-axe]

Builds the book (`python -m gradcourse.book build`; --no-build reuses _build/html, --site measures another built
site) and opens each page in a new browser context (empty cache), waiting until the network is idle. Per page, each
figure under its target (the row "target"), and the targets the page misses:

- KB -fonts: what crossed the wire without fonts (compressed bodies plus headers, from the browser's Resource
  Timing); web fonts (KaTeX's, the theme's icons) are counted apart. Target: at most 350 KB.
- widgets ms: the slowest of the page's widgets, from navigation start until the widget's answer to being used is
  on screen (a frame has drawn it: a reader uses only what has been drawn), each used the moment it is in the page
  (tests/pagechecks.py WIDGET_PROBE, the probe the browser tests run). Target: at most 500 ms. This is wall time:
  on a machine busy with other work it counts the waits for a core too (the load average is printed first and
  last). With --cpu, "cpu ms" is the CPU time the page's main thread spent until then (Chromium's trace), near what
  the wait would be on an idle machine.
- axe: axe-core's WCAG 2.0/2.1/2.2 A and AA violations, in the light theme (every rule) and the dark one (the
  colour rules), as tests/test_pages_browser.py runs them. Target: 0.

Prints medians over the repeats (axe runs once: its verdict does not vary) and, last, each figure beside its target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from pagechecks import AXE_COLOUR_RULES, WIDGET_PROBE, block_outside, run_axe, widget_responses  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
TARGET_KB = 350
TARGET_MS = 500
FONTS = (".woff2", ".woff", ".ttf", ".otf", ".eot")


def pages(html: Path) -> list[str]:
    skip = {"_static", "_sources", "_images", "jupyter_execute"}
    found = [p.relative_to(html).as_posix() for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts)]
    return sorted(found, key=lambda p: (p.count("/") > 0, p))


SERVE = """import sys, threading
from pathlib import Path
from gradcourse.book.serve import serving
with serving(Path(sys.argv[1])) as url:
    print(url, flush=True)
    threading.Event().wait()
"""


@contextlib.contextmanager
def served(site: Path):
    """`make serve`'s server in a process of its own, as a reader's browser meets it: in this one it would share a
    lock with the code that drives the browser, and answer late whenever that code has something to do."""
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(site)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait()


def main_thread_cpu_ms(trace: Path, url: str, until_ms: float) -> float:
    """CPU time of the page's main thread from navigation start to ``until_ms`` after it (a Chromium trace). A new
    page may start in one renderer process and move to another, and headless Chromium parses pages of its own
    (about:blank, its omnibox): the page's thread is the one that parsed ``url``."""
    events = json.loads(trace.read_text(encoding="utf8"))["traceEvents"]
    parsed = Counter((e["pid"], e["tid"]) for e in events
                     if e.get("name") == "ParseHTML" and e.get("args", {}).get("beginData", {}).get("url") == url)
    thread = parsed.most_common(1)[0][0]
    mine = [e for e in events if (e.get("pid"), e.get("tid")) == thread]
    tasks = [e for e in mine if e.get("ph") == "X" and e.get("name") in ("RunTask", "ThreadControllerImpl::RunTask")]
    first_parse = min(e["ts"] for e in mine if e.get("name") == "ParseHTML")
    starts = [e["ts"] for e in mine if e.get("name") == "navigationStart" and e["ts"] <= first_parse]
    start = max(starts) if starts else min(e["ts"] for e in tasks)
    return sum(e.get("tdur", 0) for e in tasks if start <= e["ts"] <= start + until_ms * 1000) / 1000


# What the page loaded, from the browser's Resource Timing: the page itself, then every file it asked for.
LOADED = """() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
  .map((e) => [e.name, e.transferSize, e.decodedBodySize])"""


def visit(browser, url: str, cpu: bool = False) -> dict:
    """One cold load (a new context has an empty cache): bytes by file, and the slowest widget's answer in ms after
    navigation start. The figures are read from the page once it is idle, so nothing reports to this process while
    the page loads."""
    context = browser.new_context()
    blocked = []
    block_outside(context, blocked)
    context.add_init_script(WIDGET_PROBE)
    page = context.new_page()
    trace = Path(tempfile.gettempdir()) / f"bench-pages-{os.getpid()}.json"
    if cpu:
        browser.start_tracing(page=page, path=str(trace),
                              categories=["toplevel", "blink.user_timing", "devtools.timeline"])
    page.goto(url, wait_until="networkidle")
    widgets = page.locator(".gc-widget").count()
    answers = widget_responses(page, widgets) if widgets else []
    slowest = max((a["shown"] for a in answers), default=None)
    files = {name: (sent, raw) for name, sent, raw in page.evaluate(LOADED)}
    cpu_ms = None
    if cpu:
        browser.stop_tracing()
        cpu_ms = main_thread_cpu_ms(trace, url, slowest) if slowest is not None else None
        trace.unlink()
    context.close()
    total = {"sent": 0, "raw": 0, "sent_fonts": 0, "raw_fonts": 0}
    for name, (sent, raw) in files.items():
        total["sent"] += sent
        total["raw"] += raw
        if urlparse(name).path.endswith(FONTS):
            total["sent_fonts"] += sent
            total["raw_fonts"] += raw
    return {**total, "widgets": slowest, "cpu": cpu_ms, "blocked": blocked, "files": files}


def axe_violations(browser, url: str) -> tuple[int, int]:
    """Violations (nodes) in the light theme, every rule, and in the dark theme, the colour rules."""
    counts = []
    for scheme, rules in (("light", None), ("dark", AXE_COLOUR_RULES)):
        context = browser.new_context(color_scheme=scheme)
        block_outside(context, [])
        page = context.new_page()
        page.goto(url)
        if page.locator(".gc-widget").count():
            page.wait_for_function("document.documentElement.dataset.gcWidgets === 'ready'", timeout=20_000)
        counts.append(sum(v["count"] for v in run_axe(page, rules)))
        context.close()
    return counts[0], counts[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-build", action="store_true", help="measure _build/html as it is")
    parser.add_argument("--site", help="measure this built site (a folder holding index.html, en/ and es/)")
    parser.add_argument("--page", action="append", help="only this page, relative to the site (repeatable)")
    parser.add_argument("--files", action="store_true", help="also list each file a page loaded (first repeat)")
    parser.add_argument("--no-axe", action="store_true", help="skip the accessibility check")
    parser.add_argument("--cpu", action="store_true", help="also time the main thread's CPU until the widgets answer")
    args = parser.parse_args()
    html = Path(args.site) if args.site else ROOT / "_build" / "html"
    if not (args.no_build or args.site):
        subprocess.run([sys.executable, "-m", "gradcourse.book", "build"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    from playwright.sync_api import sync_playwright

    names = args.page or pages(html)
    kb = lambda runs, key: statistics.median(r[key] for r in runs) / 1024  # noqa: E731
    print(f"cold page loads, gzip as served by `make serve`, median of {args.repeat} (KB = 1024 bytes); "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (wall times count the waits for a core)")
    print(f"{'page':<40} {'raw KB':>7} {'sent KB':>7} {'fonts KB':>8} {'KB -fonts':>9} {'widgets ms':>10} "
          f"{'cpu ms':>6} {'axe light/dark':>14}  misses")
    print(f"{'  target':<40} {'':>7} {'':>7} {'':>8} {'<= ' + str(TARGET_KB):>9} {'<= ' + str(TARGET_MS):>10} "
          f"{'<= ' + str(TARGET_MS) if args.cpu else '':>6} {'0/0':>14}")
    heaviest, slowest, slowest_cpu, violations, over = (0.0, ""), (0.0, ""), (0.0, ""), 0, []
    with served(html) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for name in names:
            runs = [visit(browser, f"{url}/{name}", args.cpu) for _ in range(args.repeat)]
            if any(r["blocked"] for r in runs):
                print(f"  {name} asked for other hosts: {runs[0]['blocked']}", file=sys.stderr)
            without = kb(runs, "sent") - kb(runs, "sent_fonts")
            heaviest = max(heaviest, (without, name))
            times = [r["widgets"] for r in runs if r["widgets"] is not None]
            ms = statistics.median(times) if times else None
            cpus = [r["cpu"] for r in runs if r["cpu"] is not None]
            cpu = f"{statistics.median(cpus):.0f}" if cpus else "-"
            if cpus:
                slowest_cpu = max(slowest_cpu, (statistics.median(cpus), name))
            if ms is not None:
                slowest = max(slowest, (ms, name))
            light, dark = (None, None) if args.no_axe else axe_violations(browser, f"{url}/{name}")
            violations += (light or 0) + (dark or 0)
            misses = [what for what, missed in (("KB", without > TARGET_KB), ("widgets", (ms or 0) > TARGET_MS),
                                                ("axe", bool(light or dark))) if missed]
            if misses:
                over.append(name)
            print(f"{name:<40} {kb(runs, 'raw'):>7.0f} {kb(runs, 'sent'):>7.0f} {kb(runs, 'sent_fonts'):>8.0f} "
                  f"{without:>9.0f} {'-' if ms is None else f'{ms:.0f}':>10} {cpu:>6} "
                  f"{'-' if light is None else f'{light}/{dark}':>14}  {', '.join(misses)}", flush=True)
            if args.files:
                for file, (n, raw) in sorted(runs[0]["files"].items(), key=lambda kv: -kv[1][0]):
                    print(f"    {n / 1024:>8.1f} sent {raw / 1024:>8.1f} raw  {file.removeprefix(url)}")
        browser.close()
    print(f"\n{'figure':<44} {'measured':>10} {'target':>10}")
    print(f"{'heaviest page without fonts, KB sent':<44} {heaviest[0]:>10.0f} {'<= ' + str(TARGET_KB):>10}"
          f"   {heaviest[1]}")
    print(f"{'slowest widget answer after navigation, ms':<44} {slowest[0]:>10.0f} {'<= ' + str(TARGET_MS):>10}"
          f"   {slowest[1]}")
    if args.cpu:
        print(f"{'  the same, main-thread CPU ms':<44} {slowest_cpu[0]:>10.0f} {'<= ' + str(TARGET_MS):>10}"
              f"   {slowest_cpu[1]}")
    if not args.no_axe:
        print(f"{'axe WCAG A/AA violations, light and dark':<44} {violations:>10} {'0':>10}")
    print(f"{len(over)} of {len(names)} pages miss a target{': ' + ', '.join(over) if over else ''}; "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
