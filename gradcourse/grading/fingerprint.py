"""Naming the mistake: which known pitfall a failing learner's function reproduces.

While a check runs, every call of the learner's function is recorded (:func:`recording`, fed by
:func:`checks.core.call <gradcourse.grading.checks.core.call>`): a copy of the arguments as they went in, what came
back (a value or an exception), and the arguments as the call left them. When the check fails, :func:`identify`
replays the wrong implementations of the pitfall matrix (:mod:`.pitfalls`) on copies of the same arguments, in this
process. Only the course's own sources run here, on the grader's own inputs: the learner's code is never called
again, and while grading it is never in this process at all (their values came back over the sandbox's wire).

A pitfall is named only when it is specific: that pitfall behaves exactly like the learner's function on *every*
recorded call of the check (same outcome, same dtype, same values within :data:`RTOL`, same changes to the
arguments where the check watches them), the lab's own solution does not, and no other pitfall does either. A
wrong answer that merely fails therefore keeps the check's generic hint (``tests/labs/test_fingerprint.py`` tries
wrong implementations that are not in the matrix).

The accumulating implementations (a buffer kept across calls) are left out: what they return depends on every
earlier call in the learner's kernel, which the grader cannot replay.
"""
from __future__ import annotations

import contextlib
import copy
import functools
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from ..lang import tr

RTOL = 1e-6     # a replayed pitfall and the learner's code compute the same formula in another order:
ATOL = 1e-9     # rounding apart, they agree far better than this; a different mistake is far outside it
MAX_CALLS = 64  # a check makes a few dozen calls at most; beyond that nothing more is kept
STATEFUL = ("accumulate",)  # generated kinds whose result depends on earlier calls (see the module docstring)
# Two cells of the matrix that are one mistake in one function: no input can tell them apart (in getitem_backward,
# a loop that assigns keeps the same contribution of a repeated index as `out[index] = grad`), so a match of both
# names the first.
SAME_MISTAKE = {("getitem_backward", "set_not_accumulated"): "assignment_not_add_at"}

_calls: ContextVar[list | None] = ContextVar("gradcourse_fingerprint_calls", default=None)


@dataclass
class Call:
    args: tuple                         # the arguments as they went in (arrays copied)
    watched: bool = False               # the check judges what the call does to its arrays
    seen: tuple | None = None           # what the learner's function did: see returned() and raised()


@contextlib.contextmanager
def recording():
    """Record the learner's calls made inside the block; yields the list they go to."""
    calls: list[Call] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def before(args, watched=False) -> Call | None:
    """Just before the learner's function is called: keep a copy of its arguments (None when nothing records)."""
    calls = _calls.get()
    if calls is None or len(calls) >= MAX_CALLS:
        return None
    call = Call(tuple(_snapshot(a) for a in args), watched)
    calls.append(call)
    return call


def returned(call: Call | None, args, value) -> None:
    if call is not None:
        try:
            call.seen = ("returned", _value(value), _after(args, call.watched))
        except Exception:  # noqa: BLE001 - a value no comparison can read (in a learner's own kernel): no evidence
            call.seen = None


def raised(call: Call | None, args, exc_name: str, text: str) -> None:
    if call is not None:
        call.seen = ("raised", exc_name, text)


# ------------------------------------------------------------------------------------------ what a call did

def _is_node(obj) -> bool:
    """A node of lab 04's engine (the same test as scoring/graph.py, which grading must not import)."""
    return all(hasattr(obj, attr) for attr in ("data", "grad", "parents", "op"))


def _nodes(root) -> list:
    """Every node reachable from ``root``, each once, parents first."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node.parents))
    return order


def _snapshot(arg):
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, (tuple, list)):
        return type(arg)(_snapshot(a) for a in arg)
    return arg          # numbers, shapes, None; a graph or a function of the grader's is re-made at replay


def _array(value):
    """A comparable form of one value: ('array', kind, itemsize, float64 array) or ('other',)."""
    try:
        raw = np.asarray(value)
        kind = "i" if raw.dtype.kind == "u" else raw.dtype.kind
        if kind not in "bif":
            return ("other",)
        return ("array", kind, raw.dtype.itemsize if kind == "f" else 0, np.array(raw, dtype=np.float64))
    except Exception:  # noqa: BLE001 - whatever the value does, it is no evidence
        return ("other",)


def _value(value):
    if value is None:
        return ("none",)
    if isinstance(value, (tuple, list)):
        try:
            return ("seq", tuple(_value(v) for v in value))
        except Exception:  # noqa: BLE001 - a sequence of the learner's that cannot be walked
            return ("other",)
    return _array(value)


def _after(args, watched: bool) -> tuple:
    """What the call left in its arguments: a graph's gradients (lab 04's result), and, when the check watches
    them, the arrays (a mutation shows). An unwatched call got copies: what it did to them is not part of the
    verdict, and may come from another of the learner's functions it calls (softmax_jacobian calls their
    softmax)."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and watched:
            out.append(_array(a))
        elif _is_node(a):
            try:
                out.append(("grads", tuple(_array(n.grad) for n in _nodes(a))))
            except Exception:  # noqa: BLE001 - a graph the learner's code damaged
                out.append(("other",))
        else:
            out.append(None)
    return tuple(out)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if a[0] != b[0] or a[0] == "other":
        return False
    if a[0] in ("none",):
        return True
    if a[0] == "raised":
        return a[1:] == b[1:]
    if a[0] == "returned":
        return _same(a[1], b[1]) and len(a[2]) == len(b[2]) and all(_same(x, y) for x, y in zip(a[2], b[2]))
    if a[0] in ("seq", "grads"):
        return len(a[1]) == len(b[1]) and all(_same(x, y) for x, y in zip(a[1], b[1]))
    _, kind, size, x = a
    _, kind_b, size_b, y = b
    if (kind, size) != (kind_b, size_b) or x.shape != y.shape:
        return False
    nan, inf = np.isnan(x), np.isinf(x) | np.isinf(y)
    if not (np.array_equal(nan, np.isnan(y)) and np.array_equal(x[inf], y[inf])):
        return False            # nan where the other has nan, the same infinities, and close elsewhere
    rest = ~nan & ~inf
    return bool(np.all(np.abs(x[rest] - y[rest]) <= ATOL + RTOL * np.abs(y[rest])))


