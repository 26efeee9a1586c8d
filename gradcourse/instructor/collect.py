"""``collect``: copy learners' downloaded notebooks into ``<course>/submitted/<student>/<assignment>/<notebook>``.

A download is written by learners, so nothing in it decides by itself where a file goes:

* ``<assignment>`` is one of the released assignments (the folders under ``<course>/release/``), compared as an exact
  string, after checking that the notebook's metadata values have the expected form (``labNN``, ``en``/``es``);
* ``<notebook>`` is the released notebook's file name (a file named otherwise is filed under it when the assignment
  has a single notebook, and the report says so);
* ``<student>`` is the download's folder name, a plain id (see ``submissions.valid_student_id``).

Symbolic links (to files or folders), FIFOs, devices, sockets, hard links and files over 20 MB are refused, never
followed or read; every file is read once, through a descriptor opened with O_NOFOLLOW. Writing never follows a
symbolic link already in ``submitted/``: each folder is opened with O_NOFOLLOW, the file goes to a temporary name in
the same folder and is renamed over the destination only if that is a regular file.

Layouts: ``FOLDER/<student>/<assignment>/<notebook>`` (nbgrader's) and ``FOLDER/<student>/.../<notebook>``, where the
assignment comes from the notebook's metadata (``gradcourse.lab``, ``gradcourse.lang``). A notebook that cannot be
parsed, or has no ``gradcourse`` metadata, goes to the assignment its name says (``lab02-es copy.ipynb``), the language
read from the name or from a folder above it (``es``, ``lab02-es``); when they do not say, it is refused. Files
that are not ``*.ipynb`` are ignored, and so are the ``.ipynb_checkpoints`` and ``__MACOSX`` folders.

Exit status (``Report.exit_code``): 0 when at least one notebook was collected and nothing was refused; 1 when
anything was refused or nothing was collected, so that a script notices.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..authoring import labgen
from .submissions import Refused, parse_notebook, read_regular_file, shown, valid_student_id

_LAB = re.compile(r"lab[0-9]{2}")
_LANG = re.compile(r"en|es")
_LANG_IN_NAME = re.compile(r"(?<![a-z])(en|es)(?![a-z])")      # "lab02-es copy", "lab02_en", not "respuestas"
_LANG_OF_FOLDER = re.compile(r"(?:.*[-_])?(en|es)")              # "es", "lab02-es"
_SKIPPED_DIRS = {".ipynb_checkpoints", "__MACOSX"}               # autosaves and zip metadata, never submissions
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Refuse(Exception):
    """Why one file is not collected (one line of the report)."""


@dataclass
class Candidate:
    """A notebook of one student's download, read and placed but not written yet."""
    rel: str            # its path inside the student's download folder, for the report
    data: bytes
    mtime_ns: int
    assignment: str
    name: str           # the released notebook's name it is filed under
    renamed: bool
    by_layout: bool     # a folder named the assignment (nbgrader's layout), rather than the metadata


@dataclass
class Report:
    collected: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def refuse(self, student, what, why):
        self.refused.append(f"refused {shown(student)}: {shown(what) + ': ' if what else ''}{why}")

    @property
    def exit_code(self) -> int:
        return 1 if self.refused or not self.collected else 0

    def lines(self) -> list[str]:
        return [*self.collected, *self.refused,
                f"{len(self.collected)} notebooks collected, {len(self.refused)} refused"]


def released(course: Path) -> dict[str, list[str]]:
    """{assignment: its notebooks' names} for every assignment under ``<course>/release/`` that has notebooks."""
    folder = Path(course) / "release"
    if not folder.is_dir():
        return {}
    found = {p.name: sorted(n.name for n in p.glob("*.ipynb")) for p in folder.iterdir() if p.is_dir()}
    return {a: names for a, names in found.items() if names}


