// Softmax Jacobian explorer: sliders for the logits z (3 to 5 classes) and a temperature T; a heatmap of
// J = diag(p) - p pᵀ for p = softmax(z / T), with the row sums (all zero: adding the same amount to every
// logit does not change p). Model: logits, temperature, jacobian (Python's, for the starting logits), lang.

import { h, newId, pickLang } from "./common.js";

const MIN_K = 3;
const MAX_K = 5;

const TEXT = {
  en: {
    title: "Softmax Jacobian explorer",
    classes: "Number of classes K",
    logits: "Logits z",
    logit: (i) => `logit z${sub(i)}`,
    temperature: "Temperature T",
    probs: "p = softmax(z / T)",
    caption: "J = diag(p) − p pᵀ (rows i, columns j)",
    rowSum: "row sum",
    legend: "Blue: positive (the diagonal, pᵢ(1 − pᵢ)). Red: negative (off the diagonal, −pᵢpⱼ). " +
      "Stronger colour: larger magnitude.",
    sums: (m) => `Every row sums to 0 (largest |row sum|: ${m}).`,
  },
  es: {
    title: "Explorador de la jacobiana de softmax",
    classes: "Número de clases K",
    logits: "Logits z",
    logit: (i) => `logit z${sub(i)}`,
    temperature: "Temperatura T",
    probs: "p = softmax(z / T)",
    caption: "J = diag(p) − p pᵀ (filas i, columnas j)",
    rowSum: "suma de fila",
    legend: "Azul: positivo (la diagonal, pᵢ(1 − pᵢ)). Rojo: negativo (fuera de la diagonal, −pᵢpⱼ). " +
      "Color más intenso: mayor magnitud.",
    sums: (m) => `Todas las filas suman 0 (mayor |suma de fila|: ${m}).`,
  },
};

function sub(i) {
  return String(i).replace(/\d/g, (d) => "₀₁₂₃₄₅₆₇₈₉"[Number(d)]);
}


export function softmax(z, T) {
  const scaled = z.map((v) => v / T);
  const m = Math.max(...scaled);
  const e = scaled.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export function jacobian(p) {
  return p.map((pi, i) => p.map((pj, j) => (i === j ? pi : 0) - pi * pj));
}

const fmt = (x, digits = 3) => {
  const text = x.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
};

function render({ model, el }) {
  const t = TEXT[pickLang(model)];
  const uid = newId("jac");
  const logits = () => (model.get("logits") || [2, 1, 0.1]).map(Number);

  const root = h("div", { class: "gc-widget-root gc-jacobian", role: "group", "aria-labelledby": `${uid}-title` });
  root.append(h("p", { class: "gc-title", id: `${uid}-title`, text: t.title }));

  const kSelect = h("select", { id: `${uid}-k` });
  for (let k = MIN_K; k <= MAX_K; k++) kSelect.append(h("option", { value: String(k), text: String(k) }));
  root.append(h("div", { class: "gc-row" }, h("label", { for: kSelect.id, text: t.classes }), kSelect));

  const sliders = h("fieldset", { class: "gc-sliders" });
  const temp = h("input", { type: "range", id: `${uid}-t`, min: "0.2", max: "5", step: "0.1" });
  const tempOut = h("output", { for: temp.id, class: "gc-code" });
  const probs = h("p", { class: "gc-code gc-probs" });
  const heat = h("div", { class: "gc-heatmap-wrap", role: "region", tabindex: "0", "aria-label": t.caption });
  const sums = h("p", { class: "gc-sums", role: "status", "aria-live": "polite" });
  root.append(
    sliders,
    h("div", { class: "gc-slider" }, h("label", { for: temp.id, text: t.temperature }), temp, tempOut),
    probs,
    heat,
    sums,
    h("p", { class: "gc-legend", text: t.legend }),
  );

  function drawSliders() {
    const z = logits();
    kSelect.value = String(z.length);
    sliders.replaceChildren(h("legend", { text: t.logits }));
    z.forEach((v, i) => {
      const input = h("input", { type: "range", id: `${uid}-z${i}`, min: "-4", max: "4", step: "0.1", "data-index": String(i) });
      input.value = String(v);
      const out = h("output", { for: input.id, class: "gc-code", text: v.toFixed(1) });
      input.addEventListener("input", () => {
        const next = logits();
        next[i] = Number(input.value);
        out.textContent = next[i].toFixed(1);
        model.set("logits", next);
        model.save_changes();
      });
      sliders.append(h("div", { class: "gc-slider" }, h("label", { for: input.id, text: t.logit(i + 1) }), input, out));
    });
  }

  function drawMatrix() {
    const z = logits();
    const T = Number(model.get("temperature")) || 1;
    temp.value = String(T);
    tempOut.textContent = T.toFixed(1);
    sliders.querySelectorAll("input[data-index]").forEach((input) => {
      const v = z[Number(input.dataset.index)];
      if (Number(input.value) !== v) input.value = String(v);
    });
    const p = softmax(z, T);
    const J = jacobian(p);
    probs.textContent = `${t.probs} = (${p.map((v) => fmt(v)).join(", ")})`;
    const scale = Math.max(...J.flat().map(Math.abs), 1e-12);
    const table = h("table", { class: "gc-table gc-heatmap" });
    table.append(h("caption", { text: t.caption }));
    const head = h("tr", {}, h("td", { class: "gc-corner", text: "i \\ j" }));
    p.forEach((_, j) => head.append(h("th", { scope: "col", text: String(j + 1) })));
    head.append(h("th", { scope: "col", class: "gc-rowsum", text: t.rowSum }));
    const body = h("tbody");
    let worst = 0;
    J.forEach((row, i) => {
      const tr = h("tr", {}, h("th", { scope: "row", text: String(i + 1) }));
      row.forEach((v, j) => {
        const cell = h("td", { text: fmt(v), "data-i": String(i), "data-j": String(j) });
        const strength = Math.min(1, Math.abs(v) / scale);
        cell.className = v > 0 ? "gc-pos" : v < 0 ? "gc-neg" : "gc-zero";
        cell.style.setProperty("--gc-strength", (0.12 + 0.43 * strength).toFixed(3));
        tr.append(cell);
      });
      const total = row.reduce((a, b) => a + b, 0);
      worst = Math.max(worst, Math.abs(total));
      tr.append(h("td", { class: "gc-rowsum", text: fmt(total) }));
      body.append(tr);
    });
    table.append(h("thead", {}, head), body);
    heat.replaceChildren(table);
    sums.textContent = t.sums(worst === 0 ? "0" : worst.toExponential(1));
  }

  kSelect.addEventListener("change", () => {
    const k = Number(kSelect.value);
    const z = logits().slice(0, k);
    while (z.length < k) z.push(0);
    model.set("logits", z);
    model.save_changes();
  });
  temp.addEventListener("input", () => {
    model.set("temperature", Number(temp.value));
    model.save_changes();
  });

  const onLogits = () => {
    if (sliders.querySelectorAll("input[data-index]").length !== logits().length) drawSliders();
    drawMatrix();
  };
  const onTemp = () => drawMatrix();
  model.on("change:logits", onLogits);
  model.on("change:temperature", onTemp);
  drawSliders();
  drawMatrix();
  el.append(root);
  return () => {
    model.off("change:logits", onLogits);
    model.off("change:temperature", onTemp);
  };
}

export default { render };