# ------------------------------------------------------------------------------------------ replaying

def _fresh(arg):
    """A copy of one recorded argument for a replay: arrays copied, a graph rebuilt, the grader's own function
    (``jacobian_fd``'s ``f``) copied so that a fault it records stays with the replay."""
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, (tuple, list)):
        return type(arg)(_fresh(a) for a in arg)
    if _is_node(arg):
        return _rebuild(arg)
    if callable(arg) and hasattr(arg, "fault"):
        clone = copy.copy(arg)
        clone.fault = ""
        return clone
    return arg


def _rebuild(root):
    """The same graph made again with the course's Tensor, gradients at zero."""
    from . import reference as ref
    made = {}
    for node in _nodes(root):
        parents = [made[id(p)] for p in node.parents]
        op, extra = (node.op[0], node.op[1]) if isinstance(node.op, tuple) else (node.op, None)
        if op is None:
            new = ref.Tensor(np.array(node.data))
        elif op in ("add", "mul", "matmul"):
            new = {"add": parents[0].__add__, "mul": parents[0].__mul__,
                   "matmul": parents[0].__matmul__}[op](parents[1])
        elif op in ("relu", "sum"):
            new = getattr(parents[0], op)()
        elif op == "cross_entropy":
            new = parents[0].cross_entropy(np.array(extra))
        else:
            raise ValueError(f"unknown operation {op!r}")
        made[id(node)] = new
    return made[id(root)]


def _replay(fn, call: Call):
    args = tuple(_fresh(a) for a in call.args)
    try:
        value = fn(*args)
    except Exception as exc:  # noqa: BLE001 - a pitfall may fail on this input, as the learner's code did
        return ("raised", type(exc).__name__, exception_text(exc))
    return ("returned", _value(value), _after(args, call.watched))


def exception_text(exc: BaseException) -> str:
    """An exception's message on one line, as the learner sees it."""
    try:
        return " ".join(str(exc).split())[:500]
    except Exception:  # noqa: BLE001
        return "(a message that cannot be printed)"


@functools.lru_cache(maxsize=None)
def _implementations(stub: str):
    """(the lab's solution, {pitfall id: its wrong implementations}) for ``stub``, compiled once per process."""
    from . import pitfalls
    solution = pitfalls.load(stub, pitfalls.SOLUTION[stub])
    wrong = {}
    for pid, cell in ((pid, pitfalls.MATRIX[pid, s]) for (pid, s) in pitfalls.MATRIX if s == stub):
        if isinstance(cell, pitfalls.Wrong) and cell.kind.partition(":")[0] not in STATEFUL:
            wrong[pid] = tuple(pitfalls.load(stub, src) for src in pitfalls.variants(pid, stub))
    return solution, {pid: fns for pid, fns in wrong.items() if fns}


def implementation(stub: str, pid: str):
    """The first wrong implementation of pitfall ``pid`` in ``stub``, compiled (None if it is not replayed)."""
    fns = _implementations(stub)[1].get(pid)
    return fns[0] if fns else None


def _explains(fn, calls) -> bool:
    # the last call first: it is the one that failed, and the one most pitfalls differ on
    return all(_same(c.seen, _replay(fn, c)) for c in reversed(calls))


def identify(stub: str, calls) -> str | None:
    """The one pitfall that behaves like the learner's function on every recorded call, or None."""
    from . import pitfalls
    calls = [c for c in calls or () if c.seen is not None]
    if not calls or stub not in pitfalls.FUNCTIONS:
        return None
    solution, wrong = _implementations(stub)
    if _explains(solution, calls):
        return None
    found = {SAME_MISTAKE.get((stub, pid), pid) for pid, fns in wrong.items()
             if any(_explains(fn, calls) for fn in fns)}
    return found.pop() if len(found) == 1 else None


# ------------------------------------------------------------------------------------------ saying it

MARKS = {"en": "pitfall", "es": "error típico"}


def sentence(pid: str, stub: str, lang: str) -> str:
    """What the learner reads: the mistake, where the book explains it, and its id (the report reads it back)."""
    from . import pitfalls
    from .pitfalls.sections import reference
    p = pitfalls.PITFALLS[pid]
    said = tr(lang, f"On these inputs your function behaves exactly like the version of `{stub}` that makes a "
                    f"well-known mistake: {p.en}.",
              f"Con estas entradas, tu función se comporta exactamente igual que la versión de `{stub}` que comete "
              f"un error típico: {p.es}.")
    return f"{said} {reference(pid, lang)} [{MARKS[lang]}: {pid}]"


def pitfall_in(message: str) -> str | None:
    """The pitfall id a failure message ends with (see :func:`sentence`), or None. Only the very end counts: a
    learner's own text in the message (an exception's) is always followed by the grader's."""
    from . import pitfalls
    for mark in MARKS.values():
        head, sep, tail = message.rpartition(f"[{mark}: ")
        if sep and tail.endswith("]") and tail[:-1] in pitfalls.PITFALLS:
            return tail[:-1]
    return None
