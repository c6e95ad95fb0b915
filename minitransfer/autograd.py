"""Reverse mode: the grad-mode switch and the walk that ``Tensor.backward()`` starts.

Every operation on tensors that require a gradient records a node of the computational
graph (an instance of a class in ``functions``). ``loss.backward()`` walks that graph from
the loss back to the leaves in reverse topological order and applies the chain rule: each
node turns the gradient of its output into gradients of its inputs (a vector-Jacobian
product), and gradients arriving at the same tensor by several paths are added.
PyTorch keeps the same two things under the same name, ``torch.autograd``.
"""

import functools

import numpy as np

from minitransfer import backend


class _GradMode:
    enabled = True  # switched off inside ``no_grad()``


def is_grad_enabled():
    return _GradMode.enabled


class no_grad:
    """Context manager (and decorator) in which operations record no graph, as in PyTorch."""

    enabled = False  # the grad mode inside the block

    def __enter__(self):
        self.previous = _GradMode.enabled
        _GradMode.enabled = self.enabled

    def __exit__(self, *exc_info):
        _GradMode.enabled = self.previous

    def __call__(self, function):
        @functools.wraps(function)
        def with_mode(*args, **kwargs):
            with type(self)():  # a fresh switch per call, so nested calls restore correctly
                return function(*args, **kwargs)

        return with_mode


class enable_grad(no_grad):
    """The opposite of ``no_grad``: record the graph inside the block even under ``no_grad``."""

    enabled = True


def backward(tensor, grad=None, retain_graph=False):
    """``tensor.backward(grad)``: check the upstream gradient, then run the chain rule.

    ``grad`` is dL/d(tensor), an array of tensor's shape; it may be left out only when
    ``tensor`` holds a single number, where dL/d(tensor) = 1.
    """
    if not tensor.requires_grad:
        raise RuntimeError("backward(): this tensor does not require grad and has no graph "
                           "(did you compute it under no_grad(), or forget requires_grad?)")
    if grad is None:
        if tensor.numel() != 1:
            raise RuntimeError(f"backward(): grad can be left out only for a single-number "
                               f"output, this one has shape {tensor.shape}; pass grad=")
        grad = backend.namespace(tensor.data).ones_like(tensor.data)
    elif tuple(grad.shape) != tensor.shape:
        raise ValueError(f"backward(): grad must have the output's shape {tensor.shape}, "
                         f"got {tuple(grad.shape)}")
    run_backward(tensor, grad, retain_graph)


def run_backward(root, grad, retain_graph=False):
    """The chain rule over the graph: visit tensors from ``root`` back to the leaves.

    ``grad`` is dL/d(root), an array of root's shape. Each node's gradient is complete when it
    is visited (every tensor made from it came earlier in the walk), so its op's ``backward``
    runs once. The leaves' gradients are summed the same way and added to their ``.grad`` when
    the walk is done, so that no array still in use by the walk ends up in a ``.grad``.
    """
    grads = {id(root): grad}  # d(root)/d(tensor), summed over paths, for tensors not yet visited
    leaves = []  # the leaves reached, in order
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None or node._retain_grad:
            node._accumulate_grad(g, shared=True)  # the caller's grad, or one the walk goes on with
        if ctx is None:  # only when backward() was called on a leaf
            continue
        for tensor, g_in in zip(ctx.inputs, ctx.backward(g)):
            if g_in is None or not tensor.requires_grad:
                continue
            data = tensor.data
            if type(g_in) is not type(data) or g_in.shape != data.shape or g_in.dtype != data.dtype:
                g_in = _checked_gradient(ctx, tensor, g_in)  # rare: fix it up, or say what is wrong
            previous = grads.get(id(tensor))
            if previous is None and tensor._ctx is None:
                leaves.append(tensor)
            # Out of place: either array may be shared (Add hands the same g to both inputs).
            grads[id(tensor)] = g_in if previous is None else previous + g_in
        if not retain_graph:
            ctx.release()
    kept = {id(grad)}  # the caller's array, and each one a .grad keeps: no two tensors share one
    for leaf in leaves:
        g = grads[id(leaf)]
        leaf._accumulate_grad(g, shared=id(g) in kept)
        kept.add(id(g))


def topological_order(root):
    """The results of operations below ``root``, each one after all the results it was made from.

    Iterative depth-first search with an explicit stack, so a chain of 10,000 ops does not hit
    Python's recursion limit. Leaves are left out (their gradients go to ``.grad`` after the
    walk), and so are tensors that need no gradient. A freed graph or an input changed
    in place since the forward pass is reported here, before any gradient is written.
    """
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            ctx = node._ctx
            if ctx is not None:
                if ctx.inputs is None:
                    raise RuntimeError("backward(): trying to backward through a graph a second "
                                       "time (its saved values were freed); use "
                                       "backward(retain_graph=True)")
                if [t._version_counter[0] for t in ctx.inputs] != ctx.saved_versions:  # t._version
                    _raise_modified_in_place(ctx)  # before any gradient is accumulated
                stack += [(t, False) for t in ctx.inputs if t._ctx is not None and id(t) not in visited]
    return order


def _raise_modified_in_place(ctx):
    for tensor, version in zip(ctx.inputs, ctx.saved_versions):
        if tensor._version != version:
            raise RuntimeError(f"backward(): an input of {type(ctx).__name__} was modified in "
                               f"place after the op saved it (version {version} -> "
                               f"{tensor._version}); recompute the forward pass")


def _checked_gradient(ctx, tensor, g_in):
    """``g_in`` as an array of the tensor's shape and dtype, or an error naming the op."""
    if isinstance(g_in, np.generic):  # NumPy turns 0-d results into scalars
        g_in = np.asarray(g_in)
    if g_in.shape != tensor.data.shape:
        raise RuntimeError(f"{type(ctx).__name__}.backward returned a gradient of shape "
                           f"{tuple(g_in.shape)} for an input of shape {tensor.shape}")
    if g_in.dtype != tensor.data.dtype:  # e.g. float32 * float64 promoted the output
        g_in = backend.namespace(g_in).astype(g_in, tensor.data.dtype)
    return g_in
