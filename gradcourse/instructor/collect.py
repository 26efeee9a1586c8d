"""``collect``: copy learners' downloaded notebooks into ``<course>/submitted/<student>/<assignment>/<notebook>``.

Three layouts, side by side in one download folder if need be:

* **nbgrader's** (or any folder per student): ``FOLDER/<student>/<assignment>/<notebook>`` or
  ``FOLDER/<student>/.../<notebook>``; the folder's name is the student id.
* **Moodle's** "Download all submissions": one folder per student, ``<Full Name>_<lms_id>_assignsubmission_file_/``
  (older Moodles, or with "download submissions in folders" off: flat files
  ``<Full Name>_<lms_id>_assignsubmission_file_<name>``). ``lms_id`` is Moodle's participant number, a different
  one in each Moodle assignment. Other submission plugins' folders (``assignsubmission_onlinetext``) are ignored.
* **Canvas's** "Download submissions": flat files ``<lastfirst>_<lms_id>_<file id>_<name>``, with ``LATE`` after
  the name when it was late (``<lastfirst>_LATE_<lms_id>_...``) and ``anon_<id>`` in place of name and number
  under anonymous grading; ``lms_id`` is Canvas's user id. Canvas's text and link entries are ignored.

An LMS's number becomes a student id through the roster (``--roster FILE``, see ``roster.py``); without one the
number itself is the student id. A number the roster lacks is refused and named.

A download is written by learners, so nothing in it decides by itself where a file goes:

* ``<assignment>`` is one of the released assignments (the folders under ``<course>/release/``), compared as an exact
  string, after checking that the notebook's metadata values have the expected form (``labNN``, ``en``/``es``);
* ``<notebook>`` is the released notebook's file name (a file named otherwise is filed under it when the assignment
  has a single notebook, and the report says so);
* ``<student>`` is the download's folder name, or the roster's id for the LMS's number, a plain id (see
  ``submissions.valid_student_id``).

Symbolic links (to files or folders), FIFOs, devices, sockets, hard links and files over 20 MB are refused, never
followed or read; every file is read once, through a descriptor opened with O_NOFOLLOW. Writing never follows a
symbolic link already in ``submitted/``: each folder is opened with O_NOFOLLOW, the file goes to a temporary name in
the same folder and is renamed over the destination only if that is a regular file.

Where a notebook goes: nbgrader's layout names the assignment; otherwise the notebook's metadata does
(``gradcourse.lab``, ``gradcourse.lang``). A notebook that cannot be parsed, or has no ``gradcourse`` metadata, goes
to the assignment its name says (``lab02-es copy.ipynb``), the language read from the name, from a folder above it
(``es``, ``lab02-es``) or from what is left of its metadata (a notebook cut short or broken elsewhere often keeps
it); when none of them says, it is refused as of unknown lab or language. Files that are not ``*.ipynb``, the
``.ipynb_checkpoints`` and ``__MACOSX`` folders are ignored, and the report lists them.

Exit status (``Report.exit_code``): 0 when at least one notebook was collected and nothing was refused; 1 when
anything was refused or nothing was collected, so that a script notices.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..authoring import labgen
from .roster import Roster
from .submissions import Refused, parse_notebook, read_regular_file, shown, valid_student_id

_LAB = re.compile(r"lab[0-9]{2}")
_LANG = re.compile(r"en|es")
_LANG_IN_NAME = re.compile(r"(?<![a-z])(en|es)(?![a-z])")      # "lab02-es copy", "lab02_en", not "respuestas"
_LANG_OF_FOLDER = re.compile(r"(?:.*[-_])?(en|es)")              # "es", "lab02-es"
_SKIPPED_DIRS = {".ipynb_checkpoints": "Jupyter's autosaves", "__MACOSX": "a zip archive's metadata"}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Moodle replaces "_" by a space in the name, so the first "_<digits>_assign..." ends it. Older versions put one
# more "_" between the number and the plugin's name.
_MOODLE_FOLDER = re.compile(r"(?P<name>.*?)_+(?P<lms_id>[0-9]{1,18})_+assign(?:submission|feedback)_"
                            r"(?P<plugin>[a-z]+)_?")
_MOODLE_FILE = re.compile(r"(?P<name>.*?)_+(?P<lms_id>[0-9]{1,18})_+assign(?:submission|feedback)_"
                          r"(?P<plugin>[a-z]+)_(?P<file>.+)")
# Canvas strips every non-word character from the name and "_<digits>_" runs out of it, so the first
# "_<digits>_<digits>_" ends the name.
_CANVAS_FILE = re.compile(r"(?:(?P<name>.*?)(?P<late>_LATE)?_(?P<lms_id>[0-9]{1,18})"
                          r"|(?P<late_anon>LATE_)?(?P<anon>anon_[A-Za-z0-9]{1,32}))"
                          r"_(?P<file_id>[0-9]{1,18})_(?P<file>.+)")
_METADATA = b'"gradcourse"'
_METADATA_VALUE = re.compile(rb'\s*:\s*(\{[^{}]{0,400}\})')


class _Refuse(Exception):
    """Why one file is not collected (one line of the report)."""


@dataclass
class Source:
    """One student's part of a download: a folder (nbgrader's layout, Moodle's folder) or one file (Canvas,
    Moodle without folders)."""
    path: Path
    shown: str              # how the report names it: "" for a student folder (paths inside it are enough)
    filename: str = ""      # a file's own name, the LMS's prefix removed
    layout: bool = True     # whether <assignment>/<notebook> inside the folder is nbgrader's layout


@dataclass
class Candidate:
    """A notebook of one student's download, read and placed but not written yet."""
    rel: str            # where it is in the download, for the report
    data: bytes
    mtime_ns: int
    assignment: str
    name: str           # the released notebook's name it is filed under
    renamed: bool
    by_layout: bool     # a folder named the assignment (nbgrader's layout), rather than the metadata
    note: str = ""      # how an unreadable notebook was placed


