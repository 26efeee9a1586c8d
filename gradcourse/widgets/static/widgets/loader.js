// Mounts the course's widgets in the static book, where no kernel runs. Each mount point comes from a widget's
// text/html output: <div class="gc-widget" data-module="picker" data-model="{...}">. The loader imports
// _static/widgets/<module>.js (the very file a live notebook gives anywidget as _esm) and calls its render with
// an in-browser model that offers anywidget's model API: get, set, on, off, save_changes, send.
// A page with widgets runs, as an async module script in its head, a few lines that import this file and the
// widgets' modules and call mountAsParsed (gradcourse.widgets.sphinxext): each widget mounts as soon as the parser
// has read its mount point, while the rest of the page is still arriving. An async script may also run late (on a
// busy machine, after the page is parsed), so the same lines run again as a deferred module script, which the
// browser runs before DOMContentLoaded: every widget has mounted by then, whichever ran first. (In Chromium an
// import(), even of a module the page already holds, settled only after the page's load event.)

const NAME = /^[a-z][a-z0-9-]*$/;

function staticRoot() {
  const root = document.documentElement.dataset.content_root;
  if (root !== undefined) return new URL(`${root}_static/widgets/`, document.baseURI);
  return new URL("./", import.meta.url); // this file lives in _static/widgets/
}

export function createModel(initial = {}) {
  const state = { ...initial };
  const handlers = new Map();
  const emit = (event, ...args) => [...(handlers.get(event) || [])].forEach((cb) => cb(...args));
  const model = {
    get: (key) => state[key],
    set(key, value) {
      const old = state[key];
      state[key] = value;
      if (!Object.is(old, value)) {
        emit(`change:${key}`, model, value);
        emit("change", model);
      }
    },
    on(events, callback) {
      for (const event of events.split(/\s+/).filter(Boolean)) {
        if (!handlers.has(event)) handlers.set(event, new Set());
        handlers.get(event).add(callback);
      }
    },
    off(events, callback) {
      const names = events ? events.split(/\s+/).filter(Boolean) : [...handlers.keys()];
      for (const event of names) {
        if (callback) handlers.get(event)?.delete(callback);
        else handlers.delete(event);
      }
    },
    save_changes() {}, // nothing to sync with: the page is the whole widget
    send() {},
    widget_manager: { async get_model() { return undefined; } },
  };
  return model;
}

function pageLang() {
  return (document.documentElement.lang || "en").toLowerCase().startsWith("es") ? "es" : "en";
}

// Each mount point's mounting, started once: the page's two scripts (below) may both reach it.
const mounting = new WeakMap();

function mount(el) {
  if (!mounting.has(el)) mounting.set(el, render(el));
  return mounting.get(el);
}

async function render(el) {
  el.dataset.mounted = "loading";
  const name = el.dataset.module || "";
  if (!NAME.test(name)) throw new Error(`gradcourse widgets: bad module name ${JSON.stringify(name)}`);
  const data = JSON.parse(el.dataset.model || "{}");
  data.lang = pageLang(); // the book follows the page: the same executed output serves both languages
  const module = window.gcWidgetModules?.[name] ?? (await import(new URL(`${name}.js`, staticRoot()).href));
  const widget = typeof module.default === "function" ? await module.default() : module.default;
  const model = createModel(data);
  if (widget.initialize) await widget.initialize({ model });
  await widget.render({ model, el });
  el.dataset.mounted = "yes";
}

async function settle(mounts) {
  for (const result of await Promise.allSettled(mounts)) {
    if (result.status === "rejected") console.error(result.reason);
  }
  document.documentElement.dataset.gcWidgets = "ready";
}

// Mount the widgets of ``modules`` (name to module) as the parser adds them, and every other mount point once the
// page is parsed. The page's dataset.gcWidgets becomes "ready" when every widget has mounted or failed.
export function mountAsParsed(modules) {
  window.gcWidgetModules = modules;
  // mount() starts each mount point once: the widgets started while parsing are among those settled at the end.
  const everyOne = () => settle([...document.querySelectorAll(".gc-widget[data-module]")].map(mount));
  if (document.readyState !== "loading") return everyOne();
  document.querySelectorAll(".gc-widget[data-module]").forEach(mount);
  // The parser adds each element empty, then its children: a mount point arrives as an added node of its own.
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType === Node.ELEMENT_NODE && node.matches(".gc-widget[data-module]")) mount(node);
      }
    }
  });
  observer.observe(document, { childList: true, subtree: true });
  return new Promise((resolve) => {
    document.addEventListener("DOMContentLoaded", () => {
      observer.disconnect();
      resolve(everyOne());
    }, { once: true });
  });
}
