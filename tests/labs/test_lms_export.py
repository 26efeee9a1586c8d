"""export --lms: the CSV layouts Canvas's and Moodle's gradebook imports read, made from grades_by_lab.csv.

The files are read back the way each LMS reads them (the header Canvas checks, the row Moodle would stop at); the
whole command on a graded class is in test_first_week.py."""
import csv

import pytest

from gradcourse.instructor import lms_export
from gradcourse.instructor.roster import load

BY_LAB = ("student_id,lab00,lab02,total,not_graded\n"
          "max_score,19,20,39,\n"
          "s-ana,19,12.5,31.5,\n"
          "s-bea,7,,7,lab02-es\n"
          "s-cai,0,20,20,\n")


@pytest.fixture
def by_lab(tmp_path):
    path = tmp_path / "grades_by_lab.csv"
    path.write_text(BY_LAB)
    return path


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_layout_with_a_roster(tmp_path, by_lab):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id,name,sis_user_id,sis_login_id,section\n"
                      "s-ana,1001,\"Pérez, Ana\",A-17,ana@uni.example,Grupo 1\n"
                      "s-bea,1002,\"Ruiz, Bea\",A-18,bea@uni.example,Grupo 2\n"
                      "s-dan,1004,\"Dan, Dan\",A-20,dan@uni.example,Grupo 2\n")
    done = lms_export.write(by_lab, "canvas", load(roster), tmp_path / "grades_canvas.csv")
    rows = _rows(done.path)
    # the header Canvas's importer checks: "Student", "ID", SIS User ID then SIS Login ID, "Section" last
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lab00", "lab02"]
    assert rows[1] == ["Points Possible", "", "", "", "", "19", "20"]
    assert rows[2:] == [["Pérez, Ana", "1001", "A-17", "ana@uni.example", "Grupo 1", "19", "12.5"],
                        ["Ruiz, Bea", "1002", "A-18", "bea@uni.example", "Grupo 2", "7", ""]]
    assert done.students == 2
    assert "  left out s-cai: not in the roster roster.csv" in done.lines
    assert any(line.startswith("  empty s-bea lab02: not graded") for line in done.lines)


def test_canvas_needs_one_id_per_student(tmp_path, by_lab):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id\ns-ana,1001\ns-ana,2001\ns-bea,1002\ns-cai,1003\n")
    done = lms_export.write(by_lab, "canvas", load(roster), tmp_path / "grades_canvas.csv")
    assert [r[1] for r in _rows(done.path)[2:]] == ["1002", "1003"]
    assert ("  left out s-ana: 2 lms_ids in the roster (1001, 2001); Canvas knows a student by one" in done.lines)


def test_canvas_without_a_roster_uses_the_student_ids_and_warns_when_they_are_not_canvas_ids(tmp_path, by_lab):
    done = lms_export.write(by_lab, "canvas", None, tmp_path / "grades_canvas.csv")
    assert [r[:2] for r in _rows(done.path)[2:]] == [["s-ana", "s-ana"], ["s-bea", "s-bea"], ["s-cai", "s-cai"]]
    assert any("Canvas finds a student by them only if they are Canvas user ids" in line for line in done.lines)
    numeric = tmp_path / "numeric.csv"
    numeric.write_text(BY_LAB.replace("s-ana", "1001").replace("s-bea", "1002").replace("s-cai", "1003"))
    done = lms_export.write(numeric, "canvas", None, tmp_path / "grades_canvas.csv")
    assert not any("Canvas user ids" in line for line in done.lines)


def test_moodle_layout_has_one_row_per_known_user_and_no_row_of_maxima(tmp_path, by_lab):
    done = lms_export.write(by_lab, "moodle", None, tmp_path / "grades_moodle.csv")
    rows = _rows(done.path)
    assert rows == [["ID number", "lab00", "lab02"], ["s-ana", "19", "12.5"], ["s-bea", "7", ""], ["s-cai", "0", "20"]]
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id,email\ns-ana,5501,ana@uni.example\ns-ana,5601,\ns-bea,5502,\n")
    done = lms_export.write(by_lab, "moodle", load(roster), tmp_path / "grades_moodle.csv")
    # Moodle stops the whole import at a user it cannot find: s-cai, whom the roster lacks, is left out
    assert _rows(done.path) == [["ID number", "Email address", "lab00", "lab02"],
                                ["s-ana", "ana@uni.example", "19", "12.5"], ["s-bea", "", "7", ""]]
    assert "  left out s-cai: not in the roster roster.csv" in done.lines
