"""The checks of lab 02: broadcasting reverse."""
from __future__ import annotations

import itertools

import numpy as np

from .. import draws, fd, reference as ref
from ...lang import tr
from ..compare import as_array, expect_close, expect_sequence, Fail, fmt
from .core import call, check, expect_gradient, learner_array, run


ARG_SHAPES = [(), (4,), (3, 4), (1, 4), (3, 1), (1, 1), (2, 3, 4), (2, 1, 4), (5, 2, 3, 4)]


def arg_pairs():
    """(target shape, broadcast shape) for every pair of ARG_SHAPES that broadcasts (HIPS/autograd)."""
    for a, b in itertools.product(ARG_SHAPES, repeat=2):
        try:
            yield a, tuple(np.broadcast_shapes(a, b))
        except ValueError:
            continue


def _unbroadcast_cases(kind):
    seen = []
    for target, full in arg_pairs():
        extra = len(full) - len(target)
        has_one = any(n == 1 and full[extra + i] != 1 for i, n in enumerate(target))
        if kind == "leading" and not has_one and extra > 0 or kind == "ones" and has_one and extra <= 1:
            if (target, full) not in seen:
                seen.append((target, full))
    return seen


def _unbroadcast_case(student, rng, lang, target, full, hint, watch=False):
    g = rng.normal(0, 1, full)
    where = f"unbroadcast(grad, {target}), grad.shape = {full}"
    got = learner_array(run(student, (g, target), ("grad", None), lang, where, hint, watch), lang, where,
                        strict=not watch)
    a = rng.normal(0, 1, target)
    numeric = fd.gradient(lambda v: np.sum(g * np.broadcast_to(v, full)), a)
    expect_gradient(got, ref.unbroadcast(g, target), numeric, lang, where, hint, forward="sum(grad * broadcast(a))",
                    loose=watch)


def _run_unbroadcast(student, rng, lang, kind, hint):
    cases = _unbroadcast_cases(kind) + [draws.broadcast_case(rng, kind, max_ndim=4) for _ in range(3)]
    for target, full in cases:
        _unbroadcast_case(student, rng, lang, target, full, hint)


@check("unbroadcast.leading_axes", 2, "unbroadcast: extra leading axes, scalar ()",
       "sums away extra leading axes, including down to the scalar shape (); float64",
       "suma los ejes iniciales sobrantes, también hasta la forma escalar (); en float64")
def check_unbroadcast_leading_axes(student, rng, lang):
    hint = tr(lang, "Pitfall: sum over every extra leading axis (there can be more than one) "
                    "until grad.ndim == len(shape).",
              "Error típico: suma sobre todos los ejes iniciales sobrantes (puede haber más de uno) "
              "hasta que grad.ndim == len(shape).")
    _run_unbroadcast(student, rng, lang, "leading", hint)


@check("unbroadcast.size_one_axes", 2, "unbroadcast: size-1 axes",
       "sums size-1 axes of the target with keepdims=True",
       "suma los ejes de tamaño 1 del destino con keepdims=True")
def check_unbroadcast_size_one_axes(student, rng, lang):
    hint = tr(lang, "Pitfall: a size-1 axis of the target must stay, as size 1: sum(axis=i, keepdims=True).",
              "Error típico: un eje de tamaño 1 del destino debe quedarse con tamaño 1: "
              "sum(axis=i, keepdims=True).")
    _run_unbroadcast(student, rng, lang, "ones", hint)


@check("unbroadcast.no_mutation", 1, "unbroadcast leaves grad unchanged",
       "grad is left unchanged (and the result is about right)",
       "grad queda intacto (y el resultado es aproximadamente correcto)")
def check_unbroadcast_no_mutation(student, rng, lang):
    for kind, extra in (("ones", 0), ("leading", None), ("ones", None)):
        target, full = draws.broadcast_case(rng, kind, max_ndim=4, extra=extra)
        _unbroadcast_case(student, rng, lang, target, full, "", watch=True)


