"""collect trusts nothing in a download; autograde's guard and the summary trust nothing under submitted/.

Real files in tmp_path: a tiny course (lab00 in both languages, its source, one student already submitted) and a
download holding what the red team tried. nbgrader is never run.
"""
import json
import os
import shutil
import stat
from collections import defaultdict
from pathlib import Path

import pytest

from gradcourse.instructor import collect as collect_mod
from gradcourse.instructor.cli import main
from gradcourse.instructor.submissions import inspect_course, refused_submissions
from gradcourse.scoring.notgraded import unsafe_submission

from .conftest import REPO

HONEST = {"ana", "bea"}
ASSIGNMENTS = {"lab00-en", "lab00-es"}


@pytest.fixture
def course(tmp_path):
    course = tmp_path / "grader"
    for a in sorted(ASSIGNMENTS):
        shutil.copytree(REPO / "grader/release" / a, course / "release" / a)
    shutil.copytree(REPO / "grader/source/lab00-en", course / "source/lab00-en")
    shutil.copy(REPO / "grader/nbgrader_config.py", course)      # what makes a folder a course to the commands
    victim = course / "submitted/victim/lab00-en"
    victim.mkdir(parents=True)
    (victim / "lab00.ipynb").write_text(_notebook("lab00", "en", marker="victim's own work"))
    return course


def _notebook(lab, lang, marker=None):
    """The learner's lab00 notebook with its ``gradcourse`` metadata set to ``lab``/``lang`` (any JSON)."""
    nb = json.loads((REPO / "labs/en/lab00.ipynb").read_text(encoding="utf-8"))
    nb["metadata"]["gradcourse"] = {"lab": lab, "lang": lang}
    if marker:
        nb["cells"][0]["source"] = marker
    return json.dumps(nb)


