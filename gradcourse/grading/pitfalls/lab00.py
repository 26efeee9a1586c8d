"""Lab 00: softmax, its Jacobian, finite differences, cross-entropy and its gradient."""
from . import cells, derived, function, honest, na, solution, wrong

NO_EXP = "no exponential in this function"
NO_REDUCTION = "no reduction over an array's axes here"
VECTOR = "the input is one (N,) vector: its only axis is the row"
NO_DIFFERENCES = "the analytic formula is asked for: no finite differences"
NOT_BATCHED = "inputs are at most 2-D, where `.T` is the ordinary transpose"
NO_SCATTER = "nothing is scattered by index"
NO_MEAN = "the contract has no mean over a batch"
NO_UPSTREAM = "no upstream gradient is passed in"
ONE_NUMBER = "the result is one number"

# ------------------------------------------------------------------------------------------------ softmax
function("softmax", "lab00", "z", "array", given=("np", "logsumexp"))
solution("softmax", '''
def softmax(z):
    return np.exp(z - logsumexp(z, axis=-1, keepdims=True))
''')
honest("softmax", "loops", '''
import math

def softmax(z):
    z = np.asarray(z, dtype=float)
    rows = z.reshape(-1, z.shape[-1])
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        m = max(row)
        e = [math.exp(v - m) for v in row]
        total = sum(e)
        for i, v in enumerate(e):
            out[r, i] = v / total
    return out.reshape(z.shape)
''')
honest("softmax", "einsum", '''
def softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.einsum("...i->...", e)[..., None]
''')
honest("softmax", "logaddexp", '''
def softmax(z):
    return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))
''')
cells("softmax", {
    "no_max_subtraction": wrong("plain exp", '''
def softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
'''),
    "whole_array_max": wrong("subtracts the max of the whole batch", '''
def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)
'''),
    "whole_array_sum": wrong("normalises by the sum of the whole batch", '''
def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()
'''),
    "wrong_axis": wrong("normalises along axis 0", '''
def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
'''),
    "missing_keepdims": wrong("row sums without keepdims", '''
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1)
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na("the contract is (N,) or (B, N), where `(e.T / e.T.sum(0)).T` is a right softmax"),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na(NO_MEAN),
    "mean_not_sum": wrong("divides by the mean instead of the sum", '''
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.mean(axis=-1, keepdims=True)
'''),
    "float32_result": wrong("casts the logits to float32 first", '''
def softmax(z):
    z = np.asarray(z, dtype=np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''),
    "integer_result": wrong("fills np.zeros_like(z): integer logits give an integer result", '''
def softmax(z):
    out = np.zeros_like(z)
    rows, src = out.reshape(-1, z.shape[-1]), z.reshape(-1, z.shape[-1])
    for r in range(len(rows)):
        e = np.exp(src[r] - src[r].max())
        rows[r] = e / e.sum()
    return out
'''),
    "mutates_input": wrong("shifts z in place", '''
def softmax(z):
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
'''),
    "mutates_upstream": na(NO_UPSTREAM),
    "wrong_sign": wrong("exp(-z)", '''
def softmax(z):
    return np.exp(-z - logsumexp(-z, axis=-1, keepdims=True))
'''),
    "transposed_result": derived("returns the (N, B) transpose of a batch", "transpose"),
    "accumulated_not_set": derived("adds each result into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the normaliser keeps only the last exponential", '''
import math

def softmax(z):
    z = np.asarray(z, dtype=float)
    rows = z.reshape(-1, z.shape[-1])
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        e = [math.exp(v - max(row)) for v in row]
        total = 0.0
        for v in e:
            total = v
        out[r] = np.array(e) / total
    return out.reshape(z.shape)
'''),
})

# ------------------------------------------------------------------------------------------------ softmax_jacobian
function("softmax_jacobian", "lab00", "z", "array", given=("np", "logsumexp", "softmax"))
solution("softmax_jacobian", '''
def softmax_jacobian(z):
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)
''')
honest("softmax_jacobian", "loops", '''
def softmax_jacobian(z):
    p = softmax(z)
    n = len(p)
    J = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            J[i, j] = p[i] * ((1.0 if i == j else 0.0) - p[j])
    return J
''')
honest("softmax_jacobian", "einsum", '''
def softmax_jacobian(z):
    p = softmax(z)
    return np.einsum("i,ij->ij", p, np.eye(len(p))) - np.einsum("i,j->ij", p, p)
''')
honest("softmax_jacobian", "quotient_rule", '''
def softmax_jacobian(z):
    e = np.exp(z - np.max(z))
    Z = e.sum()
    return (np.diag(e) * Z - np.outer(e, e)) / Z**2
''')
cells("softmax_jacobian", {
    "no_max_subtraction": wrong("p from a plain exp", '''
def softmax_jacobian(z):
    e = np.exp(z)
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)
'''),
    "whole_array_max": na(VECTOR),
    "whole_array_sum": na(VECTOR),
    "wrong_axis": na(VECTOR),
    "missing_keepdims": na(VECTOR),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na("a 1-D input and a 2-D result: `.T` is the ordinary transpose"),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na(NO_MEAN),
    "mean_not_sum": wrong("p normalised by the mean", '''
def softmax_jacobian(z):
    e = np.exp(z - np.max(z))
    p = e / e.mean()
    return np.diag(p) - np.outer(p, p)
'''),
    "float32_result": wrong("p in float32", '''
def softmax_jacobian(z):
    p = softmax(z).astype(np.float32)
    return np.diag(p) - np.outer(p, p)
'''),
    "integer_result": wrong("fills np.zeros_like(z): integer logits give an integer matrix", '''
def softmax_jacobian(z):
    p = softmax(z)
    n = len(z)
    J = np.zeros_like(z, shape=(n, n))
    for i in range(n):
        for j in range(n):
            J[i, j] = p[i] * ((i == j) - p[j])
    return J
'''),
    "mutates_input": wrong("shifts z in place", '''
def softmax_jacobian(z):
    z -= np.max(z)
    e = np.exp(z)
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)
'''),
    "mutates_upstream": na(NO_UPSTREAM + ": the whole Jacobian is asked for"),
    "wrong_sign": wrong("p p^T - diag(p)", '''
def softmax_jacobian(z):
    p = softmax(z)
    return np.outer(p, p) - np.diag(p)
'''),
    "transposed_result": na("J is symmetric: its transpose is the same matrix"),
    "accumulated_not_set": derived("adds each Jacobian into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the normaliser keeps only the last exponential", '''
def softmax_jacobian(z):
    e = np.exp(z - np.max(z))
    total = 0.0
    for v in e:
        total = v
    p = e / total
    return np.diag(p) - np.outer(p, p)
'''),
    "jacobian_index_typo": wrong("p_i (δ_ij - p_i)", '''
def softmax_jacobian(z):
    p = softmax(z)
    n = len(p)
    J = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            J[i, j] = p[i] * ((i == j) - p[i])
    return J
'''),
})

# ------------------------------------------------------------------------------------------------ jacobian_fd
FD_COMMON = {
    "no_max_subtraction": na(NO_EXP),
    "whole_array_max": na(NO_REDUCTION),
    "whole_array_sum": na(NO_REDUCTION),
    "wrong_axis": na(NO_REDUCTION),
    "missing_keepdims": na(NO_REDUCTION),
    "batched_T": na("z is one (N,) vector"),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na(NO_MEAN),
    "mean_not_sum": na("nothing is summed: each entry is one difference quotient"),
    "mutates_upstream": na(NO_UPSTREAM),
    "set_not_accumulated": na("each entry is written once"),
}
function("jacobian_fd", "lab00", "f, z, h=1e-5", "array")
solution("jacobian_fd", '''
def jacobian_fd(f, z, h=1e-5):
    n = len(z)
    J = np.zeros((np.size(f(z)), n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        J[:, j] = (f(z + e) - f(z - e)) / (2 * h)
    return J
''')
honest("jacobian_fd", "columns", '''
def jacobian_fd(f, z, h=1e-5):
    z = np.asarray(z, dtype=float)
    cols = []
    for j in range(z.size):
        e = np.zeros_like(z)
        e[j] = h
        cols.append((np.asarray(f(z + e)) - np.asarray(f(z - e))) / (2 * h))
    return np.stack(cols, axis=1)
''')
honest("jacobian_fd", "eye_rows", '''
def jacobian_fd(f, z, h=1e-5):
    E = h * np.eye(len(z))
    return np.array([np.asarray(f(z + e)) - np.asarray(f(z - e)) for e in E]).T / (2 * h)
''')
honest("jacobian_fd", "richardson", '''
def jacobian_fd(f, z, h=1e-5):
    def central(step):
        J = np.zeros((np.size(f(z)), len(z)))
        for j in range(len(z)):
            e = np.zeros(len(z))
            e[j] = step
            J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z - e))) / (2 * step)
        return J
    return (4 * central(h) - central(2 * h)) / 3
''')
cells("jacobian_fd", {
    **FD_COMMON,
    "forward_differences": wrong("(f(z + h e_j) - f(z)) / h", '''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z))) / h
    return J
'''),
    "step_too_small": wrong("h = 1e-12", '''
def jacobian_fd(f, z, h=1e-12):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z - e))) / (2 * h)
    return J
'''),
    "half_step": wrong("divides by h", '''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z - e))) / h
    return J
'''),
    "float32_result": wrong("a float32 Jacobian", '''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)), dtype=np.float32)
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z - e))) / (2 * h)
    return J
'''),
    "integer_result": wrong("np.zeros_like(z) as the step: integer z gives a step of 0", '''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        e = np.zeros_like(z)
        e[j] = h
        J[:, j] = (np.asarray(f(z + e)) - np.asarray(f(z - e))) / (2 * h)
    return J
'''),
    "mutates_input": wrong("nudges z[j] in place and back (the floats do not come back)", '''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        z[j] += h
        plus = np.asarray(f(z))
        z[j] -= 2 * h
        minus = np.asarray(f(z))
        z[j] += h
        J[:, j] = (plus - minus) / (2 * h)
    return J
'''),
    "wrong_sign": wrong("(f(z - h) - f(z + h)) / 2h", '''
def jacobian_fd(f, z, h=1e-5):
    J = np.zeros((np.size(f(z)), len(z)))
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        J[:, j] = (np.asarray(f(z - e)) - np.asarray(f(z + e))) / (2 * h)
    return J
'''),
    "transposed_result": wrong("row j moves z_j (the transpose)", '''
def jacobian_fd(f, z, h=1e-5):
    E = h * np.eye(len(z))
    return np.array([np.asarray(f(z + e)) - np.asarray(f(z - e)) for e in E]) / (2 * h)
'''),
    "accumulated_not_set": derived("adds each Jacobian into a buffer kept across calls", "accumulate"),
})

# ------------------------------------------------------------------------------------------------ grad_fd
function("grad_fd", "lab00", "f, z, h=1e-5", "array")
solution("grad_fd", '''
def grad_fd(f, z, h=1e-5):
    g = np.zeros(len(z))
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        g[j] = (f(z + e) - f(z - e)) / (2 * h)
    return g
''')
honest("grad_fd", "comprehension", '''
def grad_fd(f, z, h=1e-5):
    return np.array([(f(z + e) - f(z - e)) / (2 * h) for e in h * np.eye(len(z))])
''')
honest("grad_fd", "richardson", '''
def grad_fd(f, z, h=1e-5):
    def central(s):
        return np.array([(f(z + e) - f(z - e)) / (2 * s) for e in s * np.eye(len(z))])
    return (4 * central(h) - central(2 * h)) / 3
''')
honest("grad_fd", "float_copy", '''
def grad_fd(f, z, h=1e-5):
    z = np.array(z, dtype=float)
    g = np.empty_like(z)
    for j in range(z.size):
        up, down = z.copy(), z.copy()
        up[j] += h
        down[j] -= h
        g[j] = (f(up) - f(down)) / (up[j] - down[j])
    return g
''')
cells("grad_fd", {
    **FD_COMMON,
    "forward_differences": wrong("(f(z + h e_j) - f(z)) / h", '''
def grad_fd(f, z, h=1e-5):
    return np.array([(f(z + e) - f(z)) / h for e in h * np.eye(len(z))])
'''),
    "step_too_small": wrong("h = 1e-12", '''
def grad_fd(f, z, h=1e-12):
    return np.array([(f(z + e) - f(z - e)) / (2 * h) for e in h * np.eye(len(z))])
'''),
    "half_step": wrong("divides by h", '''
def grad_fd(f, z, h=1e-5):
    return np.array([(f(z + e) - f(z - e)) / h for e in h * np.eye(len(z))])
'''),
    "float32_result": wrong("a float32 gradient", '''
def grad_fd(f, z, h=1e-5):
    g = np.zeros(len(z), dtype=np.float32)
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        g[j] = (f(z + e) - f(z - e)) / (2 * h)
    return g
'''),
    "integer_result": wrong("np.zeros_like(z) as the buffer: integer z gives an integer gradient", '''
def grad_fd(f, z, h=1e-5):
    g = np.zeros_like(z)
    for j in range(len(z)):
        e = np.zeros(len(z))
        e[j] = h
        g[j] = (f(z + e) - f(z - e)) / (2 * h)
    return g
'''),
    "mutates_input": wrong("nudges z[j] in place and back (the floats do not come back)", '''
def grad_fd(f, z, h=1e-5):
    g = np.zeros(len(z))
    for j in range(len(z)):
        z[j] += h
        plus = f(z)
        z[j] -= 2 * h
        minus = f(z)
        z[j] += h
        g[j] = (plus - minus) / (2 * h)
    return g
'''),
    "wrong_sign": wrong("(f(z - h) - f(z + h)) / 2h", '''
def grad_fd(f, z, h=1e-5):
    return np.array([(f(z - e) - f(z + e)) / (2 * h) for e in h * np.eye(len(z))])
'''),
    "transposed_result": na("the gradient is one (N,) vector: its transpose is itself"),
    "accumulated_not_set": derived("adds each gradient into a buffer kept across calls", "accumulate"),
})

# ------------------------------------------------------------------------------------------------ ce_loss
function("ce_loss", "lab00", "z, y", "scalar", given=("np", "logsumexp"))
solution("ce_loss", '''
def ce_loss(z, y):
    return float(logsumexp(z) - z[y])
''')
honest("ce_loss", "python_lse", '''
import math

def ce_loss(z, y):
    m = max(z)
    return m + math.log(sum(math.exp(v - m) for v in z)) - z[y]
''')
honest("ce_loss", "logaddexp", '''
def ce_loss(z, y):
    return float(np.logaddexp.reduce(z) - z[y])
''')
honest("ce_loss", "log_softmax_vector", '''
def ce_loss(z, y):
    shifted = z - np.max(z)
    log_p = shifted - np.log(np.sum(np.exp(shifted)))
    return -log_p[y]
''')
cells("ce_loss", {
    "no_max_subtraction": wrong("log(sum(exp(z))) without the max", '''
def ce_loss(z, y):
    return float(np.log(np.sum(np.exp(z))) - z[y])
'''),
    "whole_array_max": na(VECTOR),
    "whole_array_sum": na(VECTOR),
    "wrong_axis": na(VECTOR),
    "missing_keepdims": na(VECTOR),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(VECTOR),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na("one example: there is no batch mean"),
    "mean_not_sum": wrong("log of the mean of the exponentials", '''
def ce_loss(z, y):
    m = np.max(z)
    return float(m + np.log(np.mean(np.exp(z - m))) - z[y])
'''),
    "float32_result": wrong("returns np.float32", '''
def ce_loss(z, y):
    return np.float32(logsumexp(z) - z[y])
'''),
    "integer_result": na("exp and log return floats: an integer loss needs an explicit cast"),
    "mutates_input": wrong("shifts z in place", '''
def ce_loss(z, y):
    z -= np.max(z)
    return float(np.log(np.sum(np.exp(z))) - z[y])
'''),
    "mutates_upstream": na(NO_UPSTREAM),
    "wrong_sign": wrong("z[y] - logsumexp(z)", '''
def ce_loss(z, y):
    return float(z[y] - logsumexp(z))
'''),
    "transposed_result": na(ONE_NUMBER),
    "accumulated_not_set": derived("adds each loss to a running total kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the sum of exponentials keeps only its last term", '''
import math

def ce_loss(z, y):
    m = max(z)
    s = 0.0
    for v in z:
        s = math.exp(v - m)
    return m + math.log(s) - z[y]
'''),
    "log_of_softmax": wrong("-log(softmax(z)[y])", '''
def ce_loss(z, y):
    p = np.exp(z - np.max(z))
    p = p / p.sum()
    return float(-np.log(p[y]))
'''),
})

# ------------------------------------------------------------------------------------------------ ce_grad
function("ce_grad", "lab00", "z, y", "array", given=("np", "logsumexp"))
solution("ce_grad", '''
def ce_grad(z, y):
    p = np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(z.shape[0]), y] -= 1.0
    return p / z.shape[0]
''')
honest("ce_grad", "loops", '''
import math

def ce_grad(z, y):
    z = np.asarray(z, dtype=float)
    rows = np.atleast_2d(z)
    labels = np.atleast_1d(y)
    out = np.zeros_like(rows)
    for b in range(rows.shape[0]):
        m = max(rows[b])
        e = [math.exp(v - m) for v in rows[b]]
        for j in range(rows.shape[1]):
            out[b, j] = e[j] / sum(e) - (1.0 if j == labels[b] else 0.0)
    return out[0] if z.ndim == 1 else out / rows.shape[0]
''')
honest("ce_grad", "eye_one_hot", '''
def ce_grad(z, y):
    p = np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    g = p - np.eye(z.shape[-1])[y]
    return g if z.ndim == 1 else g / z.shape[0]
''')
honest("ce_grad", "put_along_axis", '''
def ce_grad(z, y):
    Z = np.atleast_2d(z)
    g = np.exp(Z - Z.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    idx = np.atleast_1d(y)[:, None]
    np.put_along_axis(g, idx, np.take_along_axis(g, idx, axis=1) - 1.0, axis=1)
    return g[0] if np.ndim(z) == 1 else g / len(g)
''')
cells("ce_grad", {
    "no_max_subtraction": wrong("softmax from a plain exp", '''
def ce_grad(z, y):
    e = np.exp(z)
    p = e / e.sum(axis=-1, keepdims=True)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "whole_array_max": wrong("subtracts the max of the whole batch", '''
def ce_grad(z, y):
    e = np.exp(z - z.max())
    p = e / e.sum(axis=-1, keepdims=True)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "whole_array_sum": wrong("normalises by the sum of the whole batch", '''
def ce_grad(z, y):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum()
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "wrong_axis": wrong("softmax along axis 0", '''
def ce_grad(z, y):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    p = e / e.sum(axis=0, keepdims=True)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "missing_keepdims": wrong("row sums without keepdims", '''
def ce_grad(z, y):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(NOT_BATCHED),
    "assignment_not_add_at": na("each row gets its -1 once (the rows arange(B) never repeat): "
                                "fancy assignment is exact"),
    "sum_not_mean": wrong("forgets the 1/B of the mean", '''
def ce_grad(z, y):
    p = np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    if z.ndim == 1:
        p[y] -= 1.0
    else:
        p[np.arange(len(y)), y] -= 1.0
    return p
'''),
    "mean_not_sum": wrong("divides by every entry (z.size) instead of B", '''
def ce_grad(z, y):
    p = np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    if z.ndim == 1:
        p[y] -= 1.0
    else:
        p[np.arange(len(y)), y] -= 1.0
    return p / z.size
'''),
    "float32_result": wrong("casts the logits to float32 first", '''
def ce_grad(z, y):
    z = z.astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "integer_result": wrong("fills np.zeros_like(z): integer logits give an integer gradient", '''
def ce_grad(z, y):
    g = np.zeros_like(z)
    rows, src, labels = np.atleast_2d(g), np.atleast_2d(z), np.atleast_1d(y)
    for b in range(len(rows)):
        e = np.exp(src[b] - src[b].max())
        rows[b] = e / e.sum()
        rows[b, labels[b]] -= 1.0
    return g if z.ndim == 1 else g / len(rows)
'''),
    "mutates_input": wrong("shifts z in place", '''
def ce_grad(z, y):
    z -= z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "mutates_upstream": na(NO_UPSTREAM + ": ce_grad starts the backward pass"),
    "wrong_sign": wrong("one_hot - softmax", '''
def ce_grad(z, y):
    g = np.eye(z.shape[-1])[y] - np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    return g if z.ndim == 1 else g / z.shape[0]
'''),
    "transposed_result": derived("returns the (N, B) transpose of a batch", "transpose"),
    "accumulated_not_set": derived("adds each gradient into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the normaliser keeps only the last exponential", '''
def ce_grad(z, y):
    Z = np.atleast_2d(np.asarray(z, dtype=float))
    labels = np.atleast_1d(y)
    out = np.zeros_like(Z)
    for b in range(len(Z)):
        e = np.exp(Z[b] - Z[b].max())
        total = 0.0
        for v in e:
            total = v
        out[b] = e / total
        out[b, labels[b]] -= 1.0
    return out[0] if np.ndim(z) == 1 else out / len(Z)
'''),
})
