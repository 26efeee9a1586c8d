"""Terminology, register and number style of everything a reader meets, checked against the glossary as data.

`book/terms.yml` holds, per language, the preferred terms and the variants to reject (with optional contexts
where a variant is fine), the usted imperatives, a stop-list of English words and the loanwords that take
italics only on first use. This test scans, for Spanish:

- every Markdown page under `book/es/` (chapters, instructors' pages — including pages other people are
  writing —, labs index, glossary); the lab notebooks there are generated from the lab sources, scanned below;
- the Spanish cells of the lab sources `grader/labsrc/*.md` (Markdown cells marked `+++ {"lang": "es"}`);
- the Spanish argument of every `tr(lang, en, es)` call and of every `@check(name, points, label, en, es)`
  decorator in the course's Python package (`gradcourse/**/*.py`, parsed with `ast`);
- the `es:` strings of the widgets (`gradcourse/widgets/static/widgets/*.js`);
- the theme's Spanish catalog (`gradcourse/book/locale/es/**/*.po`, every `msgstr`) and `languages.es` in
  `_config.yml`;
- the Spanish drill solutions `solutions/drills/es/*.md`.

and the same kinds of sources in English for the (shorter) English list of terms. Each finding names the file,
the line, the text found and what to write instead. Code spans, code cells, math, link targets, roles and
directive names are blanked out before the prose is read (keeping every character's line), so `np.sin`,
`lab00.ipynb` or `$\\operatorname{softmax}$` never count as prose.

Findings that cannot be fixed yet, because the file belongs to work in progress, are listed one by one in
`tests/terminology_known.yml` (keyed by file, check, text found and a piece of the line): `pending` ones are
strict xfails here (they turn into failures once fixed, so the entry gets removed), `accepted` ones are
deliberate (the glossary quoting the wrong number style, for instance).

Run `pytest tests/test_terminology.py -rx` to see the pending list.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TERMS_FILE = ROOT / "book" / "terms.yml"
KNOWN_FILE = ROOT / "tests" / "terminology_known.yml"

CODE = "¤"  # what a code span or cell becomes in the prose view
MATH = "§"  # what math becomes in the prose view


# --- texts: a piece of text in one language, with the file and the line it starts on ---------------------------


@dataclass(frozen=True)
class Text:
    path: str  # relative to the repository root
    line: int  # line of the file where `body` starts
    body: str
    markdown: bool  # MyST Markdown (pages, lab cells, solutions) or a plain message string


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    check: str  # term, usted, number, english, italics
    found: str
    advice: str
    line_text: str

    def __str__(self):
        return f"{self.path}:{self.line}: [{self.check}] «{self.found}» → {self.advice}\n    {self.line_text}"


def _blank(text: str, start: int, end: int, char: str) -> str:
    return text[:start] + re.sub(r"[^\n]", char, text[start:end]) + text[end:]


def _blank_groups(text: str, pattern: str, groups, char: str = CODE) -> str:
    for m in reversed(list(re.finditer(pattern, text))):
        for g in sorted(groups, reverse=True):
            text = _blank(text, m.start(g), m.end(g), char)
    return text


def _blank_all(text: str, pattern: str, char: str, flags=0, group: int = 0) -> str:
    for m in reversed(list(re.finditer(pattern, text, flags))):
        text = _blank(text, m.start(group), m.end(group), char)
    return text


def views(text: Text) -> dict[str, str]:
    """The same text three ways, each as long as the original with the same line breaks: `prose` (code and math
    blanked), `text` (code blanked, math kept) and `math` (everything but math blanked)."""
    body = text.body
    if not text.markdown:
        # Message strings: `code` in backticks, and {placeholders} of f-strings and template literals.
        body = _blank_all(body, r"`[^`\n]*`", CODE)
        body = _blank_all(body, r"\{[^{}\n]*\}", CODE)
        return {"prose": body, "text": body, "math": re.sub(r"[^\n]", " ", body)}
    # Front matter, code fences (``` and ~~~, code cells included), MyST lines that are not prose.
    if body.startswith("---\n"):
        end = body.find("\n---", 4)
        body = _blank(body, 0, end + 4, CODE)
    body = _blank_all(body, r"(?ms)^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", CODE)
    body = _blank_all(body, r"(?m)^\([\w-]+\)=[ \t]*$", CODE)  # (label)=
    body = _blank_all(body, r"(?m)^%.*$", CODE)  # % comment
    body = _blank_all(body, r"(?m)^\+\+\+.*$", CODE)  # +++ cell marker
    body = _blank_all(body, r"(?m)^[ \t]*:[\w-]+:.*$", CODE)  # :class: tip
    body = _blank_all(body, r"(?m)^[ \t]*:{3,}(\{[\w-]+\})?", CODE)  # ::: and :::{admonition}
    body = _blank_all(body, r"(?s)<!--.*?-->", CODE)
    # Roles: {doc}`Text <target>` keeps its text; other roles and plain code spans go.
    body = _blank_groups(body, r"(\{doc\}`)([^`<\n]*?)(\s*<[^`>\n]*>`)", (1, 3))
    body = _blank_all(body, r"\{[\w:-]+\}`[^`]*`", CODE)
    body = _blank_all(body, r"(`+)(?!`).+?(?<!`)\1(?!`)", CODE, re.S)
    # Links and URLs: [text](target) keeps its text.
    body = _blank_all(body, r"\]\(([^)\s]*)\)", CODE, group=1)
    body = _blank_all(body, r"<https?://[^>]*>|https?://\S+", CODE)
    body = _blank_all(body, r"</?[a-zA-Z][^>\n]*>", CODE)  # HTML tags
    # Math: $$ … $$, then $ … $ within one paragraph (an escaped \$ is not a delimiter).
    spans = [m.span() for m in re.finditer(r"(?s)\$\$.*?\$\$", body)]
    displayless = body
    for start, end in spans:
        displayless = _blank(displayless, start, end, MATH)
    for m in re.finditer(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?(?<!\\)\$", displayless):
        if "\n\n" not in m.group(0) and MATH not in m.group(0):
            spans.append(m.span())
    prose, textview, math = body, body, re.sub(r"[^\n]", " ", body)
    for start, end in spans:
        prose = _blank(prose, start, end, MATH)
        math = math[:start] + text.body[start:end] + math[end:]
        textview = textview[:start] + text.body[start:end] + textview[end:]
    prose = _blank_all(prose, MATH + r"( \([\w-]+\))[ \t]*$", CODE, re.M, group=1)  # $$ (eq-label)
    return {"prose": prose, "text": textview, "math": math}


# --- sources ----------------------------------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def markdown_pages(lang: str) -> list[Text]:
    pages = sorted((ROOT / "book" / lang).rglob("*.md")) + sorted((ROOT / "solutions" / "drills" / lang).glob("*.md"))
    return [Text(_rel(p), 1, p.read_text(encoding="utf8"), True) for p in pages]


def lab_cells(lang: str, paths=None) -> list[Text]:
    """One Text per lab source: the file with every line outside a Markdown cell of `lang` blanked, so that
    lines keep their numbers."""
    out = []
    for path in paths or sorted((ROOT / "grader" / "labsrc").glob("*.md")):
        out.append(Text(_rel(path), 1, lab_language_only(path.read_text(encoding="utf8"), lang), True))
    return out


def lab_language_only(source: str, lang: str) -> str:
    lines, current, in_code = source.split("\n"), None, False
    kept = []
    for line in lines:
        if not in_code and line.startswith("```"):
            in_code, current = True, None
            kept.append("")
            continue
        if in_code:
            in_code = not line.startswith("```")
            kept.append("")
            continue
        if line.startswith("+++"):
            m = re.match(r"\+\+\+\s*(\{.*\})?\s*$", line)
            current = (json.loads(m.group(1)) if m and m.group(1) else {}).get("lang")
            kept.append("")
            continue
        kept.append(line if current == lang else "")
    return "\n".join(kept)


def _literal(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        return None if left is None or right is None else left + right
    return None


def _message_calls(path: Path) -> list[tuple]:
    """(English node, Spanish node) of every tr(lang, en, es) and @check(name, points, label, en, es) in a file."""
    source = path.read_text(encoding="utf8")
    if not re.search(r"\btr\(|@check\(", source):
        return []
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name == "tr" and len(node.args) == 3:
                calls.append((node.args[1], node.args[2]))
            elif name == "check" and len(node.args) == 5:
                calls.append((node.args[3], node.args[4]))
    return calls


@lru_cache(maxsize=None)
def _python_messages(paths: tuple) -> tuple:
    out = []
    for path in paths:
        for en, es in _message_calls(path):
            en_text, es_text = _literal(en), _literal(es)
            out.append((Text(_rel(path), en.lineno, en_text, False) if en_text is not None else None,
                        Text(_rel(path), es.lineno, es_text, False) if es_text is not None else None))
    return tuple(out)


def _python_files():
    return tuple(sorted((ROOT / "gradcourse").rglob("*.py")))


def python_strings(lang: str, paths=None) -> list[Text]:
    """The `lang` side of tr(lang, en, es) and of @check(name, points, label, en, es)."""
    index = {"en": 0, "es": 1}[lang]
    return [pair[index] for pair in _python_messages(tuple(paths or _python_files())) if pair[index] is not None]


def js_language_block(source: str, lang: str, keys: bool = False) -> list[tuple]:
    """(line, string) for every string literal inside the `<lang>: { … }` object of a widget's TEXT table;
    template substitutions ${…} become {}. With keys=True, (key, line, string), the key being the property of
    the table the string belongs to."""
    m = re.search(rf"(?m)^\s*{lang}:\s*\{{", source)
    if not m:
        return []
    i, depth, out, key = m.end(), 1, [], None
    while i < len(source) and depth:
        c = source[i]
        if depth == 1:
            prop = re.match(r"\s*([A-Za-z_]\w*)\s*:", source[i:])
            if prop and (i == m.end() or source[i - 1] in ",{\n" or source[i - 1].isspace()):
                key = prop.group(1)
                i += prop.end()
                continue
        if source.startswith("//", i):
            i = source.find("\n", i)
            continue
        if c in "'\"`":
            start, i, parts = i, i + 1, []
            while i < len(source):
                d = source[i]
                if d == "\\":
                    parts.append(source[i + 1])
                    i += 2
                    continue
                if c == "`" and source.startswith("${", i):
                    level, i = 1, i + 2
                    while level:
                        level += {"{": 1, "}": -1}.get(source[i], 0)
                        i += 1
                    parts.append("{}")
                    continue
                if d == c:
                    break
                parts.append(d)
                i += 1
            out.append((key, source.count("\n", 0, start) + 1, "".join(parts)))
            i += 1
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        i += 1
    return out if keys else [(line, text) for _, line, text in out]


def widget_strings(lang: str, paths=None) -> list[Text]:
    out = []
    for path in paths or sorted((ROOT / "gradcourse" / "widgets" / "static" / "widgets").glob("*.js")):
        for line, value in js_language_block(path.read_text(encoding="utf8"), lang):
            out.append(Text(_rel(path), line, value, False))
    return out


def catalog_strings(lang: str) -> list[Text]:
    out = []
    for path in sorted((ROOT / "gradcourse" / "book" / "locale" / lang).rglob("*.po")):
        for m in re.finditer(r'(?m)^msgstr "(.+)"$', path.read_text(encoding="utf8")):
            out.append(Text(_rel(path), path.read_text(encoding="utf8").count("\n", 0, m.start()) + 1,
                            m.group(1), False))
    return out


def config_strings(lang: str) -> list[Text]:
    path = ROOT / "_config.yml"
    source = path.read_text(encoding="utf8")
    values = []

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, str):
            values.append(node)

    walk(yaml.safe_load(source)["languages"][lang])
    out = []
    for value in values:
        at = source.find(value)
        out.append(Text(_rel(path), source.count("\n", 0, max(at, 0)) + 1, value, False))
    return out


def message_pairs(python_paths=None, widget_paths=None) -> list[tuple[Text, Text]]:
    """(English, Spanish) for every tr(lang, en, es) call, @check(…, en, es) and widget table entry."""
    pairs = [pair for pair in _python_messages(tuple(python_paths or _python_files())) if None not in pair]
    for path in widget_paths or sorted((ROOT / "gradcourse" / "widgets" / "static" / "widgets").glob("*.js")):
        source = path.read_text(encoding="utf8")
        tables = {}
        for lang in ("en", "es"):
            for key, line, text in js_language_block(source, lang, keys=True):
                first, joined = tables.setdefault(lang, {}).get(key, (line, ""))
                tables[lang][key] = (first, joined + text)
        for key, (line, es) in tables.get("es", {}).items():
            if key in tables.get("en", {}):
                en_line, en = tables["en"][key]
                pairs.append((Text(_rel(path), en_line, en, False), Text(_rel(path), line, es, False)))
    return pairs


def check_pairs(pairs, rules) -> list[Finding]:
    out = []
    for en, es in pairs:
        en_prose, es_prose = views(en)["prose"], views(es)["prose"]
        for rule in rules:
            m = re.search(rule["en"], en_prose, re.I)
            if (m and not re.search(rule["es"], es_prose, re.I)
                    and re.search(rule.get("only_if_es", ""), es_prose, re.I)):
                out.append(_finding(es, es_prose, 0, "pair", m.group(0),
                                    f"the English says «{m.group(0)}»: the Spanish needs {rule['es']!r} "
                                    f"(English: {en.body.strip()[:90]})"))
    return out


def all_texts(lang: str) -> list[Text]:
    return (markdown_pages(lang) + lab_cells(lang) + python_strings(lang) + widget_strings(lang)
            + catalog_strings(lang) + config_strings(lang))


# --- checks -----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def terms() -> dict:
    return yaml.safe_load(TERMS_FILE.read_text(encoding="utf8"))


def _finding(text: Text, view: str, pos: int, check: str, found: str, advice: str) -> Finding:
    line_index = view.count("\n", 0, pos)
    original = text.body.split("\n")[line_index].strip()
    return Finding(text.path, text.line + line_index, check, found, advice, original)


def check_terms(text: Text, rules: list[dict], v: dict | None = None) -> list[Finding]:
    """Every variant of `rules` in the text. Patterns are matched on the lowercased text (write them in lower
    case), unless the rule says `case: true`; a space in a pattern also matches a line break."""
    v = v or views(text)
    lower = {}
    out = []
    for rule in rules:
        scope = rule.get("scope", "prose")
        if rule.get("case"):
            view = v[scope]
        else:
            view = lower.setdefault(scope, _lower(v[scope]))
        allowed = [span for pattern in rule.get("allow", []) for span in _spans(pattern, view)]
        for pattern in rule["reject"]:
            for start, end in _spans(pattern, view):
                if any(a <= start and end <= b for a, b in allowed):
                    continue
                out.append(_finding(text, v[scope], start, "term", v[scope][start:end].strip(),
                                    f"{rule['use']} ({rule['why']})"))
    return out


def _lower(view: str) -> str:
    low = view.lower()
    return low if len(low) == len(view) else view  # lower() can change the length of a few characters


@lru_cache(maxsize=None)
def _compiled(pattern: str):
    """(regex, needs_boundary): a leading \\b before a letter is checked by hand, so that the regex starts with a
    literal and the engine can jump to its candidates instead of trying every position (100x faster)."""
    body = pattern.replace(" ", r"\s+")
    boundary = body.startswith(r"\b") and len(body) > 2 and body[2].isalpha()
    return re.compile(body[2:] if boundary else body, re.M), boundary


def _spans(pattern: str, view: str):
    regex, boundary = _compiled(pattern)
    for m in regex.finditer(view):
        if boundary and m.start() > 0 and (view[m.start() - 1].isalnum() or view[m.start() - 1] == "_"):
            continue
        yield m.span()


_USTED_AFTER_CHARS = set(".:;!?¿¡(«\"“—–-*)")
_USTED_AFTER_WORDS = {"y", "e", "o", "u", "ni"}


WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def check_usted(text: Text, forms: list[str], v: dict | None = None) -> list[Finding]:
    view = (v or views(text))["prose"]
    wanted = {f.lower() for f in forms}
    alternatives = "|".join(map(re.escape, forms))
    out = []
    for m in WORD.finditer(view):
        if m.group(0).lower() in wanted and _starts_clause(view, m.start(), alternatives) and not _concessive(view, m):
            out.append(_finding(text, view, m.start(), "usted", m.group(0),
                                "el curso trata de tú: usa el imperativo de tú (fíjate, deduce, calcula, …)"))
    return out


def _starts_clause(view: str, start: int, alternatives: str) -> bool:
    """True when the word at `start` begins a sentence, a list item or a clause, where a verb form can only be
    an imperative; after y/e/o/u/ni it must follow another usted form of the same clause, or a clause with no
    «que» (so that «uno que ignore v y sume …» stays a subjunctive)."""
    before = view[:start].rstrip()
    if not before or before[-1] in _USTED_AFTER_CHARS or before.endswith(","):
        return True
    if view.count("\n", len(before), start) >= 2:  # first word of a paragraph
        return True
    word = re.search(r"([\wáéíóúüñ]+)$", before)
    if word is None or word.group(1).lower() not in _USTED_AFTER_WORDS:
        return False
    clause = re.split(r"[.;:!?()]", before)[-1]
    if re.search(r"(?<![\wáéíóúüñ])(?:" + alternatives + r")(?![\wáéíóúüñ])", clause, re.I):
        return True
    return re.search(r"(?<![\wáéíóúüñ])que(?![\wáéíóúüñ])", clause, re.I) is None


def _concessive(view: str, m) -> bool:
    """«tenga la red los parámetros que tenga», «sea cual sea»: the same form again after «que»."""
    return re.match(r"[^.;:]{0,80}?\bque\s+" + re.escape(m.group(0)) + r"\b", view[m.end():], re.I) is not None


NUMBER_PATTERNS = [
    ("prose", r"(?<![\d.,])[1-9]\d{0,2}(?:[  \u2009\u202f]\d{3})+(?![\d])", "digits grouped by spaces"),
    ("prose", r"(?<![\d.,])[1-9]\d{0,2}(?:\.\d{3}){2,}(?![\d])", "thousands separated by points"),
    ("prose", r"(?<![\d.,])[1-9]\d{0,2}\.000(?![\d.])", "thousands separated by a point"),
    ("prose", r"(?<![\d.])\d+,\d+(?![\d])", "a comma between digits (thousands separator or decimal comma)"),
    ("math", r"\d(?:\\[,;:! ]|\\thinspace|\\medspace|\{,\}|\{\.\})\d{3}(?!\d)", "digits grouped in math"),
]


def check_numbers(text: Text, v: dict | None = None) -> list[Finding]:
    v = v or views(text)
    out = []
    for scope, pattern, what in NUMBER_PATTERNS:
        for m in re.finditer(pattern, v[scope]):
            out.append(_finding(text, v[scope], m.start(), "number", m.group(0),
                                f"{what}: write the number as the code prints it, with no thousands separator "
                                f"(49152) and a decimal point (0.242)"))
    return out


def check_english(text: Text, words: list[str], v: dict | None = None) -> list[Finding]:
    view = (v or views(text))["prose"]
    view = _blank_all(view, r"(?<![\w*])\*(?!\s)[^*\n]+?(?<!\s)\*(?![\w*])", CODE)  # *loanword* in italics
    view = _blank_all(view, r"\{\}", CODE)
    stop = set(words)
    out = []
    for m in re.finditer(r"(?<![\w'-])[A-Za-z]+(?:[-'][A-Za-z]+)*(?![\w-])", view):
        code_like = (view[m.start() - 1:m.start()] in (".", "[", "=", "(", "_")
                     or view[m.end():m.end() + 1] in ("(", ".", "[", "=", "_"))
        if m.group(0).lower() in stop and not code_like:
            out.append(_finding(text, view, m.start(), "english", m.group(0),
                                "English left in Spanish prose: translate it, or put it in code or in italics "
                                "if it is a loanword"))
    return out


def check_italics(text: Text, words: list[str], v: dict | None = None) -> list[Finding]:
    if not text.markdown:
        return []
    view = (v or views(text))["prose"]
    family_of = {w: re.sub(r"s$", "", w) for w in words}
    seen, out = set(), []
    for m in WORD.finditer(view):
        word = m.group(0).lower()
        if word not in family_of:
            continue
        start, end = m.span()
        italic = view[start - 1:start] == "*" and view[end:end + 1] == "*"
        line_start = view.rfind("\n", 0, start) + 1
        heading = view[line_start:start].lstrip().startswith("#")
        if italic and (family_of[word] in seen or heading):
            out.append(_finding(text, view, start - 1, "italics", view[start - 1:end + 1],
                                f"«{m.group(0)}» in italics only on its first use in the page "
                                f"(and never in a heading): write it plain here"))
        if not heading:
            seen.add(family_of[word])
    return out


OTHER_COLUMN = {"es": "Inglés", "en": "Spanish"}


def blank_other_language_column(text: Text, lang: str) -> Text:
    """The glossary's table has a column in the other language: it is not prose of this one."""
    lines, column = text.body.split("\n"), None
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            column = None
            continue
        cells = line.split("|")
        if column is None:
            names = [c.strip() for c in cells]
            column = names.index(OTHER_COLUMN[lang]) if OTHER_COLUMN[lang] in names else -1
        if column > 0 and column < len(cells):
            cells[column] = re.sub(r"\S", " ", cells[column])
            lines[i] = "|".join(cells)
    return Text(text.path, text.line, "\n".join(lines), text.markdown)


