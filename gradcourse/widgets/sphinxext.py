"""Sphinx extension: the course's widgets in the static book.

It serves ``gradcourse/widgets/static/widgets/`` as ``_static/widgets/`` and adds ``loader.js`` (an ES module) and
``widgets.css`` to every page. ``loader.js`` finds the mount points the widgets' ``text/html`` outputs left in the
page and renders them with the same ES modules a live notebook runs through anywidget.

The executed notebooks also record the anywidget models in their widget state. The book's Jupyter widget manager
cannot load anywidget's front end (it would ask for it from a CDN), and the loader does not need that state, so
those models are taken out of the page; a page left with no widget state loses the widget-manager scripts too.
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.application import Sphinx

HERE = Path(__file__).parent
STATE_TYPE = "application/vnd.jupyter.widget-state+json"
WIDGET_MANAGER_FILES = ("require.js", "embed-amd.js")


def _on_config_inited(app: Sphinx, config) -> None:
    config.html_static_path.append(str(HERE / "static"))


def _refs(value, found: set[str]) -> set[str]:
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        found.add(value[len("IPY_MODEL_") :])
    elif isinstance(value, dict):
        for v in value.values():
            _refs(v, found)
    elif isinstance(value, list):
        for v in value:
            _refs(v, found)
    return found


def without_anywidgets(state: dict) -> dict:
    """The widget state minus anywidget models and the models (layouts) only they refer to."""
    models = state.get("state", {})
    drop = {mid for mid, m in models.items() if m.get("model_module") == "anywidget"}
    keep = {mid: m for mid, m in models.items() if mid not in drop}
    orphans = set().union(*(_refs(models[mid].get("state", {}), set()) for mid in drop)) if drop else set()
    still_used = set().union(*(_refs(m.get("state", {}), set()) for m in keep.values())) if keep else set()
    for mid in orphans - still_used:
        keep.pop(mid, None)
    return {**state, "state": keep}


def _on_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    for i, script in enumerate(scripts):
        attributes = getattr(script, "attributes", {})
        if attributes.get("type") != STATE_TYPE or "body" not in attributes:
            continue
        state = without_anywidgets(json.loads(attributes["body"]))
        if state["state"]:
            body = json.dumps(state).replace("</", "<\\/")
            scripts[i] = type(script)(None, priority=script.priority, **{**attributes, "body": body})
            return
        del scripts[i]
        scripts[:] = [s for s in scripts if not _is_widget_manager(s)]
        return


def _is_widget_manager(script) -> bool:
    name = getattr(script, "filename", None) or ""
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return name.endswith(WIDGET_MANAGER_FILES) or body.startswith("require.config(")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _on_config_inited)
    # After myst-nb (which adds the widget state) and gradcourse.book.sphinxext (which adjusts its scripts).
    app.connect("html-page-context", _on_page_context, priority=800)
    app.add_css_file("widgets/widgets.css")
    app.add_js_file("widgets/loader.js", type="module")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
