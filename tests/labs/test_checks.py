"""The named checks, in process: the classic pitfalls fail exactly their check, messages are useful and in the
requested language, checks are pure and quiet (the whole pitfall matrix: test_pitfalls.py)."""
import warnings

import numpy as np
import pytest

from gradcourse.grading import checks, reference
from gradcourse.grading.context import seed_for, student_id, student_seed
from gradcourse.lang import notebook_language

from gradcourse.grading import pitfalls

SEEDS = [checks.PUBLIC_SEED, seed_for("s01"), seed_for("alice"), 7]


def load(stub, pid):
    return pitfalls.load(stub, pitfalls.variants(pid, stub)[0])


# Each check targets one pitfall: these classic pitfalls of the material cost exactly the points of one check
# (every pitfall of the matrix loses points somewhere: tests/labs/test_pitfalls.py).
EXACT = {
    "softmax": {"no_max_subtraction": "large_logits", "whole_array_max": "large_logits", "integer_result": "values",
                "mutates_input": "no_mutation"},
    "softmax_jacobian": {"no_max_subtraction": "large_logits", "integer_result": "values",
                         "mutates_input": "no_mutation"},
    "jacobian_fd": {"forward_differences": "centred", "step_too_small": "centred", "float32_result": "centred"},
    "grad_fd": {"forward_differences": "centred", "step_too_small": "centred", "float32_result": "centred"},
    "ce_loss": {"no_max_subtraction": "underflow", "log_of_softmax": "underflow", "mutates_input": "no_mutation"},
    "ce_grad": {"no_max_subtraction": "stability", "whole_array_max": "stability", "sum_not_mean": "batch",
                "integer_result": "values", "mutates_input": "no_mutation"},
    "two_layer_grads": {"no_relu_mask": "relu_mask", "transposed_result": "active", "mutates_input": "no_mutation",
                        "mutates_upstream": "no_mutation"},
    "unbroadcast": {"mutates_upstream": "no_mutation"},
    "sum_backward": {"axis_none_unhandled": "all", "mutates_upstream": "no_mutation"},
    "mean_backward": {"axis_none_unhandled": "all", "mutates_upstream": "no_mutation"},
    "getitem_backward": {"mutates_upstream": "no_mutation"},
    "cat_backward": {"wrong_axis": "axis", "mutates_upstream": "no_mutation"},
    "gelu_grad": {"tanh_approximation": "values", "integer_result": "values", "one_dimensional_only": "shapes"},
    "matmul_backward": {"missing_unbroadcast": "broadcast_batch", "missing_keepdims": "broadcast_batch",
                        "wrong_axis": "broadcast_batch", "mutates_upstream": "no_mutation"},
    "softmax_backward": {"missing_keepdims": "batch", "wrong_axis": "batch", "batched_T": "batch",
                         "mutates_input": "no_mutation", "mutates_upstream": "no_mutation"},
    "cross_entropy": {"log_of_softmax": "stability", "no_max_subtraction": "stability",
                      "whole_array_max": "stability", "sum_not_mean": "values", "mutates_input": "no_mutation"},
    "cross_entropy_grad": {"no_max_subtraction": "stability", "whole_array_max": "stability",
                           "sum_not_mean": "batch_mean", "integer_result": "values", "mutates_input": "no_mutation"},
    "backward": {"preorder_dfs": "diamond", "no_visited_set": "diamond"},
    "layernorm_backward": {"eps_misplaced": "eps", "dgamma_wrong_axes": "leading_axes", "batched_T": "leading_axes",
                           "integer_result": "params", "mutates_input": "no_mutation",
                           "mutates_upstream": "no_mutation"},
    "attention_backward": {"mask_after_softmax": "causal", "causal_mask_wrong": "causal",
                           "no_max_subtraction": "stability", "whole_array_max": "stability",
                           "mutates_input": "no_mutation", "mutates_upstream": "no_mutation"},
}
CASES = [(stub, pid, check) for stub, row in EXACT.items() for pid, check in row.items()]


@pytest.mark.parametrize("stub,pid,check", CASES)
def test_classic_pitfall_costs_exactly_its_check(stub, pid, check):
    fn = load(stub, pid)
    for seed in SEEDS:
        failed = {c.name for c in checks.checks_for(stub) if not checks.run_check(c.name, fn, seed, "en").passed}
        assert failed == {f"{stub}.{check}"}, (seed, failed)


