"""A Spanish-speaking learner's lab in real JupyterLab, in Debian's chromium: the course's environment serves a copy
of a half-finished Spanish lab 02 on localhost (a free port, a token, a folder of its own, the learner install's
Jupyter configuration from jupyter-config/). "Run All" reaches the end and every self-check and graded cell says its
verdict, in Spanish, without a traceback; the broadcast picker answers a click; saved, its kernel stopped and
reopened, the lab shows the note to run the picker's cell again where the picker was, never "model not found"."""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import Visit
from gradcourse.widgets.saving import rerun_note

ROOT = Path(__file__).resolve().parents[1]
PANEL = "window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"{PANEL}?.sessionContext?.session?.kernel?.status === 'idle'"
SOLVED = {"unbroadcast"}           # the one function this learner has written so far


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def half_finished_lab(folder: Path) -> Path:
    nb = nbformat.read(ROOT / "labs/es/lab02.ipynb", 4)
    solved = {c.id: c.source for c in nbformat.read(ROOT / "solutions/labs/es/lab02.ipynb", 4).cells}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in SOLVED:
            cell.source = solved[cell.id]
    path = folder / "lab02.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab from the course's environment, with nothing of the user's: its own Jupyter folders, no news."""
    root = tmp_path / "labs"
    root.mkdir()
    # No news from the internet; every cell drawn, not only those in view, so that the page holds all outputs.
    for plugin, value in {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                          "notebook-extension/tracker": {"windowingMode": "none"}}.items():
        settings = tmp_path / "lab-settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(value))
    # As in the learner install, which has neither: no nbgrader (its four server extensions, its lab plugins) and no
    # language server (quicker to start, too).
    config = tmp_path / "jupyter" / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {
        **{f"nbgrader.server_extensions.{ext}": False
           for ext in ("formgrader", "validate_assignment", "assignment_list", "course_list")},
        "jupyter_lsp": False}}}))
    (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {
        "@jupyter/nbgrader": True}}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "IPYTHONDIR": str(tmp_path / "ipython"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           # What the learner install's wheel puts in its environment's etc/jupyter (an editable install does not).
           "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter-config"),
           **{f"JUPYTER_{kind}_DIR": str(tmp_path / "jupyter" / kind.lower())
              for kind in ("RUNTIME", "DATA", "CONFIG")}}
    env.pop("GRADCOURSE_LANG", None)
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                               *(["--allow-root"] if os.geteuid() == 0 else [])],
                              cwd=root, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.2)
        yield base, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def open_lab(page, url):
    page.goto(url)
    page.wait_for_function(f"window.jupyterapp && {PANEL}?.content?.model && {KERNEL_IDLE}", timeout=90_000)


def cells(page) -> list[dict]:
    """Each cell of the open notebook: its type, nbgrader role, source, execution count and shown output text."""
    return page.evaluate(f"""() => {{
        const panel = {PANEL};
        return panel.content.widgets.map((w) => ({{
            type: w.model.type,
            nbgrader: w.model.getMetadata('nbgrader') || {{}},
            source: w.model.sharedModel.getSource(),
            count: w.model.type === 'code' ? w.model.executionCount : null,
            shown: [...w.node.querySelectorAll('.jp-OutputArea-output')].map((o) => o.textContent).join(''),
        }}));
    }}""")


def check_name(source: str) -> str:
    return re.match(r'"""([\w.]+) —', source).group(1)


def test_a_spanish_lab_in_jupyterlab(browser, jupyterlab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    base, token, root = jupyterlab
    path = half_finished_lab(root)
    tab = Visit(browser, viewport={"width": 1280, "height": 900})
    page = tab.page
    try:
        open_lab(page, f"{base}/lab/tree/lab02.ipynb?token={token}")

        # Run All on a half-finished lab: it reaches the last cell, and every check says its verdict. (The command's
        # promise settles once the last queued cell is done, or once the queue is dropped at an error.)
        page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:      # its last execution counts may come a moment later
            page.wait_for_function(f"""{KERNEL_IDLE} && {PANEL}.content.widgets.every(
                (w) => w.model.type !== 'code' || w.model.executionCount)""", timeout=20_000)
        except PlaywrightTimeout:
            pass
        shown = cells(page)
        code = [c for c in shown if c["type"] == "code"]
        assert all(c["count"] for c in code), ("Run All stopped before the end", [c["count"] for c in code])
        assert code[-1]["count"] == max(c["count"] for c in code)
        verdicts = 0
        for cell in code:
            assert "Traceback" not in cell["shown"] and "gradcourse/" not in cell["shown"], cell
            if cell["nbgrader"].get("grade"):
                name = check_name(cell["source"])
                if name.split(".")[0] in SOLVED:
                    assert cell["shown"] == "", cell                  # a passing graded cell stays silent
                else:
                    assert cell["shown"].startswith(f"✗ {name}: aún sin implementar"), cell
                verdicts += 1
            elif cell["source"].startswith("self_check("):
                lines = cell["shown"].splitlines()
                good = "✓" if cell["source"] == "self_check(unbroadcast)" else "✗"
                assert lines and all(line.startswith(f"{good} ") for line in lines), cell
                verdicts += 1
        assert verdicts >= 20

        # The picker answers, in Spanish: summing dY over axis 0 gives b's gradient.
        picker = page.locator(".gc-picker")
        picker.locator("input[data-axis='0']").check()
        feedback = picker.locator(".gc-feedback")
        assert feedback.get_attribute("data-status") == "correct"
        assert feedback.inner_text().startswith("Correcto")

        # Saved: the file has the note where the widget's output was; the open notebook keeps its live picker.
        before = path.stat().st_mtime_ns
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(f"!{PANEL}.context.model.dirty", timeout=20_000)
        assert path.stat().st_mtime_ns != before
        saved = nbformat.read(path, 4)
        note = rerun_note("es")
        (picker_out,) = [c.outputs for c in saved.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                         == "axis-picker"]
        assert [o.get("data") for o in picker_out] == [{"text/plain": note}]
        assert "application/vnd.jupyter.widget-view+json" not in path.read_text()
        assert picker.count() == 1

        # Kernel stopped, notebook closed and opened again: a new kernel, the saved outputs, a new widget manager.
        page.evaluate("window.jupyterapp.commands.execute('kernelmenu:shutdown')")
        page.wait_for_function(f"!{PANEL}.sessionContext.session?.kernel", timeout=20_000)
        page.evaluate("window.jupyterapp.commands.execute('application:close-all')")
        page.wait_for_function("!document.querySelector('.jp-NotebookPanel')", timeout=20_000)
        page.evaluate("window.jupyterapp.commands.execute('docmanager:open', {path: 'lab02.ipynb'})")
        page.wait_for_function(f"{PANEL}?.content?.model && {KERNEL_IDLE}", timeout=90_000)
        page.wait_for_timeout(3000)     # the widget manager gives up on a missing model after 2 s
        reopened = cells(page)
        text = page.evaluate("document.querySelector('.jp-Notebook').textContent")
        assert "model not found" not in text and "Error displaying widget" not in text
        assert not [e for e in tab.errors if "model not found" in e], tab.errors
        (picker_cell,) = [c for c in reopened if c["nbgrader"].get("grade_id") == "axis-picker"]
        assert picker_cell["shown"].strip() == note
        others = [i for i, c in enumerate(shown) if c["nbgrader"].get("grade_id") != "axis-picker"]
        assert [reopened[i]["shown"] for i in others] == [shown[i]["shown"] for i in others]  # every verdict kept
        assert tab.blocked == [], tab.blocked
    finally:
        tab.context.close()
