"""The leanest eager engine that makes the eager step's NumPy calls: a measuring stick.

``bench_step`` times it beside minitransfer's eager step to show what the engine's safety costs.
It has what reverse mode needs and nothing else: a tensor with data, grad and the op that made
it; one class per op with forward and backward; a recursive topological sort. It has none of
what PyTorch's semantics ask of minitransfer (issue 13): no version counters ("modified in
place" errors), no checks of devices, shapes, dtypes or labels, no modules, no optimizer
object, no hooks. Do not build on it: a wrong input gives a wrong answer, silently. The NumPy
calls are those of ``functions.Affine``, ``ReLU`` and ``CrossEntropy`` and of SGD, in the same
order, so it reaches minitransfer's weights bit for bit (``tests/test_bench_contenders.py``).
"""

import numpy as np

LR = 0.01


class Leaf:
    """A tensor: data, grad, and the op that made it (None for a parameter or an input)."""

    def __init__(self, data, op=None, requires_grad=False):
        self.data, self.grad, self.op = data, None, op
        self.requires_grad = requires_grad or op is not None


class Op:
    @classmethod
    def apply(cls, *inputs, **constants):
        op = cls()
        op.inputs = inputs
        return Leaf(op.forward(*[t.data for t in inputs], **constants), op)


class Affine(Op):
    def forward(self, x, w, b):
        self.x, self.w = x, w
        z = np.matmul(x, w.T)
        z += b
        return z

    def backward(self, g):
        grad_x = np.matmul(g, self.w) if self.inputs[0].requires_grad else None
        grad_w = (np.dot if g.shape[0] == 1 else np.matmul)(g.T, self.x)  # matmul_2d's rule
        return grad_x, grad_w, g.sum(axis=0)


class ReLU(Op):
    def forward(self, x):
        self.positive = (x > 0).astype(x.dtype)
        return np.maximum(x, 0.0)

    def backward(self, g):
        return (g * self.positive,)


class CrossEntropy(Op):
    def forward(self, z, labels):
        shifted = z - z.max(axis=1, keepdims=True)
        self.softmax = np.exp(shifted)
        total = self.softmax.sum(axis=1, keepdims=True)
        self.softmax /= total
        self.one_hot = (labels[:, None] == np.arange(z.shape[1])).astype(z.dtype)
        return np.asarray(-((shifted - np.log(total)) * self.one_hot).sum() / z.shape[0])

    def backward(self, g):
        grad = self.softmax - self.one_hot
        grad *= g / grad.shape[0]
        return (grad,)


def backward(loss):
    """The chain rule from ``loss`` back to the leaves, in reverse topological order."""
    order, seen = [], set()

    def visit(t):
        if t.op is not None and id(t) not in seen:
            seen.add(id(t))
            for parent in t.op.inputs:
                visit(parent)
            order.append(t)

    visit(loss)
    grads = {id(loss): np.ones_like(loss.data)}
    for t in reversed(order):
        for parent, g in zip(t.op.inputs, t.op.backward(grads.pop(id(t)))):
            if g is None or not parent.requires_grad:
                continue
            if parent.op is None:
                parent.grad = g if parent.grad is None else parent.grad + g
            else:
                grads[id(parent)] = g if id(parent) not in grads else grads[id(parent)] + g
        t.op.__dict__.clear()  # free what the op saved as soon as its backward has run


def make_lean(x, y, weights):
    """One SGD step of the 784-128-10 MLP under the lean engine, as a ``step()`` function."""
    from minitransfer import aligned, blas  # here, not above: bench_memory's floor holds NumPy alone

    params = [Leaf(w.copy(), requires_grad=True) for w in weights]
    w1, b1, w2, b2 = params
    work = [aligned.empty_like(p.data) for p in params]  # 64-byte aligned, as minitransfer's SGD
    inputs = Leaf(x)

    def step():
        for p in params:
            p.grad = None
        hidden = ReLU.apply(Affine.apply(inputs, w1, b1))
        backward(CrossEntropy.apply(Affine.apply(hidden, w2, b2), labels=y))
        for p, scaled in zip(params, work):  # SGD's update (optim's subtract_scaled_in_place)
            if not blas.axpy(-LR, p.grad, p.data):
                p.data -= np.multiply(p.grad, LR, out=scaled)

    step.weights = lambda: [p.data for p in params]
    return step
