// Helpers shared by every widget module. The book imports this file next to them; a live notebook gets it
// inlined into each module's _esm (see gradcourse.widgets.esm), because anywidget loads one file per widget.

export function pickLang(model) {
  const lang = (model.get("lang") || document.documentElement.lang || "en").toLowerCase();
  return lang.startsWith("es") ? "es" : "en";
}

let counter = 0;

// A page-unique id prefix, for label/aria wiring between the elements of one widget.
export function newId(kind) {
  return `gc-${kind}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}
