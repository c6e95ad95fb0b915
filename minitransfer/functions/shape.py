"""Ops that move elements without computing: reshape, transpose, indexing.

Their backward passes put each element of g back where its input element came from.
"""

import numpy as np

from minitransfer import backend
from minitransfer.functions.function import Function


class Reshape(Function):
    """z = x with a new shape (same elements, same order).   dL/dx = g reshaped back."""

    def forward(self, x, shape):
        self.shape = x.shape
        return backend.namespace(x).reshape(x, shape)

    def backward(self, g):
        return (backend.namespace(g).reshape(g, self.shape),)


class Transpose(Function):
    """z = x with its axes permuted (reversed by default).   dL/dx = g with the inverse permutation."""

    def forward(self, x, axes=None):
        self.axes = tuple(reversed(range(x.ndim))) if axes is None else _axes_order(axes, x.ndim)
        return backend.namespace(x).permute_dims(x, self.axes)

    def backward(self, g):
        inverse = tuple(int(i) for i in np.argsort(self.axes))
        return (backend.namespace(g).permute_dims(g, inverse),)


def _axes_order(axes, ndim):
    order = tuple(a % ndim for a in axes) if ndim else ()
    if sorted(order) != list(range(ndim)):
        raise ValueError(f"permute: expected a permutation of {ndim} axes, got {tuple(axes)}")
    return order


class GetItem(Function):
    """z = x[key] for basic indexing (ints, slices, None, ...).   dL/dx = zeros with g put at key."""

    def forward(self, x, key):
        self.shape, self.key = x.shape, key
        return x[key]

    def backward(self, g):
        grad = backend.namespace(g).zeros(self.shape, dtype=g.dtype)
        grad[self.key] = g  # basic indexing never repeats an element, so assignment is the sum
        return (grad,)


class IndexSelect(Function):
    """z = take(x, indices, axis): rows (or slices) of x picked by an integer array; repeats allowed.

    dL/dx = Pᵀ g where P is the one-hot matrix with P[j, indices[j]] = 1: a row picked twice
    receives the sum of both gradients (no ``np.add.at``: a product works on every backend).
    """

    def forward(self, x, indices, axis=0):
        xp = backend.namespace(x)
        n = x.shape[axis]
        if indices.size and (int(xp.min(indices)) < -n or int(xp.max(indices)) >= n):
            raise IndexError(f"index: indices must lie in [{-n}, {n}) for axis {axis} of "
                             f"size {n}, got values from {int(xp.min(indices))} to "
                             f"{int(xp.max(indices))}")
        self.indices = xp.where(indices < 0, indices + n, indices)
        self.shape, self.axis = x.shape, axis % x.ndim
        return xp.take(x, self.indices, axis=self.axis)

    def backward(self, g):
        xp = backend.namespace(g)
        n = self.shape[self.axis]
        one_hot = xp.astype(xp.reshape(self.indices, (-1, 1)) == xp.arange(n), g.dtype)
        front = xp.moveaxis(g, self.axis, 0)
        rest = tuple(front.shape[1:])
        grad = xp.matmul(xp.matrix_transpose(one_hot), xp.reshape(front, (front.shape[0], -1)))
        return (xp.moveaxis(xp.reshape(grad, (n,) + rest), 0, self.axis),)