def test_every_check_is_the_target_of_a_pitfall_or_a_guard():
    targeted = {f"{stub}.{check}" for stub, row in EXACT.items() for check in row.values()}
    guards = {"softmax.batch", "ce_loss.values", "ce_grad.values", "two_layer_grads.dW2", "unbroadcast.leading_axes",
              "unbroadcast.size_one_axes", "sum_backward.axis", "sum_backward.keepdims", "mean_backward.count",
              "getitem_backward.slices", "getitem_backward.repeated", "cat_backward.axis0", "gelu_grad.shapes",
              "jacobian_fd.no_mutation", "grad_fd.no_mutation", "matmul_backward.2d", "matmul_backward.batched",
              "softmax_backward.vjp", "cross_entropy_grad.values", "backward.chain", "backward.mlp",
              "softmax_jacobian.values", "gelu_grad.no_mutation", "sum_backward.no_mutation",
              "layernorm_backward.dx", "attention_backward.values", "attention_backward.batched"}
    assert set(checks.CHECKS) <= targeted | guards, set(checks.CHECKS) - targeted - guards


def test_reference_passes_every_check_in_both_languages():
    for c in checks.CHECKS.values():
        fn = getattr(reference, c.stub)
        for lang in ("en", "es"):
            r = checks.run_check(c.name, fn, 1, lang)
            assert r.passed and r.points == c.points and r.message == c.title[lang]


def test_no_student_s_hidden_inputs_make_the_grader_doubt_itself():
    """Each check confirms its reference against centred differences on every input it draws; where that fails
    for one student's draws, the submission cannot be graded (a GraderFault). Over many students' seeds every
    honest implementation passes and nothing faults: the draws keep the differences accurate."""
    faults = []
    for c in checks.CHECKS.values():
        honest = [getattr(reference, c.stub), *(pitfalls.load(c.stub, src)
                                                for src in pitfalls.implementations()[c.stub]["honest"].values())]
        for i in range(64):
            fn = honest[i % len(honest)]
            r = checks.run_check(c.name, fn, seed_for(f"student-{i}"), "en")
            if r.fault or not r.passed:
                faults.append((c.name, i, r.fault or r.message[:160]))
    assert not faults, faults[:5]


def test_stub_is_reported_as_not_implemented():
    def softmax(z):
        raise NotImplementedError()
    r = checks.run_check("softmax.values", softmax, lang="es")
    assert not r.passed and r.points == 0 and "sin implementar" in r.message


def test_failure_message_names_input_entry_numbers_and_pitfall():
    fn = load("softmax", "no_max_subtraction")
    en = checks.run_check("softmax.large_logits", fn, lang="en").message
    es = checks.run_check("softmax.large_logits", fn, lang="es").message
    assert "z = [ 1000., 0., -1000.]" in en and "entry (0,)" in en and "expected 1" in en and "nan" in en
    assert "did you subtract max(z)" in en
    assert "posición (0,)" in es and "¿restaste max(z)" in es
    fn = load("ce_grad", "sum_not_mean")
    assert "divide by B" in checks.run_check("ce_grad.batch", fn).message
    fn = load("jacobian_fd", "forward_differences")
    assert "forward differences" in checks.run_check("jacobian_fd.centred", fn).message
    fn = load("getitem_backward", "assignment_not_add_at")
    assert "np.add.at" in checks.run_check("getitem_backward.repeated", fn, lang="es").message
    fn = load("gelu_grad", "float32_result")
    assert "dtype drift" in checks.run_check("gelu_grad.values", fn).message
    assert "deriva del dtype" in checks.run_check("gelu_grad.values", fn, lang="es").message
    fn = load("softmax_backward", "wrong_sign")
    assert "centred differences of sum(ds * softmax(x)) give" in checks.run_check("softmax_backward.vjp", fn).message
    fn = load("softmax", "whole_array_max")
    assert "each row's own max" in checks.run_check("softmax.large_logits", fn).message


def test_checks_are_pure_functions_of_callable_seed_language():
    fn = load("softmax", "whole_array_sum")
    a = checks.run_check("softmax.batch", fn, 123, "en")
    np.random.seed(0)
    b = checks.run_check("softmax.batch", fn, 123, "en")
    assert a == b
    c = checks.run_check("softmax.batch", fn, 124, "en")
    assert a.message != c.message                  # another student, other numbers


def test_checks_are_quiet(capfd):
    noisy = load("softmax", "no_max_subtraction")

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
    fn = load("softmax", "no_max_subtraction")
    with pytest.raises(AssertionError, match=r"\[softmax.large_logits\].*max"):
        checks.grade("softmax.large_logits", fn, lang="en")


def test_self_check_prints_one_line_per_check(capsys):
    # How fast it answers is measured by the benchmarks, not asserted here (no timing in unit tests).
    for stub in {c.stub for c in checks.CHECKS.values()}:
        checks.self_check(getattr(reference, stub), lang="es")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(checks.CHECKS) and all(ln.startswith("✓") for ln in lines)


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
