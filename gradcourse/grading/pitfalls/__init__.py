"""The pitfall matrix, as data: every pitfall the chapters and labs name (rows) against every function a learner
writes (columns).

A cell holds either a :class:`Wrong` implementation (the function as a learner would write it with that mistake,
as source text; some are generated from the lab's own solution by a small wrapper, see :func:`derived`), which
must lose points, or :class:`NotApplicable` with the reason the mistake cannot occur in that function. Each
function also has honest implementations that differ from the lab's solution (another algorithm, a loop, einsum,
``np.logaddexp.reduce``...), which must keep every point.

``tests/labs/test_pitfalls.py`` runs the whole matrix through the checks and reports the mutation score. The
grader can use the same data to name a learner's misconception: evaluate the wrong implementations of the failing
function on the check's input and say which one the learner's output matches (:func:`load` gives callables).

The sources live in one module per lab (``lab00.py`` ... ``lab04.py``); this module holds the model.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .. import reference as ref


@dataclass(frozen=True)
class Pitfall:
    id: str
    en: str
    es: str
    named_in: str                   # where the course names it
    only: tuple = ()                # the functions it belongs to; () = any function


@dataclass(frozen=True)
class Function:
    stub: str
    lab: str
    signature: str                  # "z", "f, z, h=1e-5", ...
    returns: str                    # "array", "scalar", "tuple", "list" or "none"
    given: tuple                    # names the notebook defines before it (bound to reference code by load())


@dataclass(frozen=True)
class Wrong:
    how: str                        # what the implementation does wrong, in one line
    sources: tuple = ()             # one or more variants, each a whole definition of the function
    kind: str = ""                  # or: how to derive it from the lab's solution (a key of TEMPLATES)

    @property
    def generated(self) -> bool:
        return bool(self.kind)


@dataclass(frozen=True)
class NotApplicable:
    reason: str


PITFALLS: dict[str, Pitfall] = {}
FUNCTIONS: dict[str, Function] = {}
HONEST: dict[str, dict[str, str]] = {}
SOLUTION: dict[str, str] = {}       # the lab's own solution: honest, and the base of derived wrong implementations
MATRIX: dict[tuple[str, str], Wrong | NotApplicable] = {}
_PENDING: dict[tuple[str, str], Wrong] = {}


def pitfall(pid, en, es, named_in, only=()):
    PITFALLS[pid] = Pitfall(pid, en, es, named_in, tuple(only))


def function(stub, lab, signature, returns, given=("np",)):
    FUNCTIONS[stub] = Function(stub, lab, signature, returns, tuple(given))
    HONEST.setdefault(stub, {})


def honest(stub, name, src):
    HONEST[stub][name] = _clean(src)


def solution(stub, src):
    SOLUTION[stub] = _clean(src)
    HONEST[stub]["solution"] = SOLUTION[stub]


def wrong(how, *sources):
    return Wrong(how, tuple(_clean(s) for s in sources))


def derived(how, kind):
    return Wrong(how, (), kind)


def na(reason):
    return NotApplicable(reason)


def cells(stub, row: dict):
    for pid, cell in row.items():
        if pid not in PITFALLS:
            raise KeyError(f"{stub}: unknown pitfall {pid!r}")
        MATRIX[pid, stub] = cell


def _clean(src):
    return src.strip() + "\n"


# --------------------------------------------------------------------------- derived implementations

_EACH = '''
def _each(result, change):
    if isinstance(result, (tuple, list)):
        return type(result)(change(r) for r in result)
    return change(result)
'''

TEMPLATES = {
    "float32": "    return _each({call}, lambda r: np.asarray(r, dtype=np.float32))\n",
    "negate": "    return _each({call}, lambda r: -np.asarray(r))\n",
    "transpose": "    return _each({call}, lambda r: np.swapaxes(r, -1, -2) if np.ndim(r) >= 2 else r)\n",
    # the result is added into a buffer kept from call to call (per output and shape), never reset
    "accumulate": ("    result = {call}\n"
                   "    def add(i, r):\n"
                   "        r = np.array(r, dtype=float)\n"
                   "        key = (i, r.shape)\n"
                   "        _kept[key] = _kept[key] + r if key in _kept else r\n"
                   "        return _kept[key].copy()\n"
                   "    if isinstance(result, (tuple, list)):\n"
                   "        return type(result)(add(i, r) for i, r in enumerate(result))\n"
                   "    return add(0, result)\n"),
    # right result, then the argument is zeroed, as if it were the function's own gradient buffer
    "zero": ("    result = _each({call}, lambda r: np.array(r))\n"
             "    {arg}[...] = 0.0\n"
             "    return result\n"),
}


def derive(stub: str, kind: str) -> str:
    """The source of a wrong ``stub``: the lab's solution renamed, then a wrapper that makes the mistake."""
    fn = FUNCTIONS[stub]
    kind, _, arg = kind.partition(":")
    right = f"_right_{stub}"
    base = re.sub(rf"\bdef {stub}\(", f"def {right}(", SOLUTION[stub], count=1)
    args = ", ".join(p.split("=")[0].strip() for p in fn.signature.split(","))
    body = TEMPLATES[kind].format(call=f"{right}({args})", arg=arg)
    state = "_kept = {}\n\n\n" if kind == "accumulate" else ""
    return f"{base}\n{_EACH}\n\n{state}def {stub}({fn.signature}):\n{body}"


