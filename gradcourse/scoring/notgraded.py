"""Submissions that got no grade in their last autograde run, and why: one small file each, so that the course's
CLI, `summary` and a later run all see the same list, whichever `nbgrader autograde` process wrote it.

A submission lands here when grading it was not the learner's doing to fail (the sandbox could not start, the
grader's own machinery failed) or when its files are not what they claim to be (a symlink in its path). It is
cleared by the next run that grades it.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER = "not_graded"
MAX_REASON = 2000


def _file(course: Path, student: str, assignment: str) -> Path | None:
    if not all(_plain_name(x) for x in (student, assignment)):
        return None
    return Path(course) / FOLDER / student / f"{assignment}.txt"


def _plain_name(name: str) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\0" not in name


def record(course: Path, student: str, assignment: str, reason: str) -> None:
    path = _file(course, student, assignment)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(" ".join(reason.split())[:MAX_REASON] + "\n", encoding="utf-8")
    os.replace(tmp, path)


def clear(course: Path, student: str, assignment: str) -> None:
    path = _file(course, student, assignment)
    if path is not None:
        path.unlink(missing_ok=True)


def listed(course: Path) -> dict[tuple[str, str], str]:
    """{(student, assignment): reason} of every submission whose last run gave no grade."""
    root = Path(course) / FOLDER
    found = {}
    for path in sorted(root.glob("*/*.txt")) if root.is_dir() else []:
        found[(path.parent.name, path.stem)] = path.read_text(encoding="utf-8", errors="replace").strip()
    return found


def unsafe_submission(course: Path, student: str, assignment: str) -> str:
    """Why the submission must not be graded, or "": a symbolic link anywhere from ``submitted/`` down would let
    a learner hand in a file that is not theirs (the solved source notebook, another student's work), or have
    the grader copy one of the machine's files into the autograded folder."""
    course = Path(course)
    folder = course / "submitted"
    if folder.is_symlink():
        return "submitted/ is a symbolic link; only regular files are graded"
    for part in (student, assignment):
        folder = folder / part
        if folder.is_symlink():
            return f"{folder.relative_to(course)} is a symbolic link; only regular files are graded"
    for where, dirs, files in os.walk(folder):  # os.walk does not descend into linked folders; they are named
        for name in [*dirs, *files]:
            path = Path(where) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                return f"{path.relative_to(course)} is not a regular file; only regular files are graded"
    return ""
