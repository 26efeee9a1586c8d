"""Naming the mistake (gradcourse/grading/fingerprint.py): a failing check names the pitfall the learner's function
reproduces, and only then. The wrong implementations of the matrix are named or, where the checks' inputs cannot
tell two mistakes apart, left unnamed; wrong implementations outside the matrix are never named; the sections the
messages point to exist in both books."""
import re
from pathlib import Path

import numpy as np
import pytest
from docutils.nodes import make_id

from gradcourse.grading import checks, fingerprint, pitfalls
from gradcourse.grading.compare import Fail
from gradcourse.grading.pitfalls import sections


REPO = Path(__file__).resolve().parents[2]
STUBS = list(pitfalls.FUNCTIONS)
FIRST_LABS = [s for s, f in pitfalls.FUNCTIONS.items() if f.lab in ("lab00", "lab01", "lab02", "lab03", "lab04")]

# Cells that no failing check names with the public inputs: where they fail, another pitfall gives the same result.
AMBIGUOUS = {
    ("sum_backward", "wrong_axis"), ("sum_backward", "missing_keepdims"),        # the square first case
    ("cross_entropy", "no_max_subtraction"), ("cross_entropy", "log_of_softmax"),  # both inf on [1e4, 0, -1e4]
}


def results(stub, fn, seed=checks.PUBLIC_SEED, lang="en"):
    return [checks.run_check(c.name, fn, seed, lang) for c in checks.checks_for(stub)]


def named(stub, fn, seed=checks.PUBLIC_SEED):
    rs = results(stub, fn, seed)
    assert not [r.fault for r in rs if r.fault]
    return {r.pitfall for r in rs if not r.passed and r.pitfall}, [r.name for r in rs if not r.passed]


MATRIX = [(stub, pid, k) for stub in STUBS for pid, srcs in pitfalls.wrong_implementations(stub).items()
          for k in range(len(srcs)) if pitfalls.MATRIX[pid, stub].kind.split(":")[0] not in fingerprint.STATEFUL]


@pytest.mark.parametrize("stub", STUBS)
def test_matrix_pitfalls_are_named_exactly_or_left_ambiguous(stub):
    for s, pid, k in MATRIX:
        if s != stub:
            continue
        found, failed = named(stub, pitfalls.load(stub, pitfalls.variants(pid, stub)[k]))
        assert failed, (pid, k)
        if (stub, pid) in AMBIGUOUS:
            assert found == set(), (pid, k, found)
        else:
            assert found == {fingerprint.SAME_MISTAKE.get((stub, pid), pid)}, (pid, k, found, failed)


def test_the_ambiguous_cells_are_ambiguous_not_missed():
    """Each of them is explained by its own implementation and by another pitfall's, on every recorded call."""
    for stub, pid in sorted(AMBIGUOUS):
        fn = pitfalls.load(stub, pitfalls.variants(pid, stub)[0])
        first = next(c for c in checks.checks_for(stub) if not checks.run_check(c.name, fn).passed)
        with fingerprint.recording() as calls, np.errstate(all="ignore"):
            with pytest.raises(Fail):
                first.fn(fn, np.random.default_rng([checks.PUBLIC_SEED, *first.name.encode()]), "en")
        solution, wrong = fingerprint._implementations(stub)
        with np.errstate(all="ignore"):
            explaining = {p for p, fns in wrong.items() if any(fingerprint._explains(f, calls) for f in fns)}
        assert pid in explaining and len(explaining) > 1, (stub, pid, explaining)


def test_the_same_mistake_twice_in_the_matrix_gives_the_same_results():
    rng = np.random.default_rng(5)
    for (stub, pid), primary in fingerprint.SAME_MISTAKE.items():
        one, other = (pitfalls.load(stub, pitfalls.variants(p, stub)[0]) for p in (pid, primary))
        for _ in range(50):
            shape = tuple(int(n) for n in rng.integers(2, 5, rng.integers(1, 3)))
            index = rng.integers(0, shape[0], rng.integers(2, 8))      # repeated rows, in any order
            grad = rng.normal(size=(len(index), *shape[1:]))
            assert np.array_equal(one(grad.copy(), shape, index), other(grad.copy(), shape, index))


