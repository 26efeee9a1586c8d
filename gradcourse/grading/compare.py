"""Comparisons that fail with a message a learner can act on (input, entry, expected, got, hint).

Everything a learner's function returns goes through one of the helpers here before the grader computes anything
with it: they accept any Python object and either return a clean float64 array (or a tuple of them) or raise
:class:`Fail` with a message. So whatever a learner returns (None, a string, a ragged list, an object whose
``__array__`` raises) is a failure of theirs, and any other exception in a check is a fault of the grader.
"""
from __future__ import annotations

import numpy as np

from ..lang import tr


class Fail(Exception):
    """A check failed; the message is already in the notebook's language."""


class NotImplementedYet(Fail):
    """The learner's function still raises NotImplementedError (the stub)."""


class GraderFault(Exception):
    """The grader contradicts itself (e.g. a reference gradient disagrees with centred differences of its forward):
    not the learner's doing, whatever their answer."""


def fmt(a, digits=6):
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{a.item() + 0.0:.{digits}g}" if np.issubdtype(a.dtype, np.number) else repr(a.item())
    s = np.array2string(a, precision=4, threshold=12, edgeitems=3, separator=", ", max_line_width=10**6)
    return " ".join(s.split())


def _raw(got, lang, where):
    """np.asarray of a learner's value, numeric; any failure to get there is theirs."""
    if got is None:
        raise Fail(tr(lang, f"{where}: your function returned None (missing `return`?).",
                         f"{where}: tu función devolvió None (¿falta el `return`?)."))
    try:
        raw = np.asarray(got)
        kind = raw.dtype.kind
    except Exception as exc:  # noqa: BLE001 - whatever the object does, it is the learner's object
        raise Fail(tr(lang, f"{where}: the result is not a numeric array ({type(exc).__name__}: {exc}).",
                         f"{where}: el resultado no es un array numérico ({type(exc).__name__}: {exc}).")) from None
    if kind not in "biuf":
        what = {"c": "complex", "O": "objects", "U": "text", "S": "bytes"}.get(kind, str(raw.dtype))
        what_es = {"c": "números complejos", "O": "objetos", "U": "texto", "S": "bytes"}.get(kind, str(raw.dtype))
        raise Fail(tr(lang, f"{where}: the result is not an array of real numbers "
                            f"(it holds {what}: {type(got).__name__}).",
                         f"{where}: el resultado no es un array de números reales (contiene {what_es}: "
                         f"{type(got).__name__})."))
    return raw


def as_array(got, lang, where):
    """The learner's value as a float64 ndarray, or Fail."""
    raw = _raw(got, lang, where)
    try:
        return np.array(raw, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001
        raise Fail(tr(lang, f"{where}: the result is not a numeric array ({exc}).",
                         f"{where}: el resultado no es un array numérico ({exc}).")) from None


def expect_float64(got, lang, where):
    """The contract says float64: a float32 or integer result is dtype drift (values alone may hide it)."""
    dtype = _raw(got, lang, where).dtype
    if dtype != np.float64:
        raise Fail(tr(lang, f"{where}: the result has dtype {dtype}; the contract says float64. Pitfall: dtype drift "
                            "(a float32 constant or buffer, np.zeros_like of an integer array, an integer "
                            "division...).",
                      f"{where}: el resultado tiene dtype {dtype}, pero el contrato pide float64. Error típico: "
                      "deriva del dtype (una constante o un búfer float32, np.zeros_like de un array entero, una "
                      "división entera...)."))


def expect_sequence(got, n, lang, where, what_en, what_es):
    """A tuple or list of exactly ``n`` items (returned as a tuple), or Fail."""
    if not isinstance(got, (tuple, list)):
        raise Fail(tr(lang, f"{where}: return {what_en} (a tuple), not a {type(got).__name__}.",
                         f"{where}: devuelve {what_es} (una tupla), no un {type(got).__name__}."))
    try:
        items = tuple(got)
    except Exception as exc:  # noqa: BLE001 - a list subclass of the learner's
        raise Fail(tr(lang, f"{where}: the result cannot be read ({type(exc).__name__}).",
                         f"{where}: el resultado no se puede leer ({type(exc).__name__}).")) from None
    if len(items) != n:
        raise Fail(tr(lang, f"{where}: return {what_en}: expected {n} items, got {len(items)}.",
                         f"{where}: devuelve {what_es}: se esperaban {n} elementos y llegaron {len(items)}."))
    return items


def expect_shape(got, shape, lang, where, hint=""):
    if np.shape(got) != tuple(shape):
        raise Fail(tr(lang, f"{where}: expected shape {tuple(shape)}, got {np.shape(got)}.",
                         f"{where}: se esperaba la forma {tuple(shape)} y se obtuvo {np.shape(got)}.")
                   + (" " + hint if hint else ""))


def expect_scalar(got, lang, where, hint=""):
    """One number (a Python float or a 0-d float64 array), or Fail."""
    a = as_array(got, lang, where)
    if a.ndim != 0:
        raise Fail(tr(lang, f"{where}: expected one number, got an array of shape {a.shape}.",
                         f"{where}: se esperaba un número y se obtuvo un array de forma {a.shape}.")
                   + (" " + hint if hint else ""))
    return a


def expect_close(got, want, lang, where, hint="", atol=1e-9, rtol=1e-7, nonfinite_hint=None, source=None):
    """Shape, then finiteness, then values; names the worst entry. ``source`` says where the expected numbers come
    from when it is not the formula (e.g. centred differences)."""
    got = as_array(got, lang, where)
    want = np.asarray(want, dtype=np.float64)
    expect_shape(got, want.shape, lang, where, hint)
    bad = ~np.isfinite(got)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        at = tr(lang, f"entry {idx} is", f"la posición {idx} vale") if idx else tr(lang, "the result is",
                                                                                  "el resultado vale")
        raise Fail(tr(lang, f"{where}: {at} {got[idx]} (expected {fmt(want[idx])}).",
                         f"{where}: {at} {got[idx]} (se esperaba {fmt(want[idx])}).")
                   + " " + (nonfinite_hint or hint))
    err = np.abs(got - want) - (atol + rtol * np.abs(want))
    if (err > 0).any():
        idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        idx = tuple(int(i) for i in idx)
        digits = 6
        while fmt(want[idx], digits) == fmt(got[idx], digits) and digits < 17:
            digits += 3                     # show enough digits to see the difference
        w, g = fmt(want[idx], digits), fmt(got[idx], digits)
        at = tr(lang, f" entry {idx}:", f" posición {idx}:") if idx else ""   # a single number has no entry ()
        if source:
            message = tr(lang, f"{where}:{at} {source[0]} give {w}, your function {g}.",
                         f"{where}:{at} {source[1]} dan {w} y tu función {g}.")
        else:
            message = tr(lang, f"{where}:{at} expected {w}, got {g}.",
                         f"{where}:{at} se esperaba {w} y se obtuvo {g}.")
        raise Fail(message + (" " + hint if hint else ""))
    return got
