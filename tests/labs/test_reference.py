"""The grader's own parts, tested here rather than inside graded checks: the reference implementations agree with
centred finite differences on drawn inputs, the finite differences meet the bound the tolerance comes from, and
a fault of the grader is reported as a fault (``Result.fault``), never as the learner's failure, while nothing a
learner's function does (return anything, raise anything) can pass for a fault."""
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcourse.grading import checks, draws, fd, pitfalls
from gradcourse.grading import reference as ref

SETTINGS = settings(max_examples=30)
FLOATS = st.floats(-5, 5, allow_nan=False, width=64)


def honest(stub, name=None):
    return pitfalls.load(stub, pitfalls.HONEST[stub][name or next(n for n in pitfalls.HONEST[stub] if n != "solution")])


def close(a, b, tol=fd.TOL):
    return np.all(np.abs(np.asarray(a) - np.asarray(b)) <= tol * (1 + np.abs(np.asarray(b))))


# ----------------------------------------------------------------------------- the finite differences themselves

def test_step_and_tolerance_follow_from_the_error_bound():
    # h near the minimum of h² M3 / 6 + eps M0 / h, and the worst case of the draws below the tolerance
    optimum = (3 * fd.EPS) ** (1 / 3)
    assert optimum / 2 < fd.STEP < 2 * optimum
    assert fd.error_bound(fd.STEP, fd.BOUND_M, fd.BOUND_M) < fd.TOL / 2
    assert fd.error_bound(1e-12, 1.0, 1.0) > 1e-5          # catastrophic cancellation, as lab 00 says


def test_the_step_taken_is_the_float64_one():
    # at |x| = 1e4, x + h and x - h are not 2h apart in float64: dividing by 2h would be off by ~1e-7
    x = np.array([1e4 + 0.1])
    assert abs(fd.gradient(lambda v: float(v[0]), x)[0] - 1.0) < 1e-12


@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=FLOATS))
def test_centred_differences_meet_the_bound_on_a_polynomial(x):
    # f = sum(x^3): f''' = 6, |f| <= 8 * 125 = 1e3: inside BOUND_M
    g = fd.gradient(lambda v: float(np.sum(v ** 3)), x)
    assert np.max(np.abs(g - 3 * x ** 2)) <= fd.error_bound(fd.STEP, 1e3, 6.0)


# ----------------------------------------------------------------------------- the references agree with them

@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 7), elements=st.floats(-30, 30, allow_nan=False)))
def test_softmax_jacobian_is_the_derivative_of_softmax(z):
    assert close(ref.softmax_jacobian(z), fd.jacobian(ref.softmax, z))


@SETTINGS
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 6)), elements=st.floats(-30, 30)),
       st.data())
def test_ce_grad_is_the_derivative_of_the_loss(z, data):
    y = np.array(data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=z.shape[0], max_size=z.shape[0])))
    assert close(ref.ce_grad(z[0], int(y[0])), fd.gradient(lambda v: ref.ce_loss(v, int(y[0])), z[0]))
    assert close(ref.ce_grad(z, y), fd.gradient(lambda v: ref.cross_entropy(v, y), z))
    assert close(ref.cross_entropy_grad(z, y), fd.gradient(lambda v: ref.cross_entropy(v, y), z))


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_stable_gradients_agree_with_differences_at_the_shifted_point(seed):
    rng = np.random.default_rng(seed)
    z = draws.huge_logits(rng, (3, 5))
    y = rng.integers(0, 5, 3)
    assert np.all(np.abs(z) <= draws.LARGE_LOGIT)
    shifted = z - z.max(axis=-1, keepdims=True)
    assert close(ref.ce_grad(z, y), fd.gradient(lambda v: ref.cross_entropy(v, y), shifted))
    assert close(ref.softmax_jacobian(z[0]), fd.jacobian(ref.softmax, shifted[0]))


