"""The primitive operations: one class each, forward and backward side by side.

Notation in the docstrings: the op computes z = f(x, ...) in ``forward``; ``backward`` receives
g = dL/dz (same shape as z) and returns dL/dx for each input, the vector-Jacobian product
g · ∂z/∂x, without ever forming the Jacobian. Binary ops broadcast, so their gradients pass
through ``unbroadcast`` to get back the input's shape.

``backward`` computes nothing for an input that does not require a gradient
(``self.needs_input_grad``): for the first Linear layer this skips a whole matrix product.
"""

import numpy as np

from minitransfer import backend
from minitransfer.tensor import Tensor, _GradMode


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting stretched, returning an array of ``shape``.

    Broadcasting copies x along new leading axes and along axes of length 1; each copy gets
    its own gradient, and the gradient of the original is their sum. For z = a + b with a of
    shape (n, m) and b of shape (m,):  dL/db_j = Σ_i g_ij.
    """
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    xp = backend.namespace(grad)
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and grad.shape[lead + i] != 1)
    return xp.reshape(xp.sum(grad, axis=axes), shape) if axes else xp.reshape(grad, shape)


def _sum(x, axis=None, keepdims=False):
    """``xp.sum(x, axis=axis, keepdims=keepdims)``; under NumPy, by the array's own method.

    ``numpy.sum`` and ``numpy.max`` are Python wrappers around that method that cost ~1.5 µs a
    call: more than summing a (64, 10) array. The ops that run at every training step (Affine,
    CrossEntropy) reduce through these two helpers; other arrays take the standard's spelling.
    """
    if type(x) is np.ndarray:
        return x.sum(axis=axis, keepdims=keepdims)
    return backend.namespace(x).sum(x, axis=axis, keepdims=keepdims)


def _max(x, axis=None, keepdims=False):
    """``xp.max(x, axis=axis, keepdims=keepdims)``, by the method under NumPy (see ``_sum``)."""
    if type(x) is np.ndarray:
        return x.max(axis=axis, keepdims=keepdims)
    return backend.namespace(x).max(x, axis=axis, keepdims=keepdims)


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


def _broadcast_error(op, a, b):
    """A ValueError naming the op, both shapes and the first axis where they clash."""
    for i in range(1, min(a.ndim, b.ndim) + 1):
        n, m = a.shape[-i], b.shape[-i]
        if n != m and n != 1 and m != 1:
            where = f"axis {max(a.ndim, b.ndim) - i}: {n} vs {m}"
            break
    else:
        where = "no axis clashes"
    return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
                      f"together ({where}); sizes must match or be 1, counting from the right")


class Function:
    """A node of the graph. ``Op.apply(*tensors, **params)`` runs ``forward`` on the arrays and,
    when gradients are needed, remembers the inputs so that ``backward`` can run later."""

    inputs = None

    @classmethod
    def apply(cls, *inputs, **params):
        arrays = [t.data for t in inputs]
        for array in arrays[1:]:
            if type(array) is not type(arrays[0]):
                raise ValueError(f"{cls.__name__}: all inputs must be on the same device, got "
                                 f"{inputs[0].device} and {backend.device_of(array)} "
                                 f"({type(arrays[0]).__name__} and {type(array).__name__})")
        fn = cls()
        out = fn.forward(*arrays, **params)
        if isinstance(out, np.generic):  # NumPy reductions return scalars, not 0-d arrays
            out = np.asarray(out)
        needs_input_grad = [t.requires_grad for t in inputs]
        if _GradMode.enabled and True in needs_input_grad:
            fn.inputs, fn.needs_input_grad = inputs, needs_input_grad
            fn.saved_versions = [t._version for t in inputs]
            return Tensor._from_op(out, fn)
        return Tensor._from_op(out, None)

    def release(self):
        """Drop the inputs and saved arrays once backward has used them (frees the graph)."""
        self.__dict__.clear()


# ---- elementwise arithmetic -------------------------------------------------------------------
class Add(Function):
    """z = a + b.   dL/da = g,  dL/db = g   (each unbroadcast to its input's shape)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("Add", a, b) from None

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    """z = a − b.   dL/da = g,  dL/db = −g."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("Sub", a, b) from None

    def backward(self, g):
        grad_b = unbroadcast(-g, self.shapes[1]) if self.needs_input_grad[1] else None
        return unbroadcast(g, self.shapes[0]), grad_b


class Mul(Function):
    """z = a ⊙ b.   dL/da = g ⊙ b,  dL/db = g ⊙ a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("Mul", a, b) from None

    def backward(self, g):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g * self.b, self.a.shape) if need_a else None,
                unbroadcast(g * self.a, self.b.shape) if need_b else None)


