"""Lab 05: the backward passes of layer norm and of scaled dot-product attention."""
from . import cells, derived, function, honest, na, solution, wrong

NO_DIFFERENCES = "the exact backward is asked for: no finite differences"
NO_SCATTER = "nothing is scattered by index"

# ------------------------------------------------------------------------------------------------ layernorm_backward
function("layernorm_backward", "lab05", "x, gamma, dy, eps=1e-5", "tuple", given=("np",))
solution("layernorm_backward", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
''')
honest("layernorm_backward", "small_steps", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    D = x.shape[-1]
    mu = np.mean(x, axis=-1, keepdims=True)
    c = x - mu
    v = np.mean(c * c, axis=-1, keepdims=True)
    r = (v + eps) ** -0.5
    xhat = c * r
    leading = tuple(range(x.ndim - 1))
    dgamma = np.sum(dy * xhat, axis=leading)
    dbeta = np.sum(dy, axis=leading)
    dxhat = dy * gamma
    dc = dxhat * r
    dr = np.sum(dxhat * c, axis=-1, keepdims=True)
    dv = -0.5 * r ** 3 * dr
    dc = dc + 2.0 * c * dv / D
    dmu = -np.sum(dc, axis=-1, keepdims=True)
    return dc + dmu / D, dgamma, dbeta
''')
honest("layernorm_backward", "jacobian_rows", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    D = x.shape[-1]
    rows = np.asarray(x, dtype=float).reshape(-1, D)
    grads = np.asarray(dy, dtype=float).reshape(-1, D)
    dx = np.empty_like(rows)
    dgamma, dbeta = np.zeros(D), np.zeros(D)
    for i in range(rows.shape[0]):
        c = rows[i] - rows[i].mean()
        r = 1.0 / np.sqrt(c @ c / D + eps)
        xhat = c * r
        J = r * (np.eye(D) - 1.0 / D - np.outer(xhat, xhat) / D)
        dx[i] = J @ (grads[i] * gamma)
        dgamma += grads[i] * xhat
        dbeta += grads[i]
    return dx.reshape(np.shape(x)), dgamma, dbeta
''')
honest("layernorm_backward", "flat_rows", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    D = x.shape[-1]
    xs, gs = x.reshape(-1, D), dy.reshape(-1, D)
    xhat = (xs - xs.mean(axis=1)[:, None]) / np.sqrt(np.var(xs, axis=1) + eps)[:, None]
    g = gs * gamma
    inner = np.einsum("bd,bd->b", g, xhat)[:, None]
    dx = (D * g - g.sum(axis=1)[:, None] - xhat * inner) / (D * np.sqrt(np.var(xs, axis=1) + eps)[:, None])
    return dx.reshape(x.shape), (gs * xhat).sum(axis=0), gs.sum(axis=0)
''')
cells("layernorm_backward", {
    "no_max_subtraction": na("no exponential in layer norm"),
    "whole_array_max": na("no maximum in layer norm"),
    "whole_array_sum": wrong("the means of the dx formula over the whole array", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean() - xhat * (g * xhat).mean())
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "wrong_axis": wrong("the statistics over axis 0, the rows, instead of the features", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=0, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=0, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=0, keepdims=True) - xhat * (g * xhat).mean(axis=0, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "missing_keepdims": wrong("the row means of the dx formula without keepdims", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1) - xhat * (g * xhat).mean(axis=-1))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": wrong("`.T` to broadcast the row statistics: right for (D,) and (B, D), wrong with more axes", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    xhat = ((x.T - x.mean(axis=-1)) / np.sqrt(x.var(axis=-1) + eps)).T
    r = 1.0 / np.sqrt(x.var(axis=-1) + eps)
    g = dy * gamma
    dx = (r * (g.T - g.mean(axis=-1) - xhat.T * (g * xhat).mean(axis=-1))).T
    return dx, (dy * xhat).reshape(-1, x.shape[-1]).sum(axis=0), dy.reshape(-1, x.shape[-1]).sum(axis=0)
'''),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": wrong("the mean's term as a sum: the 1/D forgotten", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.sum(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "mean_not_sum": wrong("dgamma and dbeta as means over the rows", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).mean(axis=leading), dy.mean(axis=leading)
'''),
    "float32_result": derived("returns float32 gradients", "float32"),
    "integer_result": wrong("dgamma and dbeta written into np.zeros_like(gamma): integers for an integer gamma", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    dgamma, dbeta = np.zeros_like(gamma), np.zeros_like(gamma)
    dgamma[...] = (dy * xhat).sum(axis=leading)
    dbeta[...] = dy.sum(axis=leading)
    return dx, dgamma, dbeta
'''),
    "mutates_input": wrong("centres x in place (`x -= mean`)", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    x -= x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt((x ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = x * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "mutates_upstream": wrong("multiplies dy by gamma in place (after dgamma and dbeta)", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    dgamma, dbeta = (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
    dy *= gamma
    dx = r * (dy - dy.mean(axis=-1, keepdims=True) - xhat * (dy * xhat).mean(axis=-1, keepdims=True))
    return dx, dgamma, dbeta
'''),
    "wrong_sign": derived("the three gradients negated", "negate"),
    "transposed_result": derived("returns the transpose of the last two axes", "transpose"),
    "accumulated_not_set": derived("adds the gradients into buffers kept across calls", "accumulate"),
    "set_not_accumulated": wrong("dgamma and dbeta keep the last row's contribution only", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    D = x.shape[-1]
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    for dy_row, xhat_row in zip(dy.reshape(-1, D), xhat.reshape(-1, D)):
        dgamma = dy_row * xhat_row
        dbeta = dy_row.copy()
    return dx, dgamma, dbeta
'''),
    "ln_no_variance_term": wrong("r treated as a constant: the term along xhat is missing", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "ln_no_mean_term": wrong("the mean treated as a constant: the -mean(g) term is missing", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "dgamma_wrong_axes": wrong("dgamma and dbeta summed over axis 0 only, or over the features", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)
''', '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=-1), dy.sum(axis=-1)
'''),
    "unbiased_variance": wrong("the gradient of layer norm with np.var(..., ddof=1)", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    D = x.shape[-1]
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(np.var(x, axis=-1, ddof=1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).sum(axis=-1, keepdims=True) / (D - 1))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
''', '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(x.var(axis=-1, ddof=1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "eps_misplaced": wrong("eps fixed at 1e-5, or added to the standard deviation", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
''', '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / (np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True)) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    g = dy * gamma
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
    "gamma_forgotten": wrong("dx from dy, as if gamma were 1", '''
def layernorm_backward(x, gamma, dy, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * r
    leading = tuple(range(x.ndim - 1))
    dx = r * (dy - dy.mean(axis=-1, keepdims=True) - xhat * (dy * xhat).mean(axis=-1, keepdims=True))
    return dx, (dy * xhat).sum(axis=leading), dy.sum(axis=leading)
'''),
})

# ------------------------------------------------------------------------------------------------ attention_backward
function("attention_backward", "lab05", "Q, K, V, dO, causal=False", "tuple", given=("np",))
solution("attention_backward", '''
def attention_backward(Q, K, V, dO, causal=False):
    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ np.swapaxes(K, -1, -2) * scale
    if causal:
        T = S.shape[-1]
        S = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, S)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True)) * scale
    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV
''')
honest("attention_backward", "einsum", '''
def attention_backward(Q, K, V, dO, causal=False):
    d = Q.shape[-1]
    S = np.einsum("...qd,...kd->...qk", Q, K) / np.sqrt(d)
    if causal:
        S = S + np.triu(np.full(S.shape[-2:], -np.inf), k=1)
    S = S - S.max(axis=-1, keepdims=True)
    P = np.exp(S) / np.exp(S).sum(axis=-1, keepdims=True)
    dV = np.einsum("...qk,...qv->...kv", P, dO)
    dP = np.einsum("...qv,...kv->...qk", dO, V)
    dS = P * (dP - np.einsum("...qk,...qk->...q", P, dP)[..., None])
    dQ = np.einsum("...qk,...kd->...qd", dS, K) / np.sqrt(d)
    dK = np.einsum("...qk,...qd->...kd", dS, Q) / np.sqrt(d)
    return dQ, dK, dV
''')
honest("attention_backward", "rowdot_from_output", '''
def attention_backward(Q, K, V, dO, causal=False):
    # P from the row log-sum-exp, and sum(P * dP) as <dO, O>: what a fused kernel keeps from the forward pass
    d = Q.shape[-1]
    S = np.matmul(Q, np.moveaxis(K, -1, -2)) / np.sqrt(d)
    if causal:
        above = np.triu_indices(S.shape[-1], k=1)
        S[..., above[0], above[1]] = -np.inf
    m = S.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(S - m).sum(axis=-1, keepdims=True))
    P = np.exp(S - lse)
    O = P @ V
    rowdot = np.sum(dO * O, axis=-1, keepdims=True)
    dS = P * (dO @ np.moveaxis(V, -1, -2) - rowdot) / np.sqrt(d)
    return dS @ K, np.moveaxis(dS, -1, -2) @ Q, np.moveaxis(P, -1, -2) @ dO