def _reduce_case(student, rng, lang, fname, shape, axis, keepdims, hint, watch=False):
    forward, backward = (np.sum, ref.sum_backward) if fname == "sum_backward" else (np.mean, ref.mean_backward)
    a = rng.normal(0, 1, shape)
    out_shape = forward(a, axis=axis, keepdims=keepdims).shape
    g = rng.normal(0, 1, out_shape)
    where = f"{fname}(grad, {shape}, axis={axis}, keepdims={keepdims}), grad.shape = {out_shape}"
    raw = run(student, (g, shape, axis, keepdims), ("grad", None, None, None), lang, where, hint, watch,
              hint if watch else "")
    got = learner_array(raw, lang, where, strict=not watch)
    numeric = fd.gradient(lambda v: np.sum(g * forward(v, axis=axis, keepdims=keepdims)), a)
    expect_gradient(got, backward(g, shape, axis, keepdims), numeric, lang, where, hint,
                    forward=f"sum(grad * a.{forward.__name__}(axis, keepdims))", loose=watch)


def _reduce_shape(rng, lo=1, hi=3):
    return tuple(draws.size(rng, 2, 4) for _ in range(draws.size(rng, lo, hi)))


@check("sum_backward.axis", 2, "sum_backward, keepdims=False",
       "axis given, keepdims=False: the reduced axes are put back before broadcasting; float64",
       "con `axis` y `keepdims=False`: se recolocan los ejes reducidos antes de difundir; en float64")
def check_sum_backward_axis(student, rng, lang):
    hint = tr(lang, "Pitfall (keepdims=False): reshape grad with size-1 axes where the sum removed them, "
                    "then broadcast to the input shape.",
              "Error típico (keepdims=False): da a grad ejes de tamaño 1 donde la suma los quitó y "
              "después difúndelo a la forma de la entrada.")
    k = draws.size(rng, 2, 5)
    cases = [((k, k), int(rng.choice([1, -1])))]                    # square: a misplaced axis runs silently
    cases += [(shape, draws.axes(rng, len(shape))) for shape in (_reduce_shape(rng, 2), _reduce_shape(rng, 1))]
    cases.insert(1, cases[0])                                         # the same shapes again, new numbers
    for shape, axis in cases:
        _reduce_case(student, rng, lang, "sum_backward", shape, axis, False, hint)


@check("sum_backward.keepdims", 1, "sum_backward, keepdims=True",
       "axis given, keepdims=True: grad already has the size-1 axes",
       "con `axis` y `keepdims=True`: grad ya tiene los ejes de tamaño 1")
def check_sum_backward_keepdims(student, rng, lang):
    hint = tr(lang, "With keepdims=True the upstream gradient already has size-1 axes: only broadcast it.",
              "Con keepdims=True el gradiente entrante ya tiene los ejes de tamaño 1: basta con difundirlo.")
    for shape in (_reduce_shape(rng, 2), _reduce_shape(rng, 1), _reduce_shape(rng, 3)):
        _reduce_case(student, rng, lang, "sum_backward", shape, draws.axes(rng, len(shape)), True, hint)


def _all_cases(rng):
    return [(_reduce_shape(rng, 1), False), (_reduce_shape(rng, 2), bool(rng.random() < 0.5)),
            (_reduce_shape(rng, 1, 3), True), ((), bool(rng.random() < 0.5))]


@check("sum_backward.all", 1, "sum_backward, axis=None",
       "axis=None: a scalar gradient spreads over the whole input (0-d inputs too)",
       "axis=None: un gradiente escalar se reparte por toda la entrada (también con entradas de dimensión 0)")
def check_sum_backward_all(student, rng, lang):
    hint = tr(lang, "axis=None sums over every axis: the upstream gradient is a scalar (or all size-1).",
              "axis=None suma sobre todos los ejes: el gradiente entrante es un escalar (o tiene todos los ejes de "
              "tamaño 1).")
    for shape, keepdims in _all_cases(rng):
        _reduce_case(student, rng, lang, "sum_backward", shape, None, keepdims, hint)


@check("sum_backward.no_mutation", 1, "sum_backward leaves grad unchanged",
       "grad is left unchanged (and the result is about right)",
       "grad queda intacto (y el resultado es aproximadamente correcto)")
def check_sum_backward_no_mutation(student, rng, lang):
    for keepdims in (False, True):
        shape = _reduce_shape(rng, 2)
        _reduce_case(student, rng, lang, "sum_backward", shape, draws.axes(rng, len(shape)), keepdims, "", watch=True)


