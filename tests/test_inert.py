"""InertNotebook on crafted notebooks: every learner-controlled output, markdown cell, raw cell, attachment and piece
of metadata ends up shown as text (or as a checked PNG/JPEG), bounded, and valid for nbgrader; the course's own
cells and an honest graded notebook pass through unchanged."""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_markdown_cell, new_notebook, new_output, new_raw_cell
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.utils import determine_grade

from gradcourse.scoring.inert import InertNotebook

ROOT = Path(__file__).resolve().parents[1]
MARK = "PWNED"
JS = f"document.title='{MARK}'"


def png(width: int = 1, height: int = 1) -> str:
    """A real PNG (grey pixels), base64 as nbformat stores it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def noise(size: int) -> str:
    """Base64 of a PNG's signature and random bytes: an image that does not compress."""
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(size)).decode()


def display(data, metadata=None, kind="display_data"):
    extra = {"execution_count": 1} if kind == "execute_result" else {}
    return {"output_type": kind, "data": data, "metadata": metadata or {}, **extra}


def stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def code(*outputs, **fields):
    """A code cell as a submission may hold it: not validated (nbformat only logs what it finds invalid)."""
    return nbformat.from_dict({"cell_type": "code", "id": "code", "source": "x", "metadata": {},
                               "execution_count": None, "outputs": list(outputs), **fields})


def run(tmp_path, monkeypatch, cells, release=None, metadata=None, **limits):
    """Cells through InertNotebook, from a course folder whose release holds ``release`` (cells) if given."""
    monkeypatch.chdir(tmp_path)
    if release is not None:
        (tmp_path / "release" / "lab").mkdir(parents=True, exist_ok=True)
        nbformat.write(new_notebook(cells=release), tmp_path / "release" / "lab" / "nb.ipynb")
    nb = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or {}, "cells": cells})
    nb, _ = InertNotebook(**limits).preprocess(nb, {"nbgrader": {"assignment": "lab", "notebook": "nb"}})
    return nb


LIVE_URL = re.compile(r"[\s\x00-\x1f]*(javascript|vbscript|data:(?!image/(png|jpeg);))", re.IGNORECASE)


class Active(HTMLParser):
    """Where learner text would be live in a page: attributes, event handlers, script and style bodies, frames."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.inside = [], None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.inside = tag
        if tag in ("iframe", "object", "embed", "svg", "form", "base", "meta"):
            self.found.append(tag)
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or MARK in value or LIVE_URL.match(value):
                self.found.append(f"{tag}[{name}={value[:60]}]")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == self.inside:
            self.inside = None

    def handle_data(self, data):
        if self.inside and MARK in data:
            self.found.append(f"{self.inside}: {data[:60]}")


def active(nb) -> list[str]:
    """Render as the feedback page's base template does (the classic one) and list what would be live. The
    template's own head (scripts, metadata) is left out: it holds no learner text."""
    body = HTMLExporter(template_name="classic").from_notebook_node(nb)[0].split("<body", 1)[1]
    parser = Active()
    parser.feed(body)
    return parser.found


def keys(nb):
    return [sorted(o.get("data", {})) for c in nb.cells for o in c.get("outputs", [])]


# -- outputs ------------------------------------------------------------------------------------------------------

HTML_ATTACKS = [
    f"<script>{JS}</script>",
    f'<img src=x onerror="{JS}">',
    f'<svg xmlns="http://www.w3.org/2000/svg" onload="{JS}"><script>{JS}</script></svg>',
    f'<iframe srcdoc="<script>{JS}</script>"></iframe>',
]


@pytest.mark.parametrize("as_list", [False, True], ids=["string", "list"])
def test_html_outputs_show_as_literal_text(tmp_path, monkeypatch, as_list):
    data = [{"text/html": [a[:9], a[9:]] if as_list else a} for a in HTML_ATTACKS]
    nb = run(tmp_path, monkeypatch, [code(*[display(d) for d in data])])
    outputs = nb.cells[0].outputs
    assert keys(nb) == [["text/plain"]] * len(HTML_ATTACKS)
    assert [o.data["text/plain"] for o in outputs] == HTML_ATTACKS  # tags shown, not rendered
    assert active(nb) == []


