// Attention explorer: one head of O = softmax(Q Kᵀ / √d + M) V with an upstream gradient dO. The reader picks
// a query row i (and whether the causal mask is on) and sees the row's weights pᵢⱼ, the gradients dpᵢⱼ and
// dsᵢⱼ, what the row sends to every key (dsᵢⱼ qᵢ / √d, towards dKⱼ) and value (pᵢⱼ dOᵢ, towards dVⱼ), and dQᵢ.
// Everything shown is recomputed here from the state, so the static book needs no kernel.
// Model: q, k, v, d_out (lists of rows), causal, row, lang; weights, d_scores, dq, dk, dv are Python's answers.

import { h, newId, pickLang } from "./common.js";

const TEXT = {
  en: {
    title: "Attention backward, one query row at a time",
    shapes: (tq, tk, d, dv) =>
      `One head: Q (${tq}, ${d}), K (${tk}, ${d}), V (${tk}, ${dv}), dO (${tq}, ${dv}); ` +
      `scores scaled by 1/√${d}.`,
    row: "Query row i",
    causal: "Causal mask: query i sees keys j ≤ i",
    causalNeedsSquare: "(a causal mask needs as many queries as keys)",
    weights: "Attention weights P: one row per query i, one column per key j",
    masked: "masked",
    perKey: (i) => `Query row i = ${i}: what it receives from each key j and sends back to it`,
    key: "key j",
    toV: "to dVⱼ",
    toK: "to dKⱼ",
    dq: (i, v) => `dQ${sub(i)} = Σⱼ dsᵢⱼ kⱼ / √d = ${v}`,
    sums: (p, s) => `This row: Σⱼ pᵢⱼ = ${p} and Σⱼ dsᵢⱼ = ${s}.`,
    legend: "dpᵢⱼ = dOᵢ · vⱼ is the same with or without the mask; a masked key has pᵢⱼ = 0, so its dsᵢⱼ and " +
      "everything it receives from row i are exactly 0. Summed over all query rows, the last two columns give dK " +
      "and dV. Blue: positive; red: negative; stronger colour: larger magnitude.",
  },
  es: {
    title: "El paso hacia atrás de la atención, fila a fila",
    shapes: (tq, tk, d, dv) =>
      `Una cabeza: Q (${tq}, ${d}), K (${tk}, ${d}), V (${tk}, ${dv}), dO (${tq}, ${dv}); ` +
      `puntuaciones escaladas por 1/√${d}.`,
    row: "Fila de consulta i",
    causal: "Máscara causal: la consulta i ve las claves j ≤ i",
    causalNeedsSquare: "(la máscara causal necesita tantas consultas como claves)",
    weights: "Pesos de atención P: una fila por consulta i, una columna por clave j",
    masked: "enmascarada",
    perKey: (i) => `Fila de consulta i = ${i}: lo que recibe de cada clave j y lo que le devuelve`,
    key: "clave j",
    toV: "hacia dVⱼ",
    toK: "hacia dKⱼ",
    dq: (i, v) => `dQ${sub(i)} = Σⱼ dsᵢⱼ kⱼ / √d = ${v}`,
    sums: (p, s) => `En esta fila: Σⱼ pᵢⱼ = ${p} y Σⱼ dsᵢⱼ = ${s}.`,
    legend: "dpᵢⱼ = dOᵢ · vⱼ no cambia con la máscara; una clave enmascarada tiene pᵢⱼ = 0, así que su dsᵢⱼ y " +
      "todo lo que recibe de la fila i valen exactamente 0. Sumadas sobre todas las filas de consulta, las dos " +
      "últimas columnas dan dK y dV. Azul: positivo; rojo: negativo; color más intenso: mayor magnitud.",
  },
};

function sub(i) {
  return String(i).replace(/\d/g, (d) => "₀₁₂₃₄₅₆₇₈₉"[Number(d)]);
}

const dot = (a, b) => a.reduce((acc, x, c) => acc + x * b[c], 0);
const total = (xs) => xs.reduce((a, b) => a + b, 0);

