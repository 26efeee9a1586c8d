"""The rows of the matrix: every pitfall the chapters and labs name, and where they name it."""
from . import pitfall

SMX = "chapter softmax-cross-entropy"
OPS = "chapter tensor-ops"
CHK = "chapter gradient-checks"
MMC = "chapter matmul-fused-ce"

# -- general: may occur in any function that computes what the row is about
pitfall("no_max_subtraction", "exp without subtracting the (row) maximum: overflow at large logits",
        "exp sin restar el máximo (de la fila): desbordamiento con logits grandes", f"{SMX}; lab00 B1; lab03 §3")
pitfall("whole_array_max", "a maximum over the whole array instead of per row",
        "un máximo de todo el array en vez de uno por fila", f"{SMX}; lab00 B1; lab03 §3")
pitfall("whole_array_sum", "a sum (or count) over the whole array instead of per row or per reduced axis",
        "una suma (o un recuento) de todo el array en vez de por fila o por eje reducido",
        "lab00 B1; lab02 §2; lab03 §2")
pitfall("wrong_axis", "a reduction or split along the wrong axis (axis 0 instead of the last, or the reverse)",
        "una reducción o un corte por el eje equivocado (el 0 en vez del último, o al revés)",
        f"{OPS}; lab02 §1, §4; lab03 §2")
pitfall("missing_keepdims", "a reduced axis not kept (keepdims) before broadcasting back",
        "un eje reducido que no se conserva (keepdims) antes de difundir de vuelta",
        f"{OPS} pitfall 3; lab02; lab03 §2")
pitfall("forward_differences", "forward differences (f(z + h) - f(z)) / h instead of centred ones",
        "diferencias hacia delante (f(z + h) - f(z)) / h en vez de centradas", f"{CHK}; lab00 B3")
pitfall("batched_T", "`.T` on a batched array (it reverses every axis, not the last two)",
        "`.T` sobre un array por lotes (invierte todos los ejes, no solo los dos últimos)",
        f"{MMC}; {CHK} bug 4; lab03 §1")
pitfall("assignment_not_add_at", "assignment (`out[index] = grad` or `+=`) instead of np.add.at",
        "asignación (`out[index] = grad` o `+=`) en vez de np.add.at", f"{OPS} pitfall 4; {CHK}; lab02 §3")
pitfall("sum_not_mean", "a sum where the contract asks for a mean (the missing 1/B or 1/N)",
        "una suma donde el contrato pide una media (falta 1/B o 1/N)", "lab00 B4; lab02 §2; lab03 §3")
pitfall("mean_not_sum", "a mean (a division) where the formula sums",
        "una media (una división) donde la fórmula suma", "lab02 §1-2; lab03 §1-3")
pitfall("float32_result", "dtype drift: a float32 result where the contract says float64",
        "deriva del dtype: un resultado float32 donde el contrato pide float64", f"{OPS} pitfall 5; lab02 §5")
pitfall("integer_result", "dtype drift: integer results (np.zeros_like of an integer input, an integer buffer)",
        "deriva del dtype: resultados enteros (np.zeros_like de una entrada entera, un búfer entero)",
        f"{OPS} pitfall 5; lab00 B1")
pitfall("mutates_input", "writing into an input array (`z -= z.max()`)",
        "escribir en un array de entrada (`z -= z.max()`)", "lab00 B1; lab03 §3")
pitfall("mutates_upstream", "writing into the upstream gradient", "escribir en el gradiente entrante",
        f"{OPS} pitfall 2; {CHK} bug 3; lab02 §1")
pitfall("wrong_sign", "a wrong sign", "un signo equivocado", f"{SMX} (A3); lab00 A2")
pitfall("transposed_result", "a transposed result", "un resultado traspuesto", f"{CHK} bug 4; lab00 B3; lab01")
pitfall("accumulated_not_set", "a result added into a buffer that is never reset (accumulated instead of set)",
        "un resultado sumado a un búfer que nunca se pone a cero (acumulado en vez de asignado)",
        f"{CHK} bug 2; lab04 §4")
pitfall("set_not_accumulated", "contributions that overwrite each other instead of adding up (set instead of "
        "accumulated)", "contribuciones que se sobrescriben en vez de sumarse (asignadas en vez de acumuladas)",
        f"{CHK} bug 2; lab04 §1")

# -- specific: a mistake in one function's own formula
pitfall("log_of_softmax", "np.log(softmax(z)): log(0) = -inf once a probability underflows",
        "np.log(softmax(z)): log(0) = -inf en cuanto una probabilidad se anula", f"{SMX}; lab00 B4; lab03 §3",
        only=("ce_loss", "cross_entropy"))
pitfall("step_too_small", "a step h so small (1e-12) that rounding swamps the difference",
        "un paso h tan pequeño (1e-12) que el redondeo se come la diferencia", f"{CHK}; lab00 B3",
        only=("jacobian_fd", "grad_fd"))
pitfall("half_step", "dividing by h instead of 2h in a centred difference",
        "dividir entre h en vez de 2h en una diferencia centrada", f"{CHK}; lab00 B3", only=("jacobian_fd", "grad_fd"))
pitfall("jacobian_index_typo", "p_i (δ_ij - p_i) instead of p_i (δ_ij - p_j)",
        "p_i (δ_ij - p_i) en vez de p_i (δ_ij - p_j)", f"{SMX}; lab00 A1", only=("softmax_jacobian",))
