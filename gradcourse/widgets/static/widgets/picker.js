// Broadcast-axis picker. The learner chooses which axes of dY to sum, and keepdims, to get the gradient of a
// parameter that broadcasting copied in the forward pass. One file for both places: a live notebook runs it
// through anywidget, the static book through gradcourse's loader.js with an in-browser model.
// Model: scenarios (computed in Python, with the expected gradient from unbroadcast), scenario, axes, keepdims, lang.

import { h, newId, pickLang } from "./common.js";

const shapeText = (shape) =>
  shape.length === 0 ? "()" : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;

const sumCall = (axes, keepdims) => {
  if (axes.length === 0) return "dY";
  const axis = axes.length === 1 ? String(axes[0]) : `(${axes.join(", ")})`;
  return `dY.sum(axis=${axis}${keepdims ? ", keepdims=True" : ""})`;
};

const TEXT = {
  en: {
    title: "Broadcast-axis picker",
    scenario: "Scenario",
    option: (s) => `${s.param} ${shapeText(s.param_shape)} added to ${shapeText(s.dy_shape)}`,
    forward: (s) =>
      `Forward: ${s.param}, of shape ${shapeText(s.param_shape)}, was added to an array of shape ` +
      `${shapeText(s.dy_shape)}. Backward: dY has shape ${shapeText(s.dy_shape)}; ` +
      `the gradient of ${s.param} must have shape ${shapeText(s.param_shape)}.`,
    dy: "dY, the upstream gradient",
    shape: "shape",
    axes: "Axes of dY to sum",
    axis: (a, n) => `axis ${a} (length ${n})`,
    keepdims: "keepdims=True",
    result: "Your result",
    show: "Show the answer",
    hide: "Hide the answer",
    answer: (s) =>
      `unbroadcast(dY, ${shapeText(s.param_shape)}) = ${sumCall(s.solution.axes, s.solution.keepdims)}, ` +
      `of shape ${shapeText(s.expected_shape)}:`,
    correct: (s) =>
      `Correct: the result has shape ${shapeText(s.expected_shape)}, the shape of ${s.param}, ` +
      `and it equals unbroadcast(dY, ${shapeText(s.param_shape)}).`,
    mismatch: (got, want) => `Shape mismatch: ${shapeText(got)} is not ${shapeText(want)}.`,
    valuesDiffer: "The shape is right but the numbers are not those of unbroadcast.",
    nothing: (s) => `Nothing is summed yet, so the result is dY itself.`,
    notBroadcast: (a, n, s) =>
      `Axis ${a} was not broadcast: ${s.param} has its own ${n} entries along it, so summing it adds up the ` +
      `gradients of different entries.`,
    added: (a, s) =>
      `Axis ${a} was broadcast: ${s.param} has no such axis, the forward pass added it, so it must be summed.`,
    stretched: (a, s) =>
      `Axis ${a} was broadcast: ${s.param} has length 1 there and the forward pass copied it, so it must be summed.`,
    dropKeepdims: (s) =>
      `Right axes, wrong rank: keepdims=True keeps the summed axes with length 1, but ${s.param} never had ` +
      `them. Untick keepdims.`,
    needKeepdims: (s) =>
      `Right axes, wrong rank: without keepdims the summed axes disappear, but ${s.param} keeps them with ` +
      `length 1. Tick keepdims.`,
  },
  es: {
    title: "Selector de ejes de difusión",
    scenario: "Caso",
    option: (s) => `${s.param} ${shapeText(s.param_shape)} sumado a ${shapeText(s.dy_shape)}`,
    forward: (s) =>
      `Hacia delante: ${s.param}, de forma ${shapeText(s.param_shape)}, se sumó a un array de forma ` +
      `${shapeText(s.dy_shape)}. Hacia atrás: dY tiene forma ${shapeText(s.dy_shape)}; ` +
      `el gradiente de ${s.param} debe tener forma ${shapeText(s.param_shape)}.`,
    dy: "dY, el gradiente entrante",
    shape: "forma",
    axes: "Ejes de dY que sumar",
    axis: (a, n) => `eje ${a} (longitud ${n})`,
    keepdims: "keepdims=True",
    result: "Tu resultado",
    show: "Ver la respuesta",
    hide: "Ocultar la respuesta",
    answer: (s) =>
      `unbroadcast(dY, ${shapeText(s.param_shape)}) = ${sumCall(s.solution.axes, s.solution.keepdims)}, ` +
      `de forma ${shapeText(s.expected_shape)}:`,
    correct: (s) =>
      `Correcto: el resultado tiene forma ${shapeText(s.expected_shape)}, la de ${s.param}, ` +
      `y coincide con unbroadcast(dY, ${shapeText(s.param_shape)}).`,
    mismatch: (got, want) => `Las formas no coinciden: ${shapeText(got)} no es ${shapeText(want)}.`,
    valuesDiffer: "La forma es correcta, pero los números no son los de unbroadcast.",
    nothing: (s) => `Todavía no se suma nada: el resultado es el propio dY.`,
    notBroadcast: (a, n, s) =>
      `El eje ${a} no se difundió: ${s.param} tiene sus propios ${n} elementos a lo largo de él, y sumarlo mezcla ` +
      `los gradientes de elementos distintos.`,
    added: (a, s) =>
      `El eje ${a} se difundió: ${s.param} no tiene ese eje, lo añadió el paso hacia delante, así que hay que sumarlo.`,
    stretched: (a, s) =>
      `El eje ${a} se difundió: ${s.param} tiene longitud 1 en él y el paso hacia delante lo copió, así que hay ` +
      `que sumarlo.`,
    dropKeepdims: (s) =>
      `Ejes correctos, número de ejes equivocado: keepdims=True conserva los ejes sumados con longitud 1, ` +
      `pero ${s.param} nunca los tuvo. Desmarca keepdims.`,
    needKeepdims: (s) =>
      `Ejes correctos, número de ejes equivocado: sin keepdims los ejes sumados desaparecen, pero ${s.param} ` +
      `los conserva con longitud 1. Marca keepdims.`,
  },
};


