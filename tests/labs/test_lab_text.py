"""The labs say what the code does: every number the prose of a lab source quotes (`1e-7`, 10^{-5}, ±10^4, ...)
is listed here with what makes it true (a constant of the checks, a figure computed from the lab's own code, a
threshold the lab's own cells assert), and both languages quote the same numbers."""
import functools
import math
import re

import jupytext
import numpy as np
import pytest

from gradcourse.grading import checks, fd
from gradcourse.grading import reference as ref

from .conftest import REPO

QUOTED = [re.compile(r"`(\d(?:\.\d+)?e-?\d+)`"), re.compile(r"10\^\{?(-?\d+)\}?")]


@functools.lru_cache(maxsize=None)
def source(lab):
    return jupytext.read(REPO / "grader" / "labsrc" / f"{lab}.md")


def prose(lab, lang):
    return "\n".join(c.source for c in source(lab).cells
                     if c.cell_type == "markdown" and c.metadata.get("lang") in (lang, None))


def code(lab):
    return "\n".join(c.source for c in source(lab).cells if c.cell_type == "code")


def quoted(text):
    numbers = {float(m) for m in QUOTED[0].findall(text)}
    return numbers | {10.0 ** int(e) for e in QUOTED[1].findall(text)}


def same(a, b):
    return math.isclose(a, b, rel_tol=1e-9)


def about(quoted_value, computed):
    """'about X' in the text: the computed figure rounds to X (within a factor of 2)."""
    return quoted_value / 2 <= computed <= 2 * quoted_value


@functools.lru_cache(maxsize=None)
def z0_errors():
    """Largest error of forward and centred differences (h = 1e-5) over the softmax Jacobian at the lab's z0."""
    z0 = checks.lab00.SEED_LOGITS
    J = ref.softmax_jacobian(z0)
    h = fd.STEP
    forward = np.stack([(ref.softmax(z0 + h * e) - ref.softmax(z0)) / h for e in np.eye(5)], axis=1)
    centred = np.stack([(ref.softmax(z0 + h * e) - ref.softmax(z0 - h * e)) / (2 * h) for e in np.eye(5)], axis=1)
    return np.abs(forward - J).max(), np.abs(centred - J).max()


def tanh_gelu_gap():
    x = np.linspace(-6, 6, 4001)
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    approx = 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * c * (1 + 3 * 0.044715 * x ** 2)
    return np.abs(approx - ref.gelu_grad(x)).max()


# lab -> {quoted number: (why it is true, check)}
CLAIMS = {
    "lab00": {
        1e4: ("logits up to ±10^4: the stability draws", lambda: same(checks.LARGE_LOGIT, 1e4)),
        1e-7: ("Jacobian vs centred differences of softmax (B2); B5's own assert; float32's epsilon, about 1e-7",
               lambda: same(checks.FD_TOL, 1e-7) and "max_err < 1e-7" in code("lab00")
               and about(1e-7, np.finfo(np.float32).eps)),
        1e-10: ("Jacobian vs diag(p) - p p^T", lambda: same(checks.EXACT_TOL, 1e-10)),
        1e-8: ("jacobian_fd / grad_fd vs exact derivatives", lambda: same(checks.LEARNER_FD_TOL, 1e-8)),
        1e-5: ("the step h: the checks', the contracts' default, the figure's",
               lambda: same(fd.STEP, 1e-5) and "h=1e-5" in code("lab00") and "axvline(1e-5" in code("lab00")),
        5e-7: ("forward differences at z0, largest error", lambda: about(5e-7, z0_errors()[0])),
        1e-11: ("centred differences at z0, largest error", lambda: about(1e-11, z0_errors()[1])),
        1e-12: ("catastrophic cancellation at h = 1e-12", lambda: fd.error_bound(1e-12) > 1e-5),
        1e-14: ("the figure's smallest step", lambda: "np.logspace(-14, -1" in code("lab00")),
        1e-1: ("the figure's largest step", lambda: "np.logspace(-14, -1" in code("lab00")),
        1e-16: ("float64's epsilon, about 2e-16", lambda: about(2e-16, fd.EPS)),
        5e-3: ("float32's sweet spot, eps^(1/3)", lambda: about(5e-3, np.finfo(np.float32).eps ** (1 / 3))),
    },
    "lab01": {
        1e-10: ("the lab's own assert on its relative errors", lambda: "< 1e-10 for a, b in" in code("lab01")),
        1e-5: ("its step", lambda: "step=1e-5" in code("lab01")),
    },
    "lab02": {
        1e-3: ("the tanh approximation's derivative, largest gap", lambda: about(1e-3, tanh_gelu_gap())),
    },
    "lab03": {
        1e4: ("logits up to ±10^4: the stability draws", lambda: same(checks.LARGE_LOGIT, 1e4)),
        1e-9: ("the optional PyTorch comparison: honest float64 code agrees far better (the checks' own 1e-10)",
               lambda: checks.EXACT_TOL < 1e-9),
    },
    "lab04": {
        1e-6: ("the lab's own assert on its gradient check", lambda: "max(rel_errors) < 1e-6" in code("lab04")),
        1e-5: ("its step", lambda: "step=1e-5" in code("lab04")),
    },
    "lab05": {
        1e-5: ("numerical_gradient's step", lambda: "def numerical_gradient(f, x, h=1e-5)" in code("lab05")),
        1e-8: ("the lab's own assert on its gradient check", lambda: "max(rel_errors) < 1e-8" in code("lab05")),
        1e4: ("scores up to ±10^4: the stability draws", lambda: same(checks.LARGE_LOGIT, 1e4)),
    },
}
LABS = sorted(CLAIMS)


@pytest.mark.parametrize("lab", LABS)
def test_both_languages_quote_the_same_numbers(lab):
    assert quoted(prose(lab, "en")) == quoted(prose(lab, "es"))


@pytest.mark.parametrize("lab", LABS)
def test_every_number_quoted_is_accounted_for(lab):
    assert quoted(prose(lab, "en")) == set(CLAIMS[lab]), "add the new number to CLAIMS with what makes it true"


@pytest.mark.parametrize("lab,number", [(lab, n) for lab in LABS for n in CLAIMS[lab]])
def test_every_quoted_number_is_true(lab, number):
    why, holds = CLAIMS[lab][number]
    assert holds(), f"{lab} quotes {number:g} ({why}), which the code no longer bears out"


def test_check_titles_quote_the_constants():
    title = checks.CHECKS["softmax_jacobian.values"].title
    assert "1e-7" in title["en"] and "1e-10" in title["es"]
    assert checks.core.sci(checks.FD_TOL) == "1e-7" and checks.core.sci(checks.LARGE_LOGIT) == "1e4"
