"""A submission that tries to run script in the instructor's browser, through the real nbgrader commands and in
Debian's chromium: nothing of it runs in the feedback page, nor in the formgrader's view of the submission that a
logged-in instructor opens.

Every attack, if it ran, would set ``document.title``, write to ``window.top``, log to the console and request a URL
of a local server this test runs; the test checks none of that happened, after first checking that the same payload
in a plain page does all of it (so a quiet page means blocked, not broken).
"""

from __future__ import annotations

import base64
import http.server
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlparse

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

from conftest import serve

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, STUDENT = "lab00-en", "mallory"
MARK = "PWNED"
CSP = ("default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; base-uri 'none'; form-action 'none'")


class Recorder:
    """A local server that records every request: the attacks' beacon."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payload(self, name: str) -> str:
        """JavaScript with no double quote, for attributes of every kind; the request first, and window.top last
        (in a frame of another origin it throws)."""
        return (f"new Image().src='http://127.0.0.1:{self.port}/{name}';console.log('{MARK}-{name}');"
                f"document.title='{MARK}-{name}';window.top.{MARK}='{name}'")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


FIGURE = ("import base64, io\nimport matplotlib.pyplot as plt\nfig = plt.figure(figsize=(1, 1))\n"
          "buf = io.BytesIO()\nfig.savefig(buf, format='png')\nplt.close(fig)\n"
          "png = base64.b64encode(buf.getvalue()).decode()\n")


def attacks(recorder: Recorder) -> tuple[list[str], list[str]]:
    """(code cells, markdown cells) of the submission, each attack reporting under its own name."""
    p = recorder.payload

    def img(name):
        return f'<img src=x onerror="{p(name)}">'

    def script(name):
        return f"<script>{p(name)}</script>"

    def packed(name):  # no space and no double quote: fits an unquoted attribute or a link target
        return f"eval(atob('{base64.b64encode(p(name).encode()).decode()}'))"

    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{p("svg-onload")}">{script("svg-script")}</svg>'
    code = [
        "from IPython.display import HTML, Javascript, Markdown, SVG, display",
        f"display(HTML({script('html-script')!r}))",
        f"display(HTML({img('html-onerror')!r}))",
        f"display({{'text/html': ['<img src=x ', {img('html-list')[len('<img src=x '):]!r}]}}, raw=True)",
        f"display(Javascript({p('javascript')!r}))",
        f"display(SVG({svg!r}))",
        f"display(Markdown({img('markdown-output')!r}))",
        f"display({{'text/html': {script('isolated')!r}}}, metadata={{'text/html': {{'isolated': True}}}}, raw=True)",
        (f"display({{'application/vnd.jupyter.widget-view+json': {{'model_id': 'x'}}, "
         f"'text/html': {script('widget')!r}}}, raw=True)"),
        FIGURE + f"display({{'image/png': png, 'text/plain': 'fig'}}, "
        f"metadata={{'image/png': {{'width': {'1 onload=' + packed('metadata-width')!r}}}}}, raw=True)",
        f"print({script('print')!r})",
        f"HTML({img('execute-result')!r})",
        f"raise ValueError({img('error')!r})",
    ]
    markdown = [
        img("md-onerror"),
        script("md-script"),
        f"[click me](javascript:{packed('md-link')}) and [me too](jav&#x61;script:{packed('md-entity-link')})",
        f"![beacon](http://127.0.0.1:{recorder.port}/md-remote-image)",
        f"${img('md-math')}$",
        f"```mermaid\n{img('md-mermaid')}\n```",
        f'<iframe srcdoc="{script("md-iframe")}"></iframe>',
        "![svg](attachment:evil.svg)",
    ]
    return code, markdown


def submission(course: Path, recorder: Recorder) -> nbformat.NotebookNode:
    """The released lab 00 with the reference solutions, the attacks after its set-up cell, a raw cell, an attack
    in a written answer, hostile attachments and metadata."""
    nb = nbformat.read(course / "release" / ASSIGNMENT / "lab00.ipynb", as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / "lab00.ipynb", as_version=4)
    solutions = {c.metadata.nbgrader.grade_id: c.source for c in source.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    p = recorder.payload
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in solutions:
            cell.source = solutions[grade_id]
        if grade_id == "derivation-softmax":  # a written answer, shown in a graded panel
            cell.source = f'**Your derivation (A1):**\n\n<img src=x onerror="{p("md-answer")}">'
        cell.metadata["tags"] = [f'"><img src=x onerror="{p("tag")}">']
    code, markdown = attacks(recorder)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{p("attachment")}"><script>{p("attachment")}</script></svg>'
    added = [new_code_cell(c) for c in code] + [new_markdown_cell(m) for m in markdown] + [
        new_raw_cell(f"<script>{p('raw')}</script>", metadata={"raw_mimetype": "text/html"})]
    added[-2].attachments = {"evil.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()}}
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[first_code + 1:first_code + 1] = added
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0, "x": f"</script><script>{p('widget-state')}</script>"}}
    return nb


def jupyter_env(course: Path) -> dict[str, str]:
    """nbgrader and Jupyter from the venv, with their user folders beside the course (nothing left in $HOME, and
    no user-wide nbgrader_config.py read)."""
    folders = {f"JUPYTER_{kind}_DIR": str(course.parent / "jupyter" / kind.lower())
               for kind in ("RUNTIME", "DATA", "CONFIG")}
    return {**os.environ, **folders, "IPYTHONDIR": str(course.parent / "ipython"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def nbgrader(course: Path, *args: str) -> None:
    done = subprocess.run(["nbgrader", *args], cwd=course, env=jupyter_env(course), capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def recorder():
    beacon = Recorder()
    yield beacon
    beacon.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory, recorder):
    """A course from the real source and config: lab 00 released, the hostile submission autograded, feedback
    generated, all by the nbgrader commands an instructor runs."""
    course = tmp_path_factory.mktemp("inert") / "course"
    shutil.copytree(ROOT / "grader" / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    shutil.copy(ROOT / "grader" / "nbgrader_config.py", course)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    folder = course / "submitted" / STUDENT / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(submission(course, recorder), folder / "lab00.ipynb")
    nbgrader(course, "autograde", ASSIGNMENT)
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    return course


class Tab:
    """A tab that records console messages and every request, and lets only localhost through."""

    def __init__(self, browser):
        self.context = browser.new_context()
        self.messages, self.requests = [], []
        self.context.route("**/*", lambda route: route.continue_()
                           if urlparse(route.request.url).hostname == "127.0.0.1" else route.abort())
        self.page = self.context.new_page()
        self.page.on("console", lambda message: self.messages.append(message.text))
        self.page.on("request", lambda request: self.requests.append(request.url))

    def assert_nothing_ran(self, recorder: Recorder):
        self.page.wait_for_timeout(1_500)  # handlers of broken images, iframes and timers have fired by now
        assert MARK not in self.page.title()
        assert self.page.evaluate(f"window.{MARK} === undefined")
        assert recorder.hits == [], recorder.hits
        assert [m for m in self.messages if MARK in m] == []
        assert [u for u in self.requests if MARK in u or f":{recorder.port}/" in u] == []
        # What the notebook put in the page that could run on a click or a load: handlers, script URLs, frames
        # (the formgrader's own page, around #notebook-container, has handlers of its own).
        live = self.page.evaluate(r"""() => [...document.querySelectorAll('#notebook-container *')].flatMap(e => [
            ...['IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'SCRIPT', 'FORM'].includes(e.tagName) ? [e.tagName] : [],
            ...[...e.attributes].filter(a => a.name.startsWith('on') || a.name === 'srcdoc'
                || /^[\s\x00-\x1f]*(javascript|vbscript|data:(?!image\/(png|jpeg);))/i.test(a.value))
              .map(a => `${e.tagName}[${a.name}=${a.value.slice(0, 40)}]`)])""")
        assert live == []
        assert MARK in self.page.inner_text("body")  # the attacks are there, shown as text

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser):
    opened = Tab(browser)
    yield opened
    opened.close()


def test_the_payload_runs_in_a_page_that_does_not_stop_it(tab, recorder, tmp_path):
    control = f'<!DOCTYPE html><title>t</title><img src=x onerror="{recorder.payload("control")}">'
    (tmp_path / "control.html").write_text(control)
    with serve(tmp_path) as url:
        tab.page.goto(f"{url}/control.html")
        tab.page.wait_for_function(f"document.title === '{MARK}-control'", timeout=10_000)
        deadline = time.monotonic() + 10
        while "/control" not in recorder.hits and time.monotonic() < deadline:
            time.sleep(0.05)
    assert recorder.hits == ["/control"] and f"{MARK}-control" in tab.messages
    recorder.hits.clear()


def test_nothing_runs_in_the_feedback_page(tab, recorder, course):
    with serve(course / "feedback") as url:
        tab.page.goto(f"{url}/{STUDENT}/{ASSIGNMENT}/lab00.html")
        first = tab.page.evaluate("[document.head.firstElementChild.tagName, "
                                  "document.head.firstElementChild.getAttribute('http-equiv'), "
                                  "document.head.firstElementChild.content]")
        assert first == ["META", "Content-Security-Policy", CSP]
        tab.assert_nothing_ran(recorder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def formgrader(course, tmp_path):
    """Jupyter Server with nbgrader's formgrader, run from the course folder as an instructor runs it; stopped at
    the end."""
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={course}", *(["--allow-root"] if os.geteuid() == 0 else [])],
                              cwd=course, env=jupyter_env(course), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("jupyter server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.2)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_nothing_runs_in_the_formgraders_view_of_the_submission(tab, recorder, course, formgrader):
    base, token = formgrader
    with sqlite3.connect(course / "gradebook.db") as db:
        (submission_id,), = db.execute(
            "select n.id from submitted_notebook n join submitted_assignment a on n.assignment_id = a.id "
            "where a.student_id = ?", (STUDENT,)).fetchall()
    path = f"/formgrader/submissions/{submission_id}/"
    tab.page.goto(f"{base}/login?next={quote(path)}")
    tab.page.fill("#password_input", token)
    tab.page.click("#login_submit")
    tab.page.wait_for_url(f"{base}{path}*")
    assert tab.page.locator(".nbgrader_cell").count() > 0  # the formgrader's own view, logged in
    tab.assert_nothing_ran(recorder)