def _put(path: Path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _tree(root: Path) -> dict:
    """Everything under ``root`` without following a symlink: {path: bytes, link target, or kind}."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath, name)
            mode = os.lstat(p).st_mode
            out[p] = (os.readlink(p) if stat.S_ISLNK(mode) else p.read_bytes() if stat.S_ISREG(mode)
                      else stat.S_IFMT(mode))
    return out


def _collect(course, inbox, capsys):
    rc = main(["--course", str(course), "collect", str(inbox)])
    return rc, capsys.readouterr().out


def _written_only_where_allowed(before, after, course, students):
    """Every new or changed path is submitted/<one of students>/<a released assignment>/lab00.ipynb or its folders."""
    assert set(before) <= set(after), "collect removed something"
    for p in (p for p in after if before.get(p) != after[p]):
        parts = p.relative_to(course / "submitted").parts      # raises if outside submitted/
        assert parts[0] in students, p
        assert len(parts) < 2 or parts[1] in ASSIGNMENTS, p
        assert len(parts) < 3 or parts[2:] == ("lab00.ipynb",), p


def test_honest_notebooks_are_collected_in_both_layouts(tmp_path, course, capsys):
    inbox = tmp_path / "downloads"
    _put(inbox / "ana/lab00-en/lab00.ipynb", _notebook("lab00", "en", "ana"))   # nbgrader's layout
    _put(inbox / "bea/lab00.ipynb", _notebook("lab00", "es", "bea"))            # flat: the metadata says lab00-es
    _put(inbox / "bea/notes.txt", "not a notebook: ignored")
    before = _tree(tmp_path)
    rc, out = _collect(course, inbox, capsys)
    assert rc == 0, out
    assert "collect ana: lab00-en/lab00.ipynb -> submitted/ana/lab00-en/lab00.ipynb" in out
    assert "collect bea: lab00.ipynb -> submitted/bea/lab00-es/lab00.ipynb" in out
    assert "2 notebooks collected, 0 refused" in out
    assert "bea" in (course / "submitted/bea/lab00-es/lab00.ipynb").read_text()
    _written_only_where_allowed(before, _tree(tmp_path), course, HONEST)
    assert not [p for p in (course / "submitted").rglob("*") if p.name.endswith(".tmp")]


def test_what_the_red_team_tried_is_refused_and_writes_nothing(tmp_path, course, capsys):
    inbox, source = tmp_path / "downloads", course / "source/lab00-en/lab00.ipynb"
    _put(inbox / "ana/lab00-en/lab00.ipynb", _notebook("lab00", "en", "ana"))
    _put(inbox / "bea/lab00.ipynb", _notebook("lab00", "es", "bea"))
    _put(inbox / "m-up/lab00.ipynb", _notebook("../victim/lab00", "en"))
    _put(inbox / "m-abs/lab00.ipynb", _notebook(str(source.parent.parent / "lab00"), "en"))
    _put(inbox / "m-out/lab00.ipynb", _notebook("lab00", "../../x"))
    _put(inbox / "m-list/lab00.ipynb", _notebook(["lab00"], "en"))
    _put(inbox / "m-int/lab00.ipynb", _notebook("lab00", 7))
    _put(inbox / "m-dict/lab00.ipynb", _notebook({"lab": "lab00"}, None))
    _put(inbox / "m-gclist/lab00.ipynb", _notebook("lab00", "en").replace('"gradcourse": {', '"gradcourse": [{')
         .replace('"lang": "en"}', '"lang": "en"}]'))
    _put(inbox / "m-lab9/lab00.ipynb", _notebook("lab09", "en"))                 # well-formed, never released
    (inbox / "m-src").mkdir()
    (inbox / "m-src/lab00.ipynb").symlink_to(source)                            # the solved source
    (inbox / "m-peer/lab00-en").mkdir(parents=True)
    (inbox / "m-peer/lab00-en/lab00.ipynb").symlink_to(course / "submitted/victim/lab00-en/lab00.ipynb")
    (inbox / "m-dirlink").mkdir()
    (inbox / "m-dirlink/lab00-en").symlink_to(source.parent)                    # a folder symlink inside
    (inbox / "m-folder").symlink_to(inbox / "ana")                              # a symlinked student folder
    (inbox / "m-hard").mkdir()
    os.link(source, inbox / "m-hard/lab00.ipynb")                               # as a tar archive can make
    (inbox / "m-fifo").mkdir()
    os.mkfifo(inbox / "m-fifo/lab00.ipynb")
    (inbox / "m-big").mkdir()
    with open(inbox / "m-big/lab00.ipynb", "wb") as f:
        f.truncate(21 * 2**20)                                                  # sparse: costs no disk
    _put(inbox / "..m-dots/lab00.ipynb", _notebook("lab00", "en"))
    _put(inbox / "m..dots/lab00.ipynb", _notebook("lab00", "en"))
    _put(inbox / "eve bob/lab00.ipynb", _notebook("lab00", "en"))
    victim_before = (course / "submitted/victim/lab00-en/lab00.ipynb").read_bytes()
    source_before = source.read_bytes()
    before = _tree(tmp_path)

    rc, out = _collect(course, inbox, capsys)

    assert rc == 1, out
    assert (course / "submitted/victim/lab00-en/lab00.ipynb").read_bytes() == victim_before
    assert source.read_bytes() == source_before
    assert not (tmp_path / "x").exists() and not (course / "x").exists()
    _written_only_where_allowed(before, _tree(tmp_path), course, HONEST)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["ana", "bea", "victim"]
    refused = {line.split(":")[0].removeprefix("refused "): line for line in out.splitlines()
               if line.startswith("refused ")}
    expected = {
        "m-up": "metadata gradcourse.lab/lang must be labNN and en or es, not '../victim/lab00' and 'en'",
        "m-abs": "metadata gradcourse.lab/lang must be labNN",
        "m-out": "not 'lab00' and '../../x'",
        "m-list": "not ['lab00'] and 'en'",
        "m-int": "not 'lab00' and 7",
        "m-dict": "not {'lab': 'lab00'} and None",
        "m-gclist": "not None and None",
        "m-lab9": "its metadata names lab09-en, which is not a released assignment",
        "m-src": "lab00.ipynb: is a symbolic link; not read",
        "m-peer": "lab00-en/lab00.ipynb: is a symbolic link; not read",
        "m-dirlink": "lab00-en: is a symbolic link to a folder; not followed",
        "m-folder": "the student folder is a symbolic link; not followed",
        "m-hard": "is a hard link",
        "m-fifo": "is not a regular file (FIFO, device or socket)",
        "m-big": "is larger than 20 MB",
        "..m-dots": "not a valid student id",
        "m..dots": "not a valid student id",
        "eve bob": "not a valid student id",
    }
    assert set(refused) == set(expected), out
    for student, why in expected.items():
        assert why in refused[student], (student, refused[student])
    assert "2 notebooks collected, 18 refused" in out


def test_nothing_is_written_through_a_symlink_already_in_submitted(tmp_path, course, capsys):
    outside = _put(tmp_path / "elsewhere/lab00.ipynb", "outside the course")
    sub = course / "submitted"
    (sub / "trap1").symlink_to(outside.parent)                                  # the student folder
    (sub / "trap2").mkdir()
    (sub / "trap2/lab00-en").symlink_to(outside.parent)                         # the assignment folder
    (sub / "trap3/lab00-en").mkdir(parents=True)
    (sub / "trap3/lab00-en/lab00.ipynb").symlink_to(outside)                    # the file itself
    (sub / "trap4/lab00-en/lab00.ipynb").mkdir(parents=True)                    # a folder where the file goes
    # symlinks that stay inside the student's folder pass the resolve() check: the descriptors refuse them
    _put(sub / "trap5/kept/lab00.ipynb", "kept")
    (sub / "trap5/lab00-en").symlink_to("kept")
    (sub / "trap6/lab00-en").mkdir(parents=True)
    (sub / "trap6/lab00-en/lab00.ipynb").symlink_to("../kept.ipynb")
    _put(sub / "trap6/kept.ipynb", "kept")
    inbox = tmp_path / "downloads"
    for s in ("trap1", "trap2", "trap3", "trap4", "trap5", "trap6"):
        _put(inbox / s / "lab00.ipynb", _notebook("lab00", "en"))
    before = _tree(tmp_path)
    rc, out = _collect(course, inbox, capsys)
    assert rc == 1 and "0 notebooks collected, 6 refused" in out, out
    assert _tree(tmp_path) == before and outside.read_text() == "outside the course"
    assert "refused trap1: lab00.ipynb: submitted/trap1 is a symbolic link; nothing written" in out
    assert ("refused trap2: lab00.ipynb: submitted/trap2/lab00-en/lab00.ipynb is not inside submitted/trap2/; "
            "nothing written") in out
    assert ("refused trap3: lab00.ipynb: submitted/trap3/lab00-en/lab00.ipynb is not inside submitted/trap3/; "
            "nothing written") in out
    assert "refused trap4: lab00.ipynb: lab00.ipynb is already there and is not a regular file" in out
    assert "refused trap5: lab00.ipynb: submitted/trap5/lab00-en is a symbolic link; nothing written" in out
    assert "refused trap6: lab00.ipynb: lab00.ipynb is already there and is not a regular file" in out


def test_a_regular_file_already_there_is_replaced(tmp_path, course, capsys):
    inbox = tmp_path / "downloads"
    _put(inbox / "victim/lab00.ipynb", _notebook("lab00", "en", "resubmitted"))
    rc, out = _collect(course, inbox, capsys)
    assert rc == 0, out
    assert "resubmitted" in (course / "submitted/victim/lab00-en/lab00.ipynb").read_text()


def test_other_names_are_filed_under_the_released_one_and_said(tmp_path, course, capsys):
    inbox = tmp_path / "downloads"
    _put(inbox / "cai/lab00 (1).ipynb", _notebook("lab00", "en", "cai"))
    _put(inbox / "dan/lab00.ipynb", _notebook("lab00", "en", "the real one"))
    _put(inbox / "dan/lab00 copy.ipynb", _notebook("lab00", "en", "a copy"))
    _put(inbox / "dan/.ipynb_checkpoints/lab00-checkpoint.ipynb", _notebook("lab00", "en", "autosave"))
    _put(inbox / "eli/lab00-es.ipynb", "{ not json")                       # unreadable: its name says lab00-es
    _put(inbox / "gus/es/lab00 (2).ipynb", "{ not json")                   # ... or its folder says es
    _put(inbox / "fay/lab00.ipynb", "{ not json")                          # nothing says the language
    rc, out = _collect(course, inbox, capsys)
    assert rc == 1, out
    assert ("collect cai: lab00 (1).ipynb -> submitted/cai/lab00-en/lab00.ipynb "
            "(renamed: the released notebook is lab00.ipynb)") in out
    assert "the real one" in (course / "submitted/dan/lab00-en/lab00.ipynb").read_text()
    assert ("refused dan: lab00 copy.ipynb: would also go to lab00-en/lab00.ipynb, which gets lab00.ipynb instead"
            in out)
    assert "ignored dan: .ipynb_checkpoints: Jupyter's autosaves, not submissions" in out
    assert "autosave" not in (course / "submitted/dan/lab00-en/lab00.ipynb").read_text()
    assert (course / "submitted/eli/lab00-es/lab00.ipynb").read_text() == "{ not json"
    assert (course / "submitted/gus/lab00-es/lab00.ipynb").read_text() == "{ not json"
    assert ("collect eli: lab00-es.ipynb -> submitted/eli/lab00-es/lab00.ipynb (renamed: the released notebook is "
            "lab00.ipynb; not a readable notebook (invalid JSON at line 1, column 3): filed by its name)") in out
    assert "collect gus: es/lab00 (2).ipynb -> submitted/gus/lab00-es/lab00.ipynb" in out
    assert "filed by its folder" in out
    assert "4 notebooks collected, 2 refused, 1 ignored" in out
    assert ("refused fay: lab00.ipynb: not a readable notebook (invalid JSON at line 1, column 3); lab or language "
            "unknown: neither its name, its folder nor its metadata says which lab and language") in out
    assert not (course / "submitted/fay").exists()


def test_exit_status_when_nothing_is_collected(tmp_path, course, capsys):
    (tmp_path / "empty").mkdir()
    assert _collect(course, tmp_path / "empty", capsys)[0] == 1
    assert main(["--course", str(course), "collect", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_symlink_swapped_in_after_the_check_is_not_followed(tmp_path, course, monkeypatch):
    """The race the O_NOFOLLOW descriptor closes: lstat saw a file, the open meets a symlink."""
    inbox = tmp_path / "downloads"
    honest = _put(inbox / "gil/lab00.ipynb", _notebook("lab00", "en"))
    real_open = os.open

    def swap_then_open(path, *a, **kw):
        if Path(path) == honest and not honest.is_symlink():
            honest.unlink()
            honest.symlink_to(course / "source/lab00-en/lab00.ipynb")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", swap_then_open)
    report = collect_mod.collect(course, inbox)
    assert report.exit_code == 1 and not report.collected
    assert "refused gil: lab00.ipynb: cannot be opened" in report.refused[0]


# --- autograde's guard --------------------------------------------------------------------------------------

def test_refused_submissions_finds_symlinks_special_files_and_odd_ids(tmp_path, course):
    sub = course / "submitted"
    assert refused_submissions(course) == []
    (sub / "ana/lab00-en").mkdir(parents=True)
    (sub / "ana/lab00-en/lab00.ipynb").symlink_to(course / "source/lab00-en/lab00.ipynb")
    (sub / "bea").symlink_to(sub / "victim")
    (sub / "cai").mkdir()
    (sub / "cai/lab00-es").symlink_to(course / "source/lab00-en")
    (sub / "dan/lab00-en").mkdir(parents=True)
    os.mkfifo(sub / "dan/lab00-en/lab00.ipynb")
    (sub / "eve bob/lab00-en").mkdir(parents=True)
    found = refused_submissions(course)
    assert [(s, a) for s, a, _ in found] == [("ana", "lab00-en"), ("bea", ""), ("cai", "lab00-es"),
                                             ("dan", "lab00-en"), ("eve bob", "")]
    assert "ana/lab00-en/lab00.ipynb: symbolic link" in found[0][2]
    assert "dan/lab00-en/lab00.ipynb: not a regular file" in found[3][2]
    assert "not a valid student id" in found[4][2]


def test_the_grader_refuses_a_submission_with_a_link_anywhere_in_it(tmp_path, course):
    """What the nbgrader step itself checks before grading (plain `nbgrader autograde` too)."""
    assert unsafe_submission(course, "victim", "lab00-en") == ""
    (course / "submitted/ana").symlink_to(course / "submitted/victim")
    assert "submitted/ana is a symbolic link" in unsafe_submission(course, "ana", "lab00-en")
    (course / "submitted/bea/lab00-en").mkdir(parents=True)
    (course / "submitted/bea/lab00-en/lab00.ipynb").symlink_to(course / "source/lab00-en/lab00.ipynb")
    assert "not a regular file" in unsafe_submission(course, "bea", "lab00-en")
    (course / "submitted/cai/lab00-en").mkdir(parents=True)
    shutil.copy(course / "release/lab00-en/lab00.ipynb", course / "submitted/cai/lab00-en/lab00.ipynb")
    (course / "submitted/cai/lab00-en/data.txt").symlink_to("/etc/passwd")  # copied by nbgrader if it were let
    assert "data.txt is not a regular file" in unsafe_submission(course, "cai", "lab00-en")


# --- the summary ----------------------------------------------------------------------------------------------

def test_summary_survives_any_json_a_learner_can_write(tmp_path, course, capsys):
    sub = course / "submitted"
    good = json.loads(_notebook("lab00", "en"))

    def put(student, text, name="lab00.ipynb"):
        p = sub / student / "lab00-en" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    tracked = [i for i, c in enumerate(good["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id")]

    def with_cell(change):
        nb = json.loads(json.dumps(good))
        change(nb["cells"], *tracked[:3])
        return json.dumps(nb)

    put("s-gidlist", with_cell(lambda cells, i, *_: cells[i]["metadata"]["nbgrader"].update(grade_id=["a", "b"])))
    put("s-gidmany", with_cell(lambda cells, i, j, k: [cells[i]["metadata"]["nbgrader"].update(grade_id={"x": 1}),
                                                       cells[j]["metadata"]["nbgrader"].update(grade_id=None),
                                                       cells[k]["metadata"]["nbgrader"].update(grade_id=3)]))
    put("s-celltype", with_cell(lambda cells, i, *_: cells[i].update(cell_type=["code"])))
    put("s-cellstr", with_cell(lambda cells, i, *_: cells.__setitem__(i, "a cell")))
    put("s-meta", with_cell(lambda cells, i, *_: cells[i].update(metadata="oops")))
    put("s-nbg", with_cell(lambda cells, i, *_: cells[i]["metadata"].update(nbgrader=[1])))
    put("s-cellsdict", json.dumps({**good, "cells": {"0": good["cells"][0]}}))
    put("s-toplist", "[1, 2, 3]")
    put("s-utf8", b"\xff\xfe{\"cells\": []}")
    put("s-deep", "[" * 100_000 + "]" * 100_000)
    put("s-escape", _notebook("lab00", "en"), name="lab00\n\x1b[31m.ipynb")      # and lab00.ipynb is missing
    (sub / "s-dir/lab00-en/lab00.ipynb").mkdir(parents=True)
    (sub / "s-link/lab00-en").mkdir(parents=True)
    (sub / "s-link/lab00-en/lab00.ipynb").symlink_to(course / "source/lab00-en/lab00.ipynb")
    (sub / "s-adir").mkdir()
    (sub / "s-adir/lab00-en").symlink_to(course / "source/lab00-en")
    put("eve bob", _notebook("lab00", "en"))

    for lang in ("en", "es"):
        assert main(["--course", str(course), "summary", "--lang", lang]) == 0
        out = capsys.readouterr().out
        lines = [line.strip() for line in out.splitlines() if line.startswith("  ")]
        for student in ("s-gidlist", "s-gidmany", "s-celltype", "s-cellstr", "s-meta", "s-nbg", "s-cellsdict",
                        "s-toplist", "s-utf8", "s-deep", "s-escape", "s-dir", "s-link", "s-adir", "eve bob"):
            assert any(line.startswith(student) for line in lines), (lang, student, out)
        assert not any(line.startswith("victim") for line in lines), out
        assert "\x1b" not in out and "lab00\\n\\x1b[31m.ipynb" in out

    en, es = defaultdict(str), defaultdict(str)      # every line of a student, joined
    for lines, lang in ((en, "en"), (es, "es")):
        for p in inspect_course(course, lang):
            lines[p.split(" ")[0]] += p + "\n"
    assert "malformed cells (cell " in en["s-gidlist"] and "grade_id is a list" in en["s-gidlist"]
    assert all(k in en["s-gidmany"] for k in ("grade_id is an object", "grade_id is null", "grade_id is a number"))
    assert "cell_type is a list" in en["s-celltype"]
    assert "is a string" in en["s-cellstr"] and "metadata is a string" in en["s-meta"]
    assert "metadata.nbgrader is a list" in en["s-nbg"]
    assert "not a readable notebook (`cells` is an object)" in en["s-cellsdict"]
    assert "not a readable notebook (the JSON is a list, not a notebook)" in en["s-toplist"]
    assert "not a readable notebook (not UTF-8 text)" in en["s-utf8"]
    assert "nested too deeply" in en["s-deep"]
    assert "lab00.ipynb is a folder; not graded" in en["s-dir"]
    assert "lab00.ipynb is a symbolic link; not graded" in en["s-link"]
    assert "the assignment folder is a symbolic link" in en["s-adir"]
    assert "not a valid student id" in en["eve"]
    assert "celdas mal formadas (celda " in es["s-gidlist"] and "grade_id es una lista" in es["s-gidlist"]
    assert "no es un cuaderno legible (el JSON es una lista, no un cuaderno)" in es["s-toplist"]
    assert "lab00.ipynb es un enlace simbólico; sin calificar" in es["s-link"]
    assert "no es un identificador de estudiante válido" in es["eve"]


# --- what LMSs export ---------------------------------------------------------------------------------------------

def _roster(tmp_path, rows, header="student_id,lms_id"):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeff" + header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")  # as Excel saves
    return path


def _broken_but_says(lab, lang, marker):
    """A notebook whose JSON breaks in its first cell, its metadata at the end intact (a stray hand edit)."""
    return _notebook(lab, lang, marker).replace('"cells": [', '"cells": [ oops, ', 1)


def test_moodle_folders_are_filed_under_the_rosters_ids(tmp_path, course, capsys):
    inbox = tmp_path / "moodle"
    _put(inbox / "Ana Pérez_1001_assignsubmission_file_/lab00.ipynb", _notebook("lab00", "en", "ana"))
    _put(inbox / "Bea Ruiz_1002_assignsubmission_file_/Lab00 (1).ipynb", _notebook("lab00", "es", "bea"))
    _put(inbox / "Bea Ruiz_1002_assignsubmission_onlinetext_/onlinetext.html", "<p>see the notebook</p>")
    _put(inbox / "Dora Díaz_1003_assignsubmission_file_/entrega/lab00.ipynb", _broken_but_says("lab00", "es", "d"))
    _put(inbox / "Carl Zed_1009_assignsubmission_file_/lab00.ipynb", _notebook("lab00", "en", "carl"))
    _put(inbox / "Eva Gil_1004_assignsubmission_file_lab00.ipynb", _notebook("lab00", "en", "eva"))  # no folders
    roster = _roster(tmp_path, ["s-ana,1001", "s-bea,1002", "s-dora,1003", "s-eva,1004", "s-ana,2001"])
    before = _tree(tmp_path)
    rc = main(["--course", str(course), "collect", str(inbox), "--roster", str(roster)])
    out = capsys.readouterr().out
    assert rc == 1, out                                          # Carl is not in the roster: said, and exit 1
    assert "found 4 Moodle folders, 1 Moodle file; LMS numbers mapped by roster.csv" in out
    assert ("collect s-ana: Ana Pérez_1001_assignsubmission_file_/lab00.ipynb -> "
            "submitted/s-ana/lab00-en/lab00.ipynb") in out
    assert ("collect s-bea: Bea Ruiz_1002_assignsubmission_file_/Lab00 (1).ipynb -> "
            "submitted/s-bea/lab00-es/lab00.ipynb (renamed: the released notebook is lab00.ipynb)") in out
    assert ("collect s-dora: Dora Díaz_1003_assignsubmission_file_/entrega/lab00.ipynb -> "
            "submitted/s-dora/lab00-es/lab00.ipynb (not a readable notebook (") in out
    assert "filed by what is left of its metadata)" in out      # a Spanish learner's broken notebook stays Spanish
    assert ("collect s-eva: Eva Gil_1004_assignsubmission_file_lab00.ipynb -> submitted/s-eva/lab00-en/lab00.ipynb"
            in out)
    assert ("ignored Bea Ruiz_1002_assignsubmission_onlinetext_: Moodle's onlinetext submission, not a file"
            in out)
    assert ("refused Carl Zed_1009_assignsubmission_file_: Moodle's number 1009 is not in the roster roster.csv; "
            "not collected") in out
    assert out.splitlines()[-1] == "4 notebooks collected, 1 refused, 1 ignored"
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["s-ana", "s-bea", "s-dora", "s-eva", "victim"]
    after = _tree(tmp_path)
    assert {p for p in after if before.get(p) != after[p]} <= {p for p in after if "submitted" in p.parts}


def test_moodle_without_a_roster_files_each_number_and_says_why_a_roster_helps(tmp_path, course, capsys):
    inbox = tmp_path / "moodle"
    _put(inbox / "Ana Pérez_1001_assignsubmission_file_/lab00.ipynb", _notebook("lab00", "en", "ana"))
    rc, out = _collect(course, inbox, capsys)
    assert rc == 0, out
    assert "collect 1001: Ana Pérez_1001_assignsubmission_file_/lab00.ipynb -> submitted/1001/lab00-en" in out
    assert "without --roster each number is filed as a student of its own" in out


def test_canvas_flat_files_are_collected(tmp_path, course, capsys):
    inbox = tmp_path / "canvas"
    _put(inbox / "perezana_1001_55501_lab00.ipynb", _notebook("lab00", "en", "ana"))
    _put(inbox / "ruizbea_LATE_1002_55502_lab00-1.ipynb", _notebook("lab00", "es", "bea"))   # late, resubmitted
    _put(inbox / "ruizbea_LATE_1002_55503_datos.csv", "1,2,3\n")
    _put(inbox / "diazdora_1003_text.html", "<p>a text entry</p>")
    _put(inbox / "gilmaría_1005_55505_lab00-es.ipynb", "{ cut sho")             # unreadable: its name says es
    _put(inbox / "rojoluis_1006_55506_lab00.ipynb", "{ cut sho")                # nothing says the language
    _put(inbox / "anon_x7k2p_55507_lab00.ipynb", _notebook("lab00", "en", "anonymous grading"))
    _put(inbox / "lab00.ipynb", _notebook("lab00", "en", "whose?"))
    (inbox / "evil_1007_55508_lab00.ipynb").symlink_to(course / "source/lab00-en/lab00.ipynb")
    os.link(course / "source/lab00-en/lab00.ipynb", inbox / "evil_1008_55509_lab00.ipynb")
    victim = (course / "submitted/victim/lab00-en/lab00.ipynb").read_bytes()
    rc, out = _collect(course, inbox, capsys)
    assert rc == 1, out
    assert "found 8 Canvas files" in out
    assert "collect 1001: perezana_1001_55501_lab00.ipynb -> submitted/1001/lab00-en/lab00.ipynb" in out
    assert ("collect 1002: ruizbea_LATE_1002_55502_lab00-1.ipynb -> submitted/1002/lab00-es/lab00.ipynb "
            "(renamed: the released notebook is lab00.ipynb)") in out
    assert "collect 1005: gilmaría_1005_55505_lab00-es.ipynb -> submitted/1005/lab00-es/lab00.ipynb" in out
    assert "collect anon_x7k2p: anon_x7k2p_55507_lab00.ipynb -> submitted/anon_x7k2p/lab00-en/lab00.ipynb" in out
    assert "ignored 1002: ruizbea_LATE_1002_55503_datos.csv: not a notebook" in out
    assert "ignored diazdora_1003_text.html: not a notebook, and not in a student folder" in out
    assert "refused 1006: rojoluis_1006_55506_lab00.ipynb: not a readable notebook" in out
    assert "refused lab00.ipynb: a notebook outside any student folder" in out
    assert "refused 1007: evil_1007_55508_lab00.ipynb: is a symbolic link; not read" in out
    assert "refused 1008: evil_1008_55509_lab00.ipynb: is a hard link" in out
    assert out.splitlines()[-1] == "4 notebooks collected, 4 refused, 2 ignored"
    assert "bea" in (course / "submitted/1002/lab00-es/lab00.ipynb").read_text()
    assert (course / "submitted/victim/lab00-en/lab00.ipynb").read_bytes() == victim
    assert not (course / "submitted/1007").exists() and not (course / "submitted/1008").exists()


def test_canvas_with_a_roster_and_nothing_collectable(tmp_path, course, capsys):
    inbox = tmp_path / "canvas"
    _put(inbox / "perezana_1001_55501_lab00.ipynb", _notebook("lab00", "en", "ana"))
    roster = _roster(tmp_path, ["s-ana,1001"])
    assert main(["--course", str(course), "collect", str(inbox), "--roster", str(roster)]) == 0
    assert "collect s-ana: perezana_1001_55501_lab00.ipynb -> submitted/s-ana/lab00-en/lab00.ipynb" in \
        capsys.readouterr().out
    only_text = tmp_path / "texts"
    _put(only_text / "diazdora_1003_text.html", "<p>a text entry</p>")
    rc, out = _collect(course, only_text, capsys)
    assert rc == 1 and out.splitlines()[-1] == "0 notebooks collected, 0 refused, 1 ignored", out


@pytest.mark.parametrize(("rows", "header", "says"), [
    (["s-ana,1001"], "student,lms", "the header must name the columns student_id and lms_id (it has: student, lms)"),
    (["s-ana,1001", "s-bea,1001"], "student_id,lms_id", "line 3: lms_id 1001 is already student s-ana's (line 2)"),
    (["eve bob,1001"], "student_id,lms_id", "line 2: student_id 'eve bob' is not a valid student id"),
    (["s-ana,"], "student_id,lms_id", "line 2: lms_id '' is not an LMS number"),
    ([], "student_id,lms_id", "no student in the roster"),
])
def test_a_roster_that_cannot_be_used_stops_collect(tmp_path, course, capsys, rows, header, says):
    inbox = tmp_path / "canvas"
    _put(inbox / "perezana_1001_55501_lab00.ipynb", _notebook("lab00", "en", "ana"))
    rc = main(["--course", str(course), "collect", str(inbox), "--roster", str(_roster(tmp_path, rows, header))])
    err = capsys.readouterr().err
    assert rc == 2 and says in err, err
    assert not (course / "submitted/s-ana").exists() and not (course / "submitted/1001").exists()