def scan(texts: list[Text], lang: str) -> list[Finding]:
    data = terms()[lang]
    findings = []
    for text in texts:
        if text.markdown and text.path.endswith("glossary.md"):
            text = blank_other_language_column(text, lang)
        v = views(text)
        findings += check_terms(text, data.get("terms", []), v)
        if lang == "es":
            findings += check_usted(text, data["usted"], v)
            findings += check_numbers(text, v)
            findings += check_english(text, data["english_words"], v)
            if not text.path.endswith("glossary.md"):  # the glossary cites the loanwords, in italics
                findings += check_italics(text, data["italic_first_use"], v)
        else:
            findings += check_numbers(text, v)
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.check, f.found))


# --- known findings ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def known() -> list[dict]:
    return yaml.safe_load(KNOWN_FILE.read_text(encoding="utf8"))["findings"]


def _matches(entry: dict, finding: Finding) -> bool:
    return (entry["file"] == finding.path and entry["check"] == finding.check
            and entry["found"].lower() == finding.found.lower() and entry["line"] in finding.line_text)


@lru_cache(maxsize=None)
def findings(lang: str) -> tuple[Finding, ...]:
    found = scan(all_texts(lang), lang)
    if lang == "es":
        found += check_pairs(message_pairs(), terms()["es"]["pairs"])
    return tuple(found)


