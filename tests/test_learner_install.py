"""A learner's environment is one install.

The wheel `make dist` builds goes, with its `learner` extra, into an empty virtualenv, exactly as the labs page tells
a learner (`pip install "gradcourse[learner]" --find-links FOLDER`, the rest from PyPI). A lab downloaded from the book
into an empty folder of its own, solved, then runs top to bottom on that virtualenv's kernel, started the way
JupyterLab starts it (working directory: the notebook's folder; $JPY_SESSION_NAME: the notebook's path). Without the
course package, the lab's first cell says how to install it. The install brings JupyterLab with the course's server
extension on and no instructor tool (no nbgrader at all), and `python -m gradcourse.validate` works there.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from gradcourse.grading.checks import CHECKS, checks_for
from gradcourse.lang import notebook_language
from worktree import writing_or_copying

REPO = Path(__file__).resolve().parents[1]
KERNEL = "gradcourse-learner"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Spanish lab 02: its first cell after the set-up builds the broadcast-axis picker (anywidget); English lab 04:
# matplotlib and the capstone's engine.
LABS = [("es", "lab02"), ("en", "lab04")]
INSTALL = {"en": 'This lab needs the course package: pip install "gradcourse[learner]" --find-links FOLDER',
           "es": 'Este laboratorio necesita el paquete del curso: pip install "gradcourse[learner]" '
                 '--find-links CARPETA'}


def run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """What `make dist` builds: the sdist, and the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    with writing_or_copying():
        run([sys.executable, "-m", "build", "--outdir", out, REPO])
    return out


@pytest.fixture(scope="module")
def learner(tmp_path_factory, wheelhouse):
    """An empty virtualenv with `gradcourse[learner]` and nothing else, its kernel registered inside it."""
    env = tmp_path_factory.mktemp("learner") / "venv"
    run([sys.executable, "-m", "venv", env])
    python = env / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "gradcourse[learner]", "--find-links", wheelhouse])
    run([python, "-m", "ipykernel", "install", "--prefix", env, "--name", KERNEL])
    installed = run([python, "-c", "import gradcourse; print(gradcourse.__file__)"], cwd=env).stdout
    assert Path(installed.strip()).is_relative_to(env), f"the kernel would import {installed}"
    return env


def download(lang, lab, folder: Path) -> Path:
    """The notebook the book's download button hands out: Sphinx copies the lab page's source,
    book/<lang>/labs/<lab>.ipynb, unchanged into _sources/, and the button links that copy."""
    folder.mkdir(parents=True)
    return Path(shutil.copy(REPO / "book" / lang / "labs" / f"{lab}.ipynb", folder / f"{lab}.ipynb"))


def solve(path: Path, lang, lab):
    """Fill every answer cell with the worked solution and save, as the learner's editor would."""
    nb = nbformat.read(path, as_version=4)
    solved = {c.id: c.source for c in nbformat.read(REPO / "solutions" / "labs" / lang / f"{lab}.ipynb", 4).cells}
    answers = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert answers
    for cell in answers:
        cell.source = solved[cell.id]
    nbformat.write(nb, path)
    return nb


def execute(nb, path: Path, env_dir: Path, monkeypatch):
    """Run the notebook with the learner's kernel, started as JupyterLab starts it."""
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(env_dir / "share" / "jupyter"))  # where the kernel spec is found
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "GRADCOURSE_LANG", "GRADCOURSE_STUDENT")}
    env.update(JPY_SESSION_NAME=str(path), IPYTHONDIR=str(env_dir.parent / "ipython"))
    client = NotebookClient(nb, timeout=120, kernel_name=KERNEL, resources={"metadata": {"path": str(path.parent)}})
    return client.execute(env=env)


