"""An instructor's first week, through the real commands (each a `python -m gradcourse.instructor` process) on a
small class that hands lab 00 in through Moodle, Canvas and nbgrader's exchange (tests/labs/lmsclass.py): release,
collect each download with its roster, autograde, regrade the one student whose notebook was broken, feedback, and
export for each LMS. Also: every command the instructors' walk-through pages show parses."""
import csv
import re
import shlex
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from gradcourse.instructor.cli import build_parser, gradebook_url

from . import fakeclass, lmsclass
from .conftest import REPO

HAND_SCORE = 2


def cli(course, *args, status=0):
    proc = subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), *map(str, args)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == status, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    root = tmp_path_factory.mktemp("week")
    course = fakeclass.copy_course(REPO / "grader", root / "grader")
    out = {"release": cli(course, "release", "--lab", "lab00")}
    (course / ".gradcourse-secret").write_text(fakeclass.SECRET)     # so that the hidden seeds are known here
    built = lmsclass.build(course, root)
    out["moodle"] = cli(course, "collect", root / "moodle-lab00", "--roster", root / "roster-moodle.csv")
    out["canvas"] = cli(course, "collect", root / "canvas-lab00", "--roster", root / "roster-canvas.csv", status=1)
    out["exchange"] = cli(course, "collect", root / "exchange")
    out["autograde"] = cli(course, "autograde", "--jobs", "2", status=1)          # s04's notebook is broken
    before = {p: p.stat().st_mtime_ns for p in (course / "autograded").rglob("*.ipynb")}
    folder, points = lmsclass.resubmission(course, root)
    built["expected"]["s04"] = points
    out["resubmit"] = cli(course, "collect", folder, "--roster", root / "roster-moodle.csv")
    out["regrade"] = cli(course, "autograde", "lab00-es", "--student", "s04")
    after = {p: p.stat().st_mtime_ns for p in (course / "autograded").rglob("*.ipynb")}
    out["summary"] = cli(course, "summary")
    with Gradebook(gradebook_url(course)) as gradebook:       # what the formgrader's Save does
        grade = gradebook.find_grade("derivation-softmax", "lab00", "lab00-es", "s02")
        grade.manual_score, grade.needs_manual_grade = HAND_SCORE, False
        gradebook.find_comment("derivation-softmax", "lab00", "lab00-es", "s02").manual_comment = "Bien."
        gradebook.db.commit()
    built["expected"]["s02"] += HAND_SCORE
    out["summary_graded"] = cli(course, "summary")
    out["feedback"] = cli(course, "feedback")
    out["canvas_export"] = cli(course, "export", "--lms", "canvas", "--roster", root / "roster-canvas.csv")
    out["moodle_export"] = cli(course, "export", "--lms", "moodle", "--roster", root / "roster-moodle.csv")
    return dict(course=course, root=root, out=out, before=before, after=after, **built)


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_moodle_download_is_filed_under_the_rosters_ids(week):
    out = week["out"]["moodle"]
    assert out.splitlines()[0] == "found 4 Moodle folders; LMS numbers mapped by roster-moodle.csv"
    for student, (name, number, lang, _) in lmsclass.MOODLE.items():
        assert (f"collect {student}: {name}_{number}_assignsubmission_file_/lab00.ipynb -> "
                f"submitted/{student}/lab00-{lang}/lab00.ipynb") in out, out
    assert "filed by what is left of its metadata" in out          # s04's broken notebook stays Spanish
    assert "ignored Bruno Díaz_5502_assignsubmission_onlinetext_: Moodle's onlinetext submission" in out
    assert out.splitlines()[-1] == "4 notebooks collected, 0 refused, 1 ignored"


def test_canvas_download_is_collected_and_what_cannot_be_placed_is_said(week):
    out = week["out"]["canvas"]
    assert "collect s05: lópezeva_1005_88001_lab00.ipynb -> submitted/s05/lab00-en/lab00.ipynb" in out, out
    assert ("collect s06: sanzfede_LATE_1006_88002_lab00-1.ipynb -> submitted/s06/lab00-es/lab00.ipynb "
            "(renamed: the released notebook is lab00.ipynb)") in out
    assert re.search(r"refused s07: vidalgema_1007_88003_lab00\.ipynb: not a readable notebook .*; lab or language "
                     r"unknown", out)
    assert out.splitlines()[-1] == "2 notebooks collected, 1 refused, 0 ignored"
    assert "collect s08: lab00-en/lab00.ipynb -> submitted/s08/lab00-en/lab00.ipynb" in week["out"]["exchange"]