// --- arrays: nested lists <-> flat data with a shape -----------------------------------------------------

function flatten(nested) {
  return Array.isArray(nested) ? nested.flatMap(flatten) : [Number(nested)];
}

function sumAxes(data, shape, axes, keepdims) {
  if (axes.length === 0) return { data: data.slice(), shape: shape.slice() };
  const kept = shape.map((n, i) => (axes.includes(i) ? 1 : n));
  const size = kept.reduce((a, b) => a * b, 1);
  const out = new Array(size).fill(0);
  const index = new Array(shape.length).fill(0);
  for (let flat = 0; flat < data.length; flat++) {
    let target = 0;
    for (let i = 0; i < shape.length; i++) target = target * kept[i] + (axes.includes(i) ? 0 : index[i]);
    out[target] += data[flat];
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
  return { data: out, shape: keepdims ? kept : shape.filter((_, i) => !axes.includes(i)) };
}

const fmt = (x) => {
  const r = Math.round(x * 100) / 100;
  return (Object.is(r, -0) ? 0 : r).toFixed(2);
};

// A table per 2-D slice; a 1-D array is one row; a 0-D array is one number.
function arrayView(data, shape, label) {
  const box = h("div", { class: "gc-array", role: "group", "aria-label": label });
  if (shape.length === 0) {
    box.append(h("span", { class: "gc-scalar", text: fmt(data[0]) }));
    return box;
  }
  const rows = shape.length === 1 ? 1 : shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const lead = shape.slice(0, -2);
  const slices = lead.reduce((a, b) => a * b, 1);
  for (let s = 0; s < slices; s++) {
    const table = h("table", { class: "gc-table" });
    if (lead.length) {
      const idx = [];
      for (let rest = s, i = lead.length - 1; i >= 0; i--) {
        idx.unshift(rest % lead[i]);
        rest = Math.floor(rest / lead[i]);
      }
      table.append(h("caption", { text: `[${idx.join(", ")}, :, :]` }));
    }
    const body = h("tbody");
    for (let r = 0; r < rows; r++) {
      const tr = h("tr");
      for (let c = 0; c < cols; c++) tr.append(h("td", { text: fmt(data[(s * rows + r) * cols + c]) }));
      body.append(tr);
    }
    table.append(body);
    box.append(table);
  }
  return box;
}

function diagnose(s, axes, keepdims, result, t) {
  const want = s.expected_shape;
  const same = result.shape.length === want.length && result.shape.every((n, i) => n === want[i]);
  const expected = flatten(s.expected);
  if (same && result.data.every((x, i) => Math.abs(x - expected[i]) <= 1e-9 * Math.max(1, Math.abs(x)))) {
    return { status: "correct", lines: [t.correct(s)] };
  }
  const lines = [same ? t.valuesDiffer : t.mismatch(result.shape, want)];
  if (axes.length === 0) lines.push(t.nothing(s));
  const extra = s.dy_shape.length - s.param_shape.length;
  s.roles.forEach((role, a) => {
    if (role === "kept" && axes.includes(a)) lines.push(t.notBroadcast(a, s.param_shape[a - extra], s));
  });
  s.roles.forEach((role, a) => {
    if (role !== "kept" && !axes.includes(a)) lines.push(role === "added" ? t.added(a, s) : t.stretched(a, s));
  });
  if (lines.length === 1) {
    // The right axes: only keepdims is left to explain the rank.
    if (keepdims && s.roles.includes("added")) lines.push(t.dropKeepdims(s));
    else if (!keepdims && s.roles.includes("stretched")) lines.push(t.needKeepdims(s));
  }
  return { status: "mismatch", lines };
}

function render({ model, el }) {
  const t = TEXT[pickLang(model)];
  const uid = newId("picker");
  const scenarios = () => model.get("scenarios") || [];
  const current = () => scenarios()[model.get("scenario")] || scenarios()[0];

  const root = h("div", { class: "gc-widget-root gc-picker", role: "group", "aria-labelledby": `${uid}-title` });
  root.append(h("p", { class: "gc-title", id: `${uid}-title`, text: t.title }));

  const select = h("select", { id: `${uid}-scenario` });
  scenarios().forEach((s, i) => select.append(h("option", { value: String(i), text: t.option(s) })));
  root.append(h("div", { class: "gc-row" }, h("label", { for: select.id, text: t.scenario }), select));

  const forward = h("p", { class: "gc-forward" });
  const dyBox = h("div", { class: "gc-block" });
  const axesBox = h("fieldset", { class: "gc-axes" });
  const keep = h("input", { type: "checkbox", id: `${uid}-keepdims` });
  const keepRow = h("div", { class: "gc-check" }, keep, h("label", { for: keep.id, class: "gc-code", text: t.keepdims }));
  const call = h("p", { class: "gc-code gc-call" });
  const resultBox = h("div", { class: "gc-block" });
  const feedback = h("div", { class: "gc-feedback", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  const toggle = h("button", { type: "button", class: "gc-button", "aria-expanded": "false", "aria-controls": `${uid}-answer` });
  const answer = h("div", { class: "gc-answer", id: `${uid}-answer`, hidden: "" });
  root.append(forward, dyBox, h("div", { class: "gc-controls" }, axesBox, keepRow), call, resultBox, feedback,
    h("div", { class: "gc-row" }, toggle), answer);

  function state() {
    const s = current();
    const n = s.dy_shape.length;
    const axes = [...new Set((model.get("axes") || []).filter((a) => a >= 0 && a < n))].sort((a, b) => a - b);
    return { s, axes, keepdims: Boolean(model.get("keepdims")) };
  }

  function drawScenario() {
    const { s } = state();
    select.value = String(scenarios().indexOf(s));
    forward.textContent = t.forward(s);
    dyBox.replaceChildren(
      h("p", { class: "gc-label", text: `${t.dy} · ${t.shape} ${shapeText(s.dy_shape)}` }),
      arrayView(flatten(s.dy), s.dy_shape, `dY ${shapeText(s.dy_shape)}`),
    );
    axesBox.replaceChildren(h("legend", { text: t.axes }));
    s.dy_shape.forEach((n, a) => {
      const box = h("input", { type: "checkbox", id: `${uid}-axis-${a}`, value: String(a), "data-axis": String(a) });
      box.addEventListener("change", () => {
        const chosen = new Set(state().axes);
        if (box.checked) chosen.add(a);
        else chosen.delete(a);
        model.set("axes", [...chosen].sort((x, y) => x - y));
        model.save_changes();
      });
      axesBox.append(h("div", { class: "gc-check" }, box, h("label", { for: box.id, text: t.axis(a, n) })));
    });
    answer.replaceChildren(
      h("p", { class: "gc-code", text: t.answer(s) }),
      arrayView(flatten([s.expected]), s.expected_shape, shapeText(s.expected_shape)),
    );
    drawPick();
  }

  function drawPick() {
    const { s, axes, keepdims } = state();
    axesBox.querySelectorAll("input[data-axis]").forEach((box) => {
      box.checked = axes.includes(Number(box.dataset.axis));
    });
    keep.checked = keepdims;
    const result = sumAxes(flatten(s.dy), s.dy_shape, axes, keepdims);
    call.textContent = `${sumCall(axes, keepdims)}  →  ${t.shape} ${shapeText(result.shape)}`;
    resultBox.replaceChildren(
      h("p", { class: "gc-label", text: `${t.result} · ${t.shape} ${shapeText(result.shape)}` }),
      arrayView(result.data, result.shape, `${t.result} ${shapeText(result.shape)}`),
    );
    const verdict = diagnose(s, axes, keepdims, result, t);
    feedback.dataset.status = verdict.status;
    feedback.replaceChildren(...verdict.lines.map((line, i) => h(i === 0 ? "strong" : "p", { text: line })));
    root.dataset.shape = shapeText(result.shape);
  }

  function drawToggle() {
    const open = !answer.hidden;
    toggle.textContent = open ? t.hide : t.show;
    toggle.setAttribute("aria-expanded", String(open));
  }

  select.addEventListener("change", () => {
    model.set("scenario", Number(select.value));
    model.set("axes", []);
    model.set("keepdims", false);
    model.save_changes();
  });
  keep.addEventListener("change", () => {
    model.set("keepdims", keep.checked);
    model.save_changes();
  });
  toggle.addEventListener("click", () => {
    answer.hidden = !answer.hidden;
    drawToggle();
  });

  const onScenario = () => drawScenario();
  const onPick = () => drawPick();
  model.on("change:scenario", onScenario);
  model.on("change:axes", onPick);
  model.on("change:keepdims", onPick);
  drawScenario();
  drawToggle();
  el.append(root);
  return () => {
    model.off("change:scenario", onScenario);
    model.off("change:axes", onPick);
    model.off("change:keepdims", onPick);
  };
}

export default { render };
