"""The book's pages against their targets: weight, widgets usable at once, accessibility. Every page of both books
opened cold in Chromium, served the way `make serve` serves it (gradcourse.book.serve: gzip for text, as static
hosts do), with every other host blocked.

    python bench/pages.py [--repeat 3] [--no-build | --site DIR] [--page en/chapters/tensor-ops.html] [--files]

Builds the book (`python -m gradcourse.book build`; --no-build reuses _build/html, --site measures another built
site) and opens each page in a new browser context (empty cache), waiting until the network is idle. Per page:

- KB: what crossed the wire without fonts (compressed bodies plus headers, from Chromium's own network log through
  the DevTools protocol); web fonts (KaTeX's, the theme's icons) are counted apart. Target: at most 350 KB.
- widgets ms: the slowest of the page's widgets, from navigation start until the widget answers being used, each
  used the moment it is in the page (tests/pagechecks.py WIDGET_PROBE, the probe the browser tests run). Target:
  at most 500 ms.
- axe: axe-core's WCAG 2.0/2.1/2.2 A and AA violations, in the light theme (every rule) and the dark one (the
  colour rules), as tests/test_pages_browser.py runs them. Target: 0.

Prints medians over the repeats (axe runs once: its verdict does not vary) and, last, each figure beside its target.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from gradcourse.book.serve import serving  # noqa: E402
from pagechecks import AXE_COLOUR_RULES, WIDGET_PROBE, run_axe, widget_responses  # noqa: E402

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


def blocking_route(blocked: list[str]):
    def route(r):
        if urlparse(r.request.url).hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()
    return route


def visit(browser, url: str) -> dict:
    """One cold load: bytes by file, and the slowest widget's answer in ms after navigation start."""
    context = browser.new_context()
    blocked = []
    context.route("**/*", blocking_route(blocked))
    context.add_init_script(WIDGET_PROBE)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    urls, raw, sent = {}, {}, {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.dataReceived", lambda e: raw.__setitem__(e["requestId"], raw.get(e["requestId"], 0)
                                                             + e["dataLength"]))
    cdp.on("Network.loadingFinished", lambda e: sent.__setitem__(e["requestId"], e["encodedDataLength"]))
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    page.goto(url, wait_until="networkidle")
    widgets = page.locator(".gc-widget").count()
    answers = widget_responses(page, widgets) if widgets else []
    context.close()
    total = {"sent": 0, "raw": 0, "sent_fonts": 0, "raw_fonts": 0}
    for rid, n in sent.items():
        font = urlparse(urls.get(rid, "")).path.endswith(FONTS)
        total["sent"] += n
        total["raw"] += raw.get(rid, 0)
        if font:
            total["sent_fonts"] += n
            total["raw_fonts"] += raw.get(rid, 0)
    slowest = max((a["ms"] for a in answers), default=None)
    return {**total, "widgets": slowest, "blocked": blocked,
            "files": {urls.get(r, r): (n, raw.get(r, 0)) for r, n in sent.items()}}


def axe_violations(browser, url: str) -> tuple[int, int]:
    """Violations (nodes) in the light theme, every rule, and in the dark theme, the colour rules."""
    counts = []
    for scheme, rules in (("light", None), ("dark", AXE_COLOUR_RULES)):
        context = browser.new_context(color_scheme=scheme)
        context.route("**/*", blocking_route([]))
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
    args = parser.parse_args()
    html = Path(args.site) if args.site else ROOT / "_build" / "html"
    if not (args.no_build or args.site):
        subprocess.run([sys.executable, "-m", "gradcourse.book", "build"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    from playwright.sync_api import sync_playwright

    names = args.page or pages(html)
    kb = lambda runs, key: statistics.median(r[key] for r in runs) / 1024  # noqa: E731
    print(f"cold page loads, gzip as served by `make serve`, median of {args.repeat} (KB = 1024 bytes)")
    print(f"{'page':<40} {'raw KB':>7} {'sent KB':>7} {'fonts KB':>8} {'KB -fonts':>9} {'widgets ms':>10} "
          f"{'axe light/dark':>14}")
    heaviest, slowest, violations, over = (0.0, ""), (0.0, ""), 0, []
    with serving(html) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for name in names:
            runs = [visit(browser, f"{url}/{name}") for _ in range(args.repeat)]
            if any(r["blocked"] for r in runs):
                print(f"  {name} asked for other hosts: {runs[0]['blocked']}", file=sys.stderr)
            without = kb(runs, "sent") - kb(runs, "sent_fonts")
            heaviest = max(heaviest, (without, name))
            times = [r["widgets"] for r in runs if r["widgets"] is not None]
            ms = statistics.median(times) if times else None
            if ms is not None:
                slowest = max(slowest, (ms, name))
            light, dark = (None, None) if args.no_axe else axe_violations(browser, f"{url}/{name}")
            violations += (light or 0) + (dark or 0)
            if without > TARGET_KB or (ms or 0) > TARGET_MS or light or dark:
                over.append(name)
            print(f"{name:<40} {kb(runs, 'raw'):>7.0f} {kb(runs, 'sent'):>7.0f} {kb(runs, 'sent_fonts'):>8.0f} "
                  f"{without:>9.0f} {'-' if ms is None else f'{ms:.0f}':>10} "
                  f"{'-' if light is None else f'{light}/{dark}':>14}", flush=True)
            if args.files:
                for file, (n, raw) in sorted(runs[0]["files"].items(), key=lambda kv: -kv[1][0]):
                    print(f"    {n / 1024:>8.1f} sent {raw / 1024:>8.1f} raw  {file.removeprefix(url)}")
        browser.close()
    print(f"\n{'figure':<44} {'measured':>10} {'target':>10}")
    print(f"{'heaviest page without fonts, KB sent':<44} {heaviest[0]:>10.0f} {'<= ' + str(TARGET_KB):>10}"
          f"   {heaviest[1]}")
    print(f"{'slowest widget answer after navigation, ms':<44} {slowest[0]:>10.0f} {'<= ' + str(TARGET_MS):>10}"
          f"   {slowest[1]}")
    if not args.no_axe:
        print(f"{'axe WCAG A/AA violations, light and dark':<44} {violations:>10} {'0':>10}")
    print(f"{len(over)} of {len(names)} pages miss a target{': ' + ', '.join(over) if over else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