class Div(Function):
    """z = a / b.   dL/da = g / b,  dL/db = −g ⊙ a / b²."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("Div", a, b) from None

    def backward(self, g):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g / self.b, self.a.shape) if need_a else None,
                unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if need_b else None)


class Neg(Function):
    """z = −x.   dL/dx = −g."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """z = xᵖ for a constant number p.   dL/dx = g ⊙ p xᵖ⁻¹."""

    def forward(self, x, exponent):
        self.x, self.exponent = x, exponent
        return x**exponent

    def backward(self, g):
        return (g * self.exponent * self.x ** (self.exponent - 1),)


class Exp(Function):
    """z = eˣ.   dL/dx = g ⊙ eˣ = g ⊙ z."""

    def forward(self, x):
        self.z = backend.namespace(x).exp(x)
        return self.z

    def backward(self, g):
        return (g * self.z,)


class Log(Function):
    """z = ln x.   dL/dx = g / x."""

    def forward(self, x):
        self.x = x
        return backend.namespace(x).log(x)

    def backward(self, g):
        return (g / self.x,)


class ReLU(Function):
    """z = max(x, 0).   dL/dx = g ⊙ [x > 0]   (we take the derivative at 0 to be 0)."""

    def forward(self, x):
        xp = backend.namespace(x)
        # [x > 0] as 0.0/1.0 in x's dtype, so that backward is one product. (``xp.where`` would
        # do the same job but branches on every element: ~5× slower on a random sign pattern.)
        self.positive = xp.astype(x > 0, x.dtype)
        return xp.maximum(x, 0.0)  # a Python 0.0 keeps x's dtype

    def backward(self, g):
        return (g * self.positive,)


# ---- matrix product ----------------------------------------------------------------------------
def _matmul_2d(a, b):
    """a @ b for 2-D arrays, by BLAS whatever the shapes.

    ``numpy.matmul`` computes a product whose inner dimension is 1 with its own loop instead of
    BLAS: the weight gradient gᵀ x at batch size 1 is such an outer product, (128, 1)·(1, 784),
    and takes ~5× longer that way. ``numpy.dot`` always calls BLAS, so it takes those products;
    for the others ``matmul`` is the faster of the two here (gᵀ x at batch 64: 98 vs 108 µs).
    CuPy has no such gap.
    """
    if type(a) is np.ndarray and a.shape[1] == 1:
        return np.dot(a, b)
    return backend.namespace(a).matmul(a, b)


class MatMul(Function):
    """z = a @ b.   For matrices: dL/da = g bᵀ,  dL/db = aᵀ g.

    A 1-D ``a`` acts as a row vector and a 1-D ``b`` as a column vector; leading (batch) axes
    broadcast as in ``numpy.matmul`` and their gradients are unbroadcast.
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if a.shape[-1] != inner_b:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} @ {tuple(b.shape)} do not match: "
                             f"a has {a.shape[-1]} columns but b has {inner_b} rows")
        self.a, self.b = a, b
        return backend.namespace(a).matmul(a, b)

    def backward(self, g):
        xp = backend.namespace(g)
        a, b = self.a, self.b
        a2 = xp.reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = xp.reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        if a.ndim == 1:
            g = xp.expand_dims(g, axis=-1 if b.ndim == 1 else -2)
        if b.ndim == 1:
            g = xp.expand_dims(g, axis=-1) if a.ndim != 1 else xp.reshape(g, (1, 1))
        need_a, need_b = self.needs_input_grad
        if a2.ndim == 2 and b2.ndim == 2:
            grad_a = _matmul_2d(g, b2.T) if need_a else None
            grad_b = _matmul_2d(a2.T, g) if need_b else None
        else:
            grad_a = unbroadcast(xp.matmul(g, xp.matrix_transpose(b2)), a2.shape) if need_a else None
            grad_b = unbroadcast(xp.matmul(xp.matrix_transpose(a2), g), b2.shape) if need_b else None
        return (xp.reshape(grad_a, a.shape) if need_a else None,
                xp.reshape(grad_b, b.shape) if need_b else None)


# ---- reductions --------------------------------------------------------------------------------
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
        return z if keepdims else xp.reshape(z, tuple(n for i, n in enumerate(x.shape)
                                                      if i not in self.axes))

    def backward(self, g):
        return (_expand_reduced(g, self.share.shape, self.axes, self.keepdims) * self.share,)


# ---- shape ops ---------------------------------------------------------------------------------
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