def test_wheel_holds_what_the_labs_load(wheelhouse):
    (wheel,) = wheelhouse.glob("gradcourse-*-py3-none-any.whl")
    assert len(list(wheelhouse.glob("gradcourse-*.tar.gz"))) == 1
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    package = {p.relative_to(REPO).as_posix() for p in (REPO / "gradcourse").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert package - names == set(), "package files (code or data) missing from the wheel"
    assert {n for n in names if not n.startswith("gradcourse-")} <= package, "the wheel holds files from elsewhere"
    assert {"gradcourse/widgets/static/widgets/picker.js", "gradcourse/widgets/static/widgets/widgets.css"} <= names
    assert wheel.stat().st_size < 1_000_000
    extras = {m.group(2): set() for m in re.finditer(r"^Provides-Extra: ((\S+))$", metadata, re.M)}
    for name, extra in re.findall(r'^Requires-Dist: ([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?[^;\n]*; extra == "(\w+)"$',
                                  metadata, re.M):
        extras[extra].add(name.lower())
    assert extras == {"learner": {"numpy", "matplotlib", "ipykernel", "ipywidgets", "anywidget", "jupyterlab",
                                  "nbclient"},
                      "grader": {"gradcourse", "nbgrader", "sqlalchemy", "psycopg"}}  # gradcourse[learner] too
    # Jupyter's configuration for the environment it goes into: the server extension that saves widgets as a note.
    config = "gradcourse-0.1.0.data/data/etc/jupyter/jupyter_server_config.d/gradcourse.json"
    with zipfile.ZipFile(wheel) as z:
        assert z.read(config) == (REPO / "jupyter-config/jupyter_server_config.d/gradcourse.json").read_bytes()


def test_language_comes_from_the_running_notebook(tmp_path, monkeypatch):
    """JupyterLab names the notebook file in $JPY_SESSION_NAME; its metadata gives the language, wherever it is."""
    for var in ("GRADCOURSE_LANG", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    path = download("es", "lab02", tmp_path / "Downloads")
    monkeypatch.chdir(path.parent)
    assert notebook_language() == "en"          # the folder alone says nothing
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    assert notebook_language() == "es"
    assert notebook_language(tmp_path / "labs" / "en") == "en"   # an explicit folder is still read as before
    monkeypatch.setenv("GRADCOURSE_LANG", "en")
    assert notebook_language() == "en"


@pytest.mark.parametrize("lang,lab", LABS)
def test_a_lab_downloaded_from_the_book_runs_in_the_learner_install(learner, tmp_path, monkeypatch, lang, lab):
    monkeypatch.delenv("GRADCOURSE_LANG", raising=False)
    path = download(lang, lab, tmp_path / "Downloads")
    assert notebook_language(path.parent) == "en"  # only the notebook itself can say it is Spanish
    nb = execute(solve(path, lang, lab), path, learner, monkeypatch)

    checked = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        stdout = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert stdout == "", f"graded cell {cell.metadata['nbgrader']['grade_id']} is not silent: {stdout}"
        stubs = re.findall(r"^self_check\((\w+)\)", cell.source, re.M)
        if not stubs:
            continue
        expected = [c for stub in stubs for c in checks_for(stub)]
        lines = [ln for ln in stdout.splitlines() if ln[:1] in ("✓", "✗")]  # the cell may print more
        assert len(lines) == len(expected), stdout
        for line, check in zip(lines, expected):
            assert line.startswith(f"✓ {check.name} ") and line.endswith(check.title[lang]), line
        checked += len(expected)
    assert checked >= 3
    assert any(CHECKS[name].title["en"] != CHECKS[name].title["es"] for name in CHECKS)

    if lab == "lab02":
        picker = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "axis-picker")
        views = [o.data[WIDGET_VIEW] for o in picker.outputs
                 if o.output_type == "execute_result" and WIDGET_VIEW in o.data]
        assert len(views) == 1, picker.outputs
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert state[views[0]["model_id"]]["state"]["lang"] == lang


@pytest.mark.parametrize("lang,lab", LABS)
def test_without_the_package_the_first_cell_says_how_to_install_it(learner, wheelhouse, tmp_path, monkeypatch,
                                                                     lang, lab):
    from nbclient.exceptions import CellExecutionError

    python = learner / "bin" / "python"
    run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "gradcourse"])
    try:
        path = download(lang, lab, tmp_path / "Downloads")
        nb = nbformat.read(path, as_version=4)
        with pytest.raises(CellExecutionError):
            execute(nb, path, learner, monkeypatch)
    finally:
        (wheel,) = wheelhouse.glob("gradcourse-*.whl")
        run([python, "-m", "pip", "install", "--quiet", "--no-deps", wheel])

    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    stdout = "".join(o.text for o in first.outputs if o.output_type == "stream" and o.name == "stdout")
    assert INSTALL[lang] in stdout, stdout
    assert "restart the kernel" in stdout if lang == "en" else "reinicia el núcleo" in stdout
    (error,) = [o for o in first.outputs if o.output_type == "error"]
    assert (error.ename, error.evalue) == ("ModuleNotFoundError", "No module named 'gradcourse'")
    assert all(c.outputs == [] for c in code[1:]), "the notebook went on past its set-up"


def jupyter_env(env_dir: Path, home: Path) -> dict[str, str]:
    """The learner's virtualenv first on PATH, and Jupyter folders of its own (none of the user's config)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "GRADCOURSE_LANG",
                                                            "JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    return {**env, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}", "IPYTHONDIR": str(home / "ipython"),
            **{f"JUPYTER_{kind}_DIR": str(home / kind.lower()) for kind in ("CONFIG", "DATA", "RUNTIME")}}


def test_jupyterlab_of_the_learner_install_has_no_instructor_tools(learner, tmp_path):
    """No nbgrader, so no Formgrader, Create Assignment, Courses or Validate button (the course's validate replaces
    it); the course's server extension is on, and loads."""
    env = jupyter_env(learner, tmp_path)
    python, jupyter = learner / "bin" / "python", learner / "bin" / "jupyter"
    run([python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('nbgrader') is not None)"],
        env=env)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    listed = run([jupyter, "server", "extension", "list"], env=env)
    servers = ansi.sub("", listed.stdout + listed.stderr)
    assert "gradcourse.widgets.saving enabled" in servers and re.search(r"gradcourse\.widgets\.saving\s+OK", servers)
    labs = run([jupyter, "labextension", "list"], env=env)
    plugins = ansi.sub("", labs.stdout + labs.stderr)
    assert "@jupyter-widgets/jupyterlab-manager" in plugins and "anywidget" in plugins
    assert "nbgrader" not in (servers + plugins).lower()


def test_validate_in_the_learner_install(learner, tmp_path):
    """A half-solved Spanish lab from the book, in a folder whose name says no language: the learner's validate
    names the failing check with its whole hint, in Spanish, and exits 1; nbgrader is not there to help."""
    path = download("es", "lab00", tmp_path / "Downloads")
    nb = solve(path, "es", "lab00")
    (softmax,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("def softmax(")]
    softmax.source = "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"
    nbformat.write(nb, path)
    proc = subprocess.run([learner / "bin" / "python", "-m", "gradcourse.validate", path], capture_output=True,
                          text=True, cwd=path.parent, env=jupyter_env(learner, tmp_path))
    assert (proc.returncode, proc.stderr) == (1, ""), proc.stdout + proc.stderr
    assert "✗ softmax.large_logits: " in proc.stdout
    assert "¿restaste max(z) antes de exp?" in " ".join(proc.stdout.split())
    assert "LA VALIDACIÓN FALLA · lab00.ipynb: fallan 2 de 18" in proc.stdout