@SETTINGS
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), elements=st.floats(-30, 30)))
def test_gelu_grad_is_the_derivative_of_gelu(x):
    assert close(ref.gelu_grad(x), fd.derivative(ref.gelu, x))


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_backward_references_are_the_adjoints_of_their_forwards(seed):
    rng = np.random.default_rng(seed)
    target, full = draws.broadcast_case(rng, "ones" if rng.random() < 0.5 else "leading", max_ndim=4)
    g = rng.normal(0, 1, full)
    assert close(ref.unbroadcast(g, target),
                 fd.gradient(lambda v: np.sum(g * np.broadcast_to(v, full)), rng.normal(0, 1, target)))
    ba, bb = draws.batch_pair(rng, str(rng.choice(["same", "missing", "ones"])))
    A, B = rng.normal(0, 1, ba + (2, 3)), rng.normal(0, 1, bb + (3, 4))
    dC = rng.normal(0, 1, (A @ B).shape)
    dA, dB = ref.matmul_backward(A, B, dC)
    assert close(dA, fd.gradient(lambda v: np.sum(dC * (v @ B)), A))
    assert close(dB, fd.gradient(lambda v: np.sum(dC * (A @ v)), B))
    shape = (3, 4, 2)
    axis = draws.axes(rng, 3)
    a = rng.normal(0, 1, shape)
    for forward, backward in ((np.sum, ref.sum_backward), (np.mean, ref.mean_backward)):
        out = rng.normal(0, 1, forward(a, axis=axis).shape)
        assert close(backward(out, shape, axis), fd.gradient(lambda v: np.sum(out * forward(v, axis=axis)), a))
    index, _ = draws.index(rng, shape, repeated=False)
    gi = rng.normal(0, 1, a[index].shape)
    assert close(ref.getitem_backward(gi, shape, index), fd.gradient(lambda v: np.sum(gi * v[index]), a))
    x = rng.normal(0, 1, (2, 5))
    s, ds = ref.softmax(x), rng.normal(0, 1, (2, 5))
    assert close(ref.softmax_backward(s, ds), fd.gradient(lambda v: np.sum(ds * ref.softmax(v)), x))
    u = rng.normal(0, 1, 5)
    lhs, rhs = fd.vjp_projection_gap(ref.softmax, lambda v: ref.softmax_backward(s[0], v), x[0], ds[0], u)
    assert abs(lhs - rhs) < fd.TOL


def test_the_reference_engine_agrees_with_differences_on_the_mlp():
    rng = np.random.default_rng(0)
    X, y, values = checks.lab04._mlp_values(rng)
    params = [ref.Tensor(v.copy()) for v in values]
    ref.backward(ref.mlp_loss(params, X, y))
    for i, p in enumerate(params):
        def f(v, i=i):
            vals = [ref.Tensor(w) for w in values]
            vals[i] = ref.Tensor(v)
            return ref.mlp_loss(vals, X, y).data
        assert close(p.grad, fd.gradient(f, values[i]))


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_lab05_references_are_the_adjoints_of_their_forwards(seed):
    rng = np.random.default_rng(seed)
    lead = draws.leading_axes(rng, int(rng.integers(0, 3)), lo=1, hi=3)
    D = draws.size(rng, 2, 5)
    x, gamma, dy = draws.rows(rng, lead + (D,)), rng.normal(0, 1, D), rng.normal(0, 1, lead + (D,))
    eps = float(draws.log_uniform(rng, 1e-5, 1.0))
    dx, dgamma, dbeta = ref.layernorm_backward(x, gamma, dy, eps)
    beta = np.zeros(D)
    assert close(dx, fd.gradient(lambda v: np.sum(dy * ref.layernorm(v, gamma, beta, eps)), x))
    assert close(dgamma, fd.gradient(lambda v: np.sum(dy * ref.layernorm(x, v, beta, eps)), gamma))
    assert close(dbeta, fd.gradient(lambda v: np.sum(dy * ref.layernorm(x, gamma, v, eps)), beta))
    causal = bool(rng.random() < 0.5)
    tq, d, dv = (draws.size(rng, 1, 4) for _ in range(3))
    tk = tq if causal else draws.size(rng, 1, 4)
    Q, K = rng.normal(0, 1, lead + (tq, d)), rng.normal(0, 1, lead + (tk, d))
    V, dO = rng.normal(0, 1, lead + (tk, dv)), rng.normal(0, 1, lead + (tq, dv))
    inputs = [Q, K, V]
    for i, grad in enumerate(ref.attention_backward(Q, K, V, dO, causal)):
        def f(v, i=i):
            args = list(inputs)
            args[i] = v
            return np.sum(dO * ref.attention(*args, causal))
        assert close(grad, fd.gradient(f, inputs[i]))


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_large_scores_are_large_and_change_no_gradient(seed):
    # the stability check compares the learner at (Q, K) with centred differences at (Q, K0): same gradients
    rng = np.random.default_rng(seed)
    lead = draws.leading_axes(rng, int(rng.integers(0, 3)), lo=1, hi=3)
    tq, tk, d = draws.size(rng, 2, 5), draws.size(rng, 1, 5), draws.size(rng, 2, 5)
    Q, K, K0 = draws.large_scores(rng, lead + (tq, d), lead + (tk, d))
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d)
    big = draws.LARGE_LOGIT
    assert np.all(np.abs(S) <= 1.01 * big) and np.all(np.abs(S).min(axis=-1) >= 0.29 * big)
    assert np.all(S[..., 0, :] > 0) and np.all(S[..., 1, :] < 0)       # rows far apart in every head
    V, dO = rng.normal(0, 1, lead + (tk, 2)), rng.normal(0, 1, lead + (tq, 2))
    for a, b in zip(ref.attention_backward(Q, K, V, dO), ref.attention_backward(Q, K0, V, dO), strict=True):
        assert np.all(np.isfinite(a)) and close(a, b, 1e-9)


