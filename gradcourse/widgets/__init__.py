"""Interactive widgets of the course, written once as anywidget ES modules.

Each widget's front end is one file in ``static/widgets/`` (``export default { render({ model, el }) }``). In a
live notebook it runs through :class:`anywidget.AnyWidget` (``_esm`` is that file); in the static book, where no
kernel runs, :mod:`gradcourse.widgets.sphinxext` serves the same file and ``loader.js`` gives it an in-browser
model. The bridge is the ``text/html`` entry each widget adds to its mime bundle: a mount point that carries the
model's state as JSON. Everything a widget checks (the picker's expected gradients, a quiz's answer) is computed
here, in Python, and travels in that state.

The widgets hold no prose: code cells are identical in the English and Spanish books, so every label and message
lives in the JavaScript in both languages and follows the page (``<html lang>``) or the ``lang`` trait.

A widget lives as long as its kernel: the learner install's Jupyter server (:mod:`.saving`) saves a lab with a note
to run the cell again where a course widget's output was, so that a reopened lab never shows "model not found".
"""

from __future__ import annotations

import html
import json
import math
import numbers
import re
from pathlib import Path

import numpy as np

try:
    import anywidget
    import traitlets as t
except ImportError as missing:  # the course was installed without its learner extra
    raise ImportError(f'{missing.name} is missing: pip install "gradcourse[learner]" installs what the course\'s '
                      f'widgets need · falta {missing.name}: pip install "gradcourse[learner]" instala lo que '
                      "necesitan los widgets del curso") from missing

STATIC = Path(__file__).parent / "static" / "widgets"
__all__ = ["AttentionExplorer", "BroadcastPicker", "Choice", "JacobianExplorer", "Quiz", "STATIC", "SCENARIOS", "esm"]
_SHARED_IMPORT = re.compile(r'^import \{[^}]*\} from "\./common\.js";\n', re.M)


def esm(name: str) -> str:
    """A widget module as anywidget needs it: one file, with the shared helpers (common.js) inlined where the
    book's copy imports them."""
    source = (STATIC / f"{name}.js").read_text(encoding="utf8")
    common = (STATIC / "common.js").read_text(encoding="utf8").replace("export function", "function")
    return _SHARED_IMPORT.sub(lambda _m: common, source, count=1)


def _plain(value):
    """NumPy scalars and arrays as JSON-ready Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _CourseWidget(anywidget.AnyWidget):
    """An anywidget whose mime bundle also carries a ``text/html`` mount point for the static book."""

    _module = ""  # the file name in static/widgets/, without .js
    _css = STATIC / "widgets.css"

    lang = t.Unicode(help="'en' or 'es'; empty: follow the page (the book always follows the page)").tag(
        sync=True, book=True
    )

    @t.default("lang")
    def _default_lang(self) -> str:
        # A notebook follows its folder (labs/es/...), as the labs' self-checks do; the book overrides this with
        # the page's language, since one executed output serves both books.
        from gradcourse.lang import notebook_language

        return notebook_language()

    def book_state(self) -> dict:
        """The state the book's in-browser model starts from: every trait tagged ``book=True``."""
        return {name: _plain(getattr(self, name)) for name in self.trait_names(book=True)}

    def mount_html(self) -> str:
        state = html.escape(json.dumps(self.book_state(), separators=(",", ":")), quote=True)
        return f'<div class="gc-widget" data-module="{self._module}" data-model="{state}"></div>'

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        data["text/html"] = self.mount_html()
        return data, metadata


# --- the broadcast-axis picker ----------------------------------------------------------------------------

# (id, parameter name, parameter shape, shape of the array it is added to = the shape of dY)
SCENARIOS = [
    ("bias-batch", "b", (4,), (3, 4)),
    ("row-bias", "b", (1, 4), (3, 4)),
    ("middle-axis", "b", (2, 1, 3), (2, 4, 3)),
    ("scalar", "c", (), (3, 4)),
    ("leading-axes", "b", (4,), (2, 3, 4)),
]


def _axis_roles(param_shape: tuple, out_shape: tuple) -> list[str]:
    """For each axis of dY: 'added' (the parameter lacks it), 'stretched' (length 1 copied) or 'kept'."""
    extra = len(out_shape) - len(param_shape)
    roles = []
    for axis, n in enumerate(out_shape):
        if axis < extra:
            roles.append("added")
        elif param_shape[axis - extra] == 1 and n != 1:
            roles.append("stretched")
        else:
            roles.append("kept")
    return roles


def make_scenario(name, param, param_shape, out_shape, dY, unbroadcast) -> dict:
    """One scenario of the picker, with its expected gradient computed by ``unbroadcast``."""
    dY = np.asarray(dY, dtype=float)
    expected = np.asarray(unbroadcast(dY, param_shape), dtype=float)
    roles = _axis_roles(tuple(param_shape), tuple(out_shape))
    axes = tuple(a for a, role in enumerate(roles) if role != "kept")
    keepdims = "stretched" in roles
    if "stretched" in roles and "added" in roles:
        raise ValueError(f"{name}: one dY.sum(...) call cannot produce {param_shape}; pick another scenario")
    # The single sum the learner should find gives what unbroadcast gives: the answer key is consistent.
    solution = dY.sum(axis=axes, keepdims=keepdims) if axes else dY
    if solution.shape != expected.shape or not np.allclose(solution, expected):
        raise ValueError(f"{name}: dY.sum(axis={axes}, keepdims={keepdims}) disagrees with unbroadcast")
    return {
        "id": name,
        "param": param,
        "param_shape": list(param_shape),
        "dy_shape": list(dY.shape),
        "dy": dY.tolist(),
        "expected_shape": list(expected.shape),
        "expected": _plain(expected),
        "roles": roles,
        "solution": {"axes": list(axes), "keepdims": keepdims},
    }