@pytest.mark.parametrize("stub", STUBS)
def test_honest_implementations_are_never_named(stub):
    for name, src in pitfalls.HONEST[stub].items():
        assert named(stub, pitfalls.load(stub, src)) == (set(), []), name


# Wrong in ways the matrix does not list: each loses points, and no failure may name a pitfall.
OUTSIDE = {
    "softmax": ['''
def softmax(z):
    return z - logsumexp(z, axis=-1, keepdims=True)          # log-softmax
''', '''
def softmax(z):
    e = np.exp((z - z.max(axis=-1, keepdims=True)) / 2.0)     # temperature 2
    return e / e.sum(axis=-1, keepdims=True)
''', '''
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / (e.sum(axis=-1, keepdims=True) + 1e-3)        # an epsilon in the denominator
'''],
    "softmax_jacobian": ['''
def softmax_jacobian(z):
    p = softmax(z)
    return -np.outer(p, p)                                   # the diagonal forgotten
''', '''
def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p * (1 - p))                              # the diagonal only
'''],
    "jacobian_fd": ['''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h / 2
        J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z - e))) / (2 * h)   # half a step each way, over 2h
    return J
'''],
    "grad_fd": ['''
def grad_fd(f, z, h=1e-5):
    return np.array([(f(z + e) - f(z - e)) / (2 * h) for e in h * np.eye(len(z))]) + 1e-3   # an offset
'''],
    "ce_loss": ['''
def ce_loss(z, y):
    return float(logsumexp(z))                               # -z[y] forgotten
''', '''
def ce_loss(z, y):
    return float(logsumexp(z) - z[y - 1])                    # off by one
'''],
    "ce_grad": ['''
def ce_grad(z, y):
    return np.exp(z - logsumexp(z, axis=-1, keepdims=True))  # the one-hot forgotten
''', '''
def ce_grad(z, y):
    p = np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    if z.ndim == 1:
        p[y] -= 0.5                                          # half a one-hot
        return p
    p[np.arange(len(y)), y] -= 0.5
    return p / len(y)
'''],
    "two_layer_grads": ['''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    a1 = np.maximum(z1, 0.0)
    g1 = (W2.T @ gy) * (z1 > 0)
    return np.outer(g1, x), 2.0 * np.outer(gy, a1), W1.T @ g1   # dW2 doubled
'''],
    "unbroadcast": ['''
def unbroadcast(grad, shape):
    return np.zeros(shape)                                   # nothing flows back
'''],
    "sum_backward": ['''
def sum_backward(grad, shape, axis=None, keepdims=False):
    return np.ones(shape)                                    # grad ignored
'''],
    "mean_backward": ['''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = tuple(range(len(shape))) if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
    axes = tuple(a % len(shape) for a in axes) if shape else ()
    count = int(np.prod([shape[a] for a in axes])) if shape else 1
    if not keepdims:
        grad = np.reshape(grad, [1 if i in axes else n for i, n in enumerate(shape)])
    return np.broadcast_to(grad, shape) / (count + 1)        # one too many
'''],
    "getitem_backward": ['''
def getitem_backward(grad, shape, index):
    out = np.zeros(shape)
    np.add.at(out, index, grad)
    return 1.5 * out                                         # scaled
'''],
    "cat_backward": ['''
def cat_backward(grad, shapes, axis=0):
    return np.array_split(grad, len(shapes), axis=axis)      # equal pieces, whatever the sizes
'''],
    "gelu_grad": ['''
def gelu_grad(x):
    x = np.asarray(x, dtype=float)
    return x * np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi)    # Φ(x) forgotten
'''],
    "matmul_backward": ['''
def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ dC
    return 2.0 * unbroadcast(dA, A.shape), unbroadcast(dB, B.shape)   # dA doubled
'''],
    "softmax_backward": ['''
def softmax_backward(s, ds):
    return s * ds                                            # the inner product forgotten
'''],
    "cross_entropy": ['''
def cross_entropy(logits, y):
    return float(np.mean(logsumexp(logits, axis=-1)))        # the target logit forgotten
'''],
    "cross_entropy_grad": ['''
def cross_entropy_grad(logits, y):
    p = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    p[np.arange(len(y)), y] -= 1.0
    return 2.0 * p / len(y)                                  # doubled
'''],
    "backward": ['''
def backward(root):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(root)
    root.grad = np.ones_like(root.data)
    for node in reversed(order):
        node._backward()
    for node in reversed(order):                             # the whole pass a second time
        node._backward()
''', '''
def backward(root):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(root)
    root.grad = 2.0 * np.ones_like(root.data)                 # seeded with 2
    for node in reversed(order):
        node._backward()
'''],
}
OUTSIDE_CASES = [(stub, k) for stub, srcs in OUTSIDE.items() for k in range(len(srcs))]


