"""A fake class goes through the real nbgrader pipeline, driven by the instructor CLI, with the course's hardened
configuration: every honest implementation of the pitfall matrix and a sample of its wrong ones must get exactly
the verdicts the named checks give them in process."""
import contextlib
import csv
import html
import io
import os
import shutil
import subprocess
import sys
import time
from collections import Counter

import pytest

from gradcourse.grading import fingerprint, pitfalls
from gradcourse.instructor import report
from gradcourse.instructor.cli import gradebook_url, main
from gradcourse.authoring.labgen import labs

from . import fakeclass
from .conftest import REPO


def cli(course, *args, status=0):
    proc = subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), *args],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == status, proc.stdout + proc.stderr
    return proc.stdout


def cli_here(course, *args):
    """The same CLI, in this process (export and summary only read files and the gradebook)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--course", str(course), *args]) == 0
    return buf.getvalue()


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    course = fakeclass.copy_course(REPO / "grader", tmp_path_factory.mktemp("course") / "grader")
    t0 = time.time()
    out = {"release": cli(course, "release")}
    (course / ".gradcourse-secret").write_text(fakeclass.SECRET)   # so that the hidden seeds are known here
    all_labs = labs()
    expected, chosen, verdicts, named = fakeclass.build(course, all_labs)
    bad_expected, bad_lines = fakeclass.build_bad(course)
    # the unreadable and misnamed notebooks cannot be graded, and the command says so in its exit status
    out["autograde"] = cli(course, "autograde", status=1)
    out["feedback"] = cli(course, "feedback")
    out["export"] = cli_here(course, "export")
    out["summary"] = cli_here(course, "summary")
    out["summary_es"] = cli_here(course, "summary", "--lang", "es")
    out["report"] = cli_here(course, "report")
    out["report_es"] = cli_here(course, "report", "--lang", "es")
    out["seconds"] = time.time() - t0
    return dict(course=course, out=out, labs=all_labs, expected=expected, chosen=chosen, verdicts=verdicts,
                named=named, bad_expected=bad_expected, bad_lines=bad_lines)


def read_by_lab(course):
    with open(course / "grades_by_lab.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["student_id"]: r for r in rows}


def test_every_stub_has_three_honest_and_its_sampled_wrong_implementations(graded_class):
    seen = {}
    for picks in graded_class["chosen"].values():
        for stub, label in picks.items():
            seen.setdefault(stub, set()).add(label)
    for stub, labels in seen.items():
        honest = {lab for lab in labels if lab.startswith("honest:")}
        wrong = {lab for lab in labels if lab.startswith("wrong:")}
        assert len(honest) >= 3, stub
        assert wrong == {f"wrong:{pid}" for pid in fakeclass.SAMPLE[stub]}, stub


def test_honest_keep_full_marks_and_wrong_lose_points(graded_class):
    for (student, lab), picks in graded_class["chosen"].items():
        verdicts = graded_class["verdicts"][student, lab]
        if all(label.startswith("honest:") for label in picks.values()):
            assert all(verdicts.values()), (student, lab, verdicts)
        else:
            assert not all(verdicts.values()), (student, lab, picks)


def test_exported_scores_match_expected(graded_class):
    rows = read_by_lab(graded_class["course"])
    mismatches = []
    for (student, lab), want in graded_class["expected"].items():
        got = float(rows[student][lab])
        if abs(got - want) > 1e-9:
            mismatches.append((student, lab, want, got, graded_class["chosen"][student, lab]))
    assert not mismatches, "\n".join(map(str, mismatches))


def test_bad_submissions_get_a_line_and_their_score(graded_class):
    rows = read_by_lab(graded_class["course"])
    summary = graded_class["out"]["summary"]
    for student, want in graded_class["bad_expected"].items():
        if want is None:  # not graded: no score to import, and the reason in the not_graded column
            assert rows[student]["lab00"] == "" and "lab00-en" in rows[student]["not_graded"], rows[student]
        else:
            assert abs(float(rows[student]["lab00"]) - want) < 1e-9, (student, rows[student])
        assert any(student in line and graded_class["bad_lines"][student] in line
                   for line in summary.splitlines()), (student, summary)
    assert "problema(s)" in graded_class["out"]["summary_es"]


def test_autograde_shows_progress_and_feedback_exists(graded_class):
    course = graded_class["course"]
    assert "[1/" in graded_class["out"]["autograde"]
    not_graded = graded_class["out"]["autograde"].split("NOT GRADED")[1]
    assert "x-json" in not_graded and "x-name" in not_graded and "x-deleted" not in not_graded
    n_good = fakeclass.PER_LAB * len(graded_class["labs"])
    html = list((course / "feedback").glob("*/*/*.html"))
    assert len(html) >= n_good


def test_summary_table_counts_each_check(graded_class):
    summary = graded_class["out"]["summary"]
    n = fakeclass.PER_LAB + 2            # x-deleted and x-retyped are graded; x-json and x-name could not be
    lab00 = [v for (student, lab), v in graded_class["verdicts"].items() if lab == "lab00"]
    for name in ("softmax.values", "softmax.large_logits", "softmax_jacobian.large_logits", "ce_grad.stability"):
        passed = sum(v[name] for v in lab00) + 2     # the deleted-cell and re-typed submissions are honest there
        line = next(ln for ln in summary.splitlines() if f"check-{name.replace('.', '-').replace('_', '-')} " in ln)
        assert line.split()[-1] == f"{passed}/{n}", line
    line = next(ln for ln in summary.splitlines() if "derivation-softmax" in ln)
    assert "0 to grade by hand" in line


def test_every_student_is_in_the_export(graded_class):
    rows = read_by_lab(graded_class["course"])
    students = set(fakeclass.student_ids()) | set(graded_class["bad_expected"])
    assert students <= set(rows)
    assert all(sum(float(rows[s][lab]) > 0 for lab in graded_class["labs"]) >= 2 for s in fakeclass.student_ids())


# -- naming the mistake (gradcourse/grading/fingerprint.py) and the class report (gradcourse/instructor/report.py)

def planted_counts(graded_class):
    want = Counter()
    for (_, lab), pids in fakeclass.planted(graded_class["chosen"]).items():
        want.update((lab, pid) for pid in pids)
    return want


def test_planted_pitfalls_are_named_by_the_checks_in_process(graded_class):
    assert sum(planted_counts(graded_class).values()) >= 30
    for key, pids in fakeclass.planted(graded_class["chosen"]).items():
        assert set(graded_class["named"][key].values()) == pids, (key, graded_class["chosen"][key])


def test_feedback_of_each_planted_learner_names_their_pitfall(graded_class):
    course = graded_class["course"]
    checked = 0
    for (student, lab), pids in fakeclass.planted(graded_class["chosen"]).items():
        pages = list((course / "feedback" / student).glob(f"{lab}-*/{lab}.html"))
        if not pids:
            continue
        assert len(pages) == 1, (student, lab, pages)
        lang = pages[0].parent.name.rsplit("-", 1)[1]
        text = pages[0].read_text(encoding="utf-8")
        for pid in pids:
            p = pitfalls.PITFALLS[pid]
            assert f"[{fingerprint.MARKS[lang]}: {pid}]" in text, (student, lab, pid)
            assert html.escape(p.es if lang == "es" else p.en, quote=False) in text, (student, lab, pid)
            checked += 1
    assert checked == sum(planted_counts(graded_class).values())


def test_report_counts_exactly_what_was_planted(graded_class):
    course = graded_class["course"]
    run = report.read_run(course, gradebook_url(course))
    assert report.counts_of(run) == planted_counts(graded_class)
    with open(course / "reports" / "class-report-en.csv", newline="", encoding="utf-8") as f:
        rows = {(r["student_id"], r["lab"]): r for r in csv.DictReader(f)}
    for key, pids in fakeclass.planted(graded_class["chosen"]).items():
        assert set(rows[key]["pitfalls"].split()) == pids, (key, rows[key])
    for student in ("x-json", "x-name"):                 # not graded: a line with the reason, no score
        assert rows[student, "lab00"]["not_graded"] and rows[student, "lab00"]["score"] == "", rows[student, "lab00"]


def test_report_says_what_it_wrote_in_both_languages(graded_class):
    course = graded_class["course"]
    for lang, out in (("en", graded_class["out"]["report"]), ("es", graded_class["out"]["report_es"])):
        page = course / "reports" / f"class-report-{lang}.html"
        assert str(page) in out and page.with_suffix(".csv").is_file()
        text = page.read_text(encoding="utf-8")
        assert f'<html lang="{lang}">' in text and "<script" not in text and "http" not in text.split("<body>")[1]
        for _, pid in planted_counts(graded_class):
            p = pitfalls.PITFALLS[pid]
            assert html.escape(p.es if lang == "es" else p.en) in text
    assert "Errores típicos por laboratorio" in (course / "reports" / "class-report-es.html").read_text("utf-8")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_report_opens_offline_in_chromium(graded_class, browser, lang, tmp_path):
    """The page in a real browser: both plots decode, nothing is fetched, no script runs. With
    GRADCOURSE_SCREENSHOTS=1 the screenshots replace the ones of the instructors' page in the book."""
    from conftest import Visit, serve
    folder = graded_class["course"] / "reports"
    visit = Visit(browser, viewport={"width": 1180, "height": 860})
    with serve(folder) as url:
        visit.page.goto(f"{url}/class-report-{lang}.html")
        assert visit.page.get_attribute("html", "lang") == lang
        sizes = visit.page.locator("img").evaluate_all("imgs => imgs.map(i => [i.complete, i.naturalWidth])")
        assert len(sizes) == 2 and all(done and width > 100 for done, width in sizes), sizes
        assert visit.page.locator("script").count() == 0
        assert visit.page.locator("h1").inner_text() == ("Informe de la clase" if lang == "es" else "Class report")
        shots = {"class-report.png": None, "class-report-pitfalls.png": "#pitfalls"}
        for name, anchor in shots.items():
            if anchor:
                visit.page.evaluate(f"document.querySelector('{anchor}').scrollIntoView()")
            visit.page.screenshot(path=str(tmp_path / name))
            assert (tmp_path / name).stat().st_size > 20_000
            if os.environ.get("GRADCOURSE_SCREENSHOTS") == "1":
                shutil.copy(tmp_path / name, REPO / "book" / lang / "instructors" / "images" / name)
    visit.assert_clean()
    visit.context.close()