def collect(course, folder) -> Report:
    """Copy every acceptable notebook of ``folder`` into ``<course>/submitted/``; the report says what was refused."""
    course, folder = Path(course).resolve(), Path(folder)
    report, known = Report(), released(course)
    if not known:
        report.refused.append(f"refused: no released assignment under {course / 'release'}; run `release` first")
        return report
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        student = entry.name
        if entry.is_symlink():
            report.refuse(student, "", "the student folder is a symbolic link; not followed")
        elif not entry.is_dir(follow_symlinks=False):
            continue    # an index or the archive itself, next to the student folders
        elif not valid_student_id(student):
            report.refuse(student, "", "not a valid student id (letters, digits and . _ @ -, at most 64 characters)")
        else:
            for c in _winners(_gather(Path(entry.path), student, known, report), student, report):
                _file(course, student, c, report)
    return report


# --- reading one student's download ---------------------------------------------------------------------------

def _gather(sdir: Path, student: str, known, report) -> list[Candidate]:
    """The notebooks of one student's folder, walked without following a symlink; refusals go to the report."""
    found = []

    def unreadable(err):
        report.refuse(student, _rel(err.filename, sdir), f"cannot be read ({err.strerror})")

    for root, dirs, files in os.walk(sdir, followlinks=False, onerror=unreadable):
        for d in list(dirs):
            path = os.path.join(root, d)
            if os.path.islink(path):    # os.walk lists it among the folders without entering it: say so
                report.refuse(student, _rel(path, sdir), "is a symbolic link to a folder; not followed")
                dirs.remove(d)
            elif d in _SKIPPED_DIRS:
                dirs.remove(d)
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            try:
                c = _candidate(path, _rel(path, sdir), known)
            except _Refuse as exc:
                report.refuse(student, _rel(path, sdir), str(exc))
            except Refused as exc:
                report.refuse(student, _rel(path, sdir), f"{exc.say('en')}; not read")
            except OSError as exc:
                report.refuse(student, _rel(path, sdir), f"cannot be read ({exc.strerror})")
            else:
                if c:
                    found.append(c)
    return found


def _rel(path, sdir) -> str:
    return Path(path).relative_to(sdir).as_posix()


def _candidate(path: Path, rel: str, known) -> Candidate | None:
    """The placed notebook at ``path``, None for a plain file that is not a notebook; raise why it is refused."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode) and not path.name.endswith(".ipynb"):
        return None         # a stray README or data file: not ours to judge
    data, st = read_regular_file(path)      # refuses symlinks and special files, whatever their name
    if st.st_nlink > 1:     # e.g. a tar entry linked to a file already on this disk, such as the solved source
        raise _Refuse("is a hard link (it shares its content with another file); not read")
    assignment, by_layout = _assignment(Path(rel), data, known)
    name, renamed = _released_name(path.name, known[assignment])
    return Candidate(rel, data, st.st_mtime_ns, assignment, name, renamed, by_layout)


def _assignment(rel: Path, data: bytes, known) -> tuple[str, bool]:
    """(assignment, whether the folder named it) for one notebook, or raise ``_Refuse``."""
    if len(rel.parts) == 2 and rel.parts[0] in known:
        return rel.parts[0], True
    try:
        nb = parse_notebook(data)
    except Refused as exc:
        return _from_name(rel, known, f"not a readable notebook ({shown(exc.say('en'), 80)})"), False
    meta = nb.get("metadata")
    ours = meta.get("gradcourse") if isinstance(meta, dict) else None
    if ours is None:
        return _from_name(rel, known, "no gradcourse metadata"), False
    lab, lang = (ours.get("lab"), ours.get("lang")) if isinstance(ours, dict) else (None, None)
    if not (isinstance(lab, str) and _LAB.fullmatch(lab) and isinstance(lang, str) and _LANG.fullmatch(lang)):
        raise _Refuse(f"metadata gradcourse.lab/lang must be labNN and en or es, not "
                      f"{shown(repr(lab), 40)} and {shown(repr(lang), 40)}")
    assignment = labgen.assignment(lab, lang)
    if assignment not in known:
        raise _Refuse(f"its metadata names {assignment}, which is not a released assignment")
    return assignment, False


def _from_name(rel: Path, known, why) -> str:
    """The assignment the file's name says, the language from the name or else the nearest folder that says one."""
    name = rel.name.lower()
    lab = _LAB.search(name)
    langs = set(_LANG_IN_NAME.findall(name.removesuffix(".ipynb")))
    if not langs:
        folders = [m.group(1) for p in reversed(rel.parts[:-1]) if (m := _LANG_OF_FOLDER.fullmatch(p.lower()))]
        langs = set(folders[:1])
    if not lab or len(langs) != 1:
        raise _Refuse(f"{why}, and neither its name nor its folder says which lab and language")
    assignment = labgen.assignment(lab.group(0), langs.pop())
    if assignment not in known:
        raise _Refuse(f"{why}, and its name says {assignment}, which is not a released assignment")
    return assignment