@pytest.mark.parametrize("mime", ["application/javascript", "image/svg+xml", "text/markdown", "text/latex",
                                  "application/vnd.jupyter.widget-view+json", "text/x-unknown", "application/pdf"])
def test_every_other_mime_type_is_dropped(tmp_path, monkeypatch, mime):
    payload = {"model_id": MARK} if mime.endswith("json") else f'<img src=x onerror="{JS}">'
    given = [display({mime: payload}), display({mime: payload, "text/plain": "repr"}, kind="execute_result")]
    nb = run(tmp_path, monkeypatch, [code(*given)])
    first, second = nb.cells[0].outputs
    assert keys(nb) == [["text/plain"], ["text/plain"]]
    assert second.data["text/plain"] == "repr" and second.execution_count == 1
    assert first.data["text/plain"] == (payload if isinstance(payload, str) else f"[{mime} output not shown]")
    assert active(nb) == []


def test_markdown_output_with_raw_html(tmp_path, monkeypatch):
    nb = run(tmp_path, monkeypatch, [code(*[display({"text/markdown": f"# t\n<img src=x onerror=\"{JS}\">"})])])
    assert nb.cells[0].outputs[0].data == {"text/plain": f"# t\n<img src=x onerror=\"{JS}\">"}
    assert active(nb) == []


def test_output_metadata_keeps_only_the_numeric_size_of_kept_images(tmp_path, monkeypatch):
    image = png()
    metadata = {"image/png": {"width": f"1 onerror=eval(atob('{MARK}'))", "height": 40, "alt": f'"{MARK}',
                              "unconfined": True},
                "image/jpeg": {"width": 5}, "text/html": {"isolated": True}, "filenames": {"image/png": "/etc/x"},
                "needs_background": "light", "bulk": "x" * 10_000_000}
    nb = run(tmp_path, monkeypatch, [code(*[
        display({"image/png": image, "text/plain": "fig"}, metadata),
        display({"image/png": image}, {"image/png": {"width": 300, "height": 2.5}}),
        display({"image/png": image}, {"image/png": {"width": True, "height": float("nan")}}),
    ])])
    assert [o.metadata for o in nb.cells[0].outputs] == [{"image/png": {"height": 40}},
                                                          {"image/png": {"width": 300, "height": 2.5}}, {}]
    assert nb.cells[0].outputs[0].data == {"image/png": image, "text/plain": "fig"}
    assert len(json.dumps(nb)) < 10_000
    assert active(nb) == []


def test_images_must_be_the_base64_image_they_claim(tmp_path, monkeypatch):
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 20).decode()
    quoted = png()[:-4] + '" onerror="' + JS
    nb = run(tmp_path, monkeypatch, [code(*[
        display({"image/png": png(), "image/jpeg": jpeg, "text/plain": "both"}),
        display({"image/png": quoted}),
        display({"image/png": jpeg, "text/plain": "fig"}),
        display({"image/png": noise(30_000), "text/plain": "big"}),
    ])], max_image_bytes=20_000)
    good, bad, mislabelled, big = nb.cells[0].outputs
    assert good.data == {"image/png": png(), "image/jpeg": jpeg, "text/plain": "both"}
    assert bad.data == {"text/plain": "[image/png not shown: not base64]"}
    assert mislabelled.data == {"text/plain": "[image/png not shown: not an image of that type]\nfig"}
    assert list(big.data) == ["text/plain"] and "over the limit of 20,000" in big.data["text/plain"]
    assert active(nb) == []


