// Quiz: a numeric answer (accepted within a tolerance) or a choice among language-neutral options.
// The answer is computed in Python and arrives in the model; the question is prose in the page. In the book the
// widget moves into the admonition just before its code cell (the question) and describes its input with it.
// Model: quiz_id, kind ("number" | "choice"), answer, tol, choices, lang; it writes response and correct.

import { h, newId, pickLang } from "./common.js";

const TEXT = {
  en: {
    yours: "Your answer",
    choose: "Choose one answer",
    check: "Check",
    show: "Show the answer",
    empty: "Type a number first, for example 0.5.",
    notNumber: (v) => `“${v}” is not a number: write it with digits and a decimal point, for example 0.5.`,
    noChoice: "Choose one of the options first.",
    correct: (a) => `Correct: the answer is ${a}.`,
    wrong: (v) => `Not yet: ${v} is not the answer. Try again.`,
    close: (v) => `Not yet: ${v} is close. Check the rounding or the last step.`,
    wrongChoice: (v) => `Not yet: ${v} is not the answer. Try again.`,
    answer: (a) => `The answer is ${a}.`,
  },
  es: {
    yours: "Tu respuesta",
    choose: "Elige una respuesta",
    check: "Comprobar",
    show: "Ver la respuesta",
    empty: "Escribe primero un número, por ejemplo 0.5.",
    notNumber: (v) => `«${v}» no es un número: escríbelo con cifras y punto decimal, por ejemplo 0.5.`,
    noChoice: "Elige primero una de las opciones.",
    correct: (a) => `Correcto: la respuesta es ${a}.`,
    wrong: (v) => `Todavía no: ${v} no es la respuesta. Prueba otra vez.`,
    close: (v) => `Todavía no: ${v} se acerca. Revisa el redondeo o el último paso.`,
    wrongChoice: (v) => `Todavía no: ${v} no es la respuesta. Prueba otra vez.`,
    answer: (a) => `La respuesta es ${a}.`,
  },
};


// "0.242", "0,242" (a decimal comma is forgiven), "1e-5", "-3"; null if it is not a number.
function parseNumber(text) {
  const clean = text.trim().replace(/\s+/g, "").replace(/^([+-]?\d*),(\d+)$/, "$1.$2");
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(clean)) return null;
  return Number(clean);
}

// The admonition that holds the question: the element right before this output's code cell (book only).
function questionFor(el) {
  const cell = el.closest(".cell");
  let prev = cell && cell.previousElementSibling;
  while (prev && prev.tagName === "SPAN" && !prev.textContent.trim()) prev = prev.previousElementSibling;
  return prev && prev.classList.contains("admonition") ? prev : null;
}

function render({ model, el }) {
  const t = TEXT[pickLang(model)];
  const uid = newId("quiz");
  const kind = model.get("kind") === "choice" ? "choice" : "number";
  const answer = model.get("answer");
  const tol = Number(model.get("tol") || 0);

  const root = h("form", { class: `gc-widget-root gc-quiz gc-quiz-${kind}`, novalidate: "" });
  root.dataset.quiz = model.get("quiz_id") || "";
  const feedback = h("div", { class: "gc-feedback", id: `${uid}-feedback`, role: "status", "aria-live": "polite" });
  const check = h("button", { type: "submit", class: "gc-button", text: t.check });
  const show = h("button", { type: "button", class: "gc-button gc-secondary", text: t.show });
  let read;

  if (kind === "number") {
    const input = h("input", {
      type: "text",
      id: `${uid}-input`,
      inputmode: "decimal",
      autocomplete: "off",
      spellcheck: "false",
      size: "10",
      "aria-describedby": feedback.id,
    });
    root.append(h("div", { class: "gc-row" }, h("label", { for: input.id, text: t.yours }), input, check, show));
    read = () => input.value;
    input.addEventListener("input", () => {
      feedback.dataset.status = "";
    });
  } else {
    const group = h("fieldset", { class: "gc-choices" }, h("legend", { text: t.choose }));
    (model.get("choices") || []).forEach((choice, i) => {
      const radio = h("input", { type: "radio", name: `${uid}-choice`, id: `${uid}-choice-${i}`, value: choice });
      group.append(h("div", { class: "gc-check" }, radio, h("label", { for: radio.id, class: "gc-code", text: choice })));
    });
    root.append(group, h("div", { class: "gc-row" }, check, show));
    read = () => {
      const picked = group.querySelector("input:checked");
      return picked ? picked.value : "";
    };
  }
  root.append(feedback);

  function say(status, message) {
    feedback.dataset.status = status;
    feedback.textContent = message;
  }

  root.addEventListener("submit", (event) => {
    event.preventDefault();
    const response = read();
    let ok = false;
    if (kind === "number") {
      const value = parseNumber(response);
      if (!response.trim()) return say("invalid", t.empty);
      if (value === null) return say("invalid", t.notNumber(response.trim()));
      const err = Math.abs(value - Number(answer));
      ok = err <= tol + 1e-12 * Math.max(1, Math.abs(Number(answer)));
      const near = err <= Math.max(10 * tol, 0.02 * Math.abs(Number(answer)));
      if (ok) say("correct", t.correct(String(answer)));
      else say("wrong", near ? t.close(response.trim()) : t.wrong(response.trim()));
    } else {
      if (!response) return say("invalid", t.noChoice);
      ok = response === answer;
      say(ok ? "correct" : "wrong", ok ? t.correct(answer) : t.wrongChoice(response));
    }
    model.set("response", response);
    model.set("correct", ok);
    model.save_changes();
  });
  show.addEventListener("click", () => say("shown", t.answer(String(answer))));

  el.append(root);
  // In the book: sit inside the question's admonition, and let the question describe the input.
  const question = questionFor(el);
  if (question) {
    const text = [...question.children].filter((c) => !c.classList.contains("admonition-title"));
    text.forEach((node, i) => node.id || (node.id = `${uid}-q${i}`));
    const target = root.querySelector("input[type=text]") || root.querySelector("fieldset");
    if (target && text.length) {
      const described = [...text.map((n) => n.id), target.getAttribute("aria-describedby")].filter(Boolean);
      target.setAttribute("aria-describedby", described.join(" "));
    }
    question.append(root);
    const output = el.closest(".cell_output");
    if (output && !output.textContent.trim() && output.querySelectorAll(".gc-widget").length === 1) output.hidden = true;
  }
}

export default { render };
