"""Centred finite differences in float64, and autograd's one-projection VJP check."""
from __future__ import annotations

import numpy as np


def jacobian(f, x, h=1e-5):
    """Centred-difference Jacobian of ``f`` at ``x``: shape ``f(x).shape + x.shape``."""
    x = np.array(x, dtype=np.float64)
    y0 = np.asarray(f(x.copy()), dtype=np.float64)
    J = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        J[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2.0 * h)
    return J


def gradient(f, x, h=1e-5):
    """Centred-difference gradient of a scalar ``f`` at ``x`` (same shape as ``x``)."""
    return jacobian(lambda v: np.asarray(f(v), dtype=np.float64).reshape(()), x, h)


def directional(f, x, u, h=1e-5):
    """Centred difference of ``f`` along direction ``u``: (f(x + h u) - f(x - h u)) / 2h."""
    x = np.asarray(x, dtype=np.float64)
    return (np.asarray(f(x + h * u)) - np.asarray(f(x - h * u))) / (2.0 * h)


def vjp_projection_gap(f, vjp, x, v, u, h=1e-5):
    """autograd's ``check_vjp``: compare <u, vjp(v)> with <v, directional derivative of f along u>.

    Returns (lhs, rhs). One random projection catches almost every wrong VJP at the cost of two
    evaluations of ``f``.
    """
    lhs = float(np.sum(u * np.asarray(vjp(v))))
    rhs = float(np.sum(v * directional(f, x, u, h)))
    return lhs, rhs