class BroadcastPicker(_CourseWidget):
    """Choose the axes of dY to sum (and keepdims) so that the result is the gradient of a broadcast parameter.

    ``unbroadcast`` computes the expected answer of every scenario (by default the course's reference one; a
    chapter may pass its own). dY for scenario ``i`` is ``round(default_rng(seed + i).standard_normal, 2)``.
    """

    _module = "picker"
    _esm = esm("picker")

    scenarios = t.List(t.Dict()).tag(sync=True, book=True)
    scenario = t.Int(0).tag(sync=True, book=True)
    axes = t.List(t.Int()).tag(sync=True, book=True)
    keepdims = t.Bool(False).tag(sync=True, book=True)

    def __init__(self, seed: int = 7, scenarios=SCENARIOS, unbroadcast=None, **kwargs):
        if unbroadcast is None:
            from gradcourse.grading.reference import unbroadcast
        built = []
        for i, (name, param, param_shape, out_shape) in enumerate(scenarios):
            dY = np.round(np.random.default_rng(seed + i).standard_normal(out_shape), 2)
            built.append(make_scenario(name, param, param_shape, out_shape, dY, unbroadcast))
        super().__init__(scenarios=built, **kwargs)

    def pick(self) -> np.ndarray:
        """What the current choice computes (the same thing the browser shows)."""
        s = self.scenarios[self.scenario]
        dY = np.asarray(s["dy"], dtype=float)
        return dY.sum(axis=tuple(self.axes), keepdims=self.keepdims) if self.axes else dY


# --- quizzes ----------------------------------------------------------------------------------------------


class Quiz(_CourseWidget):
    """A numeric question: the learner's number is accepted if it is within ``tol`` of ``answer``.

    The question itself is prose in the page (the admonition right before the cell), so the code stays the same in
    both languages; in the book the widget moves into that admonition and points its input at the question.
    """

    _module = "quiz"
    _esm = esm("quiz")

    quiz_id = t.Unicode().tag(sync=True, book=True)
    kind = t.Unicode("number").tag(sync=True, book=True)
    answer = t.Any().tag(sync=True, book=True)
    tol = t.Float(0.0).tag(sync=True, book=True)
    choices = t.List(t.Unicode()).tag(sync=True, book=True)
    # What the learner did last (set by the front end).
    response = t.Unicode("").tag(sync=True)
    correct = t.Bool(None, allow_none=True).tag(sync=True)

    def __init__(self, quiz_id: str, answer, tol: float = 0.0, **kwargs):
        answer = _plain(answer)
        if not isinstance(answer, numbers.Real) or isinstance(answer, bool) or not math.isfinite(answer):
            raise TypeError(f"{quiz_id}: a numeric quiz needs a finite number, not {answer!r}")
        if isinstance(answer, float) and answer.is_integer() and tol == 0:
            answer = int(answer)
        super().__init__(quiz_id=quiz_id, kind="number", answer=answer, tol=float(tol), **kwargs)

    def check(self, response) -> bool:
        """The rule the front end applies (commas are accepted as decimal points)."""
        try:
            value = float(str(response).strip().replace(",", "."))
        except ValueError:
            return False
        return abs(value - self.answer) <= self.tol + 1e-12 * max(1.0, abs(self.answer))


class Choice(Quiz):
    """A multiple-choice question whose options are language-neutral (shapes, numbers, formulas, code).

    ``answer`` is the correct option itself (computed by code), not its position, so it cannot drift from the
    computation that produced it.
    """

    def __init__(self, quiz_id: str, choices, answer, **kwargs):
        choices = [str(c) for c in choices]
        answer = str(_plain(answer))
        if choices.count(answer) != 1:
            raise ValueError(f"{quiz_id}: the answer {answer!r} must be exactly one of {choices}")
        _CourseWidget.__init__(self, quiz_id=quiz_id, kind="choice", choices=choices, answer=answer, **kwargs)

    def check(self, response) -> bool:
        return str(response) == self.answer


# --- the softmax Jacobian explorer ------------------------------------------------------------------------


class JacobianExplorer(_CourseWidget):
    """Sliders for the logits (3 to 5 of them) and a temperature; a heatmap of ``diag(p) - p pᵀ`` for
    ``p = softmax(z / T)`` with its row sums."""

    _module = "jacobian"
    _esm = esm("jacobian")

    logits = t.List(t.Float(), minlen=3, maxlen=5).tag(sync=True, book=True)
    temperature = t.Float(1.0).tag(sync=True, book=True)
    # The Jacobian for the current logits, computed here with the reference softmax (the front end computes its
    # own as the sliders move; in a live notebook this trait follows them).
    jacobian = t.List(t.List(t.Float())).tag(sync=True, book=True)

    def __init__(self, logits=(2.0, 1.0, 0.1), temperature: float = 1.0, **kwargs):
        super().__init__(logits=[float(v) for v in logits], temperature=float(temperature), **kwargs)
        self._update_jacobian()

    @t.observe("logits", "temperature")
    def _update_jacobian(self, change=None) -> None:
        from gradcourse.grading.reference import softmax_jacobian

        if self.temperature <= 0:
            return
        self.jacobian = softmax_jacobian(np.asarray(self.logits) / self.temperature).tolist()


from .attention import AttentionExplorer  # noqa: E402  (last: it builds on _CourseWidget above)