''')
honest("attention_backward", "loop_over_heads", '''
def attention_backward(Q, K, V, dO, causal=False):
    lead, (tq, d), (tk, dv) = Q.shape[:-2], Q.shape[-2:], V.shape[-2:]
    Qs, Ks, Vs, dOs = Q.reshape(-1, tq, d), K.reshape(-1, tk, d), V.reshape(-1, tk, dv), dO.reshape(-1, tq, dv)
    dQ, dK, dV = np.empty_like(Qs), np.empty_like(Ks), np.empty_like(Vs)
    for h in range(Qs.shape[0]):
        S = Qs[h] @ Ks[h].T / np.sqrt(d)
        if causal:
            S[np.arange(tq)[:, None] < np.arange(tk)] = -np.inf
        P = np.exp(S - S.max(axis=1)[:, None])
        P /= P.sum(axis=1)[:, None]
        dV[h] = P.T @ dOs[h]
        dP = dOs[h] @ Vs[h].T
        dS = P * (dP - (P * dP).sum(axis=1)[:, None]) / np.sqrt(d)
        dQ[h] = dS @ Ks[h]
        dK[h] = dS.T @ Qs[h]
    return dQ.reshape(Q.shape), dK.reshape(K.shape), dV.reshape(V.shape)
''')


def _attention(softmax="", backward="", forward=""):
    """The lab's solution with one piece replaced: the lines that compute P, dS, or the whole of what follows P."""
    scores = ('''    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ np.swapaxes(K, -1, -2) * scale
    if causal:
        T = S.shape[-1]
        S = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, S)
''')
    softmax = softmax or ('''    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
''')
    backward = backward or ('''    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True)) * scale
    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV
''')
    return "def attention_backward(Q, K, V, dO, causal=False):\n" + (forward or scores) + softmax + backward


def _dS(inner):
    return ('''    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
''' f"    dS = P * (dP - {inner}) * scale\n" '''    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV
''')


cells("attention_backward", {
    "no_max_subtraction": wrong("exp of the raw scores", _attention(softmax='''    P = np.exp(S)
    P = P / P.sum(axis=-1, keepdims=True)
''')),
    "whole_array_max": wrong("one maximum for the whole array, or for a whole head",
                             _attention(softmax='''    P = np.exp(S - S.max())
    P = P / P.sum(axis=-1, keepdims=True)