@dataclass
class Report:
    collected: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, student, what, why):
        self.refused.append(f"refused {shown(student)}: {shown(what) + ': ' if what else ''}{why}")

    def ignore(self, who, what, why):
        self.ignored.append(f"ignored {shown(who)}: {shown(what) + ': ' if what else ''}{why}")

    @property
    def exit_code(self) -> int:
        return 1 if self.refused or not self.collected else 0

    def lines(self) -> list[str]:
        return [*self.notes, *self.collected, *self.ignored, *self.refused,
                f"{plural(len(self.collected), 'notebook')} collected, {len(self.refused)} refused, "
                f"{len(self.ignored)} ignored"]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def released(course: Path) -> dict[str, list[str]]:
    """{assignment: its notebooks' names} for every assignment under ``<course>/release/`` that has notebooks."""
    folder = Path(course) / "release"
    if not folder.is_dir():
        return {}
    found = {p.name: sorted(n.name for n in p.glob("*.ipynb")) for p in folder.iterdir() if p.is_dir()}
    return {a: names for a, names in found.items() if names}


def collect(course, folder, roster: Roster | None = None) -> Report:
    """Copy every acceptable notebook of ``folder`` into ``<course>/submitted/``; the report says what was refused
    and what was ignored."""
    course, folder = Path(course).resolve(), Path(folder)
    report, known = Report(), released(course)
    if not known:
        report.refused.append(f"refused: no released assignment under {course / 'release'}; run `release` first")
        return report
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    sources: dict[str, list[Source]] = defaultdict(list)
    kinds: dict[str, int] = defaultdict(int)
    for entry in entries:
        found = _source(entry, roster, report)
        if found:
            kind, student, source = found
            kinds[kind] += 1
            if student:         # else the report says why not
                sources[student].append(source)
    if kinds:
        mapped = f"; LMS numbers mapped by {roster.path.name}" if roster else ""
        report.notes.append(f"found {', '.join(plural(n, kind) for kind, n in kinds.items())}{mapped}")
    if kinds.get("Moodle folder") or kinds.get("Moodle file"):
        if roster is None:
            report.notes.append("note: Moodle numbers participants anew in each assignment; without --roster each "
                                "number is filed as a student of its own")
    for student in sorted(sources):
        candidates = [c for source in sources[student] for c in _gather(source, student, known, report)]
        for c in _winners(candidates, student, report):
            _file(course, student, c, report)
    return report


# --- what each entry of the download is -------------------------------------------------------------------------