def unexplained(lang: str) -> list[Finding]:
    return [f for f in findings(lang) if not any(_matches(e, f) for e in known() if e["lang"] == lang)]


# --- the tests --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["es", "en"])
def test_no_new_findings(lang):
    """Every variant, usted imperative, badly written number or stray English word in the `lang` texts, except
    the ones listed in tests/terminology_known.yml."""
    found = unexplained(lang)
    assert not found, f"{len(found)} finding(s) against book/terms.yml:\n\n" + "\n".join(map(str, found))


def _known_params(status):
    params = []
    for entry in known():
        if entry["status"] != status:
            continue
        pending = pytest.mark.xfail(strict=True, reason=f"{entry['file']}: {entry['fix']}")
        marks = [pending] if status == "pending" else []
        params.append(pytest.param(entry, marks=marks, id=f"{entry['file']}:{entry['found']}:{entry['line'][:30]}"))
    return params


@pytest.mark.parametrize("entry", _known_params("pending"))
def test_pending_finding_is_fixed(entry):
    """A strict xfail per pending finding: it fails (as expected) while the text is still there, and turns into
    an unexpected pass, which fails the run, once someone fixes it, so that its entry gets removed."""
    assert not any(_matches(entry, f) for f in findings(entry["lang"])), f"still there: {entry['fix']}"


