"""The class roster: which student an LMS's number stands for, and what an LMS's gradebook import needs to know
about each student.

A CSV file with a header row and two required columns: ``student_id``, the course's id (the folder name under
``submitted/``), and ``lms_id``, the number the LMS writes into the names of its downloads: Canvas's user id
(``ID`` in Canvas's gradebook), or Moodle's participant number, which Moodle gives each student once per Moodle
assignment. A student may therefore have several rows, one per number; a number belongs to one student.

Optional columns, read by ``export --lms``: ``name`` (Canvas's ``Student``), ``email`` (Moodle's ``Email address``),
``sis_user_id``, ``sis_login_id`` and ``section`` (Canvas's columns of the same names).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from .submissions import shown, valid_student_id

REQUIRED = ("student_id", "lms_id")
OPTIONAL = ("name", "email", "sis_user_id", "sis_login_id", "section")
_LMS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")   # Canvas and Moodle write digits; Canvas's anonymous ids
MAX_BYTES = 10 * 2**20                                      # a roster of 100 000 students is about 5 MB


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file and the line."""


@dataclass
class Student:
    lms_ids: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)      # the optional columns, first non-empty value of each


@dataclass
class Roster:
    path: Path
    students: dict[str, Student]
    by_lms_id: dict[str, str]

    def student_for(self, lms_id: str) -> str | None:
        return self.by_lms_id.get(lms_id)

    def has(self, column: str) -> bool:
        return any(column in s.info for s in self.students.values())


def load(path) -> Roster:
    """Read and check the roster at ``path``; raise ``RosterError`` saying what is wrong, and where."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"the roster {path} cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise RosterError(f"the roster {path} is larger than {MAX_BYTES // 2**20} MB")
    try:
        text = raw.decode("utf-8-sig")        # spreadsheets save a BOM in front of UTF-8
    except UnicodeDecodeError:
        raise RosterError(f"the roster {path} is not UTF-8 text; save it as CSV UTF-8") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RosterError(f"{path}: the header must name the columns student_id and lms_id "
                          f"(it has: {shown(', '.join(header) or 'nothing', 200)})")
    col = {name: header.index(name) for name in (*REQUIRED, *OPTIONAL) if name in header}
    students: dict[str, Student] = {}
    by_lms_id: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        value = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        student, lms_id = value["student_id"], value["lms_id"]
        where = f"{path}, line {line}"
        if not valid_student_id(student):
            raise RosterError(f"{where}: student_id {shown(repr(student), 80)} is not a valid student id "
                              "(letters, digits and . _ @ -, at most 64 characters)")
        if not _LMS_ID.fullmatch(lms_id):
            raise RosterError(f"{where}: lms_id {shown(repr(lms_id), 80)} is not an LMS number")
        owner = by_lms_id.setdefault(lms_id, student)
        if owner != student:
            raise RosterError(f"{where}: lms_id {lms_id} is already student {owner}'s (line {first_line[lms_id]})")
        first_line.setdefault(lms_id, line)
        entry = students.setdefault(student, Student())
        if lms_id not in entry.lms_ids:
            entry.lms_ids.append(lms_id)
        for name in OPTIONAL:
            if value.get(name) and name not in entry.info:
                entry.info[name] = value[name]
    if not students:
        raise RosterError(f"{path}: no student in the roster")
    return Roster(path, students, by_lms_id)