def test_autograde_names_the_broken_notebook_and_regrading_one_student_touches_nobody_else(week):
    out = week["out"]["autograde"]
    assert "7 submissions of 7 students, 2 grading processes at a time" in out
    assert re.search(r"NOT GRADED: 1 submission\(s\).*\n  s04 lab00-es: .*not a readable notebook", out), out
    regrade = week["out"]["regrade"]
    assert "1 submissions of 1 students" in regrade and "autograded 1 of 1 submissions" in regrade, regrade
    changed = {p for p in week["after"] if week["before"].get(p) != week["after"][p]}
    assert {p.parts[-3] for p in changed} == {"s04"}
    assert "collect s04: Diego Mora_5504_assignsubmission_file_/lab00.ipynb" in week["out"]["resubmit"]


def test_exports_for_each_lms_carry_the_checks_scores(week):
    course, expected = week["course"], week["expected"]
    by_lab = {row[0]: row for row in _csv(course / "grades_by_lab.csv")}
    for student, want in expected.items():
        if want == "refused":
            assert student not in by_lab
        else:
            assert float(by_lab[student][1]) == pytest.approx(want), (student, by_lab[student])
    canvas = _csv(course / "grades_canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lab00"]
    assert canvas[1][0] == "Points Possible" and float(canvas[1][5]) == float(by_lab["max_score"][1])
    assert [(r[0], r[1], r[2], r[4], float(r[5])) for r in canvas[2:]] == [
        (name, str(number), f"U{number}", "Group A", expected[s])
        for s, (name, number, _, _) in lmsclass.CANVAS.items() if expected[s] != "refused"]
    moodle = _csv(course / "grades_moodle.csv")
    assert moodle[0] == ["ID number", "Email address", "lab00"]
    assert [(r[0], r[1], float(r[2])) for r in moodle[1:]] == [
        (s, f"{s}@uni.example", expected[s]) for s in lmsclass.MOODLE]
    out = week["out"]["canvas_export"]
    assert "wrote grader/grades_canvas.csv: 2 students, 1 lab, for Canvas's gradebook import" in out, out
    assert "left out s01: not in the roster roster-canvas.csv" in out


def test_the_written_answer_waits_for_hand_grading_and_counts_once_graded(week):
    line = next(ln for ln in week["out"]["summary"].splitlines() if "derivation-softmax" in ln)
    assert line.endswith("1 to grade by hand"), line
    line = next(ln for ln in week["out"]["summary_graded"].splitlines() if "derivation-softmax" in ln)
    assert line.endswith("0 to grade by hand"), line
    page = (week["course"] / "feedback" / "s02" / "lab00-es" / "lab00.html").read_text(encoding="utf-8")
    answer = page[page.index("Derivación."):]
    answer = answer[:answer.index("</div>")]
    assert answer.count("<mjx-container") == 5
    assert "\\frac" not in re.sub(r'aria-label="[^"]*"', "", answer)         # typeset, its TeX only as its label
    assert "Bien." in page


def test_feedback_pages_have_typeset_math_in_the_learners_language(week):
    for student, lang in (("s02", "es"), ("s01", "en")):
        page = (week["course"] / "feedback" / student / f"lab00-{lang}" / "lab00.html").read_text(encoding="utf-8")
        assert f'<html lang="{lang}">' in page and page.count("<mjx-container") >= 20
        assert "<script" not in page and 'class="gc-tex' not in page


def test_the_walk_through_pages_show_commands_that_exist():
    parser = build_parser()
    shown = 0
    for lang in ("en", "es"):
        page = (REPO / "book" / lang / "instructors" / "first-week.md").read_text(encoding="utf-8")
        for block in re.findall(r"```(?:bash|console)\n(.*?)```", page, flags=re.DOTALL):
            for line in block.splitlines():
                line = line.removeprefix("$ ").split("  #")[0].strip()
                if line.startswith("python -m gradcourse.instructor"):
                    argv = shlex.split(line)[3:]
                    try:
                        parser.parse_args(argv)
                    except SystemExit:
                        pytest.fail(f"book/{lang}/instructors/first-week.md: `{line}` does not parse")
                    shown += 1
    assert shown >= 2 * 8