def test_every_function_of_labs_00_to_04_has_a_wrong_implementation_outside_the_matrix():
    assert set(OUTSIDE) == set(FIRST_LABS)
    for stub, srcs in OUTSIDE.items():
        for src in srcs:
            assert src.strip() + "\n" not in {*pitfalls.HONEST[stub].values(), *(
                s for pid in pitfalls.wrong_implementations(stub) for s in pitfalls.variants(pid, stub))}


@pytest.mark.parametrize(("stub", "k"), OUTSIDE_CASES)
def test_wrong_implementations_outside_the_matrix_are_never_named(stub, k):
    fn = pitfalls.load(stub, OUTSIDE[stub][k])
    for seed in (checks.PUBLIC_SEED, 2024):
        found, failed = named(stub, fn, seed)
        assert failed, seed                     # it is wrong: some check says so ...
        assert found == set(), (seed, found)    # ... and none calls it a pitfall it is not


def test_a_result_near_a_pitfall_is_not_that_pitfall():
    """Within rounding is a match; a relative 1e-4 away is another mistake."""
    wrong = pitfalls.load("ce_grad", pitfalls.variants("sum_not_mean", "ce_grad")[0])
    assert named("ce_grad", wrong)[0] == {"sum_not_mean"}
    for factor in (1 + 1e-4, 1 - 1e-5):
        def ce_grad(z, y, factor=factor):
            return wrong(z, y) * factor
        assert named("ce_grad", ce_grad)[0] == set(), factor


# -- the cases the issue reported

def test_batched_T_is_named_in_both_failing_checks_and_no_longer_sent_to_unbroadcast():
    fn = pitfalls.load("matmul_backward", pitfalls.variants("batched_T", "matmul_backward")[0])
    failed = {r.name: r for r in results("matmul_backward", fn) if not r.passed}
    assert set(failed) == {"matmul_backward.batched", "matmul_backward.broadcast_batch"}
    assert all(r.pitfall == "batched_T" for r in failed.values())
    second = failed["matmul_backward.broadcast_batch"].message
    assert "unbroadcast" not in second and "`.T`" in second and "why-x-t-is-wrong-here" in second


def test_missing_keepdims_in_softmax_is_named_with_keepdims_in_each_failure():
    fn = pitfalls.load("softmax", pitfalls.variants("missing_keepdims", "softmax")[0])
    for lang in ("en", "es"):
        failed = [r for r in results("softmax", fn, lang=lang) if not r.passed]
        assert len(failed) == 2 and all(r.pitfall == "missing_keepdims" and "keepdims" in r.message for r in failed)
        large = next(r for r in failed if r.name == "softmax.large_logits").message
        assert "max(z)" not in large                    # the overflow hint was about another mistake


def test_a_scalar_result_has_no_entry():
    def ce_loss(z, y):
        return float(pitfalls.load("ce_loss", pitfalls.SOLUTION["ce_loss"])(z, y) + 0.5)
    for lang, word in (("en", "entry"), ("es", "posición")):
        message = checks.run_check("ce_loss.values", ce_loss, lang=lang).message
        assert word not in message and "()" not in message, message
        assert ("expected" if lang == "en" else "se esperaba") in message


def test_a_check_that_names_the_pitfall_it_targets_keeps_its_own_hint():
    fn = pitfalls.load("softmax", pitfalls.variants("no_max_subtraction", "softmax")[0])
    r = checks.run_check("softmax.large_logits", fn)
    assert r.pitfall == "no_max_subtraction" and "did you subtract max(z)" in r.message
    assert r.message.endswith("[pitfall: no_max_subtraction]")


