"""Lab 02: unbroadcast, the backward of sum, mean, indexing and concatenation, and the GELU derivative."""
from . import cells, derived, function, honest, na, solution, wrong

NO_EXP = "no exponential in this function"
NO_MAX = "no maximum in this function"
NO_DIFFERENCES = "the exact backward is asked for: no finite differences"
NO_TRANSPOSE = "no transpose in this function"
NO_SCATTER = "nothing is scattered by index"
ONLY_UPSTREAM = "its only array argument is the upstream gradient (see the next row)"
FLOAT_IN = "the upstream gradient is float64 and nothing here makes integers"
ONE_SOURCE = "each input entry receives exactly one upstream entry: nothing to add up"

# ------------------------------------------------------------------------------------------------ unbroadcast
function("unbroadcast", "lab02", "grad, shape", "array", given=("np",))
solution("unbroadcast", '''
def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return np.reshape(grad, shape)
''')
honest("unbroadcast", "while_loop", '''
def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad
''')
honest("unbroadcast", "one_sum", '''
def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    padded = (1,) * extra + tuple(shape)
    axes = tuple(i for i, (p, g) in enumerate(zip(padded, grad.shape)) if p == 1 and g != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)
''')
honest("unbroadcast", "scatter_loop", '''
def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    out = np.zeros(shape)
    for idx in np.ndindex(*grad.shape):
        target = tuple(0 if d == 1 else i for i, d in zip(idx[extra:], shape))
        out[target] += grad[idx]
    return out
''')
cells("unbroadcast", {
    "no_max_subtraction": na(NO_EXP),
    "whole_array_max": na(NO_MAX),
    "whole_array_sum": wrong("sums every axis whenever the shapes differ", '''
def unbroadcast(grad, shape):
    if grad.shape == tuple(shape):
        return grad
    return np.full(shape, grad.sum())
'''),
    "wrong_axis": wrong("sums the extra axes from the end", '''
def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=-1)
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad
'''),
    "missing_keepdims": wrong("size-1 axes summed without keepdims", '''
def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i)
    return grad
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(NO_TRANSPOSE),
    "assignment_not_add_at": na("whole axes are summed, no index is scattered (a scatter loop that assigns is "
                                "the row 'set instead of accumulated')"),
    "sum_not_mean": na("unbroadcast sums: there is no mean"),
    "mean_not_sum": wrong("averages the broadcast axes", '''
def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.mean(axis=0)
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[i] != 1:
            grad = grad.mean(axis=i, keepdims=True)
    return grad
'''),
    "float32_result": derived("returns float32", "float32"),
    "integer_result": na(FLOAT_IN),
    "mutates_input": na(ONLY_UPSTREAM),
    "mutates_upstream": wrong("sums in place into grad", '''
def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[i] != 1:
            grad[...] = grad.sum(axis=i, keepdims=True)
            grad = grad[(slice(None),) * i + (slice(0, 1),)]
    return grad
'''),
    "wrong_sign": derived("negated", "negate"),
    "transposed_result": derived("returns the transpose of its last two axes", "transpose"),
    "accumulated_not_set": derived("adds each result into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("a scatter loop that assigns: each entry keeps one contribution", '''
def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    out = np.zeros(shape)
    for idx in np.ndindex(*grad.shape):
        target = tuple(0 if d == 1 else i for i, d in zip(idx[extra:], shape))
        out[target] = grad[idx]
    return out
'''),
    "one_leading_axis_only": wrong("sums one extra leading axis", '''
def unbroadcast(grad, shape):
    if grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, dim in enumerate(shape):
        if dim == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad
'''),
})

# ------------------------------------------------------------------------------------------------ sum_backward
REDUCE_COMMON = {
    "no_max_subtraction": na(NO_EXP),
    "whole_array_max": na(NO_MAX),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(NO_TRANSPOSE),
    "assignment_not_add_at": na(NO_SCATTER),
    "float32_result": derived("returns float32", "float32"),
    "integer_result": na(FLOAT_IN),
    "mutates_input": na(ONLY_UPSTREAM),
    "wrong_sign": derived("negated", "negate"),
    "transposed_result": derived("returns the transpose of its last two axes", "transpose"),
    "accumulated_not_set": derived("adds each result into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": na(ONE_SOURCE),
}
function("sum_backward", "lab02", "grad, shape, axis=None, keepdims=False", "array", given=("np",))
solution("sum_backward", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    if axis is None:
        axis = tuple(range(len(shape)))
    if not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape).copy()
''')
honest("sum_backward", "expand_dims", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape).copy()
''')
honest("sum_backward", "ones_product", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    if axis is None:
        axis = tuple(range(len(shape)))
    axes = (axis,) if isinstance(axis, int) else axis
    axes = [a % len(shape) for a in axes]
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return np.ones(shape) * np.reshape(grad, kept)
''')
honest("sum_backward", "index_loop", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else ([axis] if isinstance(axis, int) else axis)
    axes = {a % len(shape) for a in axes}
    g = np.asarray(grad)
    out = np.zeros(shape)
    for idx in np.ndindex(*shape):
        if keepdims:
            src = tuple(0 if i in axes else k for i, k in enumerate(idx))
        else:
            src = tuple(k for i, k in enumerate(idx) if i not in axes)
        out[idx] = g[src]
    return out
''')
cells("sum_backward", {
    **REDUCE_COMMON,
    "whole_array_sum": wrong("treats every sum as a sum over everything", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    return np.full(shape, np.sum(grad), dtype=float)
'''),
    "wrong_axis": wrong("puts the removed axis back at position 0", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, 0)
    return np.broadcast_to(grad, shape).copy()
'''),
    "missing_keepdims": wrong("broadcasts grad without restoring the summed axes", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    return np.broadcast_to(grad, shape).copy()
'''),
    "sum_not_mean": na("sum_backward is the backward of a sum: no mean to forget"),
    "mean_not_sum": wrong("divides by the count, like a mean", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    count = np.prod([shape[a] for a in axes])
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape) / count
'''),
    "mutates_upstream": derived("zeroes grad after using it", "zero:grad"),
    "expands_with_keepdims": wrong("re-inserts the axes even with keepdims=True", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    if axis is not None:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape).copy()
'''),
    "axis_none_unhandled": wrong("assumes axis is given", '''
def sum_backward(grad, shape, axis=None, keepdims=False):
    if not keepdims:
        axes = (axis,) if isinstance(axis, int) else axis
        kept = list(shape)
        for a in axes:
            kept[a] = 1
        grad = np.reshape(grad, kept)
    return np.broadcast_to(grad, shape).copy()
'''),
})