# ---- softmax family ----------------------------------------------------------------------------
class LogSumExp(Function):
    """z = log Σ exp(x) over ``axis``, computed as m + log Σ exp(x − m) with m = max x (no overflow).

    dL/dx = g ⊙ softmax(x) = g ⊙ exp(x − z).
    """

    def forward(self, x, axis=-1, keepdims=False):
        xp = backend.namespace(x)
        self.axes, self.keepdims, self.x = _axes(axis, x.ndim), keepdims, x
        m = xp.max(x, axis=self.axes, keepdims=True)
        self.z = m + xp.log(xp.sum(xp.exp(x - m), axis=self.axes, keepdims=True))
        return self.z if keepdims else xp.reshape(self.z, tuple(
            n for i, n in enumerate(x.shape) if i not in self.axes))

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


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood of integer labels y for logits z (N × C).

    ℓᵢ = −log softmax(zᵢ)_{yᵢ} = logsumexp(zᵢ) − z_{i,yᵢ};  loss = (1/N) Σ ℓᵢ ("mean"), Σ ℓᵢ
    ("sum") or the vector ℓ ("none").
    dL/dzᵢ = gᵢ (softmax(zᵢ) − onehot(yᵢ)), with gᵢ = g/N for "mean" and g for "sum".
    """

    def forward(self, logits, labels, reduction="mean"):
        xp = backend.namespace(logits)
        self.reduction = reduction
        shifted = logits - _max(logits, axis=1, keepdims=True)  # no overflow in exp
        self.softmax = xp.exp(shifted)
        total = _sum(self.softmax, axis=1, keepdims=True)
        self.softmax /= total  # saved: it is the gradient, less the one-hot
        log_probs = shifted - xp.log(total)
        # onehot[i, c] = 1 where c = yᵢ: picks each row's log-probability by a product, with
        # no fancy indexing (which the array API standard leaves optional).
        self.one_hot = xp.astype(labels[:, None] == xp.arange(logits.shape[1]), logits.dtype)
        if reduction == "none":
            return -_sum(log_probs * self.one_hot, axis=1)
        loss = -_sum(log_probs * self.one_hot)
        return loss / logits.shape[0] if reduction == "mean" else loss

    def backward(self, g):
        xp = backend.namespace(g)
        grad = self.softmax - self.one_hot  # a fresh array: scaling it in place is safe
        if self.reduction == "none":
            return (grad * xp.reshape(g, (-1, 1)),)
        grad *= g / grad.shape[0] if self.reduction == "mean" else g
        return (grad,)


# ---- the fused layer op ------------------------------------------------------------------------
class Affine(Function):
    """z = x Wᵀ + b: the forward of ``nn.Linear`` as one op (not MatMul, Transpose and Add).

    Shapes: x is (..., in) (a batch of rows, or one row of shape (in,)), W is (out, in) as in
    PyTorch, the optional b is (out,), and z is (..., out). With g = dL/dz:

        dL/dx = g W            (..., out) @ (out, in) -> (..., in)
        dL/dW = gᵀ x           summed over every leading (batch) axis -> (out, in)
        dL/db = Σ_rows g       summed over every leading axis -> (out,)

    One node instead of three saves two graph entries and two temporary arrays per layer; the
    first layer's input needs no gradient, so its ``g W`` product is skipped altogether.
    """

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: expected x of shape (..., {weight.shape[-1]}) and weight of "
                             f"shape (out, in), got x {tuple(x.shape)} and weight "
                             f"{tuple(weight.shape)}")
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"linear: expected bias of shape ({weight.shape[0]},), got "
                             f"{tuple(bias.shape)}")
        self.x, self.weight = x, weight
        z = backend.namespace(x).matmul(x, weight.T)
        if bias is not None:
            z += bias  # z is a fresh array that we own, so adding in place is safe
        return z

    def backward(self, g):
        xp = backend.namespace(g)
        need_x, need_weight = self.needs_input_grad[:2]
        grad_x = xp.matmul(g, self.weight) if need_x else None
        # The weight and bias gradients sum over all rows: view g and x as 2-D tables of rows.
        rows_g = g if g.ndim == 2 else xp.reshape(g, (-1, g.shape[-1]))
        rows_x = self.x if self.x.ndim == 2 else xp.reshape(self.x, (-1, self.x.shape[-1]))
        grad_weight = _matmul_2d(rows_g.T, rows_x) if need_weight else None
        if len(self.needs_input_grad) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, _sum(rows_g, axis=0) if self.needs_input_grad[2] else None