def test_a_50_mb_list_valued_html_output_is_cut_to_the_cap(tmp_path, monkeypatch):
    huge = ["<b>" + "x" * 1000 + "</b>"] * 50_000
    nb = run(tmp_path, monkeypatch, [code(*[
        display({"text/html": huge}), display({"text/plain": huge}),
        stream(huge)])])
    texts = [o.get("text") or o.data["text/plain"] for o in nb.cells[0].outputs]
    assert all(len(t.encode()) <= 20_000 and "more characters not kept" in t for t in texts)
    assert len(nbformat.writes(nb)) < 100_000


def test_10000_outputs_in_one_cell(tmp_path, monkeypatch):
    outputs = [stream(f"{i}\n") for i in range(10_000)]
    nb = run(tmp_path, monkeypatch, [code(*outputs)])
    kept = nb.cells[0].outputs
    assert len(kept) == 30 and [o.text for o in kept[:29]] == [f"{i}\n" for i in range(29)]
    assert kept[-1].text == "[9971 more outputs not kept]\n"


def test_errors_and_streams_are_capped_and_typed(tmp_path, monkeypatch):
    nb = run(tmp_path, monkeypatch, [code(*[
        {"output_type": "error", "ename": ["Value", "Error"], "evalue": "v" * 50_000,
         "traceback": [f"line {i}" for i in range(1000)] + [{"not": "a string"}, "x" * 30_000]},
        {"output_type": "stream", "name": "<script>", "text": 42},
        {"output_type": "update_display_data", "data": {"text/html": MARK}},
        "not an output",
    ])])
    error, printed = nb.cells[0].outputs
    assert error.ename == "ValueError" and len(error.evalue.encode()) <= 20_000
    assert len(error.traceback) == 50 and error.traceback[0] == "[952 earlier traceback lines not kept]"
    assert error.traceback[-2] == "line 999" and len(error.traceback[-1]) <= 20_000
    assert printed == stream("")


def test_the_notebook_budget_replaces_outputs_past_it(tmp_path, monkeypatch):
    cells = [code(*[stream("y" * 900)]) for _ in range(5)]
    nb = run(tmp_path, monkeypatch, cells, max_notebook_bytes=3_000)
    texts = [c.outputs[0].text for c in nb.cells]
    assert texts[:3] == ["y" * 900] * 3 and all("size budget" in t for t in texts[3:])


def test_graded_cells_keep_every_verdict_whatever_the_budget(tmp_path, monkeypatch):
    """nbgrader scores a test cell by its outputs' kinds: an error (or stderr) is no points. A learner who fills
    the budget first must not turn the failing verdict into a note, which would score as a pass."""
    flood = code(*[stream("y" * 5_000)])
    meta = {"nbgrader": {"grade": True, "grade_id": "check", "locked": True, "solution": False, "points": 2,
                         "schema_version": 3}}
    test = code(*[stream("ok\n")] * 40, new_output("error", ename="AssertionError", evalue="wrong",
                                                     traceback=["wrong"]), metadata=meta)
    nb = run(tmp_path, monkeypatch, [flood, test], max_notebook_bytes=1_000)
    assert len(nb.cells[1].outputs) == 41 and nb.cells[1].outputs[-1].output_type == "error"
    assert determine_grade(nb.cells[1]) == (0, 2.0)


# -- markdown and raw cells ---------------------------------------------------------------------------------------

MARKDOWN_ATTACKS = [
    f'<img src=x onerror="{JS}">',
    f"<script>{JS}</script>",
    f"[click](javascript:{JS})",
    f"[click](jav&#x61;script:{JS})",
    f"[click](jav&amp;#x61;script:{JS})",
    f"[click](javascript\\:{JS})",
    f"[ref]: javascript:{JS}\n\n[click][ref]",
    f"<javascript:{JS}>",
    f"[d](data:text/html;base64,{MARK}) [v](vbscript:{MARK})",
    f"![beacon](http://127.0.0.1:9/{MARK}) ![b2](//127.0.0.1:9/{MARK})",
    f'$<img src=x onerror="{JS}">$ and $$<script>{JS}</script>$$',
    f'```mermaid\n<img src=x onerror="{JS}">\n```',
    f'<iframe src="javascript:{JS}"></iframe><!-- {MARK} -->',
    f'<a href="x" onclick="{JS}">a</a> <details open ontoggle="{JS}">',
]


@pytest.mark.parametrize("source", MARKDOWN_ATTACKS, ids=range(len(MARKDOWN_ATTACKS)))
def test_learner_markdown_is_inert(tmp_path, monkeypatch, source):
    nb = run(tmp_path, monkeypatch, [new_markdown_cell(source)], release=[])
    assert active(nb) == [], nb.cells[0].source
    assert MARK in nb.cells[0].source or "#" in nb.cells[0].source  # shown, not silently lost


def test_raw_html_in_markdown_is_escaped_and_math_kept_as_written(tmp_path, monkeypatch):
    source = ("**Answer:** <b>bold</b> & more.\n\n> a quote\n\n$$\\frac{\\partial L}{\\partial z} = p - y, "
              "\\quad p_i > 0$$ and $a < b$, with `x<y`, [docs](https://numpy.org) and [top](#top).")
    nb = run(tmp_path, monkeypatch, [new_markdown_cell(source)], release=[])
    assert nb.cells[0].source == source.replace("<b>bold</b> & more", "&lt;b&gt;bold&lt;/b&gt; &amp; more")


def test_a_raw_cell_becomes_markdown_showing_its_text(tmp_path, monkeypatch):
    raw = new_raw_cell(f'<script>{JS}</script><img src=x onerror="{JS}">', metadata={"raw_mimetype": "text/html"})
    nb = run(tmp_path, monkeypatch, [raw], release=[])
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].metadata == {}
    assert nb.cells[0].source == f"```\n{raw.source}\n```\n"
    assert active(nb) == []


def test_course_cells_identical_to_the_release_are_left_alone(tmp_path, monkeypatch):
    course = [new_markdown_cell('<details><summary>Hint</summary><img src="fig.svg"></details>'),
              new_raw_cell("<div>course raw</div>")]
    copied = [nbformat.from_dict(json.loads(json.dumps(c))) for c in course]
    edited = new_markdown_cell(course[0].source + " ")  # not the course's any more
    nb = run(tmp_path, monkeypatch, [*copied, edited], release=course)
    assert [(c.cell_type, c.source) for c in nb.cells[:2]] == [(c.cell_type, c.source) for c in course]
    assert nb.cells[2].source.startswith("&lt;details&gt;")


def test_without_a_readable_release_every_markdown_cell_is_the_learners(tmp_path, monkeypatch):
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("<b>course?</b>")])
    assert nb.cells[0].source == "&lt;b&gt;course?&lt;/b&gt;"


def test_attachments_keep_only_real_png_and_jpeg(tmp_path, monkeypatch):
    svg = base64.b64encode(f'<svg xmlns="http://www.w3.org/2000/svg"><script>{JS}</script></svg>'.encode()).decode()
    cell = new_markdown_cell("![a](attachment:a.png) ![b](attachment:b.svg) ![c](attachment:c.png)")
    cell.attachments = {"a.png": {"image/png": png(), "text/html": MARK}, "b.svg": {"image/svg+xml": svg},
                        "c.png": {"image/png": svg},
                        "d.png": {"image/png": noise(9_000)}}
    nb = run(tmp_path, monkeypatch, [cell], release=[], max_image_bytes=5_000)
    assert nb.cells[0].attachments == {"a.png": {"image/png": png()}}
    assert nb.cells[0].source == "![a](attachment:a.png) ![b](#) ![c](#)"
    assert active(nb) == []


def test_past_its_time_for_checks_markdown_shows_as_code(tmp_path, monkeypatch):
    """Crafted markdown can take nbconvert's renderer a second a cell: past the notebook's time for checking it,
    the rest is shown as a code block, which needs no markdown reading."""
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("$a<b$ <b>x</b>")], release=[], max_markdown_seconds=0)
    assert nb.cells[0].source == "```\n$a<b$ <b>x</b>\n```\n"


def test_markdown_is_capped(tmp_path, monkeypatch):
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("word " * 100_000)], release=[])
    assert len(nb.cells[0].source.encode()) <= 20_000


# -- metadata -----------------------------------------------------------------------------------------------------

def nbgrader_meta(**changes):
    meta = {"grade": True, "grade_id": "derivation", "locked": False, "solution": True, "points": 2,
            "schema_version": 3, "checksum": "0123456789abcdef0123456789abcdef", "cell_type": "markdown"}
    return {key: value for key, value in {**meta, **changes}.items() if value is not None}


@pytest.mark.parametrize("changes", [
    {"grade_id": ["derivation"]}, {"grade_id": f'"><img src=x onerror="{JS}">'}, {"grade_id": "a.b"},
    {"grade_id": "x" * 200}, {"grade": "yes"}, {"points": "2"}, {"points": float("nan")},
])
def test_nbgrader_metadata_nbgrader_would_reject_is_dropped(tmp_path, monkeypatch, changes):
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("✍️", metadata={"nbgrader": nbgrader_meta(**changes)})],
             release=[new_markdown_cell("✍️")])
    assert nb.cells[0].metadata == {}


@pytest.mark.parametrize("version", [None, 0, 4, "3", [3]])
def test_any_schema_version_becomes_the_course_s(tmp_path, monkeypatch, version):
    """nbgrader stops the whole batch on a schema newer than its own (SchemaTooNewError), naming nobody."""
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("✍️", metadata={"nbgrader": nbgrader_meta(
        schema_version=version)})], release=[new_markdown_cell("✍️", metadata={"nbgrader": nbgrader_meta()})])
    assert nb.cells[0].metadata["nbgrader"]["schema_version"] == 3


def test_a_copied_answer_cell_becomes_an_ordinary_cell(tmp_path, monkeypatch):
    cell = new_markdown_cell("✍️", metadata={"nbgrader": nbgrader_meta()})
    nb = run(tmp_path, monkeypatch, [cell, nbformat.from_dict(dict(cell))],
             release=[new_markdown_cell("✍️", metadata={"nbgrader": nbgrader_meta()})])
    assert nb.cells[0].metadata["nbgrader"]["grade_id"] and "nbgrader" not in nb.cells[1].metadata


@pytest.mark.parametrize("flip", [{"solution": False}, {"grade": False}, {"points": 50}, {"locked": True},
                                  {"grade_id": "not-the-course-s"}])
def test_what_a_cell_is_comes_from_the_course_not_the_learner(tmp_path, monkeypatch, flip):
    """A flipped flag would make nbgrader stop on the notebook (inconsistent checksums), leaving it ungraded and
    the learner's earlier grade standing; a grade id the course never gave makes an ordinary cell."""
    course = nbgrader_meta()
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("✍️", metadata={"nbgrader": {**course, **flip}})],
             release=[new_markdown_cell("✍️", metadata={"nbgrader": course})])
    if "grade_id" in flip:  # the learner's cell is ordinary, and the course's cell is put back as released
        assert [c.metadata.get("nbgrader") for c in nb.cells] == [course, None]
    else:
        assert {k: nb.cells[0].metadata.nbgrader.get(k) for k in ("grade", "solution", "locked", "points")} == \
            {k: course.get(k) for k in ("grade", "solution", "locked", "points")}


def test_a_lone_surrogate_is_replaced_not_a_crash(tmp_path, monkeypatch):
    nb = run(tmp_path, monkeypatch, [code(source="x = '\ud800'\n")], release=[])
    assert nb.cells[0].source.encode() and "\ufffd" in nb.cells[0].source


