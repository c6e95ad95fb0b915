"""Lesson 01's exercises: build the reverse-mode walk of ``autograd.backward`` yourself.

01.1 ``topological_order(root)``: every tensor below ``root`` that an op made (``t.grad_fn`` is
     not None), each one after all the tensors it was made from, ``root`` last. Leaves may be
     left out or included; no tensor may appear twice.
01.2 ``grad(root, inputs)``: like ``torch.autograd.grad``, the gradients of a one-number
     ``root`` with respect to each tensor of ``inputs`` (a list of NumPy arrays, in order),
     by walking the graph in reverse topological order, calling each op's
     ``t.grad_fn.backward(g)`` and adding the gradients that reach a tensor by several paths.

Both checks build the same small graphs (a chain, a diamond whose two paths have different
lengths, a shared input, a vector with broadcasting) and compare with what the engine's
``backward()`` gives on an identical copy of each graph.
"""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade

__all__ = ["check_topological_order", "check_grad", "GRAPHS"]


def _leaves(*values):
    return [mt.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]


def _chain():
    """z = (x*y + x)**2, lesson 1's graph: x is used twice."""
    x, y = _leaves(3.0, -2.0)
    return ((x * y + x) ** 2), [x, y]


def _diamond():
    """a = 3x feeds d by two paths of different lengths: exp(a), and log(a*a + 1)."""
    (x,) = _leaves(0.4)
    a = x * 3.0
    return a.exp() + (a * a + 1.0).log(), [x]


def _shared_input():
    """z = x*x*x + x: x enters four places; dz/dx = 3x² + 1."""
    (x,) = _leaves(-1.5)
    return x * x * x + x, [x]


def _vector():
    """A row of weights broadcast over a batch, then a ReLU, a log-softmax and a sum."""
    w, X = _leaves([0.5, -1.0, 2.0], [[1.0, 2.0, -0.5], [0.3, -0.7, 1.1]])
    h = (X * w + w).relu()
    return (h.log_softmax(axis=-1) * h).sum(), [w, X]


GRAPHS = {"chain (x*y + x)**2": _chain, "diamond exp(3x) + log(9x² + 1)": _diamond,
          "shared input x*x*x + x": _shared_input, "vector ((X*w + w).relu() ...).sum()": _vector}


def _engine_gradients(make_graph):
    root, inputs = make_graph()
    root.backward()
    return [t.grad.numpy() for t in inputs]


def _reachable(root):
    """The ids of the tensors an op made below root (root included), by a plain search."""
    seen, stack = {}, [root]
    while stack:
        t = stack.pop()
        if t.grad_fn is not None and id(t) not in seen:
            seen[id(t)] = t
            stack += list(t.grad_fn.inputs)
    return seen


def _walk(order, root, inputs):
    """The chain rule along a given order (the reference walk), returning the inputs' gradients."""
    grads = {id(root): np.ones(root.shape)}
    for node in reversed(order):
        g = grads.get(id(node))
        if node.grad_fn is None or g is None:
            continue
        for tensor, g_in in zip(node.grad_fn.inputs, node.grad_fn.backward(g)):
            if g_in is not None and tensor.requires_grad:
                grads[id(tensor)] = grads[id(tensor)] + g_in if id(tensor) in grads else g_in
    return [grads.get(id(t), np.zeros(t.shape)) for t in inputs]


def _order_problem(name, order, root):
    if not isinstance(order, (list, tuple)) or not all(isinstance(t, mt.Tensor) for t in order):
        return f"on the {name} graph, expected a list of tensors, got {type(order).__name__}"
    ids = [id(t) for t in order]
    if len(set(ids)) != len(ids):
        return f"on the {name} graph, a tensor appears more than once ({len(ids)} entries, " \
               f"{len(set(ids))} different tensors): each node must be visited once"
    made = [t for t in order if t.grad_fn is not None]
    expected = _reachable(root)
    if {id(t) for t in made} != set(expected):
        return f"on the {name} graph, your order holds {len(made)} tensors made by ops, the graph " \
               f"has {len(expected)}"
    position = {id(t): i for i, t in enumerate(order)}
    for t in made:
        for parent in t.grad_fn.inputs:
            if parent.grad_fn is not None and position[id(parent)] > position[id(t)]:
                return f"on the {name} graph, the result of {type(t.grad_fn).__name__} (position " \
                       f"{position[id(t)]}) comes before the result of {type(parent.grad_fn).__name__} " \
                       f"(position {position[id(parent)]}) that it was made from"
    return None