def test_lab05_stacked_differences_are_the_graders_centred_differences():
    rng = np.random.default_rng(3)
    Q, K, V, dO = (rng.normal(0, 1, s) for s in [(2, 3, 4, 3), (2, 3, 5, 3), (2, 3, 5, 2), (2, 3, 4, 2)])
    stacked = checks.lab05._differences(lambda v: checks.lab05._total(dO * ref.attention(Q, v, V)), K)
    assert close(stacked, fd.gradient(lambda v: np.sum(dO * ref.attention(Q, v, V)), K), 1e-12)
    # divided by the step float64 takes: at 1e4 it is not 2h, as in test_the_step_taken_is_the_float64_one
    x = np.full((2, 3), 1e4 + 0.1)
    stacked = checks.lab05._differences(lambda v: v.reshape(len(v), -1)[:, 0], x)
    assert abs(stacked[0, 0] - 1.0) < 1e-12 and np.all(stacked.reshape(-1)[1:] == 0)


def test_the_fd_helpers_of_jacobian_fd_and_grad_fd_are_centred():
    z = np.array([0.3, -1.2, 2.0])
    assert close(ref.jacobian_fd(ref.softmax, z), ref.softmax_jacobian(z), 1e-9)
    assert close(ref.grad_fd(lambda v: ref.ce_loss(v, 1), z), ref.ce_grad(z, 1), 1e-9)


# ----------------------------------------------------------------------------- a broken grader is a fault

REFERENCE_CHECKS = ["softmax_jacobian.values", "softmax_jacobian.large_logits", "softmax_jacobian.no_mutation"]


@pytest.mark.parametrize("name", REFERENCE_CHECKS)
def test_a_shifted_reference_is_a_fault_not_the_learners_failure(monkeypatch, name):
    right = honest("softmax_jacobian", "loops")
    wrong = pitfalls.load("softmax_jacobian", pitfalls.variants("wrong_sign", "softmax_jacobian")[0])
    assert checks.run_check(name, right).passed and checks.run_check(name, wrong).fault == ""
    original = ref.softmax_jacobian
    monkeypatch.setattr(ref, "softmax_jacobian", lambda z: original(z) + 1e-6)
    r = checks.run_check(name, right)
    assert not r.passed and r.points == 0 and r.fault
    assert "disagree" in r.fault and "not your mistake" in r.message
    assert "no es culpa tuya" in checks.run_check(name, right, lang="es").message


def test_a_raising_reference_is_a_fault(monkeypatch):
    def broken(z):
        raise ZeroDivisionError("the reference broke")
    monkeypatch.setattr(ref, "softmax", broken)
    r = checks.run_check("softmax.values", honest("softmax"))
    assert not r.passed and "ZeroDivisionError" in r.fault and "lab00.py" in r.fault
    # handed to the learner's code (f of jacobian_fd), it is still the grader's: even if their code catches it
    for src in (pitfalls.SOLUTION["jacobian_fd"],
                "def jacobian_fd(f, z, h=1e-5):\n    try:\n        f(z)\n    except Exception:\n        pass\n"
                "    return np.zeros((3, len(z)))\n"):
        r = checks.run_check("jacobian_fd.centred", pitfalls.load("jacobian_fd", src))
        assert not r.passed and "the grader's softmax" in r.fault


def test_a_wrong_learner_with_a_sane_reference_is_not_a_fault():
    for stub in pitfalls.FUNCTIONS:
        for pid, sources in pitfalls.wrong_implementations(stub).items():
            fn = pitfalls.load(stub, sources[0])
            for c in checks.checks_for(stub):
                assert checks.run_check(c.name, fn).fault == "", (stub, pid, c.name)


