"""Lab 03: matmul backward, the softmax VJP, the fused cross-entropy and its gradient."""
from . import cells, derived, function, honest, na, solution, wrong

NO_DIFFERENCES = "the exact backward is asked for: no finite differences"
NO_SCATTER = "nothing is scattered by index"
TWO_D = "logits are (B, C): `.T` on them is the ordinary transpose"
NO_UPSTREAM = "no upstream gradient is passed in: the loss starts the backward pass"

# ------------------------------------------------------------------------------------------------ matmul_backward
function("matmul_backward", "lab03", "A, B, dC", "tuple", given=("np", "unbroadcast"))
solution("matmul_backward", '''
def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ dC
    return unbroadcast(dA, A.shape), unbroadcast(dB, B.shape)
''')
honest("matmul_backward", "einsum", '''
def matmul_backward(A, B, dC):
    dA = np.einsum("...mn,...kn->...mk", dC, B)
    dB = np.einsum("...mk,...mn->...kn", A, dC)
    return unbroadcast(dA, A.shape), unbroadcast(dB, B.shape)
''')
honest("matmul_backward", "broadcast_products", '''
def matmul_backward(A, B, dC):
    dA = (dC[..., :, None, :] * B[..., None, :, :]).sum(axis=-1)
    dB = (A[..., :, :, None] * dC[..., :, None, :]).sum(axis=-3)
    return unbroadcast(dA, A.shape), unbroadcast(dB, B.shape)
''')
honest("matmul_backward", "moveaxis_and_sum", '''
def matmul_backward(A, B, dC):
    dA = np.matmul(dC, np.moveaxis(B, -1, -2))
    dB = np.matmul(np.moveaxis(A, -1, -2), dC)
    lead_a = tuple(range(dA.ndim - A.ndim))
    lead_b = tuple(range(dB.ndim - B.ndim))
    dA, dB = dA.sum(axis=lead_a), dB.sum(axis=lead_b)
    dA = dA.sum(axis=tuple(i for i, n in enumerate(A.shape) if n == 1), keepdims=True)
    dB = dB.sum(axis=tuple(i for i, n in enumerate(B.shape) if n == 1), keepdims=True)
    return dA, dB
''')
cells("matmul_backward", {
    "no_max_subtraction": na("no exponential in this function"),
    "whole_array_max": na("no maximum in this function"),
    "whole_array_sum": na("the only reductions are the products' and unbroadcast's (rows below)"),
    "wrong_axis": wrong("sums broadcast batch axes from the end", '''
def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ dC
    while dA.ndim > A.ndim:
        dA = dA.sum(axis=-3)
    while dB.ndim > B.ndim:
        dB = dB.sum(axis=-3)
    return dA, dB
'''),
    "missing_keepdims": wrong("size-1 batch axes summed without keepdims", '''
def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ dC
    dA = dA.sum(axis=tuple(range(dA.ndim - A.ndim)))
    dB = dB.sum(axis=tuple(range(dB.ndim - B.ndim)))
    dA = dA.sum(axis=tuple(i for i, n in enumerate(A.shape[:-2]) if n == 1 and dA.shape[i] != 1))
    dB = dB.sum(axis=tuple(i for i, n in enumerate(B.shape[:-2]) if n == 1 and dB.shape[i] != 1))
    return dA, dB
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": wrong("`.T` on batched operands", '''
def matmul_backward(A, B, dC):
    return unbroadcast(dC @ B.T, A.shape), unbroadcast(A.T @ dC, B.shape)
'''),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na("no mean over the batch axes: each product in the batch is its own"),
    "mean_not_sum": wrong("averages the broadcast batch axes", '''
def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ dC
    def back(g, shape):
        g = g.mean(axis=tuple(range(g.ndim - len(shape))))
        ones = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        return g.mean(axis=ones, keepdims=True)
    return back(dA, A.shape), back(dB, B.shape)
'''),
    "float32_result": derived("returns float32 gradients", "float32"),
    "integer_result": na("the inputs are float64 and every operation keeps float64"),
    "mutates_input": na("A and B are only read, through views; nothing in the formula invites writing into them"),
    "mutates_upstream": derived("zeroes dC after using it", "zero:dC"),
    "wrong_sign": derived("both gradients negated", "negate"),
    "transposed_result": wrong("dB = dC^T A, the transpose of A^T dC", '''
def matmul_backward(A, B, dC):
    dA = dC @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(dC, -1, -2) @ A
    return unbroadcast(dA, A.shape), unbroadcast(dB, B.shape)
'''),
    "accumulated_not_set": derived("adds the gradients into buffers kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the sum over the contracted index keeps its last term", '''
def matmul_backward(A, B, dC):
    dA = 0.0
    for j in range(dC.shape[-1]):
        dA = dC[..., :, j:j + 1] * B[..., None, :, j]
    dB = 0.0
    for i in range(dC.shape[-2]):
        dB = A[..., i:i + 1, :].swapaxes(-1, -2) * dC[..., i:i + 1, :]
    return unbroadcast(dA, A.shape), unbroadcast(dB, B.shape)
'''),
    "missing_unbroadcast": wrong("no unbroadcast", '''
def matmul_backward(A, B, dC):
    return dC @ np.swapaxes(B, -1, -2), np.swapaxes(A, -1, -2) @ dC
'''),
})

# ------------------------------------------------------------------------------------------------ softmax_backward
function("softmax_backward", "lab03", "s, ds", "array", given=("np",))
solution("softmax_backward", '''
def softmax_backward(s, ds):
    return s * (ds - np.sum(s * ds, axis=-1, keepdims=True))
''')
honest("softmax_backward", "jacobian_rows", '''
def softmax_backward(s, ds):
    flat_s = s.reshape(-1, s.shape[-1])
    flat_ds = ds.reshape(-1, s.shape[-1])
    out = np.empty_like(flat_s)
    for r in range(flat_s.shape[0]):
        J = np.diag(flat_s[r]) - np.outer(flat_s[r], flat_s[r])
        out[r] = flat_ds[r] @ J
    return out.reshape(s.shape)
''')
honest("softmax_backward", "einsum", '''
def softmax_backward(s, ds):
    inner = np.einsum("...i,...i->...", s, ds)
    return s * (ds - inner[..., None])
''')
honest("softmax_backward", "expanded", '''
def softmax_backward(s, ds):
    return s * ds - s * np.sum(s * ds, axis=-1)[..., np.newaxis]
''')
cells("softmax_backward", {
    "no_max_subtraction": na("it receives s = softmax(x), not the logits: no exponential"),
    "whole_array_max": na("no maximum in this function"),
    "whole_array_sum": wrong("the inner product over the whole batch", '''
def softmax_backward(s, ds):
    return s * (ds - np.sum(s * ds))
'''),
    "wrong_axis": wrong("the inner product along axis 0", '''
def softmax_backward(s, ds):
    return s * (ds - (s * ds).sum(axis=0, keepdims=True))
'''),
    "missing_keepdims": wrong("the inner product without keepdims", '''
def softmax_backward(s, ds):
    return s * (ds - (s * ds).sum(axis=-1))
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": wrong("`.T` to broadcast the row sums: right in 2-D, wrong in 3-D", '''
def softmax_backward(s, ds):
    return (s.T * (ds.T - np.sum(s * ds, axis=-1))).T
'''),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na("no mean in the VJP"),
    "mean_not_sum": wrong("the inner product as a mean", '''
def softmax_backward(s, ds):
    return s * (ds - (s * ds).mean(axis=-1, keepdims=True))
'''),
    "float32_result": derived("returns float32", "float32"),
    "integer_result": na("s and ds are float64 and nothing here makes integers"),
    "mutates_input": wrong("computes the result into s", '''
def softmax_backward(s, ds):
    inner = np.sum(s * ds, axis=-1, keepdims=True)
    s *= ds - inner
    return s
'''),
    "mutates_upstream": wrong("`ds -= <s, ds>` in place", '''
def softmax_backward(s, ds):
    ds -= np.sum(s * ds, axis=-1, keepdims=True)
    return s * ds
'''),
    "wrong_sign": wrong("s * (<s, ds> - ds)", '''
def softmax_backward(s, ds):
    return s * (np.sum(s * ds, axis=-1, keepdims=True) - ds)
'''),
    "transposed_result": derived("returns the transpose of its last two axes", "transpose"),
    "accumulated_not_set": derived("adds each result into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the inner product keeps its last term", '''
def softmax_backward(s, ds):
    inner = 0.0
    for i in range(s.shape[-1]):
        inner = s[..., i:i + 1] * ds[..., i:i + 1]
    return s * (ds - inner)
'''),
})

# ------------------------------------------------------------------------------------------------ cross_entropy
function("cross_entropy", "lab03", "logits, y", "scalar", given=("np", "logsumexp"))
solution("cross_entropy", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1, keepdims=True)
    return float(-np.mean(log_p[np.arange(len(y)), y]))
''')
honest("cross_entropy", "loops", '''
import math

def cross_entropy(logits, y):
    total = 0.0
    for row, label in zip(logits, y):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[label]
    return total / len(y)
''')
honest("cross_entropy", "logaddexp", '''
def cross_entropy(logits, y):
    lse = np.logaddexp.reduce(logits, axis=1)
    return float(np.mean(lse - logits[np.arange(len(y)), y]))
''')
honest("cross_entropy", "take_along_axis", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1, keepdims=True)
    return -np.take_along_axis(log_p, y[:, None], axis=1).mean()
''')
cells("cross_entropy", {
    "no_max_subtraction": wrong("log-sum-exp without the max", '''
def cross_entropy(logits, y):
    lse = np.log(np.exp(logits).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))
'''),
    "whole_array_max": wrong("subtracts the max of the whole batch", '''
def cross_entropy(logits, y):
    m = logits.max()
    lse = m + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))
