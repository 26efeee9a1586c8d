"""The graded cell's format: what the generator writes is what the autograder reads back."""
import pytest

from gradcourse.grading import gradecell
from gradcourse.grading.checks import CHECKS
from gradcourse.lang import LANGS


@pytest.mark.parametrize("lang", LANGS)
def test_every_check_round_trips(lang):
    for name, check in CHECKS.items():
        cell = gradecell.source(name, check.stub, check.title[lang], lang)
        assert gradecell.checks_in(cell) == [(name, check.stub)], cell
        compile(cell, name, "exec")   # it is Python a notebook can run


def test_the_hidden_part_says_how_its_inputs_are_drawn():
    cell = gradecell.source("softmax.values", "softmax", "softmax(z)", "en")
    hidden = cell.split("### BEGIN HIDDEN TESTS\n")[1]
    assert "course secret" in hidden and "hidden=True" in hidden and "student_seed" not in cell


def test_only_plain_calls_are_read():
    # A name computed at run time, or a check passed by a variable, is not a graded call: nothing to trust.
    assert gradecell.checks_in('grade(name, softmax)\ngrade("softmax.values", f(x))\nx.grade("a.b", g)') == []
    assert gradecell.checks_in('grade("a.b", g)\ngrade("a.b", g, hidden=True)') == [("a.b", "g")]
