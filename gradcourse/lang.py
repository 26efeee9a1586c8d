"""The course's two languages, and which one a notebook speaks.

Code cells are identical in the English and Spanish notebooks, so the language cannot be written
in the code. Every generated notebook records it in its metadata (``gradcourse.lang``), which a kernel
reads when its front end names the notebook file (JupyterLab and Notebook set ``$JPY_SESSION_NAME``,
VS Code ``__vsc_ipynb_file__``): that is how a lab downloaded from the book into any folder speaks its
language. Otherwise it is read from the working directory, which Jupyter and nbgrader set to the
notebook's folder: ``labs/es/``, ``grader/source/lab00-es/``, ``autograded/<student>/lab00-es/``.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

LANGS = ("en", "es")
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


def tr(lang: str, en: str, es: str) -> str:
    """The text for ``lang``: every message a learner or an instructor reads exists in both languages."""
    return es if lang == "es" else en