'''), _attention(softmax='''    P = np.exp(S - S.max(axis=(-2, -1), keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
''')),
    "whole_array_sum": wrong("the softmax VJP's inner product over the whole array",
                             _attention(backward=_dS("np.sum(P * dP)"))),
    "wrong_axis": wrong("the softmax recomputed over the queries (axis -2)",
                        _attention(softmax='''    P = np.exp(S - S.max(axis=-2, keepdims=True))
    P = P / P.sum(axis=-2, keepdims=True)
''')),
    "missing_keepdims": wrong("the softmax VJP's inner product without keepdims",
                              _attention(backward=_dS("np.sum(P * dP, axis=-1)"))),
    "forward_differences": na(NO_DIFFERENCES),
    "batched_T": wrong("`.T` for every transpose: right for one head, wrong with batch and head axes", '''
def attention_backward(Q, K, V, dO, causal=False):
    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ K.T * scale
    if causal:
        T = S.shape[-1]
        S = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, S)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
    dP = dO @ V.T
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True)) * scale
    return dS @ K, dS.T @ Q, P.T @ dO
'''),
    "assignment_not_add_at": na(NO_SCATTER),
    "sum_not_mean": na("no mean anywhere in attention: the softmax's weights already sum to 1"),
    "mean_not_sum": wrong("the softmax VJP's inner product as a mean over the keys",
                          _attention(backward=_dS("np.mean(P * dP, axis=-1, keepdims=True)"))),
    "float32_result": derived("returns float32 gradients", "float32"),
    "integer_result": na("Q, K, V and dO are float64 and every operation here keeps float64"),
    "mutates_input": wrong("folds the scale into Q in place (`Q /= sqrt(d)`)", '''
def attention_backward(Q, K, V, dO, causal=False):
    d = Q.shape[-1]
    Q /= np.sqrt(d)
    S = Q @ np.swapaxes(K, -1, -2)
    if causal:
        T = S.shape[-1]
        S = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, S)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True))
    return dS @ K / np.sqrt(d), np.swapaxes(dS, -1, -2) @ Q, np.swapaxes(P, -1, -2) @ dO
'''),
    "mutates_upstream": derived("zeroes dO after using it", "zero:dO"),
    "wrong_sign": derived("the three gradients negated", "negate"),
    "transposed_result": derived("returns the transposes of dQ, dK and dV", "transpose"),
    "accumulated_not_set": derived("adds the gradients into buffers kept across calls", "accumulate"),
    "set_not_accumulated": wrong("dV keeps the last query's contribution only", _attention(backward='''    dV = 0.0
    for i in range(P.shape[-2]):
        dV = P[..., i, :, None] * dO[..., i, None, :]
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True)) * scale
    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV
''')),
    "softmax_vjp_columnwise": wrong("the inner product of the softmax VJP over the queries",
                                    _attention(backward=_dS("np.sum(P * dP, axis=-2, keepdims=True)"))),
    "scale_forgotten": wrong("dQ and dK without 1/sqrt(d); with 1/d; dK without it",
                             _attention(backward='''    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True))
    return dS @ K, np.swapaxes(dS, -1, -2) @ Q, dV
'''), _attention(backward='''    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True)) * scale
    return dS @ K * scale, np.swapaxes(dS, -1, -2) @ Q * scale, dV
'''), _attention(backward='''    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True))
    return dS @ K * scale, np.swapaxes(dS, -1, -2) @ Q, dV
''')),
    "mask_after_softmax": wrong("P computed without the mask, then zeroed above the diagonal",
                                _attention(forward='''    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ np.swapaxes(K, -1, -2) * scale
''', softmax='''    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
    if causal:
        T = S.shape[-1]
        P = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), 0.0, P)
''')),
    "causal_mask_wrong": wrong("the past masked (j < i); causal ignored; the diagonal masked too",
                               _attention(forward='''    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ np.swapaxes(K, -1, -2) * scale
    if causal:
        T = S.shape[-1]
        S = np.where(np.tril(np.ones((T, T), dtype=bool), k=-1), -np.inf, S)
'''), _attention(forward='''    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ np.swapaxes(K, -1, -2) * scale
'''), _attention(forward='''    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ np.swapaxes(K, -1, -2) * scale
    if causal:
        T = S.shape[-1]
        S = np.where(np.triu(np.ones((T, T), dtype=bool)), -np.inf, S)
''')),
})
