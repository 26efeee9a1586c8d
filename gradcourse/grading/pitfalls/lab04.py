"""Lab 04: the engine's backward, which orders the calls of the given local rules."""
from . import cells, function, honest, na, solution, wrong

ORDER_ONLY = "backward only orders the calls: the local rules (the given _backward closures) do this arithmetic"
NOTHING_RETURNED = "backward returns nothing: the gradients are in the leaves' .grad"

function("backward", "lab04", "root", "none", given=("np", "Tensor"))
solution("backward", '''
def backward(root):
    order, seen = [], set()

    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(root)
    root.grad = np.ones_like(root.data)
    for node in reversed(order):
        node._backward()
''')
honest("backward", "kahn", '''
from collections import deque

def backward(root):
    nodes, stack = {id(root): root}, [root]
    while stack:
        for p in stack.pop().parents:
            if id(p) not in nodes:
                nodes[id(p)] = p
                stack.append(p)
    pending = {k: 0 for k in nodes}
    for n in nodes.values():
        for p in n.parents:
            pending[id(p)] += 1
    root.grad = np.ones_like(root.data)
    ready = deque([root])
    while ready:
        n = ready.popleft()
        n._backward()
        for p in n.parents:
            pending[id(p)] -= 1
            if pending[id(p)] == 0:
                ready.append(p)
''')
honest("backward", "iterative_postorder", '''
def backward(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents)
    root.grad = np.ones_like(root.data)
    for node in reversed(order):
        node._backward()
''')
honest("backward", "depth_levels", '''
def backward(root):
    depth = {id(root): 0}
    nodes = {id(root): root}
    frontier = [root]
    while frontier:
        nxt = []
        for n in frontier:
            for p in n.parents:
                if depth.get(id(p), -1) < depth[id(n)] + 1:
                    depth[id(p)] = depth[id(n)] + 1
                    nodes[id(p)] = p
                    nxt.append(p)
        frontier = nxt
    root.grad = np.ones_like(root.data)
    for k in sorted(nodes, key=lambda k: depth[k]):
        nodes[k]._backward()
''')
cells("backward", {
    "no_max_subtraction": na(ORDER_ONLY),
    "whole_array_max": na(ORDER_ONLY),
    "whole_array_sum": na(ORDER_ONLY),
    "wrong_axis": na(ORDER_ONLY),
    "missing_keepdims": na(ORDER_ONLY),
    "forward_differences": na("the engine's exact backward is asked for: no finite differences"),
    "batched_T": na(ORDER_ONLY),
    "assignment_not_add_at": na(ORDER_ONLY),
    "sum_not_mean": na(ORDER_ONLY),
    "mean_not_sum": na(ORDER_ONLY),
    "float32_result": na("the seed is ones (exact in float32) and the given closures add into float64 leaves; "
                         "graded, the gradients come back as float64"),
    "integer_result": na("the seed is ones and the given closures add into float64 leaves"),
    "mutates_input": na("writing the nodes' .grad is backward's job; nothing in the lab invites touching .data"),
    "mutates_upstream": na("no upstream gradient is passed in: backward seeds it"),
    "wrong_sign": wrong("seeds dL/dL = -1", '''
def backward(root):
    order, seen = [], set()
    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)
    visit(root)
    root.grad = -np.ones_like(root.data)
    for node in reversed(order):
        node._backward()
'''),
    "transposed_result": na(NOTHING_RETURNED),
    "accumulated_not_set": na("the contract hands backward a graph whose gradients are all zero, so adding the "
                              "seed to root.grad is setting it (a node run twice is the row 'no visited set')"),
    "set_not_accumulated": na("backward itself adds nothing: the given closures accumulate into .grad"),
    "preorder_dfs": wrong("runs each node before visiting its parents (pre-order)", '''
def backward(root):
    root.grad = np.ones_like(root.data)
    seen = set()
    def visit(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        node._backward()
        for p in node.parents:
            visit(p)
    visit(root)
'''),
    "no_visited_set": wrong("post-order without a visited set", '''
def backward(root):
    order = []
    def visit(node):
        for p in node.parents:
            visit(p)
        order.append(node)
    visit(root)
    root.grad = np.ones_like(root.data)
    for node in reversed(order):
        node._backward()
'''),
    "forward_order": wrong("the topological order, not reversed", '''
def backward(root):
    order, seen = [], set()
    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)
    visit(root)
    root.grad = np.ones_like(root.data)
    for node in order:
        node._backward()
'''),
    "no_seed": wrong("never sets root.grad", '''
def backward(root):
    order, seen = [], set()
    def visit(node):
        if id(node) not in seen:
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)
    visit(root)
    for node in reversed(order):
        node._backward()
'''),
})
