"""The instructor CLI's own logic, without running nbgrader: collect, problem lines, merging languages, shards."""
import shutil
import subprocess
import sys

import nbformat

from gradcourse.instructor import batch
from gradcourse.instructor.cli import gradebook_url, main, merged_scores
from gradcourse.instructor.submissions import inspect_course

from .conftest import REPO


def _course(tmp_path):
    course = tmp_path / "grader"
    shutil.copytree(REPO / "grader" / "release", course / "release")
    shutil.copy(REPO / "grader" / "nbgrader_config.py", course)
    return course


def test_a_folder_that_is_not_a_course_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["--course", str(tmp_path), "summary"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an nbgrader course folder" in err and "Traceback" not in err


def test_collect_accepts_nbgrader_layout_and_flat_folders(tmp_path, capsys):
    course = _course(tmp_path)
    inbox = tmp_path / "downloads"
    (inbox / "ana" / "lab02-es").mkdir(parents=True)
    shutil.copy(REPO / "labs/es/lab02.ipynb", inbox / "ana" / "lab02-es" / "lab02.ipynb")
    (inbox / "ben").mkdir()
    shutil.copy(REPO / "labs/es/lab03.ipynb", inbox / "ben" / "lab03.ipynb")      # flat: read the metadata
    (inbox / "ben" / "lab00-en copy.ipynb").write_text("{ not json")   # unreadable: placed by its name, renamed
    assert main(["--course", str(course), "collect", str(inbox)]) == 0
    assert (course / "submitted/ana/lab02-es/lab02.ipynb").is_file()
    assert (course / "submitted/ben/lab03-es/lab03.ipynb").is_file()
    assert (course / "submitted/ben/lab00-en/lab00.ipynb").read_text() == "{ not json"
    assert "3 notebooks collected" in capsys.readouterr().out
    problems = inspect_course(course)
    assert problems == ["ben / lab00-en: lab00.ipynb is not a readable notebook (invalid JSON at line 1, column 3); "
                        "not graded."]


def test_problem_lines_for_deleted_and_retyped_cells(tmp_path):
    course = _course(tmp_path)
    nb = nbformat.read(REPO / "labs/en/lab03.ipynb", 4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "matmul_backward"]
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("grade_id") == "check-cross-entropy-values":
            nb.cells[i] = nbformat.v4.new_raw_cell(c.source, metadata=c.metadata)
    (course / "submitted/cris/lab03-en").mkdir(parents=True)
    nbformat.write(nb, course / "submitted/cris/lab03-en/lab03.ipynb")
    (course / "submitted/dani/lab9-xx").mkdir(parents=True)
    en, es = inspect_course(course), inspect_course(course, "es")
    assert any("deleted answer cells matmul_backward" in p for p in en)
    assert any("check-cross-entropy-values (code → raw)" in p for p in en)
    assert any("dani / lab9-xx: unknown assignment folder" in p for p in en)
    assert any("celdas de respuesta borradas matmul_backward" in p for p in es)


def test_export_keeps_the_better_language(tmp_path):
    (tmp_path / "grades.csv").write_text(
        "assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score,late_submission_penalty,"
        "score,max_score\n"
        "lab00-en,,,ana,,,,0.0,0.0,0.0,19.0\n"
        "lab00-es,,,ana,,,,12.0,0.0,12.0,19.0\n"
        "lab02-en,,,ana,,,,20.0,0.0,20.0,20.0\n"
        "lab02-es,,,ana,,,,0.0,0.0,0.0,20.0\n")
    scores, maxima = merged_scores(tmp_path)
    assert scores == {"ana": {"lab00": 12.0, "lab02": 20.0}} and maxima == {"lab00": 19.0, "lab02": 20.0}


def test_help_lists_every_step():
    out = subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--help"], capture_output=True, text=True,
                         cwd=REPO).stdout
    for step in ("generate", "release", "collect", "autograde", "feedback", "export", "summary"):
        assert step in out


def test_shards_split_a_class_into_disjoint_parts_that_cover_it():
    students = [f"student{i:03d}" for i in range(300)] + ["ana", "Zoë", "x-1"]
    for n in (1, 2, 3, 7):
        owners = {s: [k for k in range(n) if batch.in_shard(s, (k, n))] for s in students}
        assert all(len(found) == 1 for found in owners.values()), n
        if n > 1:  # and no shard is left empty or takes nearly everything
            sizes = [sum(found == [k] for found in owners.values()) for k in range(n)]
            assert min(sizes) > len(students) / n / 2, sizes


def test_jobs_take_similar_shares_of_the_class():
    students = [f"s{i:03d}" for i in range(200)]
    shares = batch.split(students, 2)
    assert len(shares) == 4 and {len(s) for s in shares} == {50}  # a few per process, to even out slow ones
    assert sorted(s for share in shares for s in share) == students
    assert batch.split(students, 1) == [students]   # one process: one start, nothing to even out
    assert len(batch.split(students[:10], 2)) == 2  # --jobs 2 means two processes, even for a small class
    assert len(batch.split(students[:3], 8)) == 3   # never more processes than students
    assert batch.split(["only"], 4) == [["only"]]


def test_a_bad_shard_is_refused_with_a_clear_message(tmp_path, capsys):
    course = _course(tmp_path)
    shutil.copy(REPO / "grader" / "nbgrader_config.py", course)
    assert main(["--course", str(course), "autograde", "--shard", "4/4"]) == 2
    assert "--shard wants K/N with 0 <= K < N" in capsys.readouterr().err


def test_the_gradebook_follows_the_course_db_url(tmp_path):
    course = _course(tmp_path)
    assert gradebook_url(course) == f"sqlite:///{course / 'gradebook.db'}"
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.db_url = "postgresql://g@db/x"\n')
    assert gradebook_url(course) == "postgresql://g@db/x"
