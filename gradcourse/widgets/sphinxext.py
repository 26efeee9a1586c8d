"""Sphinx extension: the course's widgets in the static book.

It serves ``gradcourse/widgets/static/widgets/`` as ``_static/widgets/``, adds ``widgets.css`` to every page and
``loader.js`` (an ES module) to every page with a widget. ``loader.js`` finds the mount points the widgets'
``text/html`` outputs left in the page and renders them with the same ES modules a live notebook runs through
anywidget.

The executed notebooks also record the anywidget models in their widget state. The book's Jupyter widget manager
cannot load anywidget's front end (it would ask for it from a CDN), and the loader does not need that state, so
those models are taken out of the page; a page left with no widget state loses the widget-manager scripts too.

A page with widgets gets, in place of the loader's script tag, an async module script that imports the loader and
the modules its widgets use and calls ``mountAsParsed`` with them: it runs as soon as those files are in, and each
widget mounts when the parser reaches its mount point, not once the whole page, its stylesheets, its fonts and the
scripts before it are in (as a deferred script would). The same lines follow as a deferred module script, which
the browser runs before DOMContentLoaded, should the async one come late. (An ``import()``, even of a module the
page held, settled in Chromium only after the page's ``load`` event.) The head names those modules and the ones
they import as ``modulepreload`` links, so the browser fetches them with the stylesheets, not one after the other.

Such a page also holds its first paint until the parser has read its last mount point (``<link rel="expect"
blocking="render">``; a browser without it ignores it). Once the stylesheets are in, the browser lays the page out
between chunks of parsing, and on a chapter full of equations each layout costs as much as the parse it
interrupts: the parser reached a widget half-way down the page only after several of them. Held, it reads on to
the widgets first, and the page is drawn once, with them. (bench/pages.py, 2 cores, the chapters in alternating
rounds: the widgets answered on average 90-120 ms sooner in three rounds of four, as soon in the fourth.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.application import Sphinx

HERE = Path(__file__).parent
STATE_TYPE = "application/vnd.jupyter.widget-state+json"
WIDGET_MANAGER_FILES = ("require.js", "embed-amd.js")
MODULES = HERE / "static" / "widgets"
LOADER = "widgets/loader.js"
MOUNT = re.compile(r'<div class="gc-widget" data-module="([a-z][a-z0-9-]*)"')
LAST_MOUNT = "gc-last-widget"  # the id of a page's last mount point, which its first paint waits for
IMPORT = re.compile(r'^import\b[^;]*?\bfrom "\./([a-z][a-z0-9-]*)\.js";', re.M | re.S)


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


def widget_modules(body: str) -> list[str]:
    """The widget modules a page's mount points name, each once, in order of appearance."""
    return list(dict.fromkeys(name for name in MOUNT.findall(body) if (MODULES / f"{name}.js").is_file()))


def module_registry(names: list[str], static_url: str) -> str:
    """An ES module that imports the loader and ``names`` from ``static_url``widgets/ and mounts those widgets as
    the page is parsed (the loader imports any other widget by that same address: one copy of each)."""
    imports = "".join(f'import * as m{i} from "{static_url}widgets/{name}.js";\n' for i, name in enumerate(names))
    listed = ", ".join(f"{json.dumps(name)}: m{i}" for i, name in enumerate(names))
    return (f'import {{ mountAsParsed }} from "{static_url}{LOADER}";\n{imports}'
            f"mountAsParsed({{ {listed} }});")


def with_imports(names: list[str]) -> list[str]:
    """``names`` and every module they import from widgets/, each once: all a page's widgets will load."""
    found: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name not in found:
            found.append(name)
            todo += IMPORT.findall((MODULES / f"{name}.js").read_text(encoding="utf8"))
    return found


def module_preloads(names: list[str], static_url: str) -> str:
    return "".join(f'<link rel="modulepreload" href="{static_url}widgets/{name}.js" />\n'
                   for name in with_imports(["loader", *names]))


def paint_after_last_mount(body: str) -> tuple[str, str]:
    """``body`` with its last mount point named :data:`LAST_MOUNT`, and the head's link that holds the first paint
    until the parser has read it; ``(body, "")`` where there is no mount point (or the name is taken)."""
    starts = [m.start() for m in MOUNT.finditer(body)]
    if not starts or f'id="{LAST_MOUNT}"' in body:
        return body, ""
    at = starts[-1] + len("<div")
    return (body[:at] + f' id="{LAST_MOUNT}"' + body[at:],
            f'<link rel="expect" href="#{LAST_MOUNT}" blocking="render" />\n')


def _mount_as_parsed(context: dict) -> None:
    names = widget_modules(context.get("body", ""))
    scripts = context.get("script_files") or []
    for i, script in enumerate(scripts):
        if (getattr(script, "filename", None) or "").endswith(LOADER):
            if not names:  # a page with nothing to mount spares the request
                del scripts[i]
                return
            static_url = context["pathto"]("_static/", 1)
            body = module_registry(names, static_url)
            # The async one mounts each widget as it is parsed; the deferred one (the same lines) makes sure all
            # have mounted before DOMContentLoaded, should the first have to wait (see loader.js).
            scripts[i:i + 1] = [type(script)(None, priority=script.priority, type="module", **{"async": "async"},
                                             body=body),
                                type(script)(None, priority=script.priority, type="module", body=body)]
            # Sphinx writes the metatags first in the head, where the browser's preload scanner sees them at once.
            context["body"], hold = paint_after_last_mount(context["body"])
            context["metatags"] = context.get("metatags", "") + hold + module_preloads(names, static_url)
            return


def _on_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    _mount_as_parsed(context)
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
    app.add_js_file(LOADER, type="module")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