pitfall("preactivation_in_dW2", "dW2 built from z1 instead of a1 = relu(z1)",
        "dW2 construido con z1 en vez de a1 = relu(z1)", "chapter chain-rule; lab01", only=("two_layer_grads",))
pitfall("no_relu_mask", "no relu mask on the way back", "sin la máscara de la relu en el camino de vuelta",
        "chapter chain-rule; lab01", only=("two_layer_grads",))
pitfall("one_leading_axis_only", "only one extra leading axis summed away",
        "solo se suma uno de los ejes iniciales sobrantes", f"{OPS}; lab02 §1", only=("unbroadcast",))
pitfall("expands_with_keepdims", "reduced axes re-inserted even though keepdims=True kept them",
        "ejes reducidos reinsertados aunque keepdims=True ya los conservó", f"{OPS}; lab02 §2",
        only=("sum_backward",))
pitfall("axis_none_unhandled", "axis=None not handled", "axis=None sin tratar", "lab02 §2",
        only=("sum_backward", "mean_backward"))
pitfall("only_cdf", "Φ(x) only: the product rule's x φ(x) forgotten",
        "solo Φ(x): se olvida el término x φ(x) de la regla del producto", f"{OPS}; lab02 §5", only=("gelu_grad",))
pitfall("tanh_approximation", "the derivative of the tanh approximation of GELU",
        "la derivada de la aproximación con tanh de la GELU", f"{OPS}; lab02 §5", only=("gelu_grad",))
pitfall("one_dimensional_only", "a loop over the first axis: right for (N,), wrong for 0-d and n-d arrays",
        "un bucle sobre el primer eje: bien con (N,), mal con arrays de dimensión 0 o n", "lab02 §5",
        only=("gelu_grad",))
pitfall("missing_unbroadcast", "broadcast batch axes not summed back (no unbroadcast)",
        "ejes de lote difundidos sin sumar de vuelta (sin unbroadcast)", f"{OPS} pitfall 1; {CHK} bug 1; lab03 §1",
        only=("matmul_backward",))
pitfall("preorder_dfs", "nodes visited depth-first in pre-order: a node runs before all its consumers",
        "nodos recorridos en profundidad en preorden: un nodo se ejecuta antes de que lo hayan hecho todos sus "
        "consumidores",
        "lab04 §1", only=("backward",))
pitfall("no_visited_set", "no visited set: a shared node's _backward runs more than once",
        "sin conjunto de visitados: el _backward de un nodo compartido se ejecuta más de una vez", "lab04 §1",
        only=("backward",))
pitfall("forward_order", "topological order not reversed: leaves first, the loss last",
        "orden topológico sin invertir: primero las hojas, la pérdida al final", "lab04 §1", only=("backward",))
pitfall("no_seed", "root.grad never set to ones", "root.grad nunca se pone a unos", "lab04 §1",
        only=("backward",))

NRM = "chapter normalization-routing"
ATT = "chapter attention"
LN, ATTN = ("layernorm_backward",), ("attention_backward",)
pitfall("ln_no_variance_term", "layer norm: the variance's own gradient forgotten (r = 1/sqrt(var + eps) treated as a "
        "constant)", "normalización de capa: se olvida el gradiente de la propia varianza (r = 1/sqrt(var + eps) "
        "tratado como una constante)", f"{NRM}; lab05 §1", only=LN)
pitfall("ln_no_mean_term", "layer norm: the mean's gradient forgotten (the mean treated as a constant)",
        "normalización de capa: se olvida el gradiente de la media (la media tratada como una constante)",
        f"{NRM}; lab05 §1", only=LN)
pitfall("dgamma_wrong_axes", "dgamma and dbeta reduced over the wrong axes (the features, or the first axis only)",
        "dgamma y dbeta reducidos sobre los ejes equivocados (las características, o solo el primer eje)",
        f"{NRM}; lab05 §1", only=LN)
pitfall("unbiased_variance", "the unbiased variance (ddof=1) where layer norm divides by D",
        "la varianza insesgada (ddof=1) donde la normalización de capa divide entre D", f"{NRM}; lab05 §1", only=LN)
pitfall("eps_misplaced", "eps ignored (a fixed 1e-5) or added outside the square root",
        "eps ignorado (un 1e-5 fijo) o sumado fuera de la raíz cuadrada", f"{NRM}; lab05 §1", only=LN)
pitfall("gamma_forgotten", "dx computed from dy instead of gamma * dy",
        "dx calculado a partir de dy en vez de gamma * dy", f"{NRM}; lab05 §1", only=LN)
pitfall("softmax_vjp_columnwise", "the softmax VJP's inner product taken over the queries (axis -2), not the keys",
        "el producto escalar del VJP de la softmax tomado sobre las consultas (eje -2), no sobre las claves",
        f"{ATT}; lab05 §2", only=ATTN)
pitfall("scale_forgotten", "the scale 1/sqrt(d) forgotten (or applied twice) in dQ and dK",
        "la escala 1/sqrt(d) olvidada (o aplicada dos veces) en dQ y dK", f"{ATT}; lab05 §2", only=ATTN)
pitfall("mask_after_softmax", "the causal mask applied after the softmax (P zeroed above the diagonal)",
        "la máscara causal aplicada después de la softmax (P anulada por encima de la diagonal)",
        f"{ATT}; lab05 §2", only=ATTN)
pitfall("causal_mask_wrong", "the wrong causal mask (the past masked, the diagonal too) or causal=True ignored",
        "una máscara causal equivocada (el pasado enmascarado, también la diagonal) o causal=True ignorado",
        f"{ATT}; lab05 §2", only=ATTN)