// One query row of the forward and backward pass, as in the chapter: scores shifted by their maximum before exp,
// a masked score is -Infinity (weight 0), ds = p ⊙ (dp − ⟨p, dp⟩).
export function attentionRow(q, k, v, dO, causal, i) {
  const scale = 1 / Math.sqrt(q[i].length);
  const s = k.map((kj, j) => (causal && j > i ? -Infinity : dot(q[i], kj) * scale));
  const m = Math.max(...s);
  const e = s.map((x) => (x === -Infinity ? 0 : Math.exp(x - m)));
  const z = total(e);
  const p = e.map((x) => x / z);
  const dp = v.map((vj) => dot(dO[i], vj));
  const inner = total(p.map((pj, j) => pj * dp[j]));
  const ds = p.map((pj, j) => pj * (dp[j] - inner));
  const toV = p.map((pj) => dO[i].map((x) => pj * x));
  const toK = ds.map((dsj) => q[i].map((x) => dsj * x * scale));
  const dq = q[i].map((_, c) => total(ds.map((dsj, j) => dsj * k[j][c])) * scale);
  return { s, p, dp, ds, toV, toK, dq };
}

const fmt = (x, digits = 3) => {
  if (x === -Infinity) return "−∞";
  const text = x.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
};
const vec = (xs) => `(${xs.map((x) => fmt(x)).join(", ")})`;

function heat(cell, value, scale) {
  const strength = Math.min(1, Math.abs(value) / Math.max(scale, 1e-12));
  cell.classList.add(value > 0 ? "gc-pos" : value < 0 ? "gc-neg" : "gc-zero");
  cell.style.setProperty("--gc-strength", (0.12 + 0.43 * strength).toFixed(3));
}

