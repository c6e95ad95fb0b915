"""Ops that reduce along axes (sum, mean, max) and the softmax family built on them.

Their backward passes broadcast g back over the reduced axes (``_expand_reduced``).
"""

import numpy as np

from minitransfer import backend
from minitransfer.functions.function import Function


def _axes(axis, ndim):
    """Normalise an axis argument (None, int or tuple) to a sorted tuple of positive axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis: expected a value in [{-ndim}, {ndim}), got {a}")
    return tuple(sorted(a % max(ndim, 1) for a in axes))


def _expand_reduced(g, in_shape, axes, keepdims):
    """Reshape the gradient of a reduction so that it broadcasts against the input again."""
    if keepdims:
        return g
    kept = tuple(1 if i in axes else n for i, n in enumerate(in_shape))
    return backend.namespace(g).reshape(g, kept)


class Sum(Function):
    """z = Σ x over ``axis``.   dL/dx = g broadcast back over the summed axes."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return backend.namespace(x).sum(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axes, self.keepdims)
        return (backend.namespace(g).broadcast_to(g, self.shape),)


class Mean(Function):
    """z = (1/N) Σ x over ``axis`` (N elements reduced).   dL/dx = g / N broadcast back."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        self.count = int(np.prod([x.shape[a] for a in self.axes], dtype=np.int64))
        return backend.namespace(x).mean(x, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axes, self.keepdims) / self.count
        return (backend.namespace(g).broadcast_to(g, self.shape),)


class Max(Function):
    """z = max x over ``axis``.   dL/dx = g where x equals the max (shared equally by ties), else 0."""

    def forward(self, x, axis=None, keepdims=False):
        xp = backend.namespace(x)
        self.axes, self.keepdims = _axes(axis, x.ndim), keepdims
        z = xp.max(x, axis=self.axes, keepdims=True)
        winners = xp.astype(x == z, x.dtype)
        self.share = winners / xp.sum(winners, axis=self.axes, keepdims=True)
        return z if keepdims else xp.squeeze(z, axis=self.axes)

    def backward(self, g):
        return (_expand_reduced(g, self.share.shape, self.axes, self.keepdims) * self.share,)


# ---- softmax family ----------------------------------------------------------------------------
class LogSumExp(Function):
    """z = log Σ exp(x) over ``axis``, computed as m + log Σ exp(x − m) with m = max x (no overflow).
    Where m is ±∞, z = m: −∞ when every term is −∞ (where x − m would be NaN), +∞ for any +∞.

    dL/dx = g ⊙ softmax(x) = g ⊙ exp(x − z).
    """

    def forward(self, x, axis=-1, keepdims=False):
        xp = backend.namespace(x)
        self.axes, self.keepdims, self.x = _axes(axis, x.ndim), keepdims, x
        m = xp.max(x, axis=self.axes, keepdims=True)
        finite = xp.isfinite(m)
        shifted = xp.where(finite, x - xp.where(finite, m, xp.zeros_like(m)), xp.zeros_like(x))
        self.z = xp.where(finite, m + xp.log(xp.sum(xp.exp(shifted), axis=self.axes, keepdims=True)), m)
        return self.z if keepdims else xp.squeeze(self.z, axis=self.axes)

    def backward(self, g):
        xp = backend.namespace(g)
        g = _expand_reduced(g, self.x.shape, self.axes, self.keepdims)
        return (g * xp.exp(self.x - self.z),)


class LogSoftmax(Function):
    """z = x − logsumexp(x) along ``axis``.   dL/dx = g − softmax(x) ⊙ Σ g (sum along ``axis``)."""

    def forward(self, x, axis=-1):
        xp = backend.namespace(x)
        self.axis = axis
        m = xp.max(x, axis=axis, keepdims=True)
        shifted = x - m
        self.z = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        return self.z

    def backward(self, g):
        xp = backend.namespace(g)
        return (g - xp.exp(self.z) * xp.sum(g, axis=self.axis, keepdims=True),)


class Softmax(Function):
    """z = exp(x − m) / Σ exp(x − m) along ``axis``.   dL/dx = z ⊙ (g − Σ g ⊙ z)."""

    def forward(self, x, axis=-1):
        xp = backend.namespace(x)
        self.axis = axis
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        self.z = e / xp.sum(e, axis=axis, keepdims=True)
        return self.z

    def backward(self, g):
        xp = backend.namespace(g)
        return (self.z * (g - xp.sum(g * self.z, axis=self.axis, keepdims=True)),)