'''),
    "whole_array_sum": wrong("log-sum-exp over the whole batch", '''
def cross_entropy(logits, y):
    m = logits.max()
    lse = m + np.log(np.exp(logits - m).sum())
    return float(np.mean(lse - logits[np.arange(len(y)), y]))
'''),
    "wrong_axis": wrong("log-sum-exp along axis 0", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=0, keepdims=True)
    return float(-np.mean(log_p[np.arange(len(y)), y]))
'''),
    "missing_keepdims": wrong("log-sum-exp without keepdims", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1)
    return float(-np.mean(log_p[np.arange(len(y)), y]))
'''),
    "forward_differences": na("the loss is asked for: no finite differences"),
    "batched_T": na(TWO_D),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": wrong("the sum over the batch", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1, keepdims=True)
    return float(-log_p[np.arange(len(y)), y].sum())
'''),
    "mean_not_sum": wrong("the mean over every (B, C) entry of log_p * one_hot", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1, keepdims=True)
    one_hot = np.eye(logits.shape[1])[y]
    return float(-np.mean(log_p * one_hot))
'''),
    "float32_result": wrong("returns np.float32", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1, keepdims=True)
    return np.float32(-np.mean(log_p[np.arange(len(y)), y]))
'''),
    "integer_result": na("exp and log return floats: an integer loss needs an explicit cast"),
    "mutates_input": wrong("shifts logits in place", '''
def cross_entropy(logits, y):
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y]))
'''),
    "mutates_upstream": na(NO_UPSTREAM),
    "wrong_sign": wrong("the mean log-likelihood, without the minus", '''
def cross_entropy(logits, y):
    log_p = logits - logsumexp(logits, axis=-1, keepdims=True)
    return float(np.mean(log_p[np.arange(len(y)), y]))
'''),
    "transposed_result": na("the result is one number"),
    "accumulated_not_set": derived("adds each loss to a running total kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the batch total keeps only the last row", '''
import math

def cross_entropy(logits, y):
    total = 0.0
    for row, label in zip(logits, y):
        m = max(row)
        total = m + math.log(sum(math.exp(v - m) for v in row)) - row[label]
    return total / len(y)
'''),
    "log_of_softmax": wrong("-log(softmax(logits))", '''
def cross_entropy(logits, y):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(y)), y]).mean())
'''),
})

