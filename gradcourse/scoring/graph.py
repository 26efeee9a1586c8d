"""A lab 04 computation graph, sent to the sandbox as numbers and rebuilt there with the learner's ``Tensor``.

``backward(root)`` takes a graph of objects, which cannot cross the wire. The grader builds the graph with the
course's ``Tensor`` (each node knows its ``op``); :func:`describe` lists its nodes parents-first as plain data;
inside the sandbox :func:`rebuild` replays the same operations with the notebook's ``Tensor`` class, so the
learner's ``backward`` walks closures made by the notebook's own code; only the nodes' ``.grad`` come back and
the grader copies them into its nodes (:func:`take_grads`) for the check to read.

Imported on both sides: standard library and NumPy only.
"""

import numpy as np

BINARY = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "matmul": lambda a, b: a @ b}
UNARY = {"relu": lambda a: a.relu(), "sum": lambda a: a.sum()}


def is_node(obj) -> bool:
    return all(hasattr(obj, attr) for attr in ("data", "grad", "parents", "op"))


def nodes_of(root) -> list:
    """Every node reachable from ``root``, each once, parents before the nodes made from them."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node.parents))
    return order


def describe(root) -> dict:
    nodes = nodes_of(root)
    index = {id(n): i for i, n in enumerate(nodes)}
    described = []
    for node in nodes:
        op, extra = (node.op, None) if not isinstance(node.op, tuple) else (node.op[0], node.op[1])
        entry = {"op": op or "leaf", "in": [index[id(p)] for p in node.parents]}
        if op is None:
            entry["data"] = np.array(node.data)
        if extra is not None:
            entry["arg"] = np.array(extra)
        described.append(entry)
    return {"nodes": described}


def rebuild(spec: dict, tensor_cls) -> list:
    """The same graph made with ``tensor_cls``; the last node is the root."""
    built = []
    for entry in spec["nodes"]:
        op, parents = entry["op"], [built[i] for i in entry["in"]]
        if op == "leaf":
            built.append(tensor_cls(np.array(entry["data"])))
        elif op in BINARY:
            built.append(BINARY[op](*parents))
        elif op in UNARY:
            built.append(UNARY[op](*parents))
        elif op == "cross_entropy":
            built.append(parents[0].cross_entropy(np.array(entry["arg"])))
        else:
            raise ValueError(f"unknown operation {op!r}")
    return built


def grads(built: list) -> list:
    return [np.asarray(node.grad, dtype=np.float64) for node in built]


def take_grads(root, sent: list) -> None:
    """Give the grader's nodes the gradients the learner's run produced (a wrong shape is left at zero)."""
    for node, grad in zip(nodes_of(root), sent):
        if isinstance(grad, np.ndarray) and grad.shape == np.shape(node.data):
            node.grad = grad.astype(np.float64)
