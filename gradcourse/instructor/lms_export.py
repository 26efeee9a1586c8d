"""Grades in the layouts that Canvas's and Moodle's gradebook imports read, made from ``grades_by_lab.csv``.

Canvas (Grades > Import): the columns ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, in that
order, then one column per assignment, and a ``Points Possible`` row. Canvas finds each student by ``ID`` (its user
id, the number in its download's file names), else by SIS User ID or SIS Login ID, else by name; it matches each
column to the assignment of that title (or ``title (id)``) and offers the others as new assignments, with the
points possible of the row, on a review page before anything is saved.

Moodle (Grades > Import > CSV file): any columns; the import maps one of them to a user field (ID number, email
address, username or user id) and each other to a grade item. A row whose user Moodle cannot find stops the whole
import, so this file has no row of maxima and, given a roster, only the roster's students.

Both read an empty cell as "no grade": a lab whose last autograde gave no grade (``not_graded`` in
``grades_by_lab.csv``) is left empty, which clears the grade the LMS held for it, and the command says so.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .roster import Roster
from .submissions import lab_of

LMS = ("canvas", "moodle")
CANVAS_STUDENT = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


@dataclass
class Written:
    path: Path
    students: int = 0
    labs: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)      # who was left out and why, which cells are empty and why


def read_by_lab(path: Path) -> tuple[list[str], dict[str, str], list[dict[str, str]]]:
    """(labs, {lab: max score}, one dict per student) of ``grades_by_lab.csv``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labs = [k for k in (rows[0] if rows else {}) if k not in ("student_id", "total", "not_graded")]
    maxima = next((r for r in rows if r["student_id"] == "max_score"), {})
    return labs, {lab: maxima.get(lab, "") for lab in labs}, [r for r in rows if r["student_id"] != "max_score"]


def write(by_lab: Path, lms: str, roster: Roster | None, out: Path) -> Written:
    labs, maxima, rows = read_by_lab(by_lab)
    done = Written(out, labs=labs)
    students = []
    for row in rows:
        student = row["student_id"]
        if roster is not None and student not in roster.students:
            done.lines.append(f"  left out {student}: not in the roster {roster.path.name}")
            continue
        if lms == "canvas" and roster is not None and len(roster.students[student].lms_ids) != 1:
            ids = ", ".join(roster.students[student].lms_ids)
            done.lines.append(f"  left out {student}: {len(roster.students[student].lms_ids)} lms_ids in the "
                              f"roster ({ids}); Canvas knows a student by one")
            continue
        students.append(row)
        for assignment in row["not_graded"].split():
            done.lines.append(f"  empty {student} {lab_of(assignment)}: not graded in the last autograde run "
                              f"({assignment}); the import clears the grade the LMS has for it")
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        if lms == "canvas":
            w.writerow([*CANVAS_STUDENT, *labs])
            w.writerow(["Points Possible", "", "", "", "", *(maxima[lab] for lab in labs)])
            for row in students:
                w.writerow([*_canvas_student(row["student_id"], roster), *(row[lab] for lab in labs)])
        else:
            email = roster is not None and roster.has("email")
            w.writerow(["ID number", *(["Email address"] * email), *labs])
            for row in students:
                student = row["student_id"]
                address = [roster.students[student].info.get("email", "")] if email else []
                w.writerow([student, *address, *(row[lab] for lab in labs)])
    done.students = len(students)
    if lms == "canvas" and roster is None and any(not r["student_id"].isdigit() for r in students):
        done.lines.append("  note: without --roster the ID column holds the course's student ids; Canvas finds a "
                          "student by them only if they are Canvas user ids")
    return done


def _canvas_student(student: str, roster: Roster | None) -> list[str]:
    """Student, ID, SIS User ID, SIS Login ID, Section."""
    if roster is None:
        return [student, student, "", "", ""]
    entry = roster.students[student]
    return [entry.info.get("name", student), entry.lms_ids[0], entry.info.get("sis_user_id", ""),
            entry.info.get("sis_login_id", ""), entry.info.get("section", "")]
