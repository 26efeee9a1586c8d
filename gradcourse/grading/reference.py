"""Reference implementations of every graded lab function (float64, NumPy only).

The checks in :mod:`gradcourse.grading.checks` compare a learner's function with these. They are kept
apart from the checks so that a checker running in another process can import them without the
notebook machinery.
"""
from __future__ import annotations

import math

import numpy as np

from . import fd

_erf = np.vectorize(math.erf, otypes=[np.float64])


# --- lab 00: softmax and cross-entropy -------------------------------------------------------

def logsumexp(z, axis=-1, keepdims=False):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    return np.exp(z - logsumexp(z, axis=-1, keepdims=True))


def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def ce_loss(z, y):
    z = np.asarray(z, dtype=np.float64)
    return float(logsumexp(z) - z[y])


def ce_grad(z, y):
    z = np.asarray(z, dtype=np.float64)
    p = softmax(z)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    rows = np.arange(z.shape[0])
    p[rows, y] -= 1.0
    return p / z.shape[0]


def jacobian_fd(f, z, h=1e-5):
    return fd.jacobian(f, z, h)


def grad_fd(f, z, h=1e-5):
    return fd.gradient(f, z, h)


# --- lab 01: two-layer network ---------------------------------------------------------------

def two_layer_forward(W1, W2, x):
    z1 = W1 @ x
    a1 = np.maximum(z1, 0.0)
    return W2 @ a1


def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    a1 = np.maximum(z1, 0.0)
    g1 = (W2.T @ gy) * (z1 > 0)
    return np.outer(g1, x), np.outer(gy, a1), W1.T @ g1


# --- lab 02: broadcasting reverse and op backward --------------------------------------------

def unbroadcast(grad, shape):
    grad = np.asarray(grad)
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return np.asarray(grad).reshape(shape)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def sum_backward(grad, shape, axis=None, keepdims=False):
    grad = np.asarray(grad, dtype=np.float64)
    if not keepdims:
        kept = list(shape)
        for a in _axes(axis, len(shape)):
            kept[a] = 1
        grad = grad.reshape(kept)
    return np.broadcast_to(grad, shape).copy()


def mean_backward(grad, shape, axis=None, keepdims=False):
    count = int(np.prod([shape[a] for a in _axes(axis, len(shape))]))
    return sum_backward(grad, shape, axis, keepdims) / count


def getitem_backward(grad, shape, index):
    out = np.zeros(shape, dtype=np.float64)
    np.add.at(out, index, grad)
    return out


def cat_backward(grad, shapes, axis=0):
    sizes = [s[axis] for s in shapes]
    return np.split(np.asarray(grad), np.cumsum(sizes)[:-1], axis=axis)


def normal_cdf(x):
    return 0.5 * (1.0 + _erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def gelu(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_grad(x):
    x = np.asarray(x, dtype=np.float64)
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


# --- lab 03: matmul, softmax VJP, fused cross-entropy ----------------------------------------

def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ dC
    return unbroadcast(dA, np.shape(A)), unbroadcast(dB, np.shape(B))


def softmax_backward(s, ds):
    return s * (ds - (s * ds).sum(axis=-1, keepdims=True))


def cross_entropy(logits, y):
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(logits.shape[0])
    return float(np.mean(logsumexp(logits, axis=-1) - logits[rows, y]))


def cross_entropy_grad(logits, y):
    return ce_grad(logits, y)


# --- lab 04: a small tensor autograd ---------------------------------------------------------

class Tensor:
    """The engine of lab 04 (same protocol as the notebook's): data, grad, parents, _backward.

    ``op`` names the operation that made a node (``None`` for a leaf), so that the grader can rebuild the same
    graph with the learner's own ``Tensor`` in the sandbox (gradcourse/scoring/graph.py)."""

    def __init__(self, data, parents=(), backward=None, op=None):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self.parents = tuple(parents)
        self._backward = backward or (lambda: None)
        self.op = op

    def __add__(self, other):
        out = Tensor(self.data + other.data, (self, other), op="add")

        def _backward():
            self.grad += unbroadcast(out.grad, self.data.shape)
            other.grad += unbroadcast(out.grad, other.data.shape)
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Tensor(self.data * other.data, (self, other), op="mul")

        def _backward():
            self.grad += unbroadcast(other.data * out.grad, self.data.shape)
            other.grad += unbroadcast(self.data * out.grad, other.data.shape)
        out._backward = _backward
        return out

    def __matmul__(self, other):
        out = Tensor(self.data @ other.data, (self, other), op="matmul")

        def _backward():
            dA, dB = matmul_backward(self.data, other.data, out.grad)
            self.grad += dA
            other.grad += dB
        out._backward = _backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0.0), (self,), op="relu")

        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    def sum(self):
        out = Tensor(self.data.sum(), (self,), op="sum")

        def _backward():
            self.grad += sum_backward(out.grad, self.data.shape)
        out._backward = _backward
        return out

    def cross_entropy(self, y):
        out = Tensor(cross_entropy(self.data, y), (self,), op=("cross_entropy", y))

        def _backward():
            self.grad += cross_entropy_grad(self.data, y) * out.grad
        out._backward = _backward
        return out


def backward(root):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for p in node.parents:
                visit(p)
            order.append(node)
    visit(root)
    root.grad = np.ones_like(root.data)
    for node in reversed(order):
        node._backward()


def mlp_loss(params, X, y):
    W1, b1, W2, b2 = params
    h = (Tensor(X) @ W1 + b1).relu()
    return (h @ W2 + b2).cross_entropy(y)


# --- lab 05: layer norm and attention backward -----------------------------------------------

def layernorm(x, gamma, beta, eps=1e-5):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis, with the biased variance."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=-1, keepdims=True)
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return np.asarray(gamma, dtype=np.float64) * centred / np.sqrt(var + eps) + np.asarray(beta, dtype=np.float64)


def layernorm_backward(x, gamma, dy, eps=1e-5):
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    centred = x - x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
    xhat = centred * r
    leading = tuple(range(x.ndim - 1))
    g = dy * np.asarray(gamma, dtype=np.float64)
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)


def causal_mask(tq, tk):
    """True where query i may not look at key j (j > i): the strict upper triangle."""
    return np.triu(np.ones((tq, tk), dtype=bool), k=1)


def attention_weights(Q, K, causal=False):
    """P = softmax(Q K^T / sqrt(d) + M) over the keys, each row shifted by its own maximum."""
    Q, K = np.asarray(Q, dtype=np.float64), np.asarray(K, dtype=np.float64)
    S = Q @ np.swapaxes(K, -1, -2) / math.sqrt(Q.shape[-1])
    if causal:
        S = np.where(causal_mask(S.shape[-2], S.shape[-1]), -np.inf, S)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def attention(Q, K, V, causal=False):
    return attention_weights(Q, K, causal) @ np.asarray(V, dtype=np.float64)


def attention_backward(Q, K, V, dO, causal=False):
    Q, K, V, dO = (np.asarray(a, dtype=np.float64) for a in (Q, K, V, dO))
    P = attention_weights(Q, K, causal)
    dV = np.swapaxes(P, -1, -2) @ dO
    dS = softmax_backward(P, dO @ np.swapaxes(V, -1, -2)) / math.sqrt(Q.shape[-1])
    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV
