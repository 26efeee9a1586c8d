"""Make every part of a notebook that the learner wrote inert and bounded, before nbgrader stores, scores or shows it.

The autograded notebook becomes the feedback page and the formgrader's view, which an instructor opens while
logged in to Jupyter. nbconvert passes HTML, JavaScript, SVG and the raw HTML of markdown straight into those
pages, and some output metadata into attributes unquoted, so anything left as the learner wrote it runs as the
instructor. ``InertNotebook`` keeps only what shows as text or as a checked raster image, escapes the learner's
markdown (and checks the result with the renderer the pages use), keeps just the metadata nbgrader needs, and
bounds every size. Markdown identical to a cell of the released notebook is the course's own and is left alone.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbformat.v4.nbbase import random_cell_id
from nbgrader.coursedir import CourseDirectory
from nbgrader.nbgraderformat import SCHEMA_VERSION, MetadataValidator
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer

TEMPLATES = Path(__file__).parent / "templates"  # feedback/gradcourse_csp.html.j2: feedback under a CSP

IMAGES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}  # mime -> first bytes of the file
KINDS = ("stream", "display_data", "execute_result", "error")
NBGRADER_FLAGS = ("grade", "locked", "solution", "task")
GRADE_ID = re.compile(r"[A-Za-z0-9_-]+")  # nbgrader's own schema pattern (no dot): the templates put it in hrefs
CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # nbformat 4.5
UNSHOWABLE = "*(This cell cannot be shown safely.)*"


class InertNotebook(NbGraderPreprocessor):
    """Outputs, learner markdown, raw cells and metadata reduced to what renders as text or a checked image."""

    # The solved labs print lines of under 300 bytes; 20 KB is a long printed array, and nbgrader's LimitOutput
    # (after this step) still cuts streams to 1000 lines.
    max_text_bytes = Integer(20_000, help="Most bytes kept of one text: a stream, a text/plain value, an error's "
                             "name or value, one traceback line").tag(config=True)
    # A matplotlib figure is 20-60 KB of base64; 1 MB is a large, detailed one.
    max_image_bytes = Integer(1_000_000, help="Most bytes of one image's base64 (an output's PNG/JPEG, or a "
                              "markdown attachment); a larger one is replaced by a short note").tag(config=True)
    # Prints are already one output per stream and cell, and each figure is one output: honest cells have a few.
    max_outputs = Integer(30, help="Most outputs kept of one code cell; one note says how many more were "
                          "dropped").tag(config=True)
    max_traceback_lines = Integer(50, help="Most traceback lines kept of one error (the last ones, nearest the "
                                  "error)").tag(config=True)
    # A written derivation is a few KB.
    max_markdown_bytes = Integer(20_000, help="Most bytes kept of a markdown or raw cell the learner wrote")\
        .tag(config=True)
    # The solved labs' autograded notebooks are about 80 KB whole, figures included: 4 MB leaves room for many
    # figures and long prints, and bounds what every feedback page and formgrader view must load.
    max_notebook_bytes = Integer(4_000_000, help="Budget for everything the learner put in one notebook (outputs, "
                                 "learner markdown, attachments); past it, each further piece is replaced by a "
                                 "short note").tag(config=True)
    # Checking a learner's markdown renders it; nbconvert's renderer takes up to a second on 20 KB of crafted
    # text, and an honest notebook's markdown takes milliseconds.
    max_markdown_seconds = Float(10.0, help="Time for checking all the learner's markdown cells of one notebook; "
                                 "past it, the rest are shown as code blocks, which need no check").tag(config=True)
    # The one limit on a cell's size: this step runs in nbgrader's sanitizing, before any cell is run, and the
    # course's longest cell is a few KB.
    max_code_bytes = Integer(256 * 1024, help="Largest code cell kept; a larger one is replaced by a one-line note "
                             "(it is not run either)").tag(config=True)
    max_metadata_chars = Integer(128, help="Longest string kept in metadata (kernel and language names, grade "
                                 "ids, lab and language; nbgrader's gradebook holds ids of up to 128)")\
        .tag(config=True)

    def preprocess(self, nb, resources):
        self._released = None
        course = self._course_cells(resources.get("nbgrader", {}))
        self._room = self.max_notebook_bytes
        self._markdown_until = time.monotonic() + self.max_markdown_seconds
        nb.metadata = nbformat.from_dict(self._notebook_metadata(nb.get("metadata")))
        cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
        nb.cells = [self._cell(cell, course) for cell in cells if isinstance(cell, dict)]
        _drop_repeated_ids(nb.cells)
        if self._released is not None:
            _restore_missing(nb.cells, self._release_cells)
        return nb, resources

    # -- cells ------------------------------------------------------------------------------------------------

    def _course_cells(self, meta: dict) -> dict[tuple[str, str], object]:
        """(type, source) -> attachments of each markdown and raw cell of the released notebook (none if it cannot
        be read: then every markdown cell counts as the learner's)."""
        course = CourseDirectory(config=self.config)
        path = Path(course.format_path(course.release_directory, ".", str(meta.get("assignment", "")))) \
            / f"{meta.get('notebook', '')}.ipynb"
        try:
            release = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - missing, unreadable or not a notebook: trust no markdown
            return {}
        self._released = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in release.cells
                          if isinstance(c.metadata.get("nbgrader", {}).get("grade_id"), str)}
        self._release_cells = release.cells
        return {(c.cell_type, c.source): c.get("attachments") for c in release.cells
                if c.cell_type in ("markdown", "raw")}

    def _cell(self, cell, course: dict) -> NotebookNode:
        kind, source = cell.get("cell_type"), _text(cell.get("source")) or ""
        ours = (kind, source) in course
        # A raw cell goes into the page as it is, and other types have no safe reading: a learner's becomes a
        # markdown cell showing its text, and no grade cell (nbgrader restored the type of every cell it grades).
        converted = kind not in ("code", "markdown") and not ours
        nbgrader = None if converted else self._nbgrader(cell.get("metadata"), kind)
        if ours:
            new = NotebookNode(cell_type=kind, source=source, metadata={})
            if course[kind, source]:
                new.attachments = course[kind, source]
        elif kind == "code":
            if len(source.encode()) > self.max_code_bytes:  # not run, and not carried into every page either
                source = (f"# This cell had {len(source.encode())} bytes, more than the {self.max_code_bytes} a "
                          "cell may have; it was not run.\n")
            new = NotebookNode(cell_type="code", source=source, metadata={},
                               execution_count=_count(cell.get("execution_count")),
                               outputs=self._outputs(cell.get("outputs"), scored=bool(nbgrader and nbgrader["grade"])))
        else:
            attachments = {} if converted else self._attachments(cell.get("attachments"))
            literal = converted or time.monotonic() > self._markdown_until
            text = inert_markdown(_cap(source, self.max_markdown_bytes), attachments, literal=literal)
            new = NotebookNode(cell_type="markdown", source=self._spent(text, attachments), metadata={})
            if attachments:
                new.attachments = attachments
        if nbgrader:
            new.metadata["nbgrader"] = nbgrader
        if "id" in cell:
            new.id = cell["id"] if isinstance(cell["id"], str) and CELL_ID.fullmatch(cell["id"]) else random_cell_id()
        return nbformat.from_dict(new)  # nbgrader reads metadata by attribute

    def _spent(self, source: str, attachments: dict) -> str:
        """The cell's source if the notebook's budget has room for it and its attachments, else a note."""
        size = _size(source) + _size(attachments)
        if size > self._room:
            attachments.clear()
            return "*(Not kept: this notebook passed its size budget.)*"
        self._room -= size
        return source

    def _attachments(self, value) -> dict:
        """Only PNG and JPEG attachments that are what they claim (an SVG would show as itself)."""
        kept = {}
        for name, bundle in value.items() if isinstance(value, dict) else ():
            if isinstance(name, str) and len(name) <= self.max_metadata_chars and isinstance(bundle, dict):
                images = {mime: data for mime, data in bundle.items()
                          if mime in IMAGES and isinstance(data, str) and not self._image_problem(mime, data)}
                if images:
                    kept[name] = images
        return kept

    # -- outputs ----------------------------------------------------------------------------------------------

    def _outputs(self, outputs, scored: bool) -> list:
        """The cell's outputs, each sanitised and capped. nbgrader scores a graded code cell by the kind of its
        outputs (an error or stderr means no points): those are the grader's own verdicts here, and none of them
        is dropped or replaced, lest a cut turn a failure into a pass."""
        outputs = outputs if isinstance(outputs, list) else []
        count = len(outputs) if scored or len(outputs) <= self.max_outputs else self.max_outputs - 1
        kept = [output for output in map(self._output, outputs[:count]) if output is not None]
        if len(outputs) > count:
            kept.append(_stream(f"[{len(outputs) - count} more outputs not kept]\n"))
        return [self._within_budget(output, scored) for output in kept]

    def _within_budget(self, output, scored: bool):
        size = _size(output)
        if size > self._room and not scored:
            return _stream("[Output not kept: this notebook's outputs passed their size budget.]\n")
        self._room = max(0, self._room - size)
        return output

    def _output(self, raw):
        kind = raw.get("output_type") if isinstance(raw, dict) else None
        if kind not in KINDS:
            return None
        if kind == "stream":
            name = raw.get("name") if raw.get("name") in ("stdout", "stderr") else "stdout"
            return new_output("stream", name=name, text=self._capped(_text(raw.get("text")) or ""))
        if kind == "error":
            lines = [line for line in map(_text, raw.get("traceback") or []) if line is not None] \
                if isinstance(raw.get("traceback"), list) else []
            if len(lines) > self.max_traceback_lines:
                cut = len(lines) - self.max_traceback_lines + 1  # and one line to say so
                lines = [f"[{cut} earlier traceback lines not kept]"] + lines[cut:]
            return new_output("error", ename=self._capped(_text(raw.get("ename")) or ""),
                              evalue=self._capped(_text(raw.get("evalue")) or ""),
                              traceback=[self._capped(line) for line in lines])
        data, metadata = self._bundle(raw.get("data"), raw.get("metadata"))
        output = new_output(kind, data=data, metadata=metadata)
        if kind == "execute_result":
            output.execution_count = _count(raw.get("execution_count"))
        return output

    def _bundle(self, data, metadata) -> tuple[dict, dict]:
        """text/plain and checked PNG/JPEG; what else the output offered shows as literal text if nothing else
        does. Metadata: only numeric sizes of the kept images (nbconvert writes them into attributes unquoted)."""
        data = data if isinstance(data, dict) else {}
        metadata = metadata if isinstance(metadata, dict) else {}
        kept, meta, notes, dropped = {}, {}, [], []
        for mime, value in data.items():
            text = _text(value)
            if text is None:
                continue
            if mime in IMAGES:
                problem = self._image_problem(mime, text)
                if problem:
                    notes.append(f"[{mime} not shown: {problem}]")
                    continue
                kept[mime] = text
                given = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
                size = {key: given[key] for key in ("width", "height") if _number(given.get(key))}
                if size:
                    meta[mime] = size
            elif mime == "text/plain":
                kept[mime] = text
            else:
                dropped.append(text)
        plain = kept.get("text/plain", dropped[0] if dropped else None)
        if plain is None and not notes:
            plain = f"[{', '.join(_cap(str(mime), 100) for mime in list(data)[:5]) or 'empty'} output not shown]"
        kept["text/plain"] = self._capped("\n".join([*notes, *([plain] if plain is not None else [])]))
        return kept, meta

    def _image_problem(self, mime: str, text: str) -> str:
        """Why this base64 image cannot be kept ('' if it can): its text goes into an attribute, so it must be
        base64 and nothing else, and decode to the image it claims to be."""
        if len(text) > self.max_image_bytes:
            return f"{len(text):,} bytes, over the limit of {self.max_image_bytes:,}"
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            return "not base64"
        return "" if raw.startswith(IMAGES[mime]) else "not an image of that type"

    def _capped(self, text: str) -> str:
        return _cap(text, self.max_text_bytes)

    # -- metadata ---------------------------------------------------------------------------------------------

    def _nbgrader(self, metadata, cell_type: str) -> dict | None:
        """The cell's nbgrader metadata, typed as nbgrader's schema says, or None if that leaves it invalid (a
        cell nbgrader rejects would stop the notebook's grading)."""
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        if not isinstance(meta, dict):
            return None
        kept = {flag: meta[flag] for flag in NBGRADER_FLAGS if isinstance(meta.get(flag), bool)}
        # The course's notebooks are all of nbgrader's current schema: any other version a learner writes would make
        # nbgrader stop the whole batch (SchemaTooNew) or upgrade guesses (too old).
        kept["schema_version"] = SCHEMA_VERSION
        grade_id = meta.get("grade_id")
        if isinstance(grade_id, str) and len(grade_id) <= self.max_metadata_chars and GRADE_ID.fullmatch(grade_id):
            kept["grade_id"] = grade_id
        if _number(meta.get("points"), minimum=0):
            kept["points"] = meta["points"]
        if isinstance(meta.get("checksum"), str) and re.fullmatch(r"[0-9a-f]{32}", meta["checksum"]):
            kept["checksum"] = meta["checksum"]
        if meta.get("cell_type") in ("code", "markdown", "raw"):
            kept["cell_type"] = meta["cell_type"]
        if self._released is not None:
            # What a cell is (graded, an answer, locked, its points) is the course's to say: a learner who flips a
            # flag would make nbgrader stop on that notebook ("inconsistent checksums"), ungraded. A cell the course
            # never gave that id becomes an ordinary cell.
            course = self._released.get(kept.get("grade_id"))
            if course is None:
                return None
            kept.update({key: course[key] for key in COURSE_OWNED if key in course})
            for key in COURSE_OWNED:
                if key not in course:
                    kept.pop(key, None)
        try:
            _validator().validate_cell(NotebookNode(cell_type=cell_type, source="", metadata={"nbgrader": kept}))
        except Exception:  # noqa: BLE001 - any schema or consistency error
            return None
        return kept

    def _notebook_metadata(self, metadata) -> dict:
        """Kernel and language names, the course's lab and language, and nbgrader's own scalar settings."""
        metadata = metadata if isinstance(metadata, dict) else {}
        kept = {}
        for key, required in (("kernelspec", ("name", "display_name")), ("language_info", ("name",)),
                              ("gradcourse", ())):
            strings = self._strings(metadata.get(key), ("lab", "lang") if key == "gradcourse" else None)
            if strings and all(name in strings for name in required):
                kept[key] = strings
        if isinstance(metadata.get("nbgrader"), dict):
            kept["nbgrader"] = {key: value for key, value in metadata["nbgrader"].items()
                                if isinstance(key, str) and len(key) <= self.max_metadata_chars
                                and (isinstance(value, bool) or _number(value, -math.inf)
                                     or isinstance(value, str) and len(value) <= self.max_metadata_chars)}
        return kept

    def _strings(self, value, keys=None) -> dict:
        if not isinstance(value, dict):
            return {}
        return {key: text for key, text in value.items() if isinstance(key, str) and (keys is None or key in keys)
                and len(key) <= self.max_metadata_chars and isinstance(text, str)
                and len(text) <= self.max_metadata_chars}


# -- markdown ---------------------------------------------------------------------------------------------------

# Code and math the renderer escapes by itself, left as written so that a derivation's `a < b` or `&` aligns still
# read as math (if the renderer reads a span otherwise, the audit of the rendered HTML catches it): the opening
# marks here, each closed by what ``_closing`` says.
OPENING = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})(?![`~])[^\n]*\n|(?<!`)(?P<ticks>`+)(?!`)|\$\$|\\\[|\\\("
                     r"|\\begin\{(?P<env>[A-Za-z*]{1,30})\}|(?<![\\$])\$(?!\$)", re.MULTILINE)
QUOTE = re.compile(r"(?:[ ]{0,3}>)*")  # blockquote markers: a lone '>' opens no markup
# An '&' that does not start a character reference; those show as their character, never as markup, and leaving
# them makes escaping twice (autograde, then feedback) the same as once.
AMPERSAND = re.compile(r"&(?!#[0-9]{1,8};|#[xX][0-9a-fA-F]{1,8};|[A-Za-z][A-Za-z0-9]{0,31};)")
# Where markdown puts a link or image target: inline `](target` (images with their `![alt` in front), and
# reference definitions `[label]: target`.
TARGET = re.compile(r"(?P<lead>(?P<image>!\[[^\[\]\n]*)?\]\([ \t]*\n?[ \t]*|^[ ]{0,3}\[[^\]\n]+\]:[ \t]*\n?[ \t]*)"
                    r"(?P<url>[^\s)]+)", re.MULTILINE)
LINK_SCHEMES = {"http", "https", "mailto", "attachment"}
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
DATA_IMAGE = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# What nbconvert's markdown renderer makes of markdown with no raw HTML, and nothing else.
TAGS = {"p", "a", "img", "em", "strong", "del", "code", "pre", "span", "div", "br", "hr", "blockquote", "ul", "ol",
        "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "input", "h1", "h2", "h3", "h4", "h5",
        "h6"}
ALIGN = re.compile(r"text-align:\s*(left|right|center)")


def inert_markdown(text: str, attachments: dict, literal: bool = False) -> str:
    """The learner's markdown with raw HTML shown as text and unsafe link targets made ``#``; checked by rendering
    it as the feedback and formgrader pages do, and if that shows anything but plain markdown, shown escaped
    throughout, then as a code block (``literal`` goes straight to the code block)."""
    forms = [] if literal else [_escaped(text, attachments, True), _escaped(text, attachments, False)]
    forms.append(_code_block(text))
    return next((form for form in forms if renders_inert(form, attachments)), UNSHOWABLE)


def _escaped(text: str, attachments: dict, keep_code_and_math: bool) -> str:
    out, at = [], 0
    for start, end in _code_and_math(text) if keep_code_and_math else ():
        out += [_escape_html(text[at:start]), text[start:end]]
        at = end
    out.append(_escape_html(text[at:]))
    return TARGET.sub(lambda m: m["lead"] + (m["url"] if _target_ok(m["url"], bool(m["image"]), attachments)
                                             else "#"), "".join(out))


def _code_and_math(text: str) -> list[tuple[int, int]]:
    """(start, end) of each code or math span, in linear time (a learner's text must not cost the grader
    minutes): a closing mark not found after one opening is not found after any later one either."""
    spans, at, missing = [], 0, set()
    while opening := OPENING.search(text, at):
        closing = _closing(opening)
        found = None if closing in missing else re.compile(closing).search(text, opening.end())
        if found is None:
            missing.add(closing)
            at = opening.end()
        else:
            spans.append((opening.start(), found.end()))
            at = found.end()
    return spans


def _closing(opening: re.Match) -> str:
    if opening["fence"]:
        return rf"(?m)^[ ]{{0,3}}{opening['fence']}[ \t]*$"
    if opening["ticks"]:
        return rf"(?<!`){opening['ticks']}(?!`)"
    if opening["env"]:
        return rf"\\end\{{{re.escape(opening['env'])}\}}"
    return {"$$": r"\$\$", "\\[": r"\\\]", "\\(": r"\\\)", "$": r"(?<!\\)\$"}[opening.group()]


def _escape_html(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        quote = QUOTE.match(line).group()
        lines.append(quote + AMPERSAND.sub("&amp;", line[len(quote):]).replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(lines)


def _code_block(text: str) -> str:
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}\n{text}\n{fence}\n"


def _target_ok(url: str, image: bool, attachments: dict) -> bool:
    """A markdown target, read at least as loosely as the renderer reads it: backslash escapes undone, and entities
    decoded until none is left (mistune decodes ``&amp;#x61;`` to ``a``)."""
    url = MARKDOWN_ESCAPE.sub(r"\1", url)
    while (decoded := html.unescape(url)) != url:
        url = decoded
    url = url.lstrip("<")
    if url.lower().startswith("attachment:"):  # a missing one stops nbconvert
        return url[len("attachment:"):] in attachments
    return url_ok(url, image)


def url_ok(url: str, image: bool) -> bool:
    """Whether a link (or image) URL is harmless, read as a browser reads it: links may go to the web, mail, or
    within the course; an image loads by itself, so only from the notebook's attachments or beside it."""
    url = re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", re.sub(r"[\t\n\r]", "", url))
    scheme = SCHEME.match(url)
    if image:
        remote = url[:2].replace("\\", "/") == "//"
        return bool(DATA_IMAGE.fullmatch(url)) or (scheme is None and not remote) or \
            (scheme is not None and scheme.group(1).lower() == "attachment")
    return scheme is None or scheme.group(1).lower() in LINK_SCHEMES


class _Audit(HTMLParser):
    """Rendered markdown is inert if it has only the tags markdown makes, no other attribute, safe URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inert = True

    def handle_starttag(self, tag, attrs):
        self.inert &= tag in TAGS
        for name, value in attrs:
            value = value or ""
            if name in ("href", "src"):
                self.inert &= url_ok(value, image=tag == "img")
            elif name == "style":
                self.inert &= bool(ALIGN.fullmatch(value))
            elif name == "class":  # mermaid's renderer, where a page has it, reads HTML in its diagrams
                self.inert &= "mermaid" not in value.lower()
            elif name == "type":  # task lists' checkboxes
                self.inert &= value == "checkbox"
            else:
                self.inert &= name in ("alt", "title", "id", "checked", "disabled", "start")

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.inert = False

    handle_decl = handle_pi = unknown_decl = handle_comment


def renders_inert(source: str, attachments: dict) -> bool:
    """Render as nbconvert's HTMLExporter renders a markdown cell, and audit the HTML."""
    try:
        rendered = MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments)).render(source)
    except Exception:  # noqa: BLE001 - e.g. a missing attachment: this form cannot be shown
        return False
    audit = _Audit()
    audit.feed(rendered)
    audit.close()
    return audit.inert


# -- small helpers ------------------------------------------------------------------------------------------------

def _text(value) -> str | None:
    """A string, or nbformat's list-of-strings form joined; anything else is None. A lone surrogate (valid in
    JSON, not in UTF-8) becomes replacement characters, so that no later step fails to encode the learner's text."""
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        value = "".join(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return None


COURSE_OWNED = ("grade", "solution", "locked", "task", "points")


def _restore_missing(cells, release_cells) -> None:
    """Put back, as released, every course cell with a grade id the submission lacks, after the course cell that
    precedes it. nbgrader does this for test cells only, and fails (KeyError) when the answer cell a test cell
    follows is missing too, which would leave the notebook ungraded; a restored answer cell is the released stub."""
    def grade_id(cell):
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")

    where = {grade_id(c): i for i, c in enumerate(cells) if grade_id(c)}
    after = -1
    for course_cell in release_cells:
        gid = grade_id(course_cell)
        if not gid:
            continue
        if gid in where:
            after = where[gid]
            continue
        restored = nbformat.from_dict(json.loads(json.dumps(course_cell)))
        restored.id = random_cell_id()
        if restored.cell_type == "code":
            restored.outputs, restored.execution_count = [], None
        cells.insert(after + 1, restored)
        where = {grade_id(c): i for i, c in enumerate(cells) if grade_id(c)}
        after = where[gid]


def _drop_repeated_ids(cells) -> None:
    """A cell copied in Jupyter carries its grade_id along; nbgrader keeps the first and leaves the copy with an
    empty nbgrader record that its later steps crash on. Make the copy an ordinary cell instead."""
    seen = set()
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in seen:
            del cell.metadata["nbgrader"]
        seen.add(grade_id)


def _cap(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8, a line saying how much was cut included (so that capping twice changes
    nothing)."""
    head = text[:limit]  # every character is at least a byte: enough to cut from, without encoding it all
    encoded = head.encode()
    if len(head) == len(text) and len(encoded) <= limit:
        return text
    kept = encoded[:max(0, limit - 64)].decode(errors="ignore")
    return f"{kept}\n… [{len(text) - len(kept):,} more characters not kept]\n"[:limit]


def _size(node) -> int:
    if isinstance(node, str):
        return len(node.encode())
    if isinstance(node, dict):
        return sum(_size(key) + _size(value) for key, value in node.items())
    if isinstance(node, list):
        return sum(map(_size, node))
    return 8


def _number(value, minimum: float = 1e-9) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and value >= minimum


def _count(value) -> int | None:
    """An execution count goes into the page unescaped: a positive int or nothing."""
    return value if type(value) is int and value > 0 else None


def _stream(text: str):
    return new_output("stream", name="stdout", text=text)


_VALIDATOR = []


def _validator() -> MetadataValidator:
    if not _VALIDATOR:  # reads nbgrader's schema file: once per process
        _VALIDATOR.append(MetadataValidator())
    return _VALIDATOR[0]
