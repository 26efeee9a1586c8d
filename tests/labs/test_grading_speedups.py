"""What makes grading faster must leave what it computes alone: the nbgrader launcher's shortcuts
(gradcourse.scoring.course.quicken), the grades saved in one transaction, and one nbgrader process for several
assignments."""
import subprocess
import sys

import jsonschema
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, event, inspect
from sqlalchemy.engine import Engine

from gradcourse.instructor import cli
from gradcourse.instructor.batch import one_pattern
from gradcourse.scoring import course
from gradcourse.scoring.savegrades import SaveAutoGradesAtOnce

from .conftest import REPO

LABS = {f"lab0{i}-{lang}" for i in range(6) for lang in ("en", "es")}


# -- one nbgrader process for several assignments -----------------------------------------------------------------

def test_one_pattern_matches_exactly_the_assignments_asked_for():
    assert one_pattern(["lab03-en"], LABS) == "lab03-en"
    assert one_pattern(["lab00-en", "lab03-en", "lab04-en"], LABS) == "lab0[034]-en"
    assert one_pattern(sorted(LABS), LABS) == "*"
    # a stray folder in a student's submissions is not graded by the pattern either
    assert one_pattern(sorted(LABS), LABS | {"lab9-xx"}) == "lab0[012345]-e[ns]"
    # no simple pattern: one process per assignment, as before
    assert one_pattern(["lab00-en", "lab03-es"], LABS) is None
    assert one_pattern(["lab00-en", "lab10-en"], LABS | {"lab00-en", "lab10-en"}) == "lab[01]0-en"
    assert one_pattern(["a*b1", "a*b2"], {"axb1"}) == "a[*]b[12]"   # literal, not a wildcard


# -- the launcher's shortcuts ----------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def test_validate_checks_each_schema_once_and_every_instance_as_jsonschema_does(monkeypatch):
    validate = course._schema_checked_once(jsonschema.validate)
    checks = []
    real = jsonschema.Draft202012Validator.check_schema
    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema",
                        classmethod(lambda cls, schema: (checks.append(1), real(schema))))
    schema = {**SCHEMA, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    for _ in range(3):
        validate({"a": 1}, schema)
    assert len(checks) == 1
    for bad in ({"a": "x"}, {}, []):
        with pytest.raises(jsonschema.ValidationError) as ours:
            validate(bad, schema)
        with pytest.raises(jsonschema.ValidationError) as theirs:
            jsonschema.validate(bad, schema)
        assert ours.value.message == theirs.value.message
    schema["properties"]["a"]["type"] = 5          # changed: checked again, and found wrong
    with pytest.raises(jsonschema.SchemaError):
        validate({"a": 1}, schema)
    with pytest.raises(jsonschema.SchemaError):
        validate({}, {"type": 12})


def test_one_engine_per_url_and_tables_made_for_every_new_database(tmp_path):
    shared = course._engine_per_url(create_engine)
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    assert shared(one, future=True) is shared(one, future=True)
    assert shared(one, future=True) is not shared(two, future=True)
    meta = MetaData()
    Table("grades", meta, Column("id", Integer, primary_key=True))
    create_all = course._tables_checked_once(meta.create_all)
    for url in (one, one, two):
        create_all(bind=shared(url, future=True))
        assert inspect(shared(url, future=True)).get_table_names() == ["grades"]


def test_nbgrader_started_by_the_course_runs_without_the_format_checkers(tmp_path):
    code = ("from gradcourse.scoring.course import quicken, FORMAT_CHECKERS_ONLY\nquicken()\n"
            "import sys, nbformat, nbgrader.apps\n"
            "print(sorted(m for m in FORMAT_CHECKERS_ONLY if sys.modules.get(m) is not None))\n"
            "nbformat.validate(nbformat.v4.new_notebook())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
    done = course.run(tmp_path, "--version")
    assert done.returncode == 0 and "nbgrader version" in done.stdout


# -- grades saved in one transaction --------------------------------------------------------------------------

CELLS = {"q1": (1.0, True), "q2": (2.0, False), "q3": (3.0, True)}   # grade id: (points, passes)


def gradebook(path):
    url = f"sqlite:///{path}"
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        gb.add_notebook("nb", "a")
        for gid, (points, _) in CELLS.items():
            gb.add_grade_cell(gid, "nb", "a", max_score=points, cell_type="code")
            gb.add_source_cell(gid, "nb", "a", cell_type="code", source="check()", checksum="0" * 32)
        gb.add_solution_cell("answer", "nb", "a")
        gb.add_source_cell("answer", "nb", "a", cell_type="markdown", source="✍️", checksum="0" * 32)
        gb.add_student("s")
        gb.add_submission("a", "s")
    return url


def notebook():
    cells = [new_markdown_cell("my answer", metadata={"nbgrader": {
        "grade": False, "solution": True, "locked": False, "grade_id": "answer", "schema_version": 3}})]
    for gid, (points, passes) in CELLS.items():
        outputs = [] if passes else [new_output("error", ename="AssertionError", evalue="no", traceback=[])]
        cells.append(new_code_cell("check()", outputs=outputs, metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "grade_id": gid, "points": points,
            "schema_version": 3}}))
    return new_notebook(cells=cells)