def _compare(name, yours, engine):
    for i, (mine, ref) in enumerate(zip(yours, engine)):
        mine = np.asarray(mine)
        if mine.shape != ref.shape or not np.allclose(mine, ref, rtol=1e-9, atol=1e-12):
            return f"on the {name} graph, input {i}: you give {np.round(mine, 6).tolist()}, " \
                   f"backward() gives {np.round(ref, 6).tolist()}"
    return None


def check_topological_order(topological_order):
    """Exercise 01.1: ``topological_order(root)`` lists the graph below root, inputs first."""

    def check(answer):
        for name, make_graph in GRAPHS.items():
            root, inputs = make_graph()
            order = attempted(answer(root))
            problem = _order_problem(name, order, root)
            if problem is None:
                problem = _compare(name, _walk(list(order), root, inputs),
                                   _engine_gradients(make_graph))
            if problem:
                return problem
        return None

    result = grade("01.1", check, topological_order)
    if result.passed:
        print("  walked in reverse, your order gives backward()'s gradients on all "
              f"{len(GRAPHS)} graphs")
    return result


def check_grad(grad):
    """Exercise 01.2: ``grad(root, inputs)`` gives d root / d input for each input, as backward()."""

    def check(answer):
        for name, make_graph in GRAPHS.items():
            root, inputs = make_graph()
            yours = attempted(answer(root, inputs))
            if not isinstance(yours, (list, tuple)) or len(yours) != len(inputs):
                return f"on the {name} graph, expected a list of {len(inputs)} gradients, got {yours!r}"
            problem = _compare(name, yours, _engine_gradients(make_graph))
            if problem:
                return problem
        return None

    result = grade("01.2", check, grad)
    if result.passed:
        print(f"  your walk gives backward()'s gradients on all {len(GRAPHS)} graphs")
    return result


# --- what tests/test_exercises.py runs: the worked solution and mistakes each check must catch ---

def _preorder(root):
    """Wrong: the order a search visits the nodes in, root first (not reversed)."""
    order, seen, stack = [], set(), [root]
    while stack:
        t = stack.pop()
        if t.grad_fn is not None and id(t) not in seen:
            seen.add(id(t))
            order.append(t)
            stack += list(t.grad_fn.inputs)
    return order


def _reversed_breadth_first(root):
    """Wrong: breadth-first from the root, reversed; a node reached early by a short path is
    placed before nodes of a longer path it feeds (the diamond)."""
    order, seen, queue = [], set(), [root]
    while queue:
        t = queue.pop(0)
        if t.grad_fn is not None and id(t) not in seen:
            seen.add(id(t))
            order.append(t)
            queue += list(t.grad_fn.inputs)
    return order[::-1]


def _postorder_without_visited(root):
    """Wrong: depth-first post-order with no visited set: a shared node is listed twice."""
    order = []

    def visit(t):
        if t.grad_fn is not None:
            for parent in t.grad_fn.inputs:
                visit(parent)
            order.append(t)

    visit(root)
    return order


def _grad_overwriting(root, inputs):
    """Wrong: stores the gradient arriving at a tensor instead of adding it to what is there."""
    grads = {id(root): np.ones(root.shape)}
    for node in reversed(_topological(root)):
        for tensor, g_in in zip(node.grad_fn.inputs, node.grad_fn.backward(grads[id(node)])):
            if g_in is not None:
                grads[id(tensor)] = g_in
    return [grads[id(t)] for t in inputs]


def _grad_forward_order(root, inputs):
    """Wrong: walks from the inputs up (topological order not reversed)."""
    grads = {id(root): np.ones(root.shape)}
    for node in _topological(root):
        g = grads.get(id(node), np.zeros(node.shape))
        for tensor, g_in in zip(node.grad_fn.inputs, node.grad_fn.backward(g)):
            if g_in is not None:
                grads[id(tensor)] = grads.get(id(tensor), 0) + g_in
    return [grads.get(id(t), np.zeros(t.shape)) for t in inputs]


def _topological(root):
    order, seen = [], set()

    def visit(t):
        if t.grad_fn is not None and id(t) not in seen:
            seen.add(id(t))
            for parent in t.grad_fn.inputs:
                visit(parent)
            order.append(t)

    visit(root)
    return order


SELF_TEST = [
    (check_topological_order, "01_tensors_and_graph.py:topological_order",
     [_preorder, _reversed_breadth_first, _postorder_without_visited]),
    (check_grad, "01_tensors_and_graph.py:grad", [_grad_overwriting, _grad_forward_order]),
]