@pytest.mark.parametrize("entry", _known_params("accepted"))
def test_accepted_finding_still_exists(entry):
    """An accepted exception that no longer matches anything is stale: remove it."""
    assert any(_matches(entry, f) for f in findings(entry["lang"])), "stale entry in tests/terminology_known.yml"


def test_known_file_is_well_formed():
    for entry in known():
        assert set(entry) >= {"lang", "file", "check", "found", "line", "status", "fix"}, entry
        assert entry["status"] in ("pending", "accepted"), entry
        assert (ROOT / entry["file"]).exists(), entry


def test_glossary_lists_the_preferred_terms():
    """terms.yml and the glossary page say the same thing: each `glossary: true` term is a row of the table."""
    page = (ROOT / "book/es/glossary.md").read_text(encoding="utf8")
    table = [line.split("|")[1].strip() for line in page.splitlines()
             if line.startswith("| ") and not line.startswith("| Español")]
    for rule in terms()["es"]["terms"]:
        if rule.get("glossary"):
            first = re.split(r"[ /(]", rule["use"].replace("*", ""))[0]
            assert any(re.search(rf"(?<!\w){re.escape(first)}", row.replace("*", "")) for row in table), \
                f"{rule['use']} is not in the glossary"


def test_every_rule_compiles_and_says_why():
    for data in terms().values():
        for rule in data["terms"]:
            assert rule.get("use") and rule.get("why") and rule.get("reject"), rule
            for pattern in rule["reject"] + rule.get("allow", []):
                re.compile(pattern)