# ------------------------------------------------------------------------------------------------ mean_backward
function("mean_backward", "lab02", "grad, shape, axis=None, keepdims=False", "array", given=("np",))
solution("mean_backward", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    count = np.prod([shape[a] for a in axes])
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape) / count
''')
honest("mean_backward", "count_by_sizes", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    count = np.prod(shape) / np.size(grad)
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape) / count
''')
honest("mean_backward", "loop_count", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else ([axis] if isinstance(axis, int) else axis)
    axes = sorted(a % len(shape) for a in axes)
    count = 1
    for a in axes:
        count *= shape[a]
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return np.reshape(grad, kept) * np.ones(shape) / count
''')
honest("mean_backward", "via_full_ones", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    ones = np.ones(shape)
    counts = np.sum(ones, axis=axis, keepdims=True)
    g = np.asarray(grad)
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return ones * g / counts
''')
cells("mean_backward", {
    **REDUCE_COMMON,
    "whole_array_sum": wrong("counts every entry of the input, not the reduced ones", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape) / np.prod(shape)
'''),
    "wrong_axis": wrong("counts the first axes instead of the reduced ones", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    count = np.prod(shape[:len(axes)])
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape) / count
'''),
    "missing_keepdims": wrong("broadcasts grad without restoring the averaged axes", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    count = np.prod([shape[a] for a in axes])
    return np.broadcast_to(grad, shape) / count
'''),
    "sum_not_mean": wrong("forgets to divide: the backward of a sum", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape).copy()
'''),
    "mean_not_sum": na("mean_backward divides once, by the count: the division is the point"),
    "mutates_upstream": wrong("`grad /= count` in place", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    grad /= np.prod([shape[a] for a in axes])
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape).copy()
'''),
    "axis_none_unhandled": wrong("assumes axis is given", '''
def mean_backward(grad, shape, axis=None, keepdims=False):
    axes = [axis] if isinstance(axis, int) else list(axis)
    count = np.prod([shape[a] for a in axes])
    if not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape) / count