def _released_name(filename: str, names: list[str]) -> tuple[str, bool]:
    """(the released name to file it under, whether that renames it)."""
    if filename in names:
        return filename, False
    if len(names) == 1:
        return names[0], True
    raise _Refuse(f"its name is none of the released notebooks ({', '.join(names)})")


def _winners(candidates, student, report) -> list[Candidate]:
    """One notebook per destination: the one named as released, then nbgrader's layout, then the first by path."""
    best = {}
    for c in sorted(candidates, key=lambda c: (c.renamed, not c.by_layout, c.rel)):
        key = (c.assignment, c.name)
        if key in best:
            report.refuse(student, c.rel, f"would also go to {c.assignment}/{c.name}, which gets "
                                          f"{shown(best[key].rel)} instead")
        else:
            best[key] = c
    return list(best.values())


# --- writing into submitted/ ------------------------------------------------------------------------------------

def _file(course: Path, student: str, c: Candidate, report: Report):
    try:
        dest = _write(course, student, c)
    except _Refuse as exc:
        report.refuse(student, c.rel, str(exc))
    except OSError as exc:
        report.refuse(student, c.rel, f"cannot be written ({exc.strerror}); nothing written")
    else:
        note = f" (renamed: the released notebook is {c.name})" if c.renamed else ""
        report.collected.append(f"collect {student}: {shown(c.rel)} -> {dest}{note}")


def _write(course: Path, student: str, c: Candidate) -> str:
    """Write ``c`` as ``submitted/<student>/<assignment>/<name>``; return that path, or raise ``_Refuse``."""
    parts = ("submitted", student, c.assignment, c.name)
    home = (course / "submitted" / student).resolve()
    dest = course.joinpath(*parts)
    if any(p in ("", ".", "..") or Path(p).name != p for p in parts) or not dest.resolve().is_relative_to(home):
        raise _Refuse(f"{'/'.join(parts)} is not inside submitted/{student}/; nothing written")
    with contextlib.ExitStack() as fds:
        fd = os.open(course, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.callback(os.close, fd)
        for i, part in enumerate(parts[:-1]):
            fd = _subdir(fd, part, "/".join(parts[:i + 1]))
            fds.callback(os.close, fd)
        _replace_file(fd, c.name, c.data, c.mtime_ns)
    return "/".join(parts)


def _subdir(parent_fd: int, name: str, where: str) -> int:
    """A descriptor on folder ``name`` of ``parent_fd``, made if missing; never through a symbolic link."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, dir_fd=parent_fd)
    mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
    if stat.S_ISLNK(mode):
        raise _Refuse(f"{where} is a symbolic link; nothing written")
    if not stat.S_ISDIR(mode):
        raise _Refuse(f"{where} is not a folder; nothing written")
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)     # O_NOFOLLOW: a symlink swapped in since fails here


def _replace_file(dir_fd: int, name: str, data: bytes, mtime_ns: int):
    """Write ``name`` in ``dir_fd`` through a temporary file and a rename, so a reader never sees half a notebook
    and an existing symlink or folder at ``name`` is never written through."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise _Refuse(f"{name} is already there and is not a regular file; left alone, nothing written")
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.utime(f.fileno(), ns=(mtime_ns, mtime_ns))     # the learner's save time, as shutil.copy2 kept it
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