# ------------------------------------------------------------------------------------------------ cross_entropy_grad
function("cross_entropy_grad", "lab03", "logits, y", "array", given=("np", "logsumexp"))
solution("cross_entropy_grad", '''
def cross_entropy_grad(logits, y):
    p = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
''')
honest("cross_entropy_grad", "loops", '''
import math

def cross_entropy_grad(logits, y):
    B, C = logits.shape
    g = np.zeros((B, C))
    for b in range(B):
        m = max(logits[b])
        e = [math.exp(v - m) for v in logits[b]]
        for c in range(C):
            g[b, c] = (e[c] / sum(e) - (c == y[b])) / B
    return g
''')
honest("cross_entropy_grad", "eye_one_hot", '''
def cross_entropy_grad(logits, y):
    p = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    return (p - np.eye(logits.shape[1])[y]) / len(y)
''')
honest("cross_entropy_grad", "log_softmax_exp", '''
def cross_entropy_grad(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
    onehot = (np.arange(logits.shape[1])[None, :] == y[:, None]).astype(float)
    return np.divide(p - onehot, logits.shape[0])
''')
cells("cross_entropy_grad", {
    "no_max_subtraction": wrong("softmax from a plain exp", '''
def cross_entropy_grad(logits, y):
    e = np.exp(logits)
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "whole_array_max": wrong("subtracts the max of the whole batch", '''
def cross_entropy_grad(logits, y):
    e = np.exp(logits - logits.max())
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "whole_array_sum": wrong("normalises by the sum of the whole batch", '''
def cross_entropy_grad(logits, y):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum()
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "wrong_axis": wrong("softmax along axis 0", '''
def cross_entropy_grad(logits, y):
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    p = e / e.sum(axis=0, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "missing_keepdims": wrong("row sums without keepdims", '''
def cross_entropy_grad(logits, y):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": na(TWO_D),
    "assignment_not_add_at": na("each row gets its -1 once (the rows arange(B) never repeat): "
                                "fancy assignment is exact"),
    "sum_not_mean": wrong("forgets the 1/B of the mean", '''
def cross_entropy_grad(logits, y):
    p = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    p[np.arange(len(y)), y] -= 1.0
    return p
'''),
    "mean_not_sum": wrong("divides by every entry (B C) instead of B", '''
def cross_entropy_grad(logits, y):
    p = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    p[np.arange(len(y)), y] -= 1.0
    return p / logits.size
'''),
    "float32_result": derived("returns float32", "float32"),
    "integer_result": wrong("fills np.zeros_like(logits): integer logits give an integer gradient", '''
def cross_entropy_grad(logits, y):
    g = np.zeros_like(logits)
    for b in range(len(g)):
        e = np.exp(logits[b] - logits[b].max())
        g[b] = e / e.sum()
        g[b, y[b]] -= 1.0
    return g / len(y)
'''),
    "mutates_input": wrong("shifts logits in place", '''
def cross_entropy_grad(logits, y):
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
    "mutates_upstream": na(NO_UPSTREAM),
    "wrong_sign": wrong("(one_hot - softmax) / B", '''
def cross_entropy_grad(logits, y):
    p = np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))
    return (np.eye(logits.shape[1])[y] - p) / len(y)
'''),
    "transposed_result": derived("returns the (C, B) transpose", "transpose"),
    "accumulated_not_set": derived("adds each gradient into a buffer kept across calls", "accumulate"),
    "set_not_accumulated": wrong("the normaliser keeps only the last exponential", '''
def cross_entropy_grad(logits, y):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    total = np.zeros((len(e), 1))
    for c in range(e.shape[1]):
        total = e[:, c:c + 1]
    p = e / total
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)
'''),
})
