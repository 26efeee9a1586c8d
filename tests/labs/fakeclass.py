"""Build a fake class from the released notebooks and a sample of the pitfall matrix.

Every honest implementation of the matrix and a sample of its wrong ones (the mistakes this course was found to
miss, and the classic ones) are handed in; what each submission must score is computed here, in process, by running
the same named checks on the same functions with the public seed and the student's hidden seed (the course secret
is written before grading), so that the pipeline is tested for giving the verdicts the checks give.

The wrong implementations are planted pitfalls: the feedback of each of these learners must name their mistake
(gradcourse/grading/fingerprint.py), and the class report must count each exactly once per submission.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat

from gradcourse.grading import pitfalls
from gradcourse.grading.checks import CHECKS, PUBLIC_SEED, checks_for, run_check
from gradcourse.grading.context import seed_for
from gradcourse.authoring.labgen import assignment

N_STUDENTS = 10
N_HONEST_FIRST = 3
PER_LAB = 5          # 3 honest + 2 wrong implementations per stub; each student hands in some of the 5 labs
SECRET = "fake-class-secret"
# Two wrong implementations per function, none of them stateful (their verdicts depend on the inputs only).
SAMPLE = {
    "softmax": ("whole_array_max", "mutates_input"),
    "softmax_jacobian": ("no_max_subtraction", "integer_result"),
    "jacobian_fd": ("forward_differences", "mutates_input"),
    "grad_fd": ("integer_result", "half_step"),
    "ce_loss": ("log_of_softmax", "float32_result"),
    "ce_grad": ("no_max_subtraction", "sum_not_mean"),
    "two_layer_grads": ("no_relu_mask", "mutates_input"),
    "unbroadcast": ("one_leading_axis_only", "mutates_upstream"),
    "sum_backward": ("missing_keepdims", "axis_none_unhandled"),
    "mean_backward": ("whole_array_sum", "mutates_upstream"),
    "getitem_backward": ("assignment_not_add_at", "integer_result"),
    "cat_backward": ("wrong_axis", "transposed_result"),
    "gelu_grad": ("float32_result", "one_dimensional_only"),
    "matmul_backward": ("batched_T", "missing_unbroadcast"),
    "softmax_backward": ("batched_T", "mutates_upstream"),
    "cross_entropy": ("whole_array_max", "sum_not_mean"),
    "cross_entropy_grad": ("no_max_subtraction", "mutates_input"),
    "backward": ("preorder_dfs", "no_seed"),
    "layernorm_backward": ("ln_no_variance_term", "dgamma_wrong_axes"),
    "attention_backward": ("softmax_vjp_columnwise", "mask_after_softmax"),
}


def student_ids():
    return [f"s{i + 1:02d}" for i in range(N_STUDENTS)]


def choose(stub: str, i: int):
    """Student i's implementation of `stub`: (label, source)."""
    honest = [(n, src) for n, src in pitfalls.HONEST[stub].items() if n != "solution"]
    honest.append(("solution", pitfalls.SOLUTION[stub]))
    wrong = [(pid, pitfalls.variants(pid, stub)[0]) for pid in SAMPLE[stub]]
    if N_HONEST_FIRST <= i < N_HONEST_FIRST + len(wrong):
        name, src = wrong[i - N_HONEST_FIRST]
        return f"wrong:{name}", src
    name, src = honest[i % len(honest)]
    return f"honest:{name}", src


def stubs_in(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def auto_points(nb):
    return sum(c.metadata["nbgrader"]["points"] for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))


def fill(nb, sources: dict):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution") and gid in sources:
            c.source = sources[gid]
    return nb


def submit(course: Path, student: str, name: str, nb, filename=None):
    lab = name.split("-")[0]
    d = course / "submitted" / student / name
    d.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, d / (filename or f"{lab}.ipynb"))
    return d


_CHECK_CALL = re.compile(r'^grade\("([^"]+)", (\w+)\)$', re.M)