@check("mean_backward.count", 2, "mean_backward, axis given",
       "divides by the number of reduced elements only; float64",
       "divide solo entre el número de elementos reducidos; en float64")
def check_mean_backward_count(student, rng, lang):
    hint = tr(lang, "Pitfall: N is the count of the reduced axes (e.g. shape[axis]), not the total size.",
              "Error típico: N es el número de elementos de los ejes reducidos (p. ej. shape[axis]), "
              "no el tamaño total.")
    cases = [(draws.sizes(rng, 2, 2, 5), -1, False)]   # the last axis of two distinct sizes: N = shape[-1]
    for shape, keepdims in ((_reduce_shape(rng, 2), False), (_reduce_shape(rng, 2), True),
                            (_reduce_shape(rng, 1, 3), bool(rng.random() < 0.5))):
        axis = draws.axes(rng, len(shape))
        if len(shape) > 1 and isinstance(axis, tuple) and len(axis) == len(shape):
            axis = axis[1:]                              # leave an axis unreduced, so that N < size
        cases.append((shape, axis, keepdims))
    cases.insert(1, cases[0])                                         # the same shapes again, new numbers
    for shape, axis, keepdims in cases:
        _reduce_case(student, rng, lang, "mean_backward", shape, axis, keepdims, hint)


@check("mean_backward.all", 1, "mean_backward, axis=None",
       "axis=None: every entry gets grad / size (0-d inputs too)",
       "axis=None: cada elemento recibe grad / tamaño (también con entradas de dimensión 0)")
def check_mean_backward_all(student, rng, lang):
    hint = tr(lang, "axis=None reduces every axis: N = the total number of entries.",
              "axis=None reduce todos los ejes: N = número total de elementos.")
    for shape, keepdims in _all_cases(rng):
        _reduce_case(student, rng, lang, "mean_backward", shape, None, keepdims, hint)


@check("mean_backward.no_mutation", 1, "mean_backward leaves grad unchanged",
       "grad is left unchanged (and the result is about right)",
       "grad queda intacto (y el resultado es aproximadamente correcto)")
def check_mean_backward_no_mutation(student, rng, lang):
    hint = tr(lang, "Pitfall: `grad /= N` divides the caller's array; write `grad = grad / N`.",
              "Error típico: `grad /= N` divide el array de quien llama; escribe `grad = grad / N`.")
    for keepdims in (False, True):
        shape = _reduce_shape(rng, 2)
        _reduce_case(student, rng, lang, "mean_backward", shape, draws.axes(rng, len(shape)), keepdims, hint,
                     watch=True)


def _getitem_case(student, rng, lang, shape, index, text, hint, watch=False):
    a = rng.normal(0, 1, shape)
    g = rng.normal(0, 1, a[index].shape)
    where = f"getitem_backward(grad, {shape}, {text})"
    names = ("grad", None, "index" if isinstance(index, np.ndarray) else None)
    raw = run(student, (g, shape, index), names, lang, where, hint, watch)
    got = learner_array(raw, lang, where, strict=not watch)
    numeric = fd.gradient(lambda v: np.sum(g * v[index]), a)
    expect_gradient(got, ref.getitem_backward(g, shape, index), numeric, lang, where, hint,
                    forward="sum(grad * a[index])", loose=watch)


@check("getitem_backward.slices", 1, "getitem_backward, slices and integers",
       "slices and single integers scatter grad back into zeros; float64",
       "con rebanadas y enteros sueltos, grad vuelve a su sitio sobre ceros; en float64")
def check_getitem_backward_slices(student, rng, lang):
    shapes = [tuple(draws.size(rng, 2, 5) for _ in range(ndim)) for ndim in (1, 2, 3)]
    for shape in shapes + shapes[:1]:                             # the first shape again, another index
        index, text = draws.index(rng, shape, repeated=False)
        _getitem_case(student, rng, lang, shape, index, text, "")


@check("getitem_backward.repeated", 2, "getitem_backward, repeated indices",
       "repeated indices accumulate (np.add.at)", "los índices repetidos se acumulan (np.add.at)")