def test_grade_and_self_check_say_it_is_the_course(monkeypatch, capsys):
    monkeypatch.setattr(ref, "softmax", lambda z: 1 / 0)
    with pytest.raises(checks.CourseError, match=r"\[softmax.values\] internal error of the course.*not your mistake"):
        checks.grade("softmax.values", honest("softmax"), lang="en")
    with pytest.raises(checks.CourseError, match="error interno del curso.*no es culpa tuya"):
        checks.grade("softmax.values", honest("softmax"), lang="es")
    fn = honest("softmax")
    fn.__name__ = "softmax"
    checks.self_check(fn, lang="en")
    assert "! softmax.values" in capsys.readouterr().out


# ----------------------------------------------------------------------------- ... and a learner never is

class Unconvertible:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array for you")


class BadList(list):
    def __iter__(self):
        raise RuntimeError("no iteration")

    def __len__(self):
        raise RuntimeError("no length")


class LoudError(Exception):
    def __str__(self):
        raise RuntimeError("cannot print me")


def raising(exc):
    def fn(*args):
        raise exc
    return fn


RETURNS = {
    "None": None, "text": "0.5", "ragged": [[1.0, 2.0], [3.0]], "dict": {"a": 1.0}, "object": object(),
    "unconvertible": Unconvertible(), "complex": np.ones(3) * 1j, "nested": ((1.0,), ((2.0,),)),
    "bad list": BadList([1.0, 2.0]), "generator": (v for v in range(3)), "nan": float("nan"),
    "inf array": np.full((2, 2), np.inf), "empty": np.zeros((0,)), "bool": True, "big int": 10**30,
    "pair of junk": (Unconvertible(), "x"), "triple of None": (None, None, None),
}
RAISES = {
    "ValueError": ValueError("no"), "custom": type("GraderFault", (Exception,), {})("pretending"),
    "fail": checks.core.Fail("pretending to be the check"), "loud": LoudError(), "recursion": RecursionError(),
    "not implemented": NotImplementedError(), "keyerror": KeyError("k"),
}
BEHAVIOURS = [(f"returns {k}", (lambda v: lambda *a: v)(v)) for k, v in RETURNS.items()] + \
             [(f"raises {k}", raising(e)) for k, e in RAISES.items()]


def _scribble(value):
    def backward(root):
        stack, seen = [root], set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if value == "delete":
                del node.grad
            else:
                node.grad = value
            stack.extend(node.parents)
    return backward


@pytest.mark.parametrize("name", list(checks.CHECKS))
def test_nothing_a_learner_returns_or_raises_is_a_fault(name):
    for label, fn in BEHAVIOURS:
        r = checks.run_check(name, fn)
        assert not r.passed and r.fault == "" and r.message, (label, r)
    if name.startswith("backward."):
        for value in ("delete", None, "x", Unconvertible(), np.ones(7)):
            r = checks.run_check(name, _scribble(value))
            assert not r.passed and r.fault == "", (value, r)


@pytest.mark.parametrize("stub", ["jacobian_fd", "grad_fd"])
def test_misusing_the_graders_function_is_the_learners_failure(stub):
    for body in ("f('text')", "f(np.zeros(99))", "f(Unconvertible())", "f(z, z)", "f(np.ones((2, 2)))"):
        src = f"def {stub}(f, z, h=1e-5):\n    return {body}\n"
        r = checks.run_check(f"{stub}.centred", pitfalls.load(stub, src, {"Unconvertible": Unconvertible}))
        assert not r.passed and r.fault == "", (body, r)


def test_stub_is_not_implemented_and_no_fault():
    r = checks.run_check("softmax.values", raising(NotImplementedError()), lang="es")
    assert not r.passed and r.fault == "" and "sin implementar" in r.message


def test_recursion_limit_of_a_learner_is_their_failure():
    def deep(*args):
        return deep(*args)
    limit = sys.getrecursionlimit()
    r = checks.run_check("softmax.values", deep)
    assert not r.passed and r.fault == "" and sys.getrecursionlimit() == limit
    assert math.isfinite(r.points)


def test_a_backward_that_scribbles_on_the_graph_is_still_the_learners_failure():
    def vandal(root):
        stack = [root]
        while stack:
            node = stack.pop()
            node.data[...] = 7.0           # writes into every node's values, the inputs included
            stack.extend(node.parents)
    for name in ("backward.chain", "backward.diamond", "backward.mlp"):
        r = checks.run_check(name, vandal)
        assert not r.passed and r.fault == "", r
