"""The red-team class: adversarial and misbehaving submissions of lab 00, each with the outcome it must get.

A submission starts from one of two bases: ``WRONG`` (every function returns plausible but wrong values, so any
point it gets is undeserved) or ``HONEST`` (the reference solutions, so it must keep every automatic point
whatever else its notebook does). The attack adds a cell, replaces a function, drops files beside the notebook
or breaks the file itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WRONG = {
    "softmax": "def softmax(z):\n    return np.ones_like(z) / np.shape(z)[-1]\n",
    "softmax_jacobian": "def softmax_jacobian(z):\n    return np.eye(len(z)) * 0.1\n",
    "jacobian_fd": "def jacobian_fd(f, z, h=1e-5):\n    return np.zeros((len(f(z)), len(z)))\n",
    "grad_fd": "def grad_fd(f, z, h=1e-5):\n    return np.zeros_like(z)\n",
    "ce_loss": "def ce_loss(z, y):\n    return 0.0\n",
    "ce_grad": "def ce_grad(z, y):\n    return np.zeros_like(z)\n",
}

ZERO, FULL = "zero", "full"
NOT_GRADED = "not-graded"  # no grade at all: listed by the CLI, which exits non-zero; no automatic point


@dataclass
class Attack:
    name: str
    base: str  # "wrong" or "honest"
    expect: str  # ZERO: no automatic point; FULL: every automatic point; or "lose:<stub>"
    cell: str = ""  # added right after the set-up cell
    repeat: int = 1  # how many copies of that cell
    replace: dict = field(default_factory=dict)  # stub -> source
    files: dict = field(default_factory=dict)  # name -> text, beside the notebook
    raw: bytes | None = None  # the notebook file itself
    kernelspec: dict | None = None
    link_to: str = ""  # the notebook is a symbolic link to this path, relative to the course folder
    markdown: str = ""  # a markdown cell added after the set-up cell
    markdown_meta: dict | None = None  # ... with this cell metadata
    patch_meta: dict = field(default_factory=dict)  # grade_id -> keys merged into that cell's nbgrader metadata
    delete: tuple = ()  # grade_ids of cells removed from the notebook
    duplicate: str = ""  # grade_id of a cell copied, metadata and all, right below itself (as Jupyter's copy does)


ATTACKS = [
    # -- rewriting the world the tests run in ---------------------------------------------------------------
    Attack("patch-allclose", "wrong", ZERO, cell=(
        "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)\n"
        "np.array_equal = lambda *a, **k: True\n")),
    Attack("patch-testing", "wrong", ZERO, cell=(
        "import numpy.testing as nt\nnt.assert_allclose = lambda *a, **k: None\n"
        "nt.assert_array_almost_equal = lambda *a, **k: None\n")),
    Attack("ast-transformer", "wrong", ZERO, cell=(
        "import ast\n"
        "class NoTests(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n        return ast.Pass()\n"
        "    def visit_Expr(self, node):\n"
        "        if isinstance(node.value, ast.Call) and getattr(node.value.func, 'id', '') == 'grade':\n"
        "            return ast.Pass()\n        return node\n"
        "get_ipython().ast_transformers.append(NoTests())\n")),
    Attack("input-transformer", "wrong", ZERO, cell=(
        "def blank(lines):\n    return ['pass\\n'] if any('grade(' in l for l in lines) else lines\n"
        "get_ipython().input_transformers_post.append(blank)\n")),
    Attack("pre-run-cell-hook", "wrong", ZERO, cell=(
        "import gradcourse.grading.checks as C\n"
        "def rig(info):\n    C.grade = lambda *a, **k: None\n"
        "get_ipython().events.register('pre_run_cell', rig)\n")),
    Attack("patch-grade", "wrong", ZERO, cell=(
        "import gradcourse.grading.checks as C\nC.grade = lambda *a, **k: None\n"
        "C.run_check = lambda name, *a, **k: C.Result(name, True, 1.0, 1.0, 'ok')\n")),
    Attack("silence-tracebacks", "wrong", ZERO, cell=(
        "import sys, io\nget_ipython().showtraceback = lambda *a, **k: None\n"
        "sys.excepthook = lambda *a: None\nsys.stderr = io.StringIO()\n")),
    Attack("redefine-np-exp", "wrong", ZERO, cell="np.exp = lambda x: np.ones_like(x)\n"),
    Attack("redefine-fd-helper", "wrong", ZERO, cell=(
        "import gradcourse.grading.fd as F\nF.jacobian = lambda f, z, h=1e-5: np.eye(len(z)) * 0.1\n"
        "F.gradient = lambda f, z, h=1e-5: np.zeros_like(z)\n")),
    Attack("detect-grader", "wrong", ZERO, cell=(
        "import os\nif 'NBGRADER_EXECUTION' in os.environ or 'autograded' in os.getcwd():\n"
        "    import gradcourse.grading.checks as C\n    C.grade = lambda *a, **k: None\n")),
    # -- lying return values ---------------------------------------------------------------------------------
    Attack("lying-eq", "wrong", ZERO, replace={"softmax": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n    __array_priority__ = 1000\n"
        "    def __array__(self, dtype=None, copy=None):\n        return np.full(3, 1 / 3)\n"
        "def softmax(z):\n    return Yes()\n")}),
    Attack("ndarray-subclass", "wrong", ZERO, replace={"softmax": (
        "class Agree(np.ndarray):\n"
        "    def __array_ufunc__(self, ufunc, method, *inputs, **kw):\n        return np.zeros(self.shape)\n"
        "def softmax(z):\n    return np.zeros(np.shape(z)).view(Agree)\n")}),
    Attack("nan-answers", "wrong", ZERO, replace={s: src.replace("return ", "return np.nan * ", 1)
                                                   for s, src in WRONG.items() if s != "jacobian_fd"}),
    Attack("string-dtype", "wrong", ZERO,
           replace={"softmax": "def softmax(z):\n    return np.array(['1.0'] * len(z))\n"}),
    Attack("wrong-shape", "wrong", ZERO, replace={"softmax": "def softmax(z):\n    return np.zeros(1)\n"}),
    # -- files beside the notebook ---------------------------------------------------------------------------
    Attack("numpy-py", "wrong", ZERO, files={"numpy.py": (
        "import importlib, sys\ndel sys.modules['numpy']\nsys.path = [p for p in sys.path if p not in ('', '.')]\n"
        "real = importlib.import_module('numpy')\nreal.allclose = lambda *a, **k: True\n"
        "sys.modules['numpy'] = real\n")}),
    Attack("sitecustomize-py", "wrong", ZERO, files={
        "sitecustomize.py": "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n",
        "usercustomize.py": "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n",
        "evil.pth": "import os; os.environ['PWNED'] = '1'\n"}),
    # -- looking where it should not ---------------------------------------------------------------------------
    Attack("read-source", "wrong", ZERO, cell=(
        "import glob\nfor p in glob.glob('../../source/*/*.ipynb') + glob.glob('../../../source/*/*.ipynb'):\n"
        "    print(open(p).read())\n")),
    Attack("read-others", "wrong", ZERO, cell=(
        "import glob\nfor p in glob.glob('../../../submitted/*/*/*.ipynb') + glob.glob('../../*/*/*.ipynb'):\n"
        "    print(p, open(p).read()[:1000])\n")),
    Attack("read-environment", "wrong", ZERO, cell="import os\nprint(dict(os.environ))\nprint(os.listdir('/'))\n"),
    Attack("write-gradebook", "wrong", ZERO, cell=(
        "import glob, sqlite3\nfor p in glob.glob('../../gradebook.db') + glob.glob('../../../gradebook.db'):\n"
        "    con = sqlite3.connect(p)\n    con.execute('update grade set auto_score = max_score')\n"
        "    con.commit()\n")),
    Attack("write-other-student", "wrong", ZERO, cell=(
        "import glob\nfor p in glob.glob('../../../submitted/h-*/*/*.ipynb') + glob.glob('../../h-*/*/*.ipynb'):\n"
        "    open(p, 'w').write('{}')\n")),
    Attack("network", "honest", FULL, cell=(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 8888), timeout=3)\nexcept OSError as e:\n"
        "    print('no network', e)\n")),
    # -- misbehaving code: the honest part keeps its points -----------------------------------------------------
    Attack("busy-loop", "honest", FULL, cell="while True:\n    pass\n"),
    Attack("sigint-ignoring-loop", "honest", FULL, cell=(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n")),
    Attack("sleeping-loop", "honest", FULL, cell="import time\nwhile True:\n    time.sleep(1000)\n"),
    Attack("memory-bomb", "honest", FULL, cell="hog = []\nwhile True:\n    hog.append(bytearray(2**26))\n"),
    Attack("fork-bomb", "honest", FULL, cell=(
        "import os\nfor _ in range(10_000):\n    try:\n        if os.fork() == 0:\n"
        "            import time; time.sleep(60)\n    except OSError:\n        break\n")),
    Attack("disk-fill", "honest", FULL, cell=(
        "with open('big.bin', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(b'0' * 2**20)\n")),
    Attack("huge-output-line", "honest", FULL, cell="print('x' * 50_000_000)\n"),
    Attack("os-exit", "honest", FULL, cell="import os\nos._exit(0)\n"),
    Attack("segfault", "honest", FULL, cell="import ctypes\nctypes.string_at(0)\n"),
    Attack("sys-exit", "honest", FULL, cell="import sys\nsys.exit(3)\n"),
    Attack("warns-on-stderr", "honest", FULL, cell=(
        "import warnings, sys\nwarnings.warn('an honest warning')\nprint('to stderr', file=sys.stderr)\n")),
    Attack("cells-just-under-the-limit", "honest", FULL, cell="import time\ntime.sleep(1.8)\n", repeat=6),
    Attack("hanging-function", "honest", "lose:softmax_jacobian", replace={
        "softmax_jacobian": "def softmax_jacobian(z):\n    while True:\n        pass\n"}),
    Attack("exiting-function", "honest", "lose:ce_loss", replace={
        "ce_loss": "def ce_loss(z, y):\n    import os\n    os._exit(1)\n"}),
    Attack("foreign-kernelspec", "honest", FULL,
           kernelspec={"name": "evil", "display_name": "Evil", "language": "python"}),
    Attack("malformed-json", "honest", NOT_GRADED, raw=b'{"cells": [ this is not json'),
    # -- a fresh red team's attacks (2026-11): other students, the grader's process, the instructor's browser ----
    Attack("thread-hog", "honest", FULL, cell=(
        "import threading, time\n"
        "def hold():\n    time.sleep(60)\n"
        "try:\n    while True:\n        threading.Thread(target=hold, daemon=True).start()\n"
        "except RuntimeError:\n    pass\n")),
    Attack("sleep-on-replay", "wrong", ZERO, cell=(
        "import time\nif get_ipython().execution_count == 1:\n    time.sleep(14)\n"), repeat=4,
        replace={"softmax": "def softmax(z):\n    import os\n    os._exit(0)\n"}),
    Attack("frame-announcing-2gib", "wrong", ZERO, cell=(
        "import os, struct\nfor fd in range(3, 32):\n    try:\n        os.write(fd, struct.pack('>I', 2**31))\n"
        "    except OSError:\n        pass\n")),
    Attack("frame-lying-about-its-shape", "wrong", ZERO, cell=(
        "import os, struct, json\n"
        "head = json.dumps({'desc': {'a': 0, 'scalar': False}, 'arrays': [{'dtype': '<f8', 'shape': [10**9], "
        "'offset': 0, 'nbytes': 8}]}).encode()\n"
        "body = struct.pack('>I', len(head)) + head + bytes(8)\n"
        "for fd in range(3, 32):\n    try:\n        os.write(fd, struct.pack('>I', len(body)) + body)\n"
        "    except OSError:\n        pass\n")),
    Attack("huge-answer", "honest", "lose:ce_grad", replace={
        "ce_grad": "def ce_grad(z, y):\n    return np.zeros(9 * 10**6)\n"}),
    Attack("huge-callback-arguments", "honest", "lose:jacobian_fd", replace={
        "jacobian_fd": "def jacobian_fd(f, z, h=1e-5):\n    f(np.zeros(10**6))\n"
                       "    return np.zeros((len(z), len(z)))\n"}),
    Attack("list-valued-html", "honest", FULL, cell=(
        "from IPython.display import display\n"
        "display({'text/html': ['<b>x</b>' * 1000] * 20000, 'text/plain': 'x'}, raw=True)\n")),
    Attack("metadata-bomb", "honest", FULL, cell=(
        "from IPython.display import display\n"
        "display({'text/plain': 'x'}, metadata={'k': 'x' * 30_000_000}, raw=True)\n")),
    Attack("many-outputs", "honest", FULL, cell="for i in range(20_000):\n    display(i)\n"),
    Attack("script-in-outputs", "honest", FULL, cell=(
        "from IPython.display import HTML, Javascript, display\n"
        "display(HTML('<script>document.title = \"PWNED\"</script><img src=x onerror=\"document.title=1\">'))\n"
        "display(Javascript('document.title = \"PWNED\"'))\n"),
        markdown="<script>document.title = 'PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"),
    Attack("symlink-to-solved-source", "wrong", NOT_GRADED, link_to="source/lab00-en/lab00.ipynb"),
    Attack("symlink-to-another-student", "wrong", NOT_GRADED, link_to="submitted/h-ana/lab00-en/lab00.ipynb"),
    Attack("list-grade-id", "honest", FULL, markdown="a written answer", markdown_meta={"nbgrader": {
        "grade_id": ["a", "b"], "grade": True, "solution": True, "points": 1, "schema_version": 3}}),
]

# -- a second independent red team (2026-12): CPU, nbgrader's own steps, the CLI's reading of the log ------------
ATTACKS += [
    Attack("cpu-burn-in-background", "honest", FULL, cell=(
        "import os\nfor _ in range(31):\n    try:\n        if os.fork() == 0:\n            os.setsid()\n"
        "            while True:\n                pass\n    except OSError:\n        break\n")),
    Attack("schema-version-4", "honest", FULL, patch_meta={"softmax": {"schema_version": 4}}),
    Attack("fake-log-lines-in-outputs", "honest", FULL, cell=(
        "import sys\nsys.modules['shell'].outputs.append({'output_type': 'display_data', 'metadata': {}, 'data': "
        "{'text/plain': ['[AutogradeApp | INFO] Sanitizing /x/submitted/x-c-honest-control/lab00-en/lab00.ipynb', "
        "5]}})\n")),
    Attack("malformed-error-output", "honest", FULL, cell=(
        "import sys\nsys.modules['shell'].outputs.append({'output_type': 'error', 'ename': 'x', 'evalue': 'y', "
        "'traceback': 5})\n")),
    Attack("copied-answer-cell", "honest", FULL, duplicate="softmax"),
]

# -- a third red team (2026-12): forcing "not graded" to keep an earlier, better grade ----------------------------
ATTACKS += [
    Attack("cell-too-large-to-send", "honest", "lose:ce_grad", replace={
        "ce_grad": "def ce_grad(z, y):\n    return None\n#" + "x" * (5 * 1024 * 1024) + "\n"}),
    Attack("flag-flipped-on-given-cell", "wrong", ZERO, patch_meta={"setup": {"solution": True}}),
    Attack("flag-flipped-on-test-cell", "honest", FULL, patch_meta={"check-softmax-values": {"grade": False}}),
    Attack("points-raised-on-answer-cell", "wrong", ZERO, patch_meta={"softmax": {"grade": True, "points": 50}}),
    # a fourth look: an answer cell deleted with the test after it made nbgrader fail; a lone surrogate crashed
    Attack("answer-and-the-test-after-it-deleted", "honest", "lose:ce_grad",
           delete=("ce_grad", "check-ce-loss-values")),
    Attack("lone-surrogate", "honest", FULL, cell="x = 'SURROGATE'\n"),
]

# Honest students graded in the same batch as the attackers, spread among them (sorted ids share processes):
# each must keep exactly the score it gets alone.
CONTROLS = [f"x-{letter}-honest-control" for letter in "cmsz"]