def check_getitem_backward_repeated(student, rng, lang):
    hint = tr(lang, "Pitfall: `out[index] = grad` (or `+=`) keeps only one contribution per repeated index; "
                    "use np.add.at(out, index, grad).",
              "Error típico: `out[index] = grad` (o `+=`) guarda una sola contribución por índice repetido; "
              "usa np.add.at(out, index, grad).")
    for ndim in (1, 2, 2):
        shape = tuple(draws.size(rng, 2, 5) for _ in range(ndim))
        index, text = draws.index(rng, shape, repeated=True)
        _getitem_case(student, rng, lang, shape, index, text, hint)


@check("getitem_backward.no_mutation", 1, "getitem_backward leaves grad and index unchanged",
       "grad and index are left unchanged (and the result is about right)",
       "grad e index quedan intactos (y el resultado es aproximadamente correcto)")
def check_getitem_backward_no_mutation(student, rng, lang):
    shape = (draws.size(rng, 3, 6),)
    index, text = draws.index(rng, shape, repeated=True)
    _getitem_case(student, rng, lang, shape, index, text, "", watch=True)


def _pieces(raw, n, lang, where, hint, strict=True):
    if isinstance(raw, (tuple, list)):
        items = expect_sequence(raw, n, lang, where, "one gradient per parent", "un gradiente por padre")
    else:
        arr = as_array(raw, lang, where)
        if arr.ndim == 0 or len(arr) != n:
            raise Fail(tr(lang, f"{where}: expected a list of {n} pieces.",
                             f"{where}: se esperaba una lista de {n} trozos.") + " " + hint)
        items = tuple(arr)
    return [learner_array(p, lang, f"{where}, " + tr(lang, f"piece {i}", f"trozo {i}"), strict=strict)
            for i, p in enumerate(items)]


def _cat_case(student, rng, lang, shapes, axis, hint, watch=False):
    parts = [rng.normal(0, 1, s) for s in shapes]
    g = rng.normal(0, 1, np.concatenate(parts, axis=axis).shape)
    where = f"cat_backward(grad, {shapes}, axis={axis}), grad.shape = {g.shape}"
    raw = run(student, (g, [tuple(s) for s in shapes], axis), ("grad", None, None), lang, where, hint, watch)
    got = _pieces(raw, len(shapes), lang, where, hint, strict=not watch)
    for i, (piece, want) in enumerate(zip(got, ref.cat_backward(g, shapes, axis))):
        def forward(v, i=i):
            return np.sum(g * np.concatenate(parts[:i] + [v] + parts[i + 1:], axis=axis))
        expect_gradient(piece, want, fd.gradient(forward, parts[i]), lang,
                        f"{where}, " + tr(lang, f"piece {i}", f"trozo {i}"), hint,
                        forward="sum(grad * concatenate(parts))", atol=0, rtol=0, loose=watch)


def _cat_shapes(rng, ndim, axis):
    other = [draws.size(rng, 2, 4) for _ in range(ndim)]
    shapes = []
    for n in draws.sizes(rng, draws.size(rng, 2, 4), 1, 4):
        s = list(other)
        s[axis] = n
        shapes.append(tuple(s))
    return shapes


@check("cat_backward.axis0", 1, "cat_backward along axis 0",
       "splits grad along axis 0 into pieces of the parents' sizes; float64",
       "parte grad por el eje 0 en trozos del tamaño de cada padre; en float64")
def check_cat_backward_axis0(student, rng, lang):
    shapes = _cat_shapes(rng, 2, 0)
    for case in (shapes, _cat_shapes(rng, 1, 0), shapes):            # the first shapes again, new numbers
        _cat_case(student, rng, lang, case, 0, "")


@check("cat_backward.axis", 1, "cat_backward along another axis",
       "splits along the concatenation axis (axis=1, axis=-1, ...)",
       "parte por el eje de concatenación (axis=1, axis=-1, ...)")
def check_cat_backward_axis(student, rng, lang):
    hint = tr(lang, "Pitfall: split along `axis`, using each parent's shape[axis] as its size.",
              "Error típico: parte por `axis`, en trozos cuyo tamaño es el shape[axis] de cada padre.")
    for ndim, axis in ((2, 1), (3, int(rng.choice([1, 2]))), (3, -1)):
        _cat_case(student, rng, lang, _cat_shapes(rng, ndim, axis), axis, hint)


