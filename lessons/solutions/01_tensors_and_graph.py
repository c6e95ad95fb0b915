"""Worked solutions to lesson 01's exercises (try them yourself first).

01.1 The topological order is a depth-first search that lists a tensor only after every tensor
it was made from: post-order. An explicit stack of (tensor, inputs_done) pairs replaces
recursion, so a chain of 20,000 ops does not hit Python's recursion limit; a visited set lists
each tensor once, however many paths reach it (the diamond, the shared input).

01.2 The walk runs that order backwards, from the root (whose gradient is 1) to the leaves.
When a node is reached, every tensor made from it has already been visited, so its gradient
is complete: its op turns it into gradients of its inputs (``grad_fn.backward``, one VJP), and
those are *added* to what the inputs already hold, because a tensor used in several places
gets the sum of the gradients of all its uses. This is ``minitransfer.autograd.run_backward``
without the checks and the freeing of the graph.
"""

import numpy as np


def topological_order(root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)  # every input of tensor is already in the order
        elif tensor.grad_fn is not None and id(tensor) not in visited:
            visited.add(id(tensor))
            stack.append((tensor, True))  # come back to it after its inputs
            stack += [(parent, False) for parent in tensor.grad_fn.inputs]
    return order


def grad(root, inputs):
    grads = {id(root): np.ones(root.shape)}  # d root / d tensor, summed over the paths seen so far
    for node in reversed(topological_order(root)):
        g = grads[id(node)]
        for tensor, g_in in zip(node.grad_fn.inputs, node.grad_fn.backward(g)):
            if g_in is None:  # this input needs no gradient
                continue
            grads[id(tensor)] = grads[id(tensor)] + g_in if id(tensor) in grads else g_in
    return [grads.get(id(t), np.zeros(t.shape)) for t in inputs]
