"""Where the book explains each pitfall: one section of a chapter, named in both languages.

A failing check that recognises a pitfall sends the learner there (:mod:`gradcourse.grading.fingerprint`), and the
class report lists it beside each pitfall. Titles are the pages' own headings; the anchor is the id Sphinx gives a
section (docutils' ``make_id`` of its title), so it differs between the two books. ``tests/labs/test_fingerprint.py``
checks every title against the headings of ``book/en`` and ``book/es`` and every anchor against docutils.
"""
from __future__ import annotations

import re
import unicodedata

from ...lang import tr

# chapter slug -> (English title, Spanish title): the pages' first heading
CHAPTERS = {
    "chain-rule": ("The chain rule as Jacobian products", "La regla de la cadena como producto de jacobianas"),
    "softmax-cross-entropy": ("Softmax and cross-entropy", "Softmax y entropía cruzada"),
    "tensor-ops": ("Tensor op derivatives and the broadcasting reverse",
                   "Derivadas de las operaciones con tensores y la difusión al revés"),
    "matmul-fused-ce": ("Matmul backward and the fused cross-entropy",
                        "El paso hacia atrás del producto matricial y la entropía cruzada fusionada"),
    "gradient-checks": ("Checking gradients", "Comprobar gradientes"),
    "normalization-routing": ("Normalisation, routing and the rest of the toolbox",
                              "Normalización, enrutado y el resto de la caja de herramientas"),
    "attention": ("Attention backward", "El paso hacia atrás de la atención"),
}

_OVERFLOW = ("softmax-cross-entropy", "Computing it without overflow", "Cómo calcularlo sin desbordamientos")
_REDUCTIONS = ("tensor-ops", "Reductions: sum and mean", "Reducciones: suma y media")
_TENSOR_PITFALLS = ("tensor-ops", "Common pitfalls", "Errores frecuentes")
_DIFFERENCES = ("gradient-checks", "Forward and centred differences", "Diferencias hacia delante y centradas")
_FOUR_BUGS = ("gradient-checks", "The four classic backprop bugs", "Los cuatro errores clásicos de la retropropagación")
_TWO_LAYER = ("chain-rule", "Worked example: a two-layer network", "Ejemplo resuelto: una red de dos capas")
_GELU = ("tensor-ops", "GELU, exact and approximated", "GELU, exacta y aproximada")
_LN_FORWARD = ("normalization-routing", "Layer normalisation, forward", "La normalización de capa, hacia delante")
_LN_PARAMS = ("normalization-routing", "The parameter gradients", "Los gradientes de los parámetros")
_LN_WRONG = ("normalization-routing", "Three ways to get it wrong", "Tres maneras de equivocarse")
_ATTN_BACKWARD = ("attention", "The backward pass, one step at a time", "El paso hacia atrás, paso a paso")

# pitfall id -> (chapter slug, English section title, Spanish section title)
SECTIONS = {
    "no_max_subtraction": _OVERFLOW,
    "whole_array_max": _OVERFLOW,
    "whole_array_sum": _REDUCTIONS,
    "wrong_axis": _REDUCTIONS,
    "missing_keepdims": _TENSOR_PITFALLS,
    "forward_differences": _DIFFERENCES,
    "batched_T": ("matmul-fused-ce", "Why `x.T` is wrong here", "Por qué `x.T` no sirve aquí"),
    "assignment_not_add_at": ("tensor-ops", "Indexing: scatter with `np.add.at`",
                              "Indexación: dispersar con `np.add.at`"),
    "sum_not_mean": ("matmul-fused-ce", "Backward", "Paso hacia atrás"),
    "mean_not_sum": _REDUCTIONS,
    "float32_result": _TENSOR_PITFALLS,
    "integer_result": _TENSOR_PITFALLS,
    "mutates_input": _TENSOR_PITFALLS,
    "mutates_upstream": _TENSOR_PITFALLS,
    "wrong_sign": ("softmax-cross-entropy", "Cross-entropy", "Entropía cruzada"),
    "transposed_result": _FOUR_BUGS,
    "accumulated_not_set": _FOUR_BUGS,
    "set_not_accumulated": _FOUR_BUGS,
    "log_of_softmax": _OVERFLOW,
    "step_too_small": ("gradient-checks", "Choosing h: catastrophic cancellation",
                       "Cómo elegir h: la cancelación catastrófica"),
    "half_step": _DIFFERENCES,
    "jacobian_index_typo": ("softmax-cross-entropy", "The Jacobian of softmax", "La jacobiana de softmax"),
    "preactivation_in_dW2": _TWO_LAYER,
    "no_relu_mask": _TWO_LAYER,
    "one_leading_axis_only": ("tensor-ops", "`unbroadcast`, written out", "`unbroadcast`, paso a paso"),
    "expands_with_keepdims": _REDUCTIONS,
    "axis_none_unhandled": _REDUCTIONS,
    "only_cdf": _GELU,
    "tanh_approximation": _GELU,
    "one_dimensional_only": ("tensor-ops", "Unary operations", "Operaciones unarias"),
    "missing_unbroadcast": ("matmul-fused-ce", "Broadcast batch axes", "Ejes de lote difundidos"),
    "preorder_dfs": _FOUR_BUGS,
    "no_visited_set": _FOUR_BUGS,
    "forward_order": _FOUR_BUGS,
    "no_seed": _FOUR_BUGS,
    # lab 05
    "ln_no_variance_term": _LN_WRONG,
    "ln_no_mean_term": _LN_WRONG,
    "dgamma_wrong_axes": _LN_PARAMS,
    "gamma_forgotten": _LN_PARAMS,
    "unbiased_variance": _LN_FORWARD,
    "eps_misplaced": _LN_FORWARD,
    "softmax_vjp_columnwise": _ATTN_BACKWARD,
    "scale_forgotten": _ATTN_BACKWARD,
    "mask_after_softmax": ("attention", "Why the mask needs no backward of its own",
                           "Por qué la máscara no necesita su propio paso hacia atrás"),
    "causal_mask_wrong": ("attention", "The forward pass and its shapes", "El paso hacia delante y sus formas"),
}


def anchor(title: str) -> str:
    """The id Sphinx gives a section with this title (docutils' ``make_id``; backticks and accents dropped)."""
    text = unicodedata.normalize("NFKD", title.lower()).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"^[-0-9]+|-+$", "", re.sub(r"[^a-z0-9]+", "-", " ".join(text.split())))


def where(pid: str, lang: str) -> tuple[str, str, str] | None:
    """(chapter title, section title, page#anchor relative to the language's book) for pitfall ``pid``, or None
    for a pitfall with no section here yet."""
    if pid not in SECTIONS:
        return None
    slug, en, es = SECTIONS[pid]
    section = tr(lang, en, es)
    return tr(lang, *CHAPTERS[slug]), section, f"chapters/{slug}.html#{anchor(section)}"


def reference(pid: str, lang: str) -> str:
    """One sentence pointing to the section that explains ``pid`` (else to where the rows say it is named)."""
    found = where(pid, lang)
    if found is None:
        from . import PITFALLS
        named = PITFALLS[pid].named_in
        return tr(lang, f"See {named}.", f"Consulta {named.replace('chapter ', 'el capítulo ')}.")
    chapter, section, path = found
    return tr(lang, f'The chapter "{chapter}" explains it, in the section "{section}" ({path}).',
              f"Lo explica el capítulo «{chapter}», en la sección «{section}» ({path}).")
