"""Where a notebook runs: its language and, during autograding, its student.

Code cells are identical in the English and Spanish notebooks, so the language cannot be written
in the code. Every generated notebook records it in its metadata (``gradcourse.lang``), which a kernel
reads when its front end names the notebook file (JupyterLab and Notebook set ``$JPY_SESSION_NAME``,
VS Code ``__vsc_ipynb_file__``): that is how a lab downloaded from the book into any folder speaks its
language. Otherwise it is read from the working directory, which Jupyter and nbgrader set to the
notebook's folder: ``labs/es/``, ``grader/source/lab00-es/``, ``autograded/<student>/lab00-es/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

LANGS = ("en", "es")
PUBLIC_SEED = 20240
_LANG_PART = re.compile(r"^(?:.*[-_])?(en|es)$")


def running_notebook() -> Path | None:
    """The notebook file this kernel runs, if its front end says so and it is on disk."""
    names = [os.environ.get("JPY_SESSION_NAME")]       # jupyter_server 2: the notebook's absolute path
    ipython = sys.modules.get("IPython")               # only inside a kernel: never imported just for this
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        names.append(shell.user_ns.get("__vsc_ipynb_file__"))
    for name in names:
        if name and name.endswith(".ipynb"):
            for candidate in (Path(name), Path.cwd() / Path(name).name):  # older servers: relative to their root
                if candidate.is_file():
                    return candidate
    return None


def _declared_language(notebook: Path) -> str | None:
    try:
        lang = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["gradcourse"]["lang"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return lang if lang in LANGS else None


def notebook_language(path=None) -> str:
    """'en' or 'es' from $GRADCOURSE_LANG, the running notebook's metadata (``path=None`` only), or the nearest
    folder named like ``es`` / ``lab00-es``; 'en' if none says."""
    env = os.environ.get("GRADCOURSE_LANG")
    if env in LANGS:
        return env
    if path is None:
        notebook = running_notebook()
        declared = _declared_language(notebook) if notebook else None
        if declared:
            return declared
    for part in reversed(Path(path or os.getcwd()).resolve().parts):
        m = _LANG_PART.match(part)
        if m:
            return m.group(1)
    return "en"


def student_id(path=None) -> str | None:
    """The student folder under ``autograded/`` or ``submitted/`` (nbgrader layout), else None."""
    env = os.environ.get("GRADCOURSE_STUDENT")
    if env:
        return env
    parts = Path(path or os.getcwd()).resolve().parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in ("autograded", "submitted") and i + 1 < len(parts):
            return parts[i + 1]
    return None


def seed_for(student: str) -> int:
    digest = hashlib.sha256(f"gradcourse:{student}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def student_seed(path=None) -> int:
    """A seed of its own for every student (hidden tests); a fixed instructor seed elsewhere."""
    return seed_for(student_id(path) or "instructor")