def test_course_cells_a_submission_lacks_are_put_back_in_place(tmp_path, monkeypatch):
    """Deleting an answer cell and the test after it made nbgrader fail (KeyError): the notebook went ungraded."""
    answer = code(source="def f(): raise NotImplementedError", metadata={"nbgrader": nbgrader_meta(
        cell_type="code", grade_id="f", solution=True, grade=False, locked=False)})
    test = code(source="grade('f.x', f)", metadata={"nbgrader": nbgrader_meta(
        cell_type="code", grade_id="t", solution=False, grade=True, locked=True)})
    first = new_markdown_cell("intro", metadata={"nbgrader": nbgrader_meta(grade_id="intro", grade=False,
                                                                             solution=False, locked=True)})
    nb = run(tmp_path, monkeypatch, [first], release=[first, answer, test])
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells] == ["intro", "f", "t"]
    assert nb.cells[1].source == answer.source and nb.cells[2].outputs == []


def test_a_code_cell_too_large_becomes_a_note(tmp_path, monkeypatch):
    nb = run(tmp_path, monkeypatch, [code(source="x = 1\n#" + "y" * 300_000), code(source="x = 2\n")], release=[])
    assert nb.cells[0].source.startswith("# This cell had") and len(nb.cells[0].source) < 200
    assert nb.cells[1].source == "x = 2\n"


def test_metadata_keeps_nbgrader_and_drops_the_rest(tmp_path, monkeypatch):
    meta = {"nbgrader": {**nbgrader_meta(), "comment": MARK, "extra": MARK}, "tags": [f'"><b>{MARK}'],
            "jupyter": {"source_hidden": True}, "widgets": {MARK: 1}, "alt": f'"{MARK}', "custom": "x" * 10_000}
    graded = code(metadata={"nbgrader": {**nbgrader_meta(cell_type="code", solution=False, locked=True, grade_id="t"),
                                         "points": 0.5}, "collapsed": True}, execution_count="<b>", id=f'"><b>{MARK}')
    notebook_meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python", "codemirror_mode": {"name": "ipython"}},
                     "gradcourse": {"lab": "lab00", "lang": "en", "x": MARK},
                     "widgets": {"application/vnd.jupyter.widget-state+json": {"x": f"</script><script>{JS}"}},
                     "title": f"<script>{JS}</script>", "nbgrader": {"flag": True, "bad": [MARK]}}
    course_graded = code(metadata={"nbgrader": {**nbgrader_meta(cell_type="code", solution=False, locked=True,
                                                                grade_id="t"), "points": 0.5}})
    nb = run(tmp_path, monkeypatch, [new_markdown_cell("✍️", metadata=meta), graded],
             release=[new_markdown_cell("✍️", metadata={"nbgrader": nbgrader_meta()}), course_graded],
             metadata=notebook_meta)
    assert nb.cells[0].metadata == {"nbgrader": nbgrader_meta()}
    assert nb.cells[1].metadata.nbgrader.points == 0.5 and set(nb.cells[1].metadata) == {"nbgrader"}
    assert nb.cells[1].execution_count is None and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", nb.cells[1].id)
    assert nb.metadata == {"kernelspec": notebook_meta["kernelspec"], "language_info": {"name": "python"},
                           "gradcourse": {"lab": "lab00", "lang": "en"}, "nbgrader": {"flag": True}}
    MetadataValidator().validate_nb(nb)
    assert active(nb) == []


# -- an honest notebook, and running twice --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded_lab(tmp_path_factory):
    """The solved lab 00 (nbgrader's source notebook) as the sandboxed grading leaves it, before InertNotebook."""
    from gradcourse.scoring.autograde import SandboxedGrading

    nb = nbformat.read(ROOT / "grader" / "source" / "lab00-en" / "lab00.ipynb", as_version=4)
    grading = SandboxedGrading(secret_file=str(tmp_path_factory.mktemp("course") / ".gradcourse-secret"))
    return grading.preprocess(nb, {"nbgrader": {"student": "ana", "assignment": "lab00-en"}})[0]