def test_the_message_is_in_the_learners_language_and_points_to_the_section():
    fn = pitfalls.load("ce_loss", pitfalls.variants("log_of_softmax", "ce_loss")[0])
    r = checks.run_check("ce_loss.underflow", fn, lang="es")
    assert "error típico: np.log(softmax(z))" in r.message
    assert "«Softmax y entropía cruzada», en la sección «Cómo calcularlo sin desbordamientos»" in r.message
    assert "chapters/softmax-cross-entropy.html#como-calcularlo-sin-desbordamientos" in r.message
    assert r.message.endswith("[error típico: log_of_softmax]")
    assert fingerprint.pitfall_in(r.message) == "log_of_softmax"


def test_self_check_names_the_pitfall_with_the_public_inputs(capsys):
    fn = pitfalls.load("ce_grad", pitfalls.variants("sum_not_mean", "ce_grad")[0])
    checks.self_check(fn, lang="en")
    out = capsys.readouterr().out
    assert "✗ ce_grad.batch" in out and "[pitfall: sum_not_mean]" in out and "divide by B" in out


# -- what runs where

def test_naming_never_calls_the_learners_function_again(monkeypatch):
    wrong = pitfalls.load("softmax", pitfalls.variants("whole_array_max", "softmax")[0])
    counts = []

    def softmax(z):
        counts.append(1)
        return wrong(z)
    r = checks.run_check("softmax.large_logits", softmax)
    assert r.pitfall == "whole_array_max"
    with_naming = len(counts)
    counts.clear()
    monkeypatch.setattr(fingerprint, "identify", lambda stub, calls: None)
    assert checks.run_check("softmax.large_logits", softmax).pitfall == ""
    assert len(counts) == with_naming


def test_passing_checks_never_replay_anything(monkeypatch):
    def boom(*args):
        raise AssertionError("identify called on a passing check")
    monkeypatch.setattr(fingerprint, "identify", boom)
    assert all(r.passed for r in results("softmax", pitfalls.load("softmax", pitfalls.SOLUTION["softmax"])))


def test_a_fault_in_naming_keeps_the_verdict(monkeypatch):
    def broken(*args):
        raise RuntimeError("bug")
    monkeypatch.setattr(fingerprint, "identify", broken)
    fn = pitfalls.load("softmax", pitfalls.variants("whole_array_max", "softmax")[0])
    r = checks.run_check("softmax.large_logits", fn)
    assert not r.passed and r.fault == "" and r.pitfall == "" and "each row's own max" in r.message


def test_a_learners_own_text_cannot_name_a_pitfall():
    def softmax(z):
        raise ValueError("[pitfall: no_seed]")
    r = checks.run_check("softmax.values", softmax)
    assert not r.passed and r.pitfall == "" and fingerprint.pitfall_in(r.message) is None
    assert fingerprint.pitfall_in("... [pitfall: not_a_pitfall]") is None


# -- where the messages point

def headings(path: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)]


def test_every_pitfall_of_labs_00_to_04_has_a_section_and_the_others_say_where_they_are_named():
    used = {pid for (pid, stub), cell in pitfalls.MATRIX.items()
            if stub in FIRST_LABS and isinstance(cell, pitfalls.Wrong)}
    assert used <= set(sections.SECTIONS), used - set(sections.SECTIONS)
    for pid in set(pitfalls.PITFALLS) - set(sections.SECTIONS):
        named = pitfalls.PITFALLS[pid].named_in
        assert sections.reference(pid, "en") == f"See {named}."
        assert sections.reference(pid, "es").startswith("Consulta ") and "chapter" not in sections.reference(pid, "es")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_sections_are_headings_of_both_books_and_anchors_are_sphinx_ids(lang):
    for pid in sections.SECTIONS:
        chapter, section, path = sections.where(pid, lang)
        page = REPO / "book" / lang / (path.split("#")[0][: -len(".html")] + ".md")
        found = headings(page)
        assert found[0] == chapter, (pid, page)
        assert section in found, (pid, section, page)
        assert path.endswith("#" + make_id(section)) and sections.anchor(section) == make_id(section)


def test_an_odd_result_is_no_evidence_and_no_fault():
    class Odd:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no")
    loop = []
    loop.append(loop)
    for value in (Odd(), loop, "text", {"a": 1}, None):
        def softmax(z, value=value):
            return value
        r = checks.run_check("softmax.values", softmax)
        assert not r.passed and r.fault == "" and r.pitfall == "", (value, r)
