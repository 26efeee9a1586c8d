"""Page weight and widget readiness: every page of both books opened cold in Chromium, served the way `make serve`
serves it (gradcourse.book.serve: gzip for text, as static hosts do).

    python bench/pages.py [--repeat 3] [--no-build] [--page en/chapters/tensor-ops.html]

Builds the book (`python -m gradcourse.book build`; --no-build reuses _build/html), serves it on localhost and
opens each page in a new browser context (empty cache) with every other host blocked, waiting until the network
is idle. Bytes come from Chromium's own network log (DevTools protocol): "sent" is what crossed the wire
(compressed bodies plus headers), "raw" the decoded bodies. Fonts (web fonts: MathJax's, the theme's icons) are
counted apart; the target is at most 600 KB sent per page without them. "picker ms" is, on pages with the
broadcast-axis picker, the time from navigation start until a click on its first axis box, fired as soon as the
box exists, changes the picker's verdict. Prints medians over the repeats.
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
sys.path.insert(0, str(ROOT))
from gradcourse.book.serve import serving  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
TARGET_KB = 600
FONTS = (".woff2", ".woff", ".ttf", ".otf", ".eot")
# Clicks the picker's first axis box the moment it is in the page and stamps when the verdict text changes.
# performance.now() counts from navigation start.
PICKER_PROBE = """
(() => {
  let clicked = false;
  const probe = () => {
    const box = document.querySelector(".gc-picker input[data-axis='0']");
    const verdict = document.querySelector(".gc-picker .gc-feedback");
    if (!box || !verdict || clicked) return;
    clicked = true;
    const before = verdict.textContent;
    new MutationObserver((_, obs) => {
      if (verdict.textContent !== before) { window.__pickerMs = performance.now(); obs.disconnect(); }
    }).observe(verdict, { childList: true, subtree: true, characterData: true });
    box.click();
  };
  new MutationObserver(probe).observe(document, { childList: true, subtree: true });
})();
"""


def pages(html: Path) -> list[str]:
    skip = {"_static", "_sources", "_images", "jupyter_execute"}
    found = [p.relative_to(html).as_posix() for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts)]
    return sorted(found, key=lambda p: (p.count("/") > 0, p))


def visit(browser, url: str) -> dict:
    context = browser.new_context()
    blocked = []

    def route(r):
        if urlparse(r.request.url).hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    context.add_init_script(PICKER_PROBE)
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
    if page.locator(".gc-picker").count():
        page.wait_for_function("window.__pickerMs !== undefined", timeout=20_000)
    picker = page.evaluate("window.__pickerMs")
    context.close()
    total = {"sent": 0, "raw": 0, "sent_fonts": 0, "raw_fonts": 0}
    for rid, n in sent.items():
        font = urlparse(urls.get(rid, "")).path.endswith(FONTS)
        total["sent"] += n
        total["raw"] += raw.get(rid, 0)
        if font:
            total["sent_fonts"] += n
            total["raw_fonts"] += raw.get(rid, 0)
    return {**total, "picker": picker, "blocked": blocked, "files": {urls.get(r, r): (n, raw.get(r, 0))
                                                                     for r, n in sent.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-build", action="store_true", help="measure _build/html as it is")
    parser.add_argument("--page", action="append", help="only this page, relative to _build/html (repeatable)")
    parser.add_argument("--files", action="store_true", help="also list each file a page loaded (first repeat)")
    args = parser.parse_args()
    html = ROOT / "_build" / "html"
    if not args.no_build:
        subprocess.run([sys.executable, "-m", "gradcourse.book", "build"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    from playwright.sync_api import sync_playwright

    names = args.page or pages(html)
    kb = lambda runs, key: statistics.median(r[key] for r in runs) / 1024  # noqa: E731
    print(f"cold page loads, gzip as served by `make serve`, median of {args.repeat} (KB = 1024 bytes)")
    print(f"{'page':<40} {'raw KB':>7} {'raw -fonts':>10} {'sent KB':>7} {'fonts KB':>8} {'sent -fonts':>11} "
          f"{'<=600':>5} {'picker ms':>9}")
    worst, failed = 0.0, []
    with serving(html) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for name in names:
            runs = [visit(browser, f"{url}/{name}") for _ in range(args.repeat)]
            if any(r["blocked"] for r in runs):
                print(f"  {name} asked for other hosts: {runs[0]['blocked']}", file=sys.stderr)
            without = kb(runs, "sent") - kb(runs, "sent_fonts")
            worst = max(worst, without)
            if without > TARGET_KB:
                failed.append(name)
            pickers = [r["picker"] for r in runs if r["picker"] is not None]
            picker = f"{statistics.median(pickers):>9.0f}" if pickers else f"{'-':>9}"
            print(f"{name:<40} {kb(runs, 'raw'):>7.0f} {kb(runs, 'raw') - kb(runs, 'raw_fonts'):>10.0f} "
                  f"{kb(runs, 'sent'):>7.0f} {kb(runs, 'sent_fonts'):>8.0f} {without:>11.0f} "
                  f"{'yes' if without <= TARGET_KB else 'NO':>5} {picker}", flush=True)
            if args.files:
                for file, (n, raw) in sorted(runs[0]["files"].items(), key=lambda kv: -kv[1][0]):
                    print(f"    {n / 1024:>8.1f} sent {raw / 1024:>8.1f} raw  {file.removeprefix(url)}")
        browser.close()
    print(f"heaviest page without fonts: {worst:.0f} KB sent (target {TARGET_KB} KB); "
          f"{len(failed)} of {len(names)} pages over")
    return 0


if __name__ == "__main__":
    sys.exit(main())