def grade_in_process(nb, student: str, named: dict | None = None) -> dict[str, bool]:
    """{check: passed with the public and the hidden seed} for a filled notebook: its set-up and answer cells run
    here, in one namespace as in the notebook, and the named checks call the functions they define. ``named``, if
    given, receives {check: the pitfall its failure names}, seeds in the order autograde tries them."""
    ns = {"__name__": "__main__"}
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and (meta.get("grade_id") == "setup" or meta.get("solution")):
            exec(compile(c.source, f"<{meta.get('grade_id')}>", "exec"), ns)  # noqa: S102 - the fixtures' code
    hidden = seed_for(f"{SECRET}:{student}")
    verdicts = {}
    for c in nb.cells:
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade") \
                and not c.metadata["nbgrader"].get("solution"):
            for name, fn in _CHECK_CALL.findall(c.source):
                failed = next((r for r in (run_check(name, ns[fn], seed) for seed in (PUBLIC_SEED, hidden))
                               if not r.passed), None)
                verdicts[name] = failed is None
                if named is not None and failed is not None and failed.pitfall:
                    named[name] = failed.pitfall
    return verdicts


def build(course: Path, labs: list[str]):
    """Write every student's submissions; return ({(student, lab): expected score}, {(student, lab): choices},
    {(student, lab): {check: passed}}, {(student, lab): {check: pitfall named in process}})."""
    expected, chosen, verdicts, named = {}, {}, {}, {}
    ids = student_ids()
    for li, lab in enumerate(labs):
        for student in ids:
            expected[student, lab] = 0.0          # not handed in: 0 in the export
        for i in range(PER_LAB):                  # i is the role: 0-2 honest, 3-4 wrong implementations
            student = ids[(2 * li + i) % N_STUDENTS]
            lang = ("en", "es")[(i + li) % 2]
            name = assignment(lab, lang)
            released = nbformat.read(course / "release" / name / f"{lab}.ipynb", as_version=4)
            sources, picks = {}, {}
            for stub in stubs_in(released):
                label, src = choose(stub, i)
                sources[stub] = src
                picks[stub] = label
            filled = fill(released, sources)
            submit(course, student, name, filled)
            named[student, lab] = {}
            verdicts[student, lab] = grade_in_process(filled, student, named[student, lab])
            expected[student, lab] = sum(CHECKS[n].points for n, ok in verdicts[student, lab].items() if ok)
            chosen[student, lab] = picks
    return expected, chosen, verdicts, named


def planted(chosen: dict) -> dict[tuple[str, str], set]:
    """{(student, lab): the pitfalls planted in that submission}: its feedback must name each of them."""
    return {key: {label.split(":", 1)[1] for label in picks.values() if label.startswith("wrong:")}
            for key, picks in chosen.items()}


def honest_sources(nb):
    return {stub: choose(stub, 0)[1] for stub in stubs_in(nb)}


def build_bad(course: Path, lab="lab00"):
    """Broken submissions; return ({student: expected score of `lab`}, {student: fragment of the summary line})."""
    name = assignment(lab, "en")
    released = nbformat.read(course / "release" / name / f"{lab}.ipynb", as_version=4)
    good = fill(released, honest_sources(released))
    full = auto_points(released)
    expected, lines = {}, {}

    d = submit(course, "x-json", name, good)
    text = (d / f"{lab}.ipynb").read_text()
    (d / f"{lab}.ipynb").write_text(text[: len(text) // 2])
    expected["x-json"], lines["x-json"] = None, "not a readable notebook"  # None: not graded, blank in the export

    submit(course, "x-name", name, good, filename=f"{lab.capitalize()} (1).ipynb")
    expected["x-name"], lines["x-name"] = None, f"{lab}.ipynb is missing"

    nb = fill(released, honest_sources(released))
    drop = {"check-softmax-batch", "ce_loss"}
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in drop]
    submit(course, "x-deleted", name, nb)
    expected["x-deleted"] = full - sum(c.points for c in checks_for("ce_loss"))
    lines["x-deleted"] = "deleted answer cells ce_loss"

    nb = fill(released, honest_sources(released))
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("grade_id") == "check-softmax-values":
            nb.cells[i] = nbformat.v4.new_markdown_cell(c.source, metadata=c.metadata)
    submit(course, "x-retyped", name, nb)
    expected["x-retyped"], lines["x-retyped"] = full, "re-typed cells"
    return expected, lines


def copy_course(src: Path, dest: Path):
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(src / "source", dest / "source")
    return dest