def test_spanish_footer_has_a_spanish_author():
    """The footer reads «Por <author>»: languages.es must set its own author."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    es = config["languages"]["es"].get("sphinx", {})
    assert es.get("author") and es["author"] != config["author"]


# --- the checks can fail: small bad texts -----------------------------------------------------------------------


def _md(body: str) -> Text:
    return Text("x.md", 1, body, True)


def _found(findings_: list[Finding]) -> list[str]:
    return [f.found for f in findings_]


@pytest.mark.parametrize("sentence, expected", [
    ("Fíjese en el orden de los factores.", ["Fíjese"]),
    ("El resultado es correcto. Deduzca el paso hacia atrás.", ["Deduzca"]),
    ("1. Para cada forma, indique qué ejes se suman y dé el valor.", ["indique", "dé"]),
    ("**A1.** Demuestre que $J$ es simétrica: calcule $J^\\top$.", ["Demuestre", "calcule"]),
    ("(c) Evalúe la pérdida.", ["Evalúe"]),
    ("Obsérvese que la suma es cero.", ["Obsérvese"]),
    ("Fíjate en el orden de los factores y deduce el resto.", []),
    ("Para que la función calcule el gradiente, NumPy necesita el eje.", []),
    ("Es posible que el código observe un valor distinto.", []),
    ("Sea $f$ derivable. Tomemos $x = 1$.", []),
    ("La celda `Use` existe.", []),
    ("Un paso hacia atrás cuesta poco, tenga la red los parámetros que tenga.", []),
    ("Por ejemplo, uno que ignore $v$ y sume las filas de la jacobiana.", []),
    ("Deduce el gradiente y compruebe las formas.", ["compruebe"]),
])
def test_usted_detector(sentence, expected):
    assert _found(check_usted(_md(sentence), terms()["es"]["usted"])) == expected


@pytest.mark.parametrize("body, expected", [
    ("Con un vocabulario de 50 257 palabras.", ["50 257"]),
    ("Un total de 1.572.864 nodos y 20.000 caracteres.", ["1.572.864", "20.000"]),
    ("Son 49,152 pesos y vale 0,242.", ["49,152", "0,242"]),
    ("Con un vocabulario de $50\\,257$ palabras.", ["0\\,257"]),
    ("Son 49152 pesos; la probabilidad es 0.242 y el paso `1e-5`; la forma $(2, 3)$ y `(20, 000)`.", []),
    ("Vale $0.0900$ y 1.083, con 16 MB por archivo.", []),
])
def test_number_style(body, expected):
    assert _found(check_numbers(_md(body))) == expected


def test_terms_and_contexts():
    rules = terms()["es"]["terms"]
    bad = _md("Un arreglo de la matriz transpuesta.\n\nModificar en su sitio el gradiente. El pico de la relu.\n\n"
              "La entrada $(i, j)$ de la jacobiana, entrada a entrada.\n\n## Problemas\n\n$\\operatorname{sen} x$\n")
    found = _found(check_terms(bad, rules))
    for variant in ["arreglo", "transpuesta", "Modificar en su sitio", "pico", "entrada a entrada", "## Problemas",
                    "\\operatorname{sen}"]:
        assert variant in found, (variant, found)
    fine = _md("Un *array* traspuesto, modificado in situ; el eje sigue en su sitio, con un pico de memoria. "
               "Un `np.transpose` y $\\sin x$, [enlace](https://example.org/arreglo).\n\n## Problemas de práctica\n")
    assert _found(check_terms(fine, rules)) == []


def test_grammar_rules():
    rules = terms()["es"]["terms"]
    found = _found(check_terms(_md("La orden se niega a arrancar si `config.py` dejaría que nbgrader siguiera. "
                                   "Y el error típico que parece."), rules))
    assert found == ["si ¤¤¤¤¤¤¤¤¤¤¤ dejaría", "error típico que parece"], found
    fine = _md("Comprueba si funcionaría. Si la categoría es otra, para. Si no llegara a cargarse, seguiría.")
    assert _found(check_terms(fine, rules)) == []


def test_message_pairs():
    rules = terms()["es"]["pairs"]
    en, es = Text("m.py", 1, "Overflow/underflow at z = {}", False), Text("m.py", 2, "Desbordamiento con z = {}", False)
    assert _found(check_pairs([(en, es)], rules)) == ["underflow"]
    es_ok = Text("m.py", 2, "Desbordamiento o subdesbordamiento con z = {}", False)
    assert check_pairs([(en, es_ok)], rules) == []
    en = Text("m.py", 1, "N = the total number of entries.", False)
    es = Text("m.py", 2, "N = número de entradas.", False)
    assert _found(check_pairs([(en, es)], rules)) == ["entries"]
    js = ('const TEXT = {\n  en: {\n    a: (s) => `Right axes, ` +\n      `wrong rank.`,\n  },\n'
          '  es: {\n    a: (s) => `Ejes, ` +\n      `rango equivocado.`,\n  },\n};')
    assert js_language_block(js, "es", keys=True) == [("a", 7, "Ejes, "), ("a", 8, "rango equivocado.")]


def test_english_words():
    words = terms()["es"]["english_words"]
    found = _found(check_english(_md("Compara la entry con el input of the check, no con la *feedback*."), words))
    assert found == ["entry", "input", "of", "the", "check"]
    assert check_english(_md("El `check` de `the` y $the$ y [un enlace](https://a.b/the/entry)."), words) == []


def test_italics_on_first_use():
    words = terms()["es"]["italic_first_use"]
    text = _md("## *Softmax*\n\nLos *logits* pasan por *softmax*. Después, los *logits* y la softmax.\n")
    assert _found(check_italics(text, words)) == ["*Softmax*", "*logits*"]
    assert check_italics(_md("Los *logits* y la softmax; los logits otra vez.\n"), words) == []


def test_report_names_file_and_line():
    """A small bad page gives one readable line per slip, with its file and line."""
    bad = Text("book/es/x.md", 1, "# Título\n\nFíjese en el arreglo: la entry\nvale 50 257.\n", True)
    report = [str(f).split("\n")[0] for f in scan([bad], "es")]
    assert report == [
        "book/es/x.md:3: [english] «entry» → English left in Spanish prose: translate it, or put it in code or in "
        "italics if it is a loanword",
        "book/es/x.md:3: [term] «arreglo» → array (el glosario usa *array* (en cursiva la primera vez); «arreglo» "
        "suena a traducción literal)",
        "book/es/x.md:3: [usted] «Fíjese» → el curso trata de tú: usa el imperativo de tú (fíjate, deduce, calcula, …)",
        "book/es/x.md:4: [number] «50 257» → digits grouped by spaces: write the number as the code prints it, with no "
        "thousands separator (49152) and a decimal point (0.242)",
    ], report


def test_sources_are_read():
    """Each kind of source yields text, and the extractors find what they must."""
    lab = lab_language_only('+++ {"lang": "en"}\n\nThe entry.\n\n+++ {"lang": "es"}\n\nEl elemento.\n\n'
                            "```{code-cell} ipython3\nx = 1\n```\n", "es")
    assert lab.split("\n")[6] == "El elemento." and "entry" not in lab and "x = 1" not in lab
    js = ('const TEXT = {\n  en: { a: "entry" },\n  es: {\n    a: "rango",\n'
          '    b: (s) => `eje ${s.n} ${f("x")}`,\n  },\n};')
    assert js_language_block(js, "es") == [(4, "rango"), (5, "eje {} {}")]
    assert any(t.path.endswith("checks/lab00.py") for t in python_strings("es"))
    assert any(t.path.endswith("picker.js") for t in widget_strings("es"))
    assert catalog_strings("es") and config_strings("es")
    assert any("labsrc" in t.path for t in lab_cells("es"))


def test_views_blank_code_math_and_links():
    body = ("---\na: b\n---\n(lbl)=\n# Título\n\n```{code-cell} ipython3\nthe = 1\n```\n\n"
            "Texto con `the`, $the$ y {doc}`Laboratorio 01 <../labs/lab01>` y [enlace](https://the.org).\n\n"
            "$$\nthe\n$$ (eq-x)\n\n:::{admonition} Pregunta: the\n:class: tip\n:::\n")
    v = views(_md(body))
    assert len(v["prose"]) == len(body) and v["prose"].count("\n") == body.count("\n")
    assert re.findall(r"\bthe\b", v["prose"]) == ["the"]  # only the admonition title is prose
    assert "Laboratorio 01" in v["prose"] and "lab01" not in v["prose"]
    assert v["math"].count("the") == 2
