"""The red-team classes: adversarial and misbehaving submissions, each with the outcome it must get.

Lab 00 (English) holds the attacks on the grading pipeline itself; lab 05 (Spanish) the attacks whose outcome
depends on what the lab's functions take and return (three gradients each, from several arrays that a function could
write into). A submission starts from one of two bases: the lab's wrong base (every function returns plausible but
wrong values, so any point it gets is undeserved) or honest (the reference solutions, so it must keep every
automatic point whatever else its notebook does). The attack adds a cell, replaces a function, drops files beside
the notebook or breaks the file itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from gradcourse.grading import pitfalls

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
    expect: str  # ZERO: no automatic point; FULL: every automatic point; or lose(...): all but those checks' points
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
    build: Callable[[], dict] | None = None  # computes more of `replace` when the class is built (it costs time)


def lose(*names: str) -> str:
    """The outcome of an attack that loses exactly the points of these stubs (all their checks) or checks."""
    return "lose:" + ",".join(names)


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


@dataclass(frozen=True)
class Lab:
    """One red-team class: a released assignment, its wrong base, its attackers and its honest students."""

    assignment: str  # as released, e.g. "lab00-en"
    wrong: dict  # stub -> plausible wrong source: the base of the attacks that must not earn a point
    attacks: list
    honest: dict  # students graded alone before the attackers: id -> {stub: source} over the lab's solution
    controls: dict  # honest students graded among the attackers (sorted ids share processes), likewise
    batch_seconds: float  # its share of the stated bound for the attackers' batch (every class's, in one run)

    @property
    def notebook(self) -> str:
        return f"{self.assignment.split('-')[0]}.ipynb"


# Each class's share of the attackers' batch: what the test limits allow each misbehaving notebook, with room for a
# loaded machine (measured for lab 00 alone: about 210 s on 2 cores). A grader that hung on one submission would
# blow it.
LAB00 = Lab("lab00-en", WRONG, ATTACKS, {"h-ana": {}, "h-bruno": {}}, {c: {} for c in CONTROLS}, 900)


# == lab 05, in Spanish: the attacks whose outcome depends on the lab's functions ===============================
# layernorm_backward and attention_backward take several arrays and return three gradients each: more to lie about
# (three arrays, their shapes and dtypes) and more arrays to write into.

LN, ATTN = "layernorm_backward", "attention_backward"

WRONG_LAB05 = {
    # the normalisation taken for a constant (no mean or variance term), x for xhat, a mean for a sum
    LN: "def layernorm_backward(x, gamma, dy, eps=1e-5):\n"
        "    leading = tuple(range(x.ndim - 1))\n"
        "    r = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)\n"
        "    return gamma * dy * r, (dy * x).sum(axis=leading), dy.mean(axis=leading)\n",
    # the softmax forgotten: dS = dP, and uniform weights for dV
    ATTN: "def attention_backward(Q, K, V, dO, causal=False):\n"
          "    scale = 1.0 / np.sqrt(Q.shape[-1])\n"
          "    dS = dO @ np.swapaxes(V, -1, -2) * scale\n"
          "    dV = np.broadcast_to(dO.mean(axis=-2, keepdims=True), V.shape).copy()\n"
          "    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV\n",
}
SIGNATURE = {LN: "x, gamma, dy, eps=1e-5", ATTN: "Q, K, V, dO, causal=False"}
ARGS = {LN: "x, gamma, dy, eps", ATTN: "Q, K, V, dO, causal"}


def _renamed(stub: str, source: str, name: str) -> str:
    return source.replace(f"def {stub}(", f"def {name}(", 1)


def on_wrong(stub: str, body: str) -> str:
    """`stub` with this body, which may call `wrong_<stub>` (the wrong base under another name)."""
    return (_renamed(stub, WRONG_LAB05[stub], f"wrong_{stub}") + f"\n\ndef {stub}({SIGNATURE[stub]}):\n" + body)


def on_right(stub: str, body: str) -> str:
    """`stub` with this body, which may call `right_<stub>` (the lab's solution under another name)."""
    return (_renamed(stub, pitfalls.SOLUTION[stub], f"right_{stub}") + f"\n\ndef {stub}({SIGNATURE[stub]}):\n"
            + body)


IMPOSTOR = '''
class Impostor:
    """Says it is a float64 ndarray of the right shape that equals anything; as numbers, it is the wrong base."""

    __array_priority__ = 10**6
    __hash__ = None

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)
        self.shape, self.ndim, self.size, self.dtype = (self.values.shape, self.values.ndim, self.values.size,
                                                        self.values.dtype)

    @property
    def __class__(self):
        return np.ndarray

    def __array__(self, dtype=None, copy=None):
        return self.values

    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __ne__(self, other):
        return np.zeros(self.shape, dtype=bool)

    def __sub__(self, other):
        return np.zeros(self.shape)

    __rsub__ = __sub__

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(self.shape)

    def __array_function__(self, func, types, args, kwargs):
        return True
'''

BOOM = '''
class Boom:
    """Says it is an ndarray; every way of reading it raises what `except Exception` does not catch."""

    __hash__ = None

    @property
    def __class__(self):
        return np.ndarray

    def __array__(self, dtype=None, copy=None):
        raise KeyboardInterrupt

    def __eq__(self, other):
        raise SystemExit(0)

    def __len__(self):
        raise GeneratorExit

    def __iter__(self):
        raise SystemExit(1)

    def __repr__(self):
        raise SystemExit(2)
'''

BORROW = '''
import glob, os, sys

borrowed = []
import gradcourse.grading.reference as stand_in  # what the course puts in place of its package
borrowed.append(stand_in)
# the real package, once the finder of the stand-ins is out of the way
sys.meta_path = [finder for finder in sys.meta_path if type(finder).__name__ != "CourseStub"]
for name in [m for m in sys.modules if m == "gradcourse" or m.startswith("gradcourse.")]:
    del sys.modules[name]
try:
    import gradcourse.grading.reference as real
    borrowed.append(real)
except Exception as exc:
    print("no import:", type(exc).__name__, exc)
# its file, wherever a copy can be read: beside the grader's own files, on sys.path, where an editable install points
roots = {p for p in sys.path if p}
if "wire" in sys.modules:
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["wire"].__file__))))
for module in list(sys.modules.values()):
    if isinstance(getattr(module, "MAPPING", None), dict):
        roots.update(os.path.dirname(str(p)) for p in module.MAPPING.values())
for root in sorted(roots):
    for path in glob.glob(f"{root}/gradcourse/grading/reference.py") + glob.glob(f"{root}/grading/reference.py"):
        copy = type(sys)("copy")
        copy.np = np
        try:
            exec(open(path).read().replace("from . import fd", "fd = None"), copy.__dict__)
        except Exception as exc:
            print(path, type(exc).__name__)
            continue
        borrowed.append(copy)
print("borrowed from:", [getattr(b, "__file__", b.__name__) for b in borrowed])


def borrow(stub, *args):
    for module in borrowed:
        try:
            out = getattr(module, stub)(*args)
        except Exception:
            continue
        if out is not None:
            return out
    return None
'''

SNOOP = '''
import glob, os, sys

here = os.path.dirname(os.path.abspath(sys.modules["wire"].__file__)) if "wire" in sys.modules else "/tmp"
wanted = ["../../source/*/*.ipynb", "../../../source/*/*.ipynb", "../../.gradcourse-secret",
          "../../../.gradcourse-secret", "/input/*", f"{here}/../grading/checks/lab05.py",
          f"{here}/../../grader/.gradcourse-secret", f"{here}/../../grader/source/*/*.ipynb"]
for top in ("/tmp", "/work", "/root", "/home", "/srv", "/opt", "/run", "/var"):
    wanted += [top + "/*" * depth + "/.gradcourse-secret" for depth in range(4)]
    wanted += [top + "/*" * depth + "/source/lab05-*/lab05.ipynb" for depth in range(3)]
for pattern in wanted:
    for path in glob.glob(pattern):
        try:
            print(path, open(path).read()[:3000])
        except OSError as exc:
            print(path, exc)
'''

INPUT_KEY = '''
import hashlib


def input_key(args):
    """A hash of the arguments: each array's dtype, shape and bytes, or the repr of anything else."""
    digest = hashlib.sha256()
    for a in args:
        if isinstance(a, np.ndarray):
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(np.ascontiguousarray(a).tobytes())
        else:
            digest.update(repr(a).encode())
    return digest.hexdigest()
'''


@functools.cache
def public_answers() -> dict:
    """layernorm_backward and attention_backward that look their answer up in a table of every public input of the
    lab's checks, keyed on the arguments' bytes (as they arrive over the grader's channel), and are the wrong base
    on anything else: right on all the inputs a learner can see, wrong on their hidden ones. The table is what the
    reference answers when the checks run with the public seed, as a learner could record it from the self-checks."""
    import numpy as np

    from gradcourse.grading import reference
    from gradcourse.grading.checks import PUBLIC_SEED, checks_for, run_check

    keys = {"np": np}
    exec(INPUT_KEY, keys)  # noqa: S102 - the key the attacker's notebook computes, computed the same way here
    table = {}

    def recorder(stub):
        def record(*args):
            out = getattr(reference, stub)(*args)
            table[keys["input_key"](args)] = [(g.shape, np.asarray(g, dtype="<f8").tobytes().hex()) for g in out]
            return out
        record.__name__ = stub
        return record

    for stub in (LN, ATTN):
        for check in checks_for(stub):
            assert run_check(check.name, recorder(stub), PUBLIC_SEED).passed, check.name
    lookup = INPUT_KEY + f"\nANSWERS = {table!r}\n" + (
        "\n\ndef answer(args):\n    hit = ANSWERS.get(input_key(args))\n"
        "    return hit and tuple(np.frombuffer(bytes.fromhex(h), '<f8').reshape(s).copy() for s, h in hit)\n\n\n")
    # *args: the key is that of the arguments as the checks pass them (eps given or not)
    return {stub: (lookup if stub == LN else "") + _renamed(stub, WRONG_LAB05[stub], f"wrong_{stub}")
            + f"\n\ndef {stub}(*args):\n    return answer(args) or wrong_{stub}(*args)\n"
            for stub in (LN, ATTN)}


ATTACKS_LAB05 = [
    # -- rewriting the world the tests run in: the comparisons the checks would use ---------------------------
    Attack("patch-comparisons", "wrong", ZERO, cell=(
        "import numpy.testing as nt\n"
        "np.allclose = np.array_equal = np.array_equiv = lambda *a, **k: True\n"
        "np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)\n"
        "np.isfinite = lambda a, *r, **k: np.ones(np.shape(a), dtype=bool)\n"
        "nt.assert_allclose = nt.assert_array_equal = nt.assert_array_almost_equal = lambda *a, **k: None\n")),
    # -- lying return values: three gradients to lie about ----------------------------------------------------
    Attack("array-impostor", "wrong", ZERO, cell=IMPOSTOR, replace={
        stub: on_wrong(stub, f"    return tuple(Impostor(g) for g in wrong_{stub}({ARGS[stub]}))\n")
        for stub in (LN, ATTN)}),
    Attack("raising-array-protocol", "honest", lose(ATTN), cell=BOOM, replace={
        ATTN: "def attention_backward(Q, K, V, dO, causal=False):\n    return Boom(), Boom(), Boom()\n"}),
    Attack("exotic-dtypes", "honest", lose(LN, ATTN), replace={  # values right, dtypes np.allclose accepts
        LN: on_right(LN, f"    return tuple(g.astype(np.complex128) for g in right_{LN}({ARGS[LN]}))\n"),
        ATTN: on_right(ATTN, f"    return tuple(g.astype(np.longdouble) for g in right_{ATTN}({ARGS[ATTN]}))\n")}),
    # values right, shapes that broadcast against the expected ones: (1, D) for (D,), a leading axis of size 1
    Attack("broadcastable-shapes", "honest", lose(f"{LN}.params", f"{LN}.leading_axes", f"{LN}.eps",
                                                  f"{LN}.no_mutation", ATTN), replace={
        LN: on_right(LN, f"    dx, dgamma, dbeta = right_{LN}({ARGS[LN]})\n"
                         "    return dx, dgamma.reshape(1, -1), dbeta.reshape(1, -1)\n"),
        ATTN: on_right(ATTN, f"    return tuple(g[np.newaxis] for g in right_{ATTN}({ARGS[ATTN]}))\n")}),
    Attack("huge-outputs", "honest", lose(LN), replace={  # views of 2**40 entries that take no memory here
        LN: on_right(LN, f"    dx, dgamma, dbeta = right_{LN}({ARGS[LN]})\n"
                         "    return (np.broadcast_to(dx[..., None], dx.shape + (2**40,)),\n"
                         "            np.broadcast_to(dgamma, (2**40,) + dgamma.shape), dbeta)\n")}),
    # -- the arguments: written into so that zero becomes the right answer ----------------------------------------
    Attack("zero-the-upstream", "wrong", ZERO, replace={
        LN: "def layernorm_backward(x, gamma, dy, eps=1e-5):\n    dy[...] = 0.0\n"
            "    return np.zeros(x.shape), np.zeros(x.shape[-1]), np.zeros(x.shape[-1])\n",
        ATTN: "def attention_backward(Q, K, V, dO, causal=False):\n    dO[...] = 0.0\n    V[...] = 0.0\n"
              "    return np.zeros(Q.shape), np.zeros(K.shape), np.zeros(V.shape)\n"}),
    # -- answers from elsewhere: the course's reference, its hidden checks, a table of the public inputs ----------
    Attack("borrow-the-reference", "wrong", ZERO, cell=BORROW, replace={
        stub: on_wrong(stub, f"    return borrow('{stub}', {ARGS[stub]}) or wrong_{stub}({ARGS[stub]})\n")
        for stub in (LN, ATTN)}),
    Attack("read-hidden-checks", "wrong", ZERO, cell=SNOOP),
    Attack("public-answers-table", "wrong", ZERO, build=public_answers),
]

LAB05 = Lab(
    "lab05-es", WRONG_LAB05, ATTACKS_LAB05,
    honest={"h-ana": {}, "h-bruno": {LN: pitfalls.HONEST[LN]["jacobian_rows"],
                                     ATTN: pitfalls.HONEST[ATTN]["loop_over_heads"]}},
    controls={"x-c-honest-control": {},
              "x-s-honest-control": {LN: pitfalls.HONEST[LN]["flat_rows"],
                                     ATTN: pitfalls.HONEST[ATTN]["rowdot_from_output"]}},
    batch_seconds=300)  # measured: about 60 s for its 13 submissions on 2 loaded cores

LABS = [LAB00, LAB05]
