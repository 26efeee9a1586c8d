"""The pitfall matrix through the checks, in process: every wrong implementation loses points on the public seed
and on every hidden seed tried, every honest one keeps them all, and the mutation score (caught / total) is
printed at the end of the run (tests/conftest.py) and must be 100%."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcourse.grading import checks, pitfalls
from gradcourse.grading.context import seed_for

SEEDS = [checks.PUBLIC_SEED, seed_for("s01"), seed_for("held-out")]
STUBS = list(pitfalls.FUNCTIONS)


def test_every_graded_function_is_a_column_and_every_column_is_graded():
    assert {c.stub for c in checks.CHECKS.values()} == set(STUBS)


def test_the_matrix_is_complete():
    assert pitfalls.complete() == []


@pytest.mark.parametrize("stub", STUBS)
def test_each_function_has_honest_implementations_that_differ(stub):
    others = {name: src for name, src in pitfalls.HONEST[stub].items() if name != "solution"}
    assert len(others) >= 2
    assert len(set(others.values()) | {pitfalls.SOLUTION[stub]}) == len(others) + 1


def test_every_general_pitfall_occurs_somewhere_and_every_not_applicable_cell_says_why():
    for pid in pitfalls.PITFALLS:
        applicable = [s for s in STUBS if (pid, s) in pitfalls.MATRIX and pitfalls.variants(pid, s)]
        assert applicable, f"{pid} is not applicable anywhere"
    for cell in pitfalls.MATRIX.values():
        if isinstance(cell, pitfalls.NotApplicable):
            assert len(cell.reason) > 15


def failed_checks(stub, fn, seed):
    results = [checks.run_check(c.name, fn, seed, "en") for c in checks.checks_for(stub)]
    faults = [(r.name, r.fault) for r in results if r.fault]
    assert not faults, faults                 # a learner's code never makes the grader fault
    return [r.name for r in results if not r.passed]


@pytest.fixture(scope="session")
def mutation_score(request):
    """{(stub, pitfall, variant): caught on every seed} for the whole run; tests/conftest.py prints it."""
    score = {}
    request.config.mutation_score = score
    return score


@pytest.mark.parametrize("stub", STUBS)
def test_matrix_wrong_lose_points_honest_keep_them(stub, mutation_score):
    escaped = []
    for pid, sources in pitfalls.wrong_implementations(stub).items():
        for k, src in enumerate(sources):
            fn = pitfalls.load(stub, src)
            missed = [seed for seed in SEEDS if not failed_checks(stub, fn, seed)]
            mutation_score[stub, pid, k] = not missed
            if missed:
                escaped.append(f"{pid}[{k}] passes every check with seed(s) {missed}")
    for name, src in pitfalls.HONEST[stub].items():
        fn = pitfalls.load(stub, src)
        for seed in SEEDS:
            assert failed_checks(stub, fn, seed) == [], f"honest {name} loses points (seed {seed})"
    assert not escaped, escaped


HONEST = [(stub, name) for stub in STUBS for name in pitfalls.HONEST[stub]]


@settings(max_examples=40)
@given(case=st.sampled_from(HONEST), seed=st.integers(0, 2**32 - 1))
def test_honest_implementations_pass_every_check_for_any_seed(case, seed):
    stub, name = case
    assert failed_checks(stub, pitfalls.load(stub, pitfalls.HONEST[stub][name]), seed) == []


WRONG = [(stub, pid, k) for stub in STUBS for pid, srcs in pitfalls.wrong_implementations(stub).items()
         for k in range(len(srcs))]


@settings(max_examples=40)
@given(case=st.sampled_from(WRONG), seed=st.integers(0, 2**32 - 1))
def test_wrong_implementations_lose_points_for_any_seed(case, seed):
    stub, pid, k = case
    assert failed_checks(stub, pitfalls.load(stub, pitfalls.variants(pid, stub)[k]), seed) != []


def test_derived_implementations_are_the_solution_plus_one_mistake():
    src = pitfalls.derive("softmax", "float32")
    fn = pitfalls.load("softmax", src)
    z = np.array([1.0, 2.0, 3.0])
    assert fn(z).dtype == np.float32 and np.allclose(fn(z), pitfalls.load("softmax", pitfalls.SOLUTION["softmax"])(z))
    acc = pitfalls.load("ce_grad", pitfalls.derive("ce_grad", "accumulate"))
    first, second = acc(z, 0).copy(), acc(z, 0)
    assert np.allclose(second, 2 * first)


def test_the_matrix_prints_as_a_table():
    text = pitfalls.table()
    assert "no_max_subtraction" in text and "softmax" in text
    assert len(text.splitlines()) == len(pitfalls.PITFALLS) + 1 + len(STUBS)