@check("cat_backward.no_mutation", 1, "cat_backward leaves grad unchanged",
       "grad is left unchanged (and the pieces are about right)",
       "grad queda intacto (y los trozos son aproximadamente correctos)")
def check_cat_backward_no_mutation(student, rng, lang):
    _cat_case(student, rng, lang, _cat_shapes(rng, 2, 0), 0, "", watch=True)


def _gelu_case(student, lang, x, hint_fn, watch=False):
    where = f"gelu_grad(x), x = {fmt(x)}"
    got = learner_array(run(student, (x,), ("x",), lang, where, watch=watch), lang, where, np.shape(x),
                        strict=not watch)
    xf = np.asarray(x, dtype=np.float64)
    expect_gradient(got, ref.gelu_grad(xf), fd.derivative(ref.gelu, xf), lang, where, hint_fn(got, xf),
                    forward="gelu", loose=watch)


def _gelu_hint(lang):
    def hint(got, x):
        if np.allclose(got, ref.normal_cdf(x)):
            return tr(lang, "You returned Φ(x) only: the product rule adds the term x φ(x).",
                      "Devolviste solo Φ(x): la regla del producto añade el término x φ(x).")
        return tr(lang, "GELU is x Φ(x) (exact, with erf); by the product rule its derivative is Φ(x) + x φ(x).",
                  "La GELU es x Φ(x) (la exacta, con erf); por la regla del producto, su derivada es "
                  "Φ(x) + x φ(x).")
    return hint


@check("gelu_grad.values", 2, "gelu_grad(x) vs centred differences",
       "Φ(x) + x φ(x), confirmed by centred differences of the exact GELU, as float64 (integer x too)",
       "Φ(x) + x φ(x), confirmado con diferencias centradas de la GELU exacta, en float64 (también con x entero)")
def check_gelu_grad_values(student, rng, lang):
    x = np.concatenate([np.linspace(-4, 4, 9), draws.log_uniform(rng, 0.3, 3.0) * rng.normal(0, 1, 6),
                        draws.away_from_zero(rng, 2, 5.0, 30.0)])
    for case in (x, rng.normal(0, 2, x.size), rng.integers(-5, 6, draws.size(rng, 3, 8))):
        _gelu_case(student, lang, case, _gelu_hint(lang))


@check("gelu_grad.shapes", 1, "gelu_grad(x) keeps the shape of x",
       "element-wise for any shape: (), (3, 4), (2, 1, 3), ...",
       "elemento a elemento para cualquier forma: (), (3, 4), (2, 1, 3), ...")
def check_gelu_grad_shapes(student, rng, lang):
    hint = tr(lang, "Work on whole arrays (np.exp, a vectorised erf) so the result keeps the shape of x.",
              "Trabaja con arrays completos (np.exp, una erf vectorizada) para que el resultado conserve la forma "
              "de x.")
    shapes = [(), draws.sizes(rng, 2, 2, 5), (draws.size(rng, 2, 3), 1, draws.size(rng, 2, 4)),
              tuple(draws.size(rng, 1, 3) for _ in range(draws.size(rng, 3, 4)))]
    for shape in shapes:
        x = rng.normal(0, 2, shape)
        where = f"gelu_grad(x), x.shape = {shape}"
        got = learner_array(call(student, np.array(x), where=where, lang=lang, hint=hint), lang, where, shape, hint)
        # values are gelu_grad.values' business: here the learner's own 1-D answer is the expectation
        flat = as_array(call(student, x.reshape(-1), where="gelu_grad(x.reshape(-1))", lang=lang, hint=hint),
                        lang, where)
        expect_close(got, flat.reshape(shape) if flat.size == x.size else flat, lang, where, hint,
                     atol=1e-12, rtol=1e-12)


@check("gelu_grad.no_mutation", 1, "gelu_grad(x) leaves x unchanged",
       "x is left unchanged (and the result is about right)",
       "x queda intacto (y el resultado es aproximadamente correcto)")


def check_gelu_grad_no_mutation(student, rng, lang):
    hint = _gelu_hint(lang)
    _gelu_case(student, lang, rng.normal(0, 2, draws.size(rng, 3, 8)), hint, watch=True)