def _source(entry: os.DirEntry, roster, report):
    """(kind, student, Source) for one entry of the download folder, student None when the LMS's number has none;
    None for an entry that is no student's (the report says why)."""
    name = entry.name
    if entry.is_dir(follow_symlinks=False) or (entry.is_symlink() and not _lms_file(name)):
        moodle = _MOODLE_FOLDER.fullmatch(name)
        if entry.is_symlink():
            what = "Moodle folder" if moodle else "student folder"
            report.refuse(name, "", f"the {what} is a symbolic link; not followed")
        elif name in _SKIPPED_DIRS:
            report.ignore(name, "", f"{_SKIPPED_DIRS[name]}, not submissions")
        elif moodle and moodle["plugin"] != "file":
            report.ignore(name, "", f"Moodle's {moodle['plugin']} submission, not a file")
        elif moodle:
            student = _student("Moodle", moodle["lms_id"], name, roster, report)
            return "Moodle folder", student, Source(Path(entry.path), name, layout=False)
        elif not valid_student_id(name):
            report.refuse(name, "", "not a valid student id (letters, digits and . _ @ -, at most 64 characters)")
        else:
            return "student folder", name, Source(Path(entry.path), "")
        return None
    lms = _lms_file(name)
    if lms:
        kind, match = lms
        if kind == "Moodle" and match["plugin"] != "file":
            report.ignore(name, "", f"Moodle's {match['plugin']} submission, not a file")
            return None
        lms_id = match["lms_id"] or match["anon"]
        student = _student(kind, lms_id, name, roster, report)
        return f"{kind} file", student, Source(Path(entry.path), name, filename=match["file"])
    elif name.endswith(".ipynb"):
        report.refuse(name, "", "a notebook outside any student folder, and not named as Canvas or Moodle name "
                                "their downloads: whose it is is unknown; put it in a folder named by the student id")
    else:
        report.ignore(name, "", "not a notebook, and not in a student folder")
    return None


def _lms_file(name: str):
    """("Moodle" or "Canvas", the name's match) for a file named as an LMS names it, else None."""
    for kind, pattern in (("Moodle", _MOODLE_FILE), ("Canvas", _CANVAS_FILE)):
        m = pattern.fullmatch(name)
        if m:
            return kind, m
    return None


def _student(lms: str, lms_id: str, label: str, roster: Roster | None, report) -> str | None:
    """The student id for an LMS's number: the roster's, or the number itself without a roster."""
    if roster is None:
        if valid_student_id(lms_id):
            return lms_id
        report.refuse(label, "", f"{lms}'s number {shown(lms_id)} is not a valid student id; not collected")
        return None
    student = roster.student_for(lms_id)
    if student is None:
        report.refuse(label, "", f"{lms}'s number {lms_id} is not in the roster {roster.path.name}; not collected")
    return student


# --- reading one student's download ---------------------------------------------------------------------------

def _gather(source: Source, student: str, known, report) -> list[Candidate]:
    """The notebooks of one source, walked without following a symlink; refusals go to the report."""
    if source.filename:
        rel = source.shown
        return [c for c in [_read(Path(source.path), rel, Path(source.filename), known, student, report, False)]
                if c]
    found, sdir = [], Path(source.path)

    def shown_rel(path):
        rel = Path(path).relative_to(sdir).as_posix()
        return f"{source.shown}/{rel}" if source.shown else rel

    def unreadable(err):
        report.refuse(student, shown_rel(err.filename), f"cannot be read ({err.strerror})")

    for root, dirs, files in os.walk(sdir, followlinks=False, onerror=unreadable):
        for d in list(dirs):
            path = os.path.join(root, d)
            if os.path.islink(path):    # os.walk lists it among the folders without entering it: say so
                report.refuse(student, shown_rel(path), "is a symbolic link to a folder; not followed")
                dirs.remove(d)
            elif d in _SKIPPED_DIRS:
                report.ignore(student, shown_rel(path), f"{_SKIPPED_DIRS[d]}, not submissions")
                dirs.remove(d)
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            c = _read(path, shown_rel(path), path.relative_to(sdir), known, student, report, source.layout)
            if c:
                found.append(c)
    return found


def _read(path: Path, rel: str, place: Path, known, student, report, layout: bool) -> Candidate | None:
    try:
        c = _candidate(path, rel, place, known, layout)
    except _Refuse as exc:
        report.refuse(student, rel, str(exc))
    except Refused as exc:
        report.refuse(student, rel, f"{exc.say('en')}; not read")
    except OSError as exc:
        report.refuse(student, rel, f"cannot be read ({exc.strerror})")
    else:
        if c is None:
            report.ignore(student, rel, "not a notebook")
        return c
    return None