def saved(url):
    with Gradebook(url) as gb:
        grades = {gid: (g.auto_score, g.needs_manual_grade) for gid in CELLS
                  for g in [gb.find_grade(gid, "nb", "a", "s")]}
        return grades, gb.find_comment("answer", "nb", "a", "s").auto_comment


def save(step, url):
    commits = []
    resources = {"nbgrader": {"notebook": "nb", "assignment": "a", "student": "s", "db_url": url}}

    def count(conn):
        commits.append(1)

    event.listen(Engine, "commit", count)
    try:
        step().preprocess(nbformat.from_dict(notebook()), resources)
    finally:
        event.remove(Engine, "commit", count)
    return len(commits)


def test_grades_saved_at_once_are_the_grades_nbgrader_saves(tmp_path):
    stock, ours = gradebook(tmp_path / "stock.db"), gradebook(tmp_path / "ours.db")
    stock_commits, our_commits = save(SaveAutoGrades, stock), save(SaveAutoGradesAtOnce, ours)
    assert saved(ours) == saved(stock)
    assert saved(ours)[0] == {"q1": (1.0, False), "q2": (0.0, False), "q3": (3.0, False)}
    per_cell = len(CELLS) + 1        # a commit for each grade cell and for the answer cell's comment
    assert our_commits == stock_commits - per_cell + 1


def test_a_notebook_whose_saving_fails_keeps_its_previous_grades(tmp_path, monkeypatch):
    url = gradebook(tmp_path / "gb.db")
    before = saved(url)
    real = Gradebook.find_grade

    def failing(self, grade_cell, *args):
        if grade_cell == "q3":
            raise RuntimeError("database gone")
        return real(self, grade_cell, *args)

    monkeypatch.setattr(Gradebook, "find_grade", failing)
    with pytest.raises(RuntimeError):
        save(SaveAutoGradesAtOnce, url)
    monkeypatch.undo()
    assert saved(url) == before                 # q1 and q2 were not written without q3


def test_autograde_of_several_assignments_starts_one_nbgrader_per_share(tmp_path, monkeypatch, capsys):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text((REPO / "grader" / "nbgrader_config.py").read_text())
    for name in ("lab00-en", "lab03-en", "lab04-en", "lab00-es"):
        (course / "source" / name).mkdir(parents=True)
    for student, names in {"ana": ("lab00-en", "lab03-en"), "ben": ("lab00-en", "lab03-en", "lab04-en")}.items():
        for name in names:
            (course / "submitted" / student / name).mkdir(parents=True)
            nbformat.write(new_notebook(), course / "submitted" / student / name / f"{name[:5]}.ipynb")
    calls = []
    monkeypatch.setattr(cli, "nbgrader", lambda course, *argv, **kw: calls.append(argv) or 0)
    cli.main(["--course", str(course), "autograde", "lab00-en", "lab03-en", "--jobs", "1"])
    # (nothing is graded here, so the command then retries each submission alone: the calls after the first)
    assert calls and "--CourseDirectory.assignment_id=lab0[03]-en" in calls[0], calls
    assert capsys.readouterr().out.startswith("4 submissions of 2 students, 1 grading processes")