'''),
})

# ------------------------------------------------------------------------------------------------ getitem_backward
function("getitem_backward", "lab02", "grad, shape, index", "array", given=("np",))
solution("getitem_backward", '''
def getitem_backward(grad, shape, index):
    out = np.zeros(shape)
    np.add.at(out, index, grad)
    return out
''')
honest("getitem_backward", "bincount", '''
def getitem_backward(grad, shape, index):
    size = int(np.prod(shape))
    positions = np.arange(size).reshape(shape)[index]
    flat = np.bincount(np.ravel(positions), weights=np.ravel(grad), minlength=size)
    return flat.reshape(shape)
''')
honest("getitem_backward", "python_loop", '''
def getitem_backward(grad, shape, index):
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    out = np.zeros(int(np.prod(shape)))
    for p, g in zip(np.ravel(positions), np.ravel(grad)):
        out[p] += g
    return out.reshape(shape)
''')
honest("getitem_backward", "one_hot_matrix", '''
def getitem_backward(grad, shape, index):
    size = int(np.prod(shape))
    positions = np.ravel(np.arange(size).reshape(shape)[index])
    picks = np.zeros((positions.size, size))
    picks[np.arange(positions.size), positions] = 1.0
    return (np.ravel(grad) @ picks).reshape(shape)
''')
cells("getitem_backward", {
    "no_max_subtraction": na(NO_EXP),
    "whole_array_max": na(NO_MAX),
    "whole_array_sum": na("nothing is reduced: grad is scattered entry by entry"),
    "wrong_axis": na("the index says where each entry goes: there is no axis to choose"),
    "missing_keepdims": na("nothing is reduced: grad is scattered entry by entry"),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(NO_TRANSPOSE),
    "assignment_not_add_at": wrong("`out[index] = grad` (and `+=`: both keep one contribution)", '''
def getitem_backward(grad, shape, index):
    out = np.zeros(shape)
    out[index] = grad
    return out
''', '''
def getitem_backward(grad, shape, index):
    out = np.zeros(shape)
    out[index] += grad
    return out
'''),
    "sum_not_mean": na("no mean in indexing"),
    "mean_not_sum": na("no sum or mean in indexing, only repeated reads that add up"),
    "float32_result": derived("returns float32", "float32"),
    "integer_result": wrong("an integer buffer", '''
def getitem_backward(grad, shape, index):
    out = np.zeros(shape, dtype=int)
    np.add.at(out, index, grad)
    return out
'''),
    "mutates_input": na("the index is only read (NumPy's indexing never writes into it)"),
    "mutates_upstream": derived("zeroes grad after using it", "zero:grad"),
    "wrong_sign": derived("negated", "negate"),
    "transposed_result": derived("returns the transpose of its last two axes", "transpose"),
    "accumulated_not_set": derived("adds each result into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("a scatter loop that assigns: a repeated index keeps one contribution", '''
def getitem_backward(grad, shape, index):
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    out = np.zeros(int(np.prod(shape)))
    for p, g in zip(np.ravel(positions), np.ravel(grad)):
        out[p] = g
    return out.reshape(shape)
'''),
})

# ------------------------------------------------------------------------------------------------ cat_backward
function("cat_backward", "lab02", "grad, shapes, axis=0", "list", given=("np",))
solution("cat_backward", '''
def cat_backward(grad, shapes, axis=0):
    sizes = [s[axis] for s in shapes]
    return np.split(grad, np.cumsum(sizes)[:-1], axis=axis)
''')
honest("cat_backward", "slicing", '''
def cat_backward(grad, shapes, axis=0):
    pieces, start = [], 0
    for s in shapes:
        idx = [slice(None)] * grad.ndim
        idx[axis] = slice(start, start + s[axis])
        pieces.append(grad[tuple(idx)])
        start += s[axis]
    return pieces
''')
honest("cat_backward", "take", '''
def cat_backward(grad, shapes, axis=0):
    bounds = np.cumsum([0] + [s[axis] for s in shapes])
    return [np.take(grad, np.arange(a, b), axis=axis) for a, b in zip(bounds[:-1], bounds[1:])]
''')
honest("cat_backward", "moveaxis", '''
def cat_backward(grad, shapes, axis=0):
    g = np.moveaxis(grad, axis, 0)
    out, start = [], 0
    for s in shapes:
        out.append(np.moveaxis(g[start:start + s[axis]], 0, axis))
        start += s[axis]
    return out