def test_an_honest_graded_notebook_keeps_its_outputs_byte_for_byte(graded_lab, monkeypatch):
    monkeypatch.chdir(ROOT / "grader")  # the course folder: release/lab00-en/lab00.ipynb is the course's markdown
    before = nbformat.from_dict(json.loads(json.dumps(graded_lab)))
    after, _ = InertNotebook().preprocess(before, {"nbgrader": {"assignment": "lab00-en", "notebook": "lab00"}})
    assert any("image/png" in o.get("data", {}) for c in after.cells for o in c.get("outputs", []))
    for old, new in zip(graded_lab.cells, after.cells, strict=True):
        assert json.dumps(old.get("outputs"), sort_keys=True) == json.dumps(new.get("outputs"), sort_keys=True)
        assert old.metadata.get("nbgrader") == new.metadata.get("nbgrader")
        assert (old.cell_type, old.source) == (new.cell_type, new.source)


def test_running_twice_changes_nothing(tmp_path, monkeypatch):
    """Feedback runs InertNotebook again on what autograde already made inert."""
    outputs = [display({"text/html": a}) for a in HTML_ATTACKS] + [stream("z" * 50_000)] + [
        new_output("error", ename="E", evalue="v", traceback=["t"] * 200)] + [display({"image/png": "bad"})] * 40
    cells = [new_markdown_cell(a) for a in MARKDOWN_ATTACKS] + [new_raw_cell("<b>raw</b>"), code(*outputs)]
    once = run(tmp_path, monkeypatch, cells, release=[])
    twice = run(tmp_path, monkeypatch, nbformat.from_dict(json.loads(json.dumps(once.cells))), release=[])
    assert nbformat.writes(twice) == nbformat.writes(once)


# -- wiring ---------------------------------------------------------------------------------------------------------

def test_harden_puts_it_before_the_scores_are_saved_and_in_feedback():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades
    from traitlets.config import Config

    from gradcourse.scoring.autograde import SandboxedGrading
    from gradcourse.scoring.config import harden, verify

    c = Config()
    harden(c)
    steps = c.Autograde.autograde_preprocessors
    assert steps[:5] == [SandboxedGrading, IgnorePattern, ClearMetadataPreprocessor, InertNotebook, LimitOutput]
    saving = [i for i, step in enumerate(steps) if issubclass(step, SaveAutoGrades)]
    assert len(saving) == 1 and steps.index(InertNotebook) < saving[0]
    assert c.GenerateFeedback.preprocessors[:2] == [InertNotebook, GetGrades]
    assert "template_name" not in c.HTMLExporter  # the formgrader's exporter reads the same config
    verify(ROOT / "grader")


def test_the_feedback_template_opens_its_head_with_the_csp():
    """Rendered as nbgrader's GenerateFeedback sets its exporter up, plus what harden(c) gives it."""
    import nbgrader
    from traitlets.config import Config

    from gradcourse.scoring.config import harden

    c = Config()
    harden(c)
    css = Path(nbgrader.__file__).parent / "server_extensions/formgrader/static/node_modules/bootstrap/dist/css"
    exporter = HTMLExporter(config=Config({"HTMLExporter": {**c.GenerateFeedback.HTMLExporter,
                                                            "template_name": "feedback",
                                                            "extra_template_paths": [str(css)]}}))
    nb = new_notebook(cells=[new_markdown_cell("hi")])
    page, _ = exporter.from_notebook_node(nb, resources={"nbgrader": {"notebook": "nb", "score": 1, "max_score": 2,
                                                                      "late_penalty": 0}})
    assert first_in_head(page) == ("meta", {"http-equiv": "Content-Security-Policy", "content": (
        "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; base-uri 'none'; form-action 'none'")})


def first_in_head(page: str):
    """The first element inside <head>, as (tag, attributes)."""
    class First(HTMLParser):
        found, in_head = None, False

        def handle_starttag(self, tag, attrs):
            if self.in_head and self.found is None:
                self.found = (tag, dict(attrs))
            self.in_head |= tag == "head"

    parser = First()
    parser.feed(page)
    return parser.found
