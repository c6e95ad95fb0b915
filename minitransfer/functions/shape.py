"""Ops that move elements without computing: reshape, transpose, indexing, copies to another
dtype or device.

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
    """z = x[key] for every key NumPy accepts: ints, slices, None, ..., integer arrays, lists or
    Tensors (repeats allowed), boolean masks, and mixes of them.

    dL/dx = zeros of x's shape with g added at key: an element picked k times receives the sum
    of its k gradients (``backend.scatter_add``; ``grad[key] = g`` would keep only one).
    """

    def forward(self, x, key):
        self.shape, self.key = x.shape, key
        return backend.index(x, key)

    def backward(self, g):
        return (backend.scatter_add(self.shape, self.key, g),)


class IndexSelect(Function):
    """z = take(x, indices, axis): the slices of x along ``axis`` at an integer array of any shape
    (0-d drops the axis, 2-D adds one); repeats allowed (``Tensor.index_select``).

    dL/dx = Pᵀ g along ``axis``, where P is the one-hot matrix with P[j, indices[j]] = 1 over
    the flattened indices: a slice picked twice receives the sum of both gradients (no
    ``np.add.at``: a product works on every backend).
    """

    def forward(self, x, indices, axis=0):
        xp = backend.namespace(x)
        n = x.shape[axis]
        if indices.size and (int(xp.min(indices)) < -n or int(xp.max(indices)) >= n):
            raise IndexError(f"index_select: indices must lie in [{-n}, {n}) for axis {axis} of "
                             f"size {n}, got values from {int(xp.min(indices))} to "
                             f"{int(xp.max(indices))}")
        self.shape, self.axis = x.shape, axis % x.ndim
        self.indices = xp.reshape(xp.where(indices < 0, indices + n, indices), (-1,))
        picked = xp.take(x, self.indices, axis=self.axis)  # the standard's take wants 1-D indices
        return xp.reshape(picked, x.shape[:self.axis] + tuple(indices.shape) + x.shape[self.axis + 1:])

    def backward(self, g):
        xp = backend.namespace(g)
        n, m = self.shape[self.axis], self.indices.shape[0]
        one_hot = xp.astype(xp.reshape(self.indices, (-1, 1)) == xp.arange(n), g.dtype)
        # g's index axes as one axis of length m at ``axis``, then that axis first: (m, rest)
        front = xp.moveaxis(xp.reshape(g, self.shape[:self.axis] + (m,) + self.shape[self.axis + 1:]),
                            self.axis, 0)
        rest = tuple(front.shape[1:])
        grad = xp.matmul(xp.matrix_transpose(one_hot), xp.reshape(front, (m, -1)))
        return (xp.moveaxis(xp.reshape(grad, (n,) + rest), 0, self.axis),)


class ToCopy(Function):
    """z = x copied to ``device`` and/or cast to ``dtype`` (``Tensor.to``, ``.float()``, ``.double()``).

    dL/dx = g moved back to x's device and cast back to x's dtype: a copy changes no value, so
    its Jacobian is the identity (PyTorch's ``ToCopyBackward`` does the same).
    """

    def forward(self, x, device=None, dtype=None):
        self.x = x
        z = x if device is None else backend.to_device(x, device)
        target = z.dtype if dtype is None else backend.dtype_like(dtype, z)
        return backend.namespace(z).astype(z, target, copy=z is x)

    def backward(self, g):
        if type(g) is not type(self.x):  # moved: back to x's device (and array library)
            g = backend.asarray_like(backend.to_numpy(g), self.x)
        return (backend.namespace(g).astype(g, self.x.dtype, copy=False),)
