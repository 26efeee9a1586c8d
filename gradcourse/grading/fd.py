"""Centred finite differences in float64, with the step and the tolerance the grader uses, from the theory.

A centred difference of ``f`` at ``x`` with step ``h`` errs by truncation and by rounding:

    |(f(x + h) - f(x - h)) / 2h - f'(x)|  <=  h² M3 / 6  +  eps M0 / h

where ``M3`` bounds ``|f'''|`` near ``x`` and ``eps M0`` bounds the absolute error of one evaluation of ``f``
(``eps`` = 2.2e-16 in float64). The sum is smallest at ``h = (3 eps M0 / M3)^(1/3)``, about 8.7e-6 when
``M0 = M3``: hence :data:`STEP` = 1e-5, where both terms are about 2e-11 M. The checks draw their inputs so that
``M0`` and ``M3`` stay below :data:`BOUND_M` = 1e3 (moderate scales; a function that cannot tell ``z`` from
``z - max(z)``, like softmax, is differenced at the shifted point), so the error is at most
``error_bound(STEP, 1e3, 1e3)`` < 4e-8 on every draw, below :data:`TOL` = 1e-7. A reference that disagrees with
centred differences by more than ``TOL`` is wrong (a fault of the grader); a shift of 1e-6 is ten times ``TOL``.

The step actually taken is ``(x + h) - (x - h)`` as float64 computes it, not ``2h``: for large ``|x|`` the two
differ by a few units in the last place of ``x``, which divided by ``2h`` would be an error of its own.
"""
from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float64).eps)
STEP = 1e-5
BOUND_M = 1e3
TOL = 1e-7


def error_bound(h: float = STEP, m0: float = 1.0, m3: float = 1.0) -> float:
    """Worst-case error of one centred difference: truncation h² M3 / 6 plus rounding eps M0 / h."""
    return h * h * m3 / 6.0 + EPS * m0 / h


def jacobian(f, x, h=STEP):
    """Centred-difference Jacobian of ``f`` at ``x``: shape ``f(x).shape + x.shape``. ``f`` must not keep or
    modify its argument (one work array is nudged entry by entry)."""
    x = np.array(x, dtype=np.float64)
    work = x.copy()
    flat, start = work.reshape(-1), x.reshape(-1)
    columns = []
    for i in range(x.size):
        plus, minus = start[i] + h, start[i] - h
        flat[i] = plus
        up = np.array(f(work), dtype=np.float64)
        flat[i] = minus
        down = np.array(f(work), dtype=np.float64)
        flat[i] = start[i]
        columns.append((up - down) / (plus - minus))
    if not columns:
        return np.zeros(np.shape(f(work)) + x.shape)
    return np.moveaxis(np.array(columns), 0, -1).reshape(columns[0].shape + x.shape)


def gradient(f, x, h=STEP):
    """Centred-difference gradient of a scalar ``f`` at ``x`` (same shape as ``x``)."""
    return jacobian(lambda v: np.asarray(f(v), dtype=np.float64).reshape(()), x, h)


def derivative(f, x, h=STEP):
    """Centred differences of an elementwise ``f``, every entry at once (same shape as ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    plus, minus = x + h, x - h
    return (np.asarray(f(plus), dtype=np.float64) - np.asarray(f(minus), dtype=np.float64)) / (plus - minus)


def directional(f, x, u, h=STEP):
    """Centred difference of ``f`` along direction ``u``: (f(x + h u) - f(x - h u)) / 2h."""
    x = np.asarray(x, dtype=np.float64)
    return (np.asarray(f(x + h * u)) - np.asarray(f(x - h * u))) / (2.0 * h)


def vjp_projection_gap(f, vjp, x, v, u, h=STEP):
    """autograd's ``check_vjp``: compare <u, vjp(v)> with <v, directional derivative of f along u>.

    Returns (lhs, rhs). One random projection catches almost every wrong VJP at the cost of two
    evaluations of ``f``.
    """
    lhs = float(np.sum(u * np.asarray(vjp(v))))
    rhs = float(np.sum(v * directional(f, x, u, h)))
    return lhs, rhs