function render({ model, el }) {
  const t = TEXT[pickLang(model)];
  const uid = newId("attn");
  const rows = (key) => (model.get(key) || []).map((r) => r.map(Number));
  const q = rows("q"), k = rows("k"), v = rows("v"), dO = rows("d_out");
  const tq = q.length, tk = k.length;
  const square = tq === tk;

  const root = h("div", { class: "gc-widget-root gc-attention", role: "group", "aria-labelledby": `${uid}-title` });
  root.append(h("p", { class: "gc-title", id: `${uid}-title`, text: t.title }),
    h("p", { class: "gc-label gc-code", text: t.shapes(tq, tk, q[0].length, v[0].length) }));

  const slider = h("input", { type: "range", id: `${uid}-row`, min: "0", max: String(tq - 1), step: "1" });
  const rowOut = h("output", { for: slider.id, class: "gc-code" });
  const causal = h("input", { type: "checkbox", id: `${uid}-causal` });
  const causalRow = h("div", { class: "gc-check" }, causal, h("label", { for: causal.id, text: t.causal }));
  if (!square) {
    causal.disabled = true;
    causalRow.append(h("span", { class: "gc-label", text: t.causalNeedsSquare }));
  }
  const weights = h("div", { class: "gc-block", role: "region", tabindex: "0", "aria-label": t.weights });
  const perKey = h("div", { class: "gc-block", role: "region", tabindex: "0", "aria-labelledby": `${uid}-keys` });
  const dqLine = h("p", { class: "gc-code gc-dq" });
  const sums = h("p", { class: "gc-sums", role: "status", "aria-live": "polite" });
  root.append(
    h("div", { class: "gc-slider" }, h("label", { for: slider.id, text: t.row }), slider, rowOut),
    causalRow, weights, perKey, dqLine, sums, h("p", { class: "gc-legend", text: t.legend }),
  );

  const current = () => Math.min(tq - 1, Math.max(0, Math.round(Number(model.get("row")) || 0)));
  const masked = () => square && Boolean(model.get("causal"));

  function pick(i) {
    model.set("row", i);
    model.save_changes();
  }

  function drawWeights(all, i) {
    const table = h("table", { class: "gc-table gc-heatmap gc-weights" });
    table.append(h("caption", { text: t.weights }));
    const head = h("tr", {}, h("td", { class: "gc-corner", text: "i \\ j" }));
    k.forEach((_, j) => head.append(h("th", { scope: "col", text: String(j) })));
    const body = h("tbody");
    all.forEach((r, a) => {
      const th = h("th", { scope: "row", text: a === i ? `▸ ${a}` : String(a) });
      const tr = h("tr", { "data-row": String(a) }, th);
      if (a === i) {
        tr.setAttribute("aria-current", "true");
        tr.style.outline = "2px solid var(--gc-accent)";
        tr.style.outlineOffset = "-2px";
      }
      r.p.forEach((pj, j) => {
        const off = r.s[j] === -Infinity;
        const cell = h("td", { "data-i": String(a), "data-j": String(j), text: off ? "·" : fmt(pj) });
        if (off) cell.setAttribute("aria-label", t.masked);
        else heat(cell, pj, 1);
        tr.append(cell);
      });
      tr.addEventListener("click", () => pick(a)); // a shortcut for the mouse; the slider is the keyboard's way
      body.append(tr);
    });
    table.append(h("thead", {}, head), body);
    weights.replaceChildren(table);
  }

  function drawRow(r, i) {
    const table = h("table", { class: "gc-table gc-heatmap gc-keys" });
    table.append(h("caption", { id: `${uid}-keys`, text: t.perKey(i) }));
    const head = h("tr");
    [t.key, "sᵢⱼ", "pᵢⱼ", "dpᵢⱼ", "dsᵢⱼ"].forEach((c) => head.append(h("th", { scope: "col", text: c })));
    // The two shares: where they go, and over it the formula (headers may wrap, the numbers may not).
    for (const [where, formula] of [[t.toV, "pᵢⱼ dOᵢ"], [t.toK, "dsᵢⱼ qᵢ / √d"]]) {
      head.append(h("th", { scope: "col", style: "white-space: normal" }, formula, h("br"), where));
    }
    const body = h("tbody");
    const dsScale = Math.max(...r.ds.map(Math.abs));
    r.p.forEach((pj, j) => {
      const off = r.s[j] === -Infinity;
      const th = h("th", { scope: "row", text: String(j) });
      const tr = h("tr", { "data-key": String(j) }, th);
      if (off) {
        tr.dataset.masked = "true";
        th.setAttribute("aria-label", `${j}, ${t.masked}`);
      }
      const cells = {
        s: fmt(r.s[j]), p: fmt(pj), dp: fmt(r.dp[j]), ds: fmt(r.ds[j]),
        "to-dv": vec(r.toV[j]), "to-dk": vec(r.toK[j]),
      };
      for (const [part, text] of Object.entries(cells)) {
        const cell = h("td", { "data-part": part, text });
        if (part === "p" && !off) heat(cell, pj, 1);
        if (part === "ds" && !off) heat(cell, r.ds[j], dsScale);
        if (off) cell.style.color = "var(--gc-muted)"; // a masked key: nothing flows
        tr.append(cell);
      }
      body.append(tr);
    });
    table.append(h("thead", {}, head), body);
    perKey.replaceChildren(table);
  }

  function draw() {
    const i = current();
    const mask = masked();
    slider.value = String(i);
    rowOut.textContent = String(i);
    causal.checked = mask;
    const all = q.map((_, a) => attentionRow(q, k, v, dO, mask, a));
    const r = all[i];
    drawWeights(all, i);
    drawRow(r, i);
    dqLine.textContent = t.dq(i, vec(r.dq));
    sums.textContent = t.sums(fmt(total(r.p)), fmt(total(r.ds)));
    root.dataset.row = String(i);
    root.dataset.causal = String(mask);
  }

  slider.addEventListener("input", () => pick(Number(slider.value)));
  causal.addEventListener("change", () => {
    model.set("causal", causal.checked);
    model.save_changes();
  });

  const onChange = () => draw();
  model.on("change:row", onChange);
  model.on("change:causal", onChange);
  draw();
  el.append(root);
  return () => {
    model.off("change:row", onChange);
    model.off("change:causal", onChange);
  };
}

export default { render };
