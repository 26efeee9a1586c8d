// Typesets TeX for gradcourse.book.katex with KaTeX from the course's node_modules.
//   node katex_render.cjs <path to node_modules/katex>
// One JSON request per line on stdin, {"tex": "...", "display": true}; one JSON answer per line on stdout,
// {"html": "..."} or {"error": "..."}, in the same order. The process lives as long as the Sphinx build.
"use strict";
const katex = require(process.argv[2]);
const readline = require("readline");

const OPTIONS = {
  output: "htmlAndMathml", // the MathML is what screen readers read; the HTML is aria-hidden
  throwOnError: true, // an equation KaTeX cannot typeset fails the build instead of showing red TeX
  strict: "error", // LaTeX KaTeX would only guess at is an error too, with its reason
  trust: false, // no \href or \includegraphics from page text
};

readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on("line", (line) => {
  let answer;
  try {
    const { tex, display } = JSON.parse(line);
    answer = { html: katex.renderToString(tex, { ...OPTIONS, displayMode: Boolean(display) }) };
  } catch (err) {
    answer = { error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