''')
cells("cat_backward", {
    "no_max_subtraction": na(NO_EXP),
    "whole_array_max": na(NO_MAX),
    "whole_array_sum": na("nothing is reduced: grad is cut into pieces"),
    "wrong_axis": wrong("always splits along axis 0", '''
def cat_backward(grad, shapes, axis=0):
    return np.split(grad, np.cumsum([s[axis] for s in shapes])[:-1], axis=0)
'''),
    "missing_keepdims": na("nothing is reduced: grad is cut into pieces"),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(NO_TRANSPOSE),
    "assignment_not_add_at": na("the pieces do not overlap: nothing is scattered"),
    "sum_not_mean": na("no mean in a concatenation"),
    "mean_not_sum": na("no sum in a concatenation"),
    "float32_result": derived("returns float32 pieces", "float32"),
    "integer_result": na(FLOAT_IN),
    "mutates_input": na(ONLY_UPSTREAM),
    "mutates_upstream": derived("zeroes grad after cutting it (the pieces are copies)", "zero:grad"),
    "wrong_sign": derived("negated pieces", "negate"),
    "transposed_result": derived("transposed pieces", "transpose"),
    "accumulated_not_set": derived("adds each piece into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": na("each entry of grad goes to exactly one parent: nothing to add up"),
})

# ------------------------------------------------------------------------------------------------ gelu_grad
function("gelu_grad", "lab02", "x", "array", given=("np", "math", "erf", "gelu"))
solution("gelu_grad", '''
def gelu_grad(x):
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf
''')
honest("gelu_grad", "vectorised_erf", '''
import math

def gelu_grad(x):
    erf = np.vectorize(math.erf)
    return 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-x**2 / 2) / math.sqrt(2 * math.pi)
''')
honest("gelu_grad", "scipy", '''
from scipy import special, stats

def gelu_grad(x):
    return special.ndtr(x) + x * stats.norm.pdf(x)
''')
honest("gelu_grad", "erfc_loop", '''
import math

def gelu_grad(x):
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        v = float(x[idx])
        out[idx] = 0.5 * math.erfc(-v / math.sqrt(2)) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    return out
''')
cells("gelu_grad", {
    "no_max_subtraction": na("exp(-x²/2) never overflows"),
    "whole_array_max": na("elementwise: no reduction"),
    "whole_array_sum": na("elementwise: no reduction"),
    "wrong_axis": na("elementwise: no reduction"),
    "missing_keepdims": na("elementwise: no reduction"),
    "forward_differences": na("the exact derivative is asked for: no finite differences"),
    "batched_T": na(NO_TRANSPOSE),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na("elementwise: no mean"),
    "mean_not_sum": na("elementwise: no sum"),
    "float32_result": wrong("a float32 result", '''
def gelu_grad(x):
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return (cdf + x * pdf).astype(np.float32)
'''),
    "integer_result": wrong("np.empty_like(x): integer x gives an integer result", '''
def gelu_grad(x):
    x = np.asarray(x)
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        v = float(x[idx])
        out[idx] = 0.5 * math.erfc(-v / math.sqrt(2)) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    return out
'''),
    "mutates_input": wrong("`x /= sqrt(2)` in place", '''
def gelu_grad(x):
    x /= math.sqrt(2.0)
    return 0.5 * (1.0 + erf(x)) + x * np.exp(-x**2) / math.sqrt(math.pi)
'''),
    "mutates_upstream": na("no upstream gradient: the derivative itself is asked for"),
    "wrong_sign": wrong("Φ(x) - x φ(x)", '''
def gelu_grad(x):
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return cdf - x * pdf
'''),
    "transposed_result": derived("returns the transpose of its last two axes", "transpose"),
    "accumulated_not_set": derived("adds each result into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": na("elementwise: nothing to add up"),
    "only_cdf": wrong("Φ(x) only", '''
import math

def gelu_grad(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
'''),
    "tanh_approximation": wrong("the tanh approximation's derivative", '''
def gelu_grad(x):
    c = np.sqrt(2 / np.pi)
    u = c * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)
'''),
    "one_dimensional_only": wrong("a comprehension over the first axis", '''
import math

def gelu_grad(x):
    return np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
                     for v in x])
'''),
})
