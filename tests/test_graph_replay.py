"""Lab 04 is scored outside the learner's process too: its graph crosses the wire as data and is rebuilt with the
notebook's own ``Tensor`` inside the sandbox (gradcourse/scoring/graph.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

from gradcourse.grading import reference as ref
from gradcourse.grading.checks import run_check
from gradcourse.scoring import graph
from gradcourse.scoring.autograde import learner_cells
from gradcourse.scoring.session import LearnerProcess

from labs.fixtures.implementations import IMPLEMENTATIONS  # tests/ has no __init__.py, so pytest puts it on sys.path

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ("backward.chain", "backward.diamond", "backward.mlp")
HIDDEN_SEED = 987654321


def test_a_shared_node_is_sent_once_and_rebuilt_once():
    a = ref.Tensor(np.arange(3.0))
    u = a * a
    loss = (u + u * ref.Tensor(3.0)).sum()
    spec = graph.describe(loss)
    assert [n["op"] for n in spec["nodes"]].count("mul") == 2
    built = graph.rebuild(spec, ref.Tensor)
    assert len(built) == len(graph.nodes_of(loss)) == 6
    ref.backward(built[-1])
    np.testing.assert_allclose(built[0].grad, 8 * np.arange(3.0))


def test_grads_of_the_wrong_shape_are_not_taken():
    a = ref.Tensor(np.ones(3))
    loss = a.sum()
    graph.take_grads(loss, [np.ones(4), np.ones(())])
    assert not a.grad.any()


def _score(backward_source: str) -> tuple[bool, dict[str, bool]]:
    release = nbformat.read(ROOT / "grader" / "release" / "lab04-en" / "lab04.ipynb", as_version=4)
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "backward":
            cell.source = backward_source
    with LearnerProcess(call_seconds=10) as learner:
        loaded = all(r.ok for r in learner.run([(str(i), src) for i, src in learner_cells(release)]))
        return loaded, {name: run_check(name, learner.function("backward"), HIDDEN_SEED).passed for name in CHECKS}


HONEST = IMPLEMENTATIONS["backward"]["honest"]["kahn"]  # a different algorithm from the course's own


@pytest.mark.parametrize("name, source, expect", [
    ("honest", HONEST, True),
    # The course package is not in the sandbox: borrowing its reference backward gets a no-op.
    ("borrowed reference", "from gradcourse.grading.reference import backward\n", False),
    # Touching only the leaves it can find, without running the notebook's closures.
    ("leaves only", "def backward(root):\n    for p in root.parents:\n        p.grad = np.ones_like(p.data)\n",
     False),
])
def test_backward_is_scored_in_the_sandbox(name, source, expect):
    loaded, verdicts = _score(source)
    assert loaded or not expect, "the solved lab (training loop and plots included) should run in the sandbox"
    assert all(verdicts.values()) if expect else not any(verdicts.values()), (name, verdicts)
