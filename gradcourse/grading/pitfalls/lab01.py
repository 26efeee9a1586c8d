"""Lab 01: the chain rule through a two-layer network."""
from . import cells, derived, function, honest, na, solution, wrong

ONE_EXAMPLE = "one example x of shape (n,): no batch, no mean"

function("two_layer_grads", "lab01", "W1, W2, x, gy", "tuple", given=("np",))
solution("two_layer_grads", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    a1 = np.maximum(z1, 0.0)
    g1 = (W2.T @ gy) * (z1 > 0)
    return np.outer(g1, x), np.outer(gy, a1), W1.T @ g1
''')
honest("two_layer_grads", "loops", '''
def two_layer_grads(W1, W2, x, gy):
    h, n = W1.shape
    m = W2.shape[0]
    z1 = [sum(W1[i, k] * x[k] for k in range(n)) for i in range(h)]
    a1 = [max(v, 0.0) for v in z1]
    g1 = [sum(W2[j, i] * gy[j] for j in range(m)) * (1.0 if z1[i] > 0 else 0.0) for i in range(h)]
    dW1 = np.array([[g1[i] * x[k] for k in range(n)] for i in range(h)])
    dW2 = np.array([[gy[j] * a1[i] for i in range(h)] for j in range(m)])
    dx = np.array([sum(W1[i, k] * g1[i] for i in range(h)) for k in range(n)])
    return dW1, dW2, dx
''')
honest("two_layer_grads", "einsum", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = np.einsum("ik,k->i", W1, x)
    a1 = np.maximum(z1, 0)
    g1 = np.einsum("ji,j->i", W2, gy) * (z1 > 0)
    return np.einsum("i,k->ik", g1, x), np.einsum("j,i->ji", gy, a1), np.einsum("ik,i->k", W1, g1)
''')
honest("two_layer_grads", "jacobian_chain", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    D = np.diag((z1 > 0).astype(float))
    J = W2 @ D @ W1                       # dy/dx, shape (m, n)
    a1 = D @ z1
    g1 = D @ W2.T @ gy
    return g1[:, None] * x[None, :], gy[:, None] * a1[None, :], J.T @ gy
''')
cells("two_layer_grads", {
    "no_max_subtraction": na("no exponential in this function"),
    "whole_array_max": na("no maximum over an axis (relu is elementwise)"),
    "whole_array_sum": na("the only sums are the matrix products'"),
    "wrong_axis": wrong("W2^T gy as a sum over the wrong axis", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    a1 = np.maximum(z1, 0.0)
    g1 = (W2 * gy[:, None]).sum(axis=1) * (z1 > 0)
    return np.outer(g1, x), np.outer(gy, a1), W1.T @ g1
'''),
    "missing_keepdims": na("vectors only: no reduced axis to keep"),
    "forward_differences": na("the analytic gradients are asked for: no finite differences"),
    "batched_T": na("W1 and W2 are 2-D and x one (n,) example: `.T` is the right transpose"),
    "assignment_not_add_at": na("nothing is scattered by index"),
    "sum_not_mean": na(ONE_EXAMPLE),
    "mean_not_sum": na(ONE_EXAMPLE),
    "float32_result": derived("returns float32 gradients", "float32"),
    "integer_result": na("the inputs are float64 and every operation keeps float64"),
    "mutates_input": wrong("masks W2's columns in place to get g1", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    a1 = np.maximum(z1, 0.0)
    W2 *= (z1 > 0)
    g1 = W2.T @ gy
    return np.outer(g1, x), np.outer(gy, a1), W1.T @ g1
'''),
    "mutates_upstream": derived("zeroes gy after using it", "zero:gy"),
    "wrong_sign": derived("every gradient negated", "negate"),
    "transposed_result": wrong("dW1 = x g1^T (transposed)", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    g1 = (W2.T @ gy) * (z1 > 0)
    return np.outer(x, g1), np.outer(gy, np.maximum(z1, 0)), W1.T @ g1
'''),
    "accumulated_not_set": derived("adds the gradients into buffers kept across calls", "accumulate"),
    "set_not_accumulated": wrong("dx keeps only the last hidden unit's contribution", '''
def two_layer_grads(W1, W2, x, gy):
    h, n = W1.shape
    z1 = W1 @ x
    g1 = (W2.T @ gy) * (z1 > 0)
    dx = np.zeros(n)
    for i in range(h):
        for k in range(n):
            dx[k] = W1[i, k] * g1[i]
    return np.outer(g1, x), np.outer(gy, np.maximum(z1, 0.0)), dx
'''),
    "preactivation_in_dW2": wrong("dW2 = gy z1^T", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    g1 = (W2.T @ gy) * (z1 > 0)
    return np.outer(g1, x), np.outer(gy, z1), W1.T @ g1
'''),
    "no_relu_mask": wrong("g1 = W2^T gy, unmasked", '''
def two_layer_grads(W1, W2, x, gy):
    z1 = W1 @ x
    g1 = W2.T @ gy
    return np.outer(g1, x), np.outer(gy, np.maximum(z1, 0)), W1.T @ g1
'''),
})
