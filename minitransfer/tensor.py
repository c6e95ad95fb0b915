"""Tensor: an array that remembers how it was made, so that gradients can flow back.

A tensor made by an operation on tensors that require a gradient keeps a link to that
operation (``grad_fn``, an instance of a class in ``functions``); ``backward()`` hands the
graph to ``autograd.backward``, which applies the chain rule from here back to the leaves.
"""

import math

import numpy as np

from minitransfer import autograd, backend


class Tensor:
    """A multi-dimensional array with an optional gradient.

    ``data`` is the array (NumPy, or CuPy on a GPU). ``grad`` is a Tensor of the same shape
    and dtype, filled by ``backward()`` on leaves that require a gradient. Gradients
    *accumulate*: call ``optimizer.zero_grad()`` (or set ``grad = None``) between steps.
    """

    __array_priority__ = 1000  # so that ``ndarray * tensor`` calls ``Tensor.__rmul__``
    __hash__ = object.__hash__  # ``==`` is elementwise, so hash by identity as PyTorch does

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = backend.as_array(data.data if isinstance(data, Tensor) else data, dtype)
        self.grad = None
        self._ctx = None  # the Function that produced this tensor; None for a leaf
        self._retain_grad = False
        self._version = 0  # bumped by in-place updates, checked by backward
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, array, ctx):
        """Wrap an op's output without re-validating it (the hot path)."""
        out = cls.__new__(cls)
        out.data, out.grad, out._ctx, out._retain_grad, out._version = array, None, ctx, False, 0
        out.requires_grad = ctx is not None
        return out

    # ---- what the tensor is ------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """The op (a ``functions.Function``) that made this tensor; its ``inputs`` are the tensors
        it was made from. None for a leaf, as in PyTorch."""
        return self._ctx

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return math.prod(self.data.shape)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        text = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        extra = f", dtype={backend.dtype_name(self.dtype)}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self._ctx is not None:
            extra += f", grad_fn=<{type(self._ctx).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({text}{extra})"

    # ---- gradient bookkeeping -----------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        """Mark a leaf as a parameter whose gradient ``backward()`` should compute."""
        if requires_grad and not backend.is_floating(self.data):
            raise TypeError(f"requires_grad: only floating-point tensors can require a "
                            f"gradient, got dtype {backend.dtype_name(self.dtype)}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; "
                               "use detach() for a result of an operation")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor too (useful for checking the chain rule)."""
        self._retain_grad = True
        return self

    def detach(self):
        """The same data in a new leaf that is cut from the graph."""
        return Tensor._from_op(self.data, None)

    def backward(self, grad=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires a gradient; add it to ``.grad``.

        ``grad`` is the upstream gradient dL/d(self); it may be left out only when self holds
        a single number (then dL/d(self) = 1). The graph is freed afterwards unless
        ``retain_graph=True``. The work is done by ``autograd.backward``.
        """
        autograd.backward(self, grad.data if isinstance(grad, Tensor) else grad, retain_graph)

    def _accumulate_grad(self, g):
        """self.grad += g (the walk's last step for a leaf), where ``.grad`` may still be None.

        The first gradient is stored as it is, without a copy, though the array may be shared with
        another tensor's gradient; so the second is added out of place, into a fresh array that
        only this tensor holds (marked ``_accumulator``). From the third on, adding in place is safe.
        """
        current = self.grad
        if current is None:
            self.grad = Tensor._from_op(g, None)
        elif getattr(current, "_accumulator", False):
            current.data += g
        else:
            self.grad = Tensor._from_op(current.data + g, None)
            self.grad._accumulator = True

    # ---- moving and converting -----------------------------------------------------------
    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item(): only a one-element tensor can be turned into a Python "
                             f"number, this one has shape {self.shape}")
        return backend.to_numpy(self.data).reshape(()).item()

    def numpy(self):
        """The values as a host NumPy array (a copy when the tensor lives on a GPU)."""
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        return backend.to_numpy(self.data)

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def to(self, device=None, dtype=None):
        """A copy on ``device`` ('cpu' or 'cuda') and/or with ``dtype``; self if nothing changes."""
        data = self.data
        if device is not None:
            data = backend.to_device(data, device)
        if dtype is not None and backend.dtype_name(dtype) != backend.dtype_name(data.dtype):
            data = backend.namespace(data).astype(data, backend.dtype_like(dtype, data))
        if data is self.data:
            return self
        return Tensor(data, requires_grad=self.requires_grad)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # ---- operators: each one calls a single op class of ``functions`` ---------------------
    def _lift(self, other):
        """A number or array as a constant tensor beside self (same device, dtype for numbers)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, int, float, np.number)):
            xp = backend.namespace(self.data)
            dtype = self.data.dtype if backend.is_floating(self.data) or isinstance(
                other, (bool, int, np.integer)) else xp.float32
            return Tensor._from_op(xp.asarray(other, dtype=dtype), None)
        return Tensor(other).to(self.device)

    def __add__(self, other):
        return F.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return F.Add.apply(self._lift(other), self)

    def __sub__(self, other):
        return F.Sub.apply(self, self._lift(other))

    def __rsub__(self, other):
        return F.Sub.apply(self._lift(other), self)

    def __mul__(self, other):
        return F.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return F.Mul.apply(self._lift(other), self)

    def __truediv__(self, other):
        return F.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other):
        return F.Div.apply(self._lift(other), self)

    def __neg__(self):
        return F.Neg.apply(self)

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float, np.number)) or isinstance(exponent, bool):
            raise TypeError(f"pow: the exponent must be a Python number, got "
                            f"{type(exponent).__name__}")
        return F.Pow.apply(self, exponent=exponent)

    def __matmul__(self, other):
        return F.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other):
        return F.MatMul.apply(self._lift(other), self)

    # comparisons give plain tensors: they have no gradient
    def __lt__(self, other):
        return Tensor._from_op(self.data < self._lift(other).data, None)

    def __le__(self, other):
        return Tensor._from_op(self.data <= self._lift(other).data, None)

    def __gt__(self, other):
        return Tensor._from_op(self.data > self._lift(other).data, None)

    def __ge__(self, other):
        return Tensor._from_op(self.data >= self._lift(other).data, None)

    def __eq__(self, other):
        return Tensor._from_op(self.data == self._lift(other).data, None)

    def __ne__(self, other):
        return Tensor._from_op(self.data != self._lift(other).data, None)

    def __getitem__(self, key):
        """Basic indexing (ints, slices, None, ...) or one integer array/list/Tensor of rows."""
        if isinstance(key, Tensor):
            key = key.data
        if isinstance(key, list) or backend.is_array(key):
            indices = backend.asarray_like(np.asarray(backend.to_numpy(key) if backend.is_array(
                key) else key), self.data)
            if np.dtype(backend.dtype_name(indices.dtype)).kind not in "iu":
                raise TypeError(f"index: an index array must hold integers, got "
                                f"{backend.dtype_name(indices.dtype)}")
            return F.IndexSelect.apply(self, indices=indices, axis=0)
        return F.GetItem.apply(self, key=key)

    # reductions take NumPy's (axis, keepdims) or PyTorch's (dim, keepdim) spelling
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        return F.Sum.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        return F.Mean.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        """The largest values (only the values: PyTorch's max(dim) also returns indices)."""
        return F.Max.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def argmax(self, axis=None, *, dim=None):
        axis = _pick(axis, dim)
        return Tensor._from_op(backend.namespace(self.data).argmax(self.data, axis=axis), None)

    def logsumexp(self, axis=-1, keepdims=False, *, dim=None, keepdim=False):
        return F.LogSumExp.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def log_softmax(self, axis=-1, *, dim=None):
        return F.LogSoftmax.apply(self, axis=_pick(axis, dim))

    def softmax(self, axis=-1, *, dim=None):
        return F.Softmax.apply(self, axis=_pick(axis, dim))

    def exp(self):
        return F.Exp.apply(self)

    def log(self):
        return F.Log.apply(self)

    def relu(self):
        return F.ReLU.apply(self)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return F.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def flatten(self, start_dim=0):
        return self.reshape(self.shape[:start_dim] + (-1,))

    def permute(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return F.Transpose.apply(self, axes=tuple(axes))

    def transpose(self, dim0=0, dim1=1):
        """Swap two axes, as PyTorch's ``transpose(dim0, dim1)`` does."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return F.Transpose.apply(self, axes=tuple(axes))

    @property
    def T(self):
        return F.Transpose.apply(self)

    # ---- in-place updates (optimizers use them; they bump the version counter) ----------
    def _begin_inplace(self):
        if self.requires_grad and self._ctx is None and autograd._GradMode.enabled:
            raise RuntimeError("a leaf tensor that requires grad is being changed in place; "
                               "wrap the update in 'with minitransfer.no_grad():'")
        self._version += 1  # a graph that saved the old values can no longer backward

    def add_(self, other, alpha=1.0):
        """self += alpha * other, writing into the existing array."""
        other = other.data if isinstance(other, Tensor) else other
        self._begin_inplace()
        self.data += other if alpha == 1.0 else alpha * other
        return self

    def sub_(self, other, alpha=1.0):
        """self −= alpha * other, writing into the existing array (SGD's θ ← θ − η g)."""
        other = other.data if isinstance(other, Tensor) else other
        self._begin_inplace()
        self.data -= other if alpha == 1.0 else alpha * other
        return self

    def mul_(self, other):
        other = other.data if isinstance(other, Tensor) else other
        self._begin_inplace()
        self.data *= other
        return self

    def zero_(self):
        self._begin_inplace()
        self.data[...] = 0
        return self

    def copy_(self, source):
        """Overwrite the values with those of ``source`` (same shape; cast to self's dtype)."""
        source = source.data if isinstance(source, Tensor) else source
        if tuple(source.shape) != self.shape:
            raise ValueError(f"copy_: expected shape {self.shape}, got {tuple(source.shape)}")
        source = backend.to_device(source, self.device)
        source = backend.namespace(source).astype(source, self.data.dtype)
        self._begin_inplace()
        self.data[...] = source
        return self


def _pick(axis, dim):
    return axis if dim is None else dim


# The op classes need Tensor, and Tensor's operators call them: import last (a cycle by design).
from minitransfer import functions as F  # noqa: E402
