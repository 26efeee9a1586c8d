"""What a saved lab keeps of the course's widgets: a one-line note to run the cell again (a Jupyter server extension
of the learner install, enabled by ``jupyter-config/jupyter_server_config.d/gradcourse.json``).

A widget's output in a notebook is only a reference to a widget model, which lives in the kernel. Reopened after
its kernel stopped, a lab would show "Error displaying widget: model not found" in JupyterLab. Saving the widget
state in the notebook (JupyterLab's ``saveState``) does not prevent it: JupyterLab saves only the models of a kernel
still connected, so the first save after a reopen (autosave does it within minutes) writes an empty state over the
saved one (jupyter-widgets/ipywidgets#3888); and a lab reopened while a kernel runs can look its models up before
they are restored from the state, and give up. Only an output with no widget reference never shows that error.

So, before a notebook is saved, the output of every course widget (recognised by the mount point it adds to its mime
bundle for the book) becomes a line of text in the widget's language saying to run the cell again. The notebook open
in the browser keeps its live widget; the file gets the note. Other outputs, other widgets and other notebooks are
saved untouched, and the hook never stops a save.
"""
from __future__ import annotations

import html
import json
import logging
import re

VIEW_TYPE = "application/vnd.jupyter.widget-view+json"
# The mount point every course widget adds to its mime bundle (gradcourse.widgets._CourseWidget.mount_html).
_MOUNT = re.compile(r'<div class="gc-widget" data-module="[a-z][a-z0-9-]*" data-model="([^"]*)"')
_log = logging.getLogger(__name__)


def rerun_note(lang: str) -> str:
    from gradcourse.lang import tr

    return tr(lang, "The widget appears here when this cell runs: run it again to use it.",
              "El widget aparece aquí cuando se ejecuta esta celda: vuelve a ejecutarla para usarlo.")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""


def course_widget_outputs(nb: dict):
    """(output, language) of every output of a course widget in a notebook given as JSON."""
    default = (nb.get("metadata", {}).get("gradcourse") or {}).get("lang", "en")
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data") or {}
            mount = _MOUNT.search(_text(data.get("text/html")))
            if VIEW_TYPE not in data or not mount:
                continue
            try:
                lang = json.loads(html.unescape(mount.group(1))).get("lang") or default
            except (ValueError, AttributeError):
                lang = default
            yield out, lang


def note_course_widgets(nb: dict) -> int:
    """Turn the output of every course widget in ``nb`` into the note; how many there were."""
    found = list(course_widget_outputs(nb))
    for out, lang in found:
        out["data"] = {"text/plain": rerun_note(lang)}
    return len(found)


def pre_save_hook(model, path, contents_manager, **kwargs):
    """jupyter_server's pre-save hook: see the module's docstring."""
    try:
        if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
            note_course_widgets(model["content"])
    except Exception:  # noqa: BLE001 - a hook that fails would lose the learner's work: save as it came
        _log.warning("gradcourse: could not check the widgets of %s before saving", path, exc_info=True)


def _jupyter_server_extension_points():
    return [{"module": "gradcourse.widgets.saving"}]


def _load_jupyter_server_extension(serverapp):
    def register():
        serverapp.contents_manager.register_pre_save_hook(pre_save_hook)
        serverapp.log.info("gradcourse: a saved lab notes where to run its widgets again")

    # Once the server runs, not now: an extension loaded after this one may replace the contents manager (jupytext
    # does), and the hooks registered on the one it replaced would be lost.
    serverapp.io_loop.add_callback(register)
