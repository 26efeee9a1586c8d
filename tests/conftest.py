from __future__ import annotations

import functools
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from gradcourse.book.serve import serving
from worktree import writing_or_copying

ROOT = Path(__file__).resolve().parents[1]
# The longest test files, longest first (339, 186, 169, 108, 100, 97, 83 and 80 s in one process, at 1ac5cc1):
# started first, so that no worker is left with one of them when the rest is done (`--dist loadfile` hands out
# files in the order collected).
LONGEST = ["test_pages_browser.py", "test_redteam.py", "test_validate.py", "test_gradebook_server.py",
           "test_learner_install.py", "test_exchange.py", "test_first_week.py", "test_pipeline.py"]
HEADER = (ROOT / "book" / "en" / "index.md").read_text(encoding="utf8").split("---\n", 2)[1]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The real build of both books into _build (incremental after `make book`); any warning fails it. Every test
    process asks for it: the first builds, the others find it up to date."""
    from gradcourse.book.build import build

    with writing_or_copying():
        return build(ROOT).parent


def serve(site: Path):
    """Serve a built site on localhost, as a reader's browser would get it: with the server `make serve` runs
    (gzip for text). A context manager yielding its base URL."""
    return serving(site)


@pytest.fixture(scope="session")
def book_url(built_book: Path):
    with serve(built_book) as url:
        yield url


def mini_course(tmp_path: Path, body_en: str, body_es: str, extra: dict[str, str] | None = None) -> Path:
    """A small course using the real configuration and extension: a start page, plus ``extra`` pages (name to
    body, the same in both languages), to prove what makes a build fail and what a build reuses."""
    course = tmp_path / "course"
    extra = extra or {}
    for lang, body in (("en", body_en), ("es", body_es)):
        (course / "book" / lang).mkdir(parents=True)
        for name, text in {"index": body, **extra}.items():
            page = course / "book" / lang / f"{name}.md"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"---\n{HEADER}---\n\n{text}", encoding="utf8")
    shutil.copy(ROOT / "_config.yml", course)
    toc = "format: jb-book\nroot: index\nchapters:\n" + "".join(f"  - file: {n}\n" for n in extra)
    (course / "_toc.yml").write_text(toc if extra else "format: jb-article\nroot: index\n")
    (course / "node_modules").symlink_to(ROOT / "node_modules")
    return course




@pytest.fixture
def make_course(tmp_path):
    """``make_course(body_en, body_es, extra=None)``: see :func:`mini_course`."""
    return functools.partial(mini_course, tmp_path)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by playwright's Python package (never a browser playwright downloads)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


class Visit:
    """A browser tab that records what a page asked for outside localhost and what it logged as an error."""

    def __init__(self, browser, **context_options):
        self.context = browser.new_context(**context_options)
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", lambda r: r.status >= 400 and self.errors.append(f"{r.status} {r.url}"))

    def _route(self, route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def assert_clean(self):
        assert self.blocked == [], f"requests outside localhost: {self.blocked}"
        assert self.errors == [], f"console errors: {self.errors}"


ON_SCREEN = "e => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }"


class WidgetVisit(Visit):
    """A tab on a page of the built book whose widgets have mounted (the ``visit`` fixture opens them)."""

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_function("document.documentElement.dataset.gcWidgets === 'ready'", timeout=20_000)
        return self.page

    def show(self, locator, tries: int = 5):
        """Scroll ``locator`` into view, as a reader does before reading it. The browser lays out only the blocks near
        the screen (content-visibility: auto, course.css) and holds the others at a typical height: drawing those a
        scroll passes can move the target off screen again, so scroll until it stays. (Text the browser skipped
        reads as empty: innerText.)"""
        for _ in range(tries):
            locator.scroll_into_view_if_needed()
            self.page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
            if locator.evaluate(ON_SCREEN):
                return locator
        raise AssertionError(f"{locator} does not stay on screen after {tries} scrolls")


@pytest.fixture
def visit(browser):
    """``visit(**context_options)``: a new WidgetVisit, closed after the test."""
    opened = []

    def make(**options):
        opened.append(WidgetVisit(browser, **options))
        return opened[-1]

    yield make
    for v in opened:
        v.context.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The mutation score of the pitfall matrix (tests/labs/test_pitfalls.py), when it ran: wrong implementations
    that lose points on every seed tried, out of all of them."""
    score = getattr(config, "mutation_score", None)
    if score:
        caught = sum(score.values())
        terminalreporter.write_sep("=", f"mutation score: {caught}/{len(score)} wrong implementations caught "
                                        f"({100 * caught / len(score):.0f}%)")