def _candidate(path: Path, rel: str, place: Path, known, layout: bool) -> Candidate | None:
    """The placed notebook at ``path``, None for a plain file that is not a notebook; raise why it is refused.
    ``place`` is its path as the learner named it (the LMS's prefix removed), which its placement may read."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode) and not place.name.endswith(".ipynb"):
        return None         # a stray README or data file: not ours to judge
    data, st = read_regular_file(path)      # refuses symlinks and special files, whatever their name
    if st.st_nlink > 1:     # e.g. a tar entry linked to a file already on this disk, such as the solved source
        raise _Refuse("is a hard link (it shares its content with another file); not read")
    assignment, by_layout, note = _assignment(place, data, known, layout)
    name, renamed = _released_name(place.name, known[assignment])
    return Candidate(rel, data, st.st_mtime_ns, assignment, name, renamed, by_layout, note)


def _assignment(rel: Path, data: bytes, known, layout: bool) -> tuple[str, bool, str]:
    """(assignment, whether the folder named it, how an unreadable notebook was placed), or raise ``_Refuse``."""
    if layout and len(rel.parts) == 2 and rel.parts[0] in known:
        return rel.parts[0], True, ""
    try:
        nb = parse_notebook(data)
    except Refused as exc:
        return _from_name(rel, data, known, f"not a readable notebook ({shown(exc.say('en'), 80)})")
    meta = nb.get("metadata")
    ours = meta.get("gradcourse") if isinstance(meta, dict) else None
    if ours is None:
        return _from_name(rel, data, known, "no gradcourse metadata")
    lab, lang = (ours.get("lab"), ours.get("lang")) if isinstance(ours, dict) else (None, None)
    if not (isinstance(lab, str) and _LAB.fullmatch(lab) and isinstance(lang, str) and _LANG.fullmatch(lang)):
        raise _Refuse(f"metadata gradcourse.lab/lang must be labNN and en or es, not "
                      f"{shown(repr(lab), 40)} and {shown(repr(lang), 40)}")
    assignment = labgen.assignment(lab, lang)
    if assignment not in known:
        raise _Refuse(f"its metadata names {assignment}, which is not a released assignment")
    return assignment, False, ""


def _from_name(rel: Path, data: bytes, known, why) -> tuple[str, bool, str]:
    """The assignment the file's name says; the language from the name, else the nearest folder that says one,
    else what is left of the notebook's own metadata."""
    name = rel.name.lower()
    lab = _LAB.search(name)
    langs = set(_LANG_IN_NAME.findall(name.removesuffix(".ipynb")))
    said = "its name"
    if not langs:
        folders = [m.group(1) for p in reversed(rel.parts[:-1]) if (m := _LANG_OF_FOLDER.fullmatch(p.lower()))]
        langs, said = set(folders[:1]), "its folder"
    lab = lab.group(0) if lab else None
    if not lab or len(langs) != 1:
        meta_lab, meta_lang = _metadata_left(data)
        lab = lab or meta_lab
        if len(langs) != 1 and meta_lang:
            langs, said = {meta_lang}, "what is left of its metadata"
    if not lab or len(langs) != 1:
        raise _Refuse(f"{why}; lab or language unknown: neither its name, its folder nor its metadata says "
                      "which lab and language")
    assignment = labgen.assignment(lab, langs.pop())
    if assignment not in known:
        raise _Refuse(f"{why}, and its name says {assignment}, which is not a released assignment")
    return assignment, False, f"{why}: filed by {said}"


def _metadata_left(data: bytes, tries: int = 20) -> tuple[str | None, str | None]:
    """(lab, lang) of the last ``"gradcourse": {...}`` object in a notebook whose JSON does not parse as a whole
    (nbformat writes the metadata last, so it is the part a cut-short save keeps least often, and a stray cell
    edit most often), or Nones. Well-formed values only; a few tries from the end, so a learner's text costs
    little."""
    end = len(data)
    for _ in range(tries):
        at = data.rfind(_METADATA, 0, end)
        if at < 0:
            break
        m = _METADATA_VALUE.match(data, at + len(_METADATA))
        end = at
        try:
            meta = json.loads(m.group(1)) if m else None
        except ValueError:
            continue
        if isinstance(meta, dict):
            lab, lang = meta.get("lab"), meta.get("lang")
            return (lab if isinstance(lab, str) and _LAB.fullmatch(lab) else None,
                    lang if isinstance(lang, str) and _LANG.fullmatch(lang) else None)
    return None, None


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
        notes = [f"renamed: the released notebook is {c.name}"] * c.renamed + [c.note] * bool(c.note)
        note = f" ({'; '.join(notes)})" if notes else ""
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