def variants(pid: str, stub: str) -> tuple:
    """The wrong sources of one cell (empty if not applicable)."""
    cell = MATRIX[pid, stub]
    if isinstance(cell, NotApplicable):
        return ()
    return (derive(stub, cell.kind),) if cell.kind else cell.sources


def wrong_implementations(stub: str) -> dict[str, tuple]:
    """{pitfall id: sources} for every applicable cell of ``stub``'s column."""
    return {pid: variants(pid, stub) for (pid, s) in MATRIX if s == stub and variants(pid, s)}


# --------------------------------------------------------------------------- loading

def _given(name):
    if name == "np":
        return np
    if name == "math":
        return math
    if name == "erf":
        return np.vectorize(math.erf, otypes=[float])
    return getattr(ref, name)


def load(stub: str, source: str, namespace: dict | None = None):
    """The function ``stub`` defined by ``source``, in a fresh namespace holding what its notebook gives it."""
    ns = {name: _given(name) for name in FUNCTIONS[stub].given}
    ns.update(namespace or {})
    exec(compile(source, f"<{stub}>", "exec"), ns)  # noqa: S102 - the course's own sources, in tests
    return ns[stub]


# --------------------------------------------------------------------------- the whole matrix

def complete() -> list[str]:
    """What is missing: a cell for every general pitfall and function, and for every specific one in its own
    functions; a reason for every cell that does not apply."""
    missing = []
    for pid, p in PITFALLS.items():
        for stub in FUNCTIONS:
            if p.only and stub not in p.only:
                continue
            cell = MATRIX.get((pid, stub))
            if cell is None:
                missing.append(f"{pid} x {stub}")
            elif isinstance(cell, NotApplicable) and not cell.reason.strip():
                missing.append(f"{pid} x {stub}: no reason")
            elif isinstance(cell, Wrong) and not (cell.sources or cell.kind):
                missing.append(f"{pid} x {stub}: no source")
    return missing


def table() -> str:
    """The matrix as a text table: one row per pitfall, one column per function; W written, G generated,
    - not applicable (blank: the pitfall belongs to other functions)."""
    stubs = list(FUNCTIONS)
    width = max(len(p) for p in PITFALLS) + 1
    lines = [" " * width + " ".join(f"{i:>2}" for i in range(len(stubs)))]
    for pid in PITFALLS:
        marks = []
        for stub in stubs:
            cell = MATRIX.get((pid, stub))
            marks.append(" " if cell is None else "-" if isinstance(cell, NotApplicable) else
                         "G" if cell.generated else "W")
        lines.append(f"{pid:<{width}}" + " ".join(f"{m:>2}" for m in marks))
    lines += [f"{i:>2} {stub} ({FUNCTIONS[stub].lab})" for i, stub in enumerate(stubs)]
    return "\n".join(lines)


def implementations() -> dict[str, dict[str, dict]]:
    """Learner implementations as data, for a fake class: stub name -> {"honest": {name: source}, "wrong": {pitfall
    id: (source, ...)}} with one wrong implementation per pitfall that has one."""
    return {stub: {"honest": dict(HONEST[stub]),
                   "wrong": {pid: sources[0] for pid, sources in wrong_implementations(stub).items()}}
            for stub in FUNCTIONS}


from . import rows, lab00, lab01, lab02, lab03, lab04, lab05  # noqa: E402,F401  (registration, in order)
