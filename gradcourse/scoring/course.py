"""The nbgrader course folder: the one way to run nbgrader in it, and the names the course keeps there.

The instructor's commands, the lab generator, the tests and the benches all run nbgrader through :func:`run`, so
they see the same environment (nbgrader shells out to ``alembic``, which lives beside this interpreter) and the
same course settings (``<course>/nbgrader_config.py``, which calls :func:`gradcourse.scoring.config.harden`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
SECRET_FILE = ".gradcourse-secret"   # mixed into every student's hidden inputs; created on first use


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the interpreter's ``bin/`` first on PATH, plus ``extra``."""
    base = dict(os.environ)
    base["PATH"] = str(Path(sys.executable).parent) + os.pathsep + base.get("PATH", "")
    return {**base, **(extra or {})}


def run(course, *argv: str, on_line=None, timeout: float | None = None,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``nbgrader <argv>`` in ``course`` with this interpreter; its log (stdout and stderr, interleaved as nbgrader
    wrote them) is streamed line by line to ``on_line`` and returned as ``stdout``. Past ``timeout`` seconds the
    process is killed and the return code is that of the kill."""
    command = [sys.executable, "-m", "nbgrader", *argv]
    proc = subprocess.Popen(command, cwd=course, env=env(extra_env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    timer = threading.Timer(timeout, proc.kill) if timeout else None
    if timer:
        timer.start()
    log = []
    try:
        for line in proc.stdout:
            log.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        proc.wait()
    finally:
        if timer:
            timer.cancel()
    return subprocess.CompletedProcess(command, proc.returncode, "".join(log), "")
