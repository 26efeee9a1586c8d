"""The named checks, in process: honest implementations pass, each pitfall fails exactly its check(s),
messages are useful and in the requested language, checks are pure and quiet."""
import warnings

import numpy as np
import pytest

from gradcourse.grading import checks, reference
from gradcourse.grading.context import notebook_language, seed_for, student_id, student_seed

from .fixtures.implementations import IMPLEMENTATIONS

SEEDS = [checks.PUBLIC_SEED, seed_for("s01"), seed_for("alice"), 7]


def load(stub, src):
    ns = {"np": np, "logsumexp": reference.logsumexp, "unbroadcast": reference.unbroadcast,
          "softmax": reference.softmax}
    exec(compile(src, f"<{stub}>", "exec"), ns)
    return ns[stub]


CASES = [(stub, kind, name) for stub, impls in IMPLEMENTATIONS.items()
         for kind in ("honest", "wrong") for name in impls[kind]]


def test_every_check_has_a_stub_with_implementations():
    stubs = {c.stub for c in checks.CHECKS.values()}
    assert stubs <= set(IMPLEMENTATIONS), stubs - set(IMPLEMENTATIONS)
    for stub in stubs:
        assert len(IMPLEMENTATIONS[stub]["honest"]) >= 3, stub
        targeted = {t for _, ts in IMPLEMENTATIONS[stub]["wrong"].values() for t in ts}
        assert targeted == {c.name for c in checks.checks_for(stub)} - UNTARGETED, stub


# checks that guard a property no pitfall of the material breaks on its own
UNTARGETED = {"softmax.values", "ce_loss.values", "ce_grad.values", "getitem_backward.slices", "cat_backward.axis0",
              "matmul_backward.2d", "softmax_backward.vjp", "cross_entropy_grad.values", "backward.chain", "backward.mlp"}


@pytest.mark.parametrize("stub,kind,name", CASES)
def test_implementation_scores_as_expected(stub, kind, name):
    src = IMPLEMENTATIONS[stub][kind][name]
    src, targets = (src, ()) if kind == "honest" else src
    fn = load(stub, src)
    for seed in SEEDS:
        failed = {c.name for c in checks.checks_for(stub) if not checks.run_check(c.name, fn, seed, "en").passed}
        assert failed == set(targets), (seed, failed)


def test_reference_passes_every_check_in_both_languages():
    for c in checks.CHECKS.values():
        fn = getattr(reference, c.stub)
        for lang in ("en", "es"):
            r = checks.run_check(c.name, fn, 1, lang)
            assert r.passed and r.points == c.points and r.message == c.title[lang]


def test_stub_is_reported_as_not_implemented():
    def softmax(z):
        raise NotImplementedError()
    r = checks.run_check("softmax.values", softmax, lang="es")
    assert not r.passed and r.points == 0 and "sin implementar" in r.message


def test_failure_message_names_input_entry_numbers_and_pitfall():
    fn = load("softmax", IMPLEMENTATIONS["softmax"]["wrong"]["no_max_subtraction"][0])
    en = checks.run_check("softmax.large_logits", fn, lang="en").message
    es = checks.run_check("softmax.large_logits", fn, lang="es").message
    assert "z = [ 1000., 0., -1000.]" in en and "entry (0,)" in en and "expected 1" in en and "nan" in en
    assert "did you subtract max(z)" in en
    assert "posición (0,)" in es and "¿restaste max(z)" in es
    fn = load("ce_grad", IMPLEMENTATIONS["ce_grad"]["wrong"]["forgot_divide_by_B"][0])
    assert "divide by B" in checks.run_check("ce_grad.batch", fn).message
    fn = load("jacobian_fd", IMPLEMENTATIONS["jacobian_fd"]["wrong"]["forward_differences"][0])
    assert "forward differences" in checks.run_check("jacobian_fd.centred", fn).message
    fn = load("getitem_backward", IMPLEMENTATIONS["getitem_backward"]["wrong"]["assignment"][0])
    assert "np.add.at" in checks.run_check("getitem_backward.repeated", fn, lang="es").message


def test_checks_are_pure_functions_of_callable_seed_language():
    fn = load("softmax", IMPLEMENTATIONS["softmax"]["wrong"]["whole_array_sum"][0])
    a = checks.run_check("softmax.batch", fn, 123, "en")
    np.random.seed(0)
    b = checks.run_check("softmax.batch", fn, 123, "en")
    assert a == b
    c = checks.run_check("softmax.batch", fn, 124, "en")
    assert a.message != c.message                  # another student, other numbers


def test_checks_are_quiet(capfd):
    noisy = load("softmax", IMPLEMENTATIONS["softmax"]["wrong"]["no_max_subtraction"][0])

    def loud(z):
        print("debug", file=__import__("sys").stderr)
        warnings.warn("careful")
        return noisy(z)
    loud.__name__ = "softmax"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for c in checks.checks_for("softmax"):
            checks.run_check(c.name, loud)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_grade_raises_with_message_and_returns_none():
    assert checks.grade("softmax.values", reference.softmax, lang="en") is None
    fn = load("softmax", IMPLEMENTATIONS["softmax"]["wrong"]["no_max_subtraction"][0])
    with pytest.raises(AssertionError, match=r"\[softmax.large_logits\].*max"):
        checks.grade("softmax.large_logits", fn, lang="en")


def test_self_check_prints_one_line_per_check(capsys):
    # How fast it answers is measured by the benchmarks, not asserted here (no timing in unit tests).
    for stub in {c.stub for c in checks.CHECKS.values()}:
        checks.self_check(getattr(reference, stub), lang="es")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(checks.CHECKS) and all(ln.startswith("✅") for ln in lines)


def test_language_and_student_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADCOURSE_LANG", raising=False)
    monkeypatch.delenv("GRADCOURSE_STUDENT", raising=False)
    assert notebook_language(tmp_path / "labs" / "es") == "es"
    assert notebook_language(tmp_path / "grader/source/lab00-es") == "es"
    assert notebook_language(tmp_path / "autograded/s01/lab03-en") == "en"
    assert notebook_language(tmp_path / "elsewhere") == "en"
    assert student_id(tmp_path / "autograded/s01/lab03-en") == "s01"
    assert student_id(tmp_path / "labs/en") is None
    seeds = {student_seed(tmp_path / f"autograded/s{i:02d}/lab00-en") for i in range(50)}
    assert len(seeds) == 50 and checks.PUBLIC_SEED not in seeds
