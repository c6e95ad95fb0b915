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
        # In-place changes so far, checked by backward. A one-element list, so that a tensor and
        # its detach()ed copies, which share the data, share the count too (as in PyTorch).
        self._version_counter = [0]
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, array, ctx):
        """Wrap an op's output without re-validating it (the hot path)."""
        out = cls.__new__(cls)
        out.data, out.grad, out._ctx, out._retain_grad = array, None, ctx, False
        out._version_counter, out.requires_grad = [0], ctx is not None
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
    def _version(self):
        """How many times the data were changed in place (PyTorch's ``tensor._version``)."""
        return self._version_counter[0]

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
        """The same data in a new leaf that is cut from the graph.

        The data are shared, so the version counter is shared too: an in-place change through
        the detached tensor makes a backward that saved the original raise, as in PyTorch.
        """
        out = Tensor._from_op(self.data, None)
        out._version_counter = self._version_counter
        return out

    def backward(self, grad=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires a gradient; add it to ``.grad``.

        ``grad`` is the upstream gradient dL/d(self); it may be left out only when self holds
        a single number (then dL/d(self) = 1). The graph is freed afterwards unless
        ``retain_graph=True``. The work is done by ``autograd.backward``.
        """
        autograd.backward(self, grad.data if isinstance(grad, Tensor) else grad, retain_graph)

    def _accumulate_grad(self, g, shared=False):
        """self.grad += g (the walk's last step for a leaf), where ``.grad`` may still be None.

        A tensor owns its ``.grad``, as PyTorch's AccumulateGrad makes sure: the first gradient is
        stored as it is only when nothing else can hold that array (a fresh, writeable result of
        an op); a view (e.g. Sum's read-only broadcast) or an array that ``shared`` says another
        tensor got too (Add hands the same g to both inputs) is copied. So ``p.grad.mul_(c)``
        (gradient clipping) works and changes no other gradient; later gradients add in place.
        """
        if self.grad is None:
            self.grad = Tensor._from_op(g if not shared and backend.owns_memory(g) else
                                        backend.copy(g), None)
        else:
            self.grad.data += g

    # ---- moving and converting -----------------------------------------------------------
    def __bool__(self):
        """``if loss < 0.1:`` reads a one-element tensor; more values are ambiguous, as in PyTorch."""
        if self.numel() != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor with {self.numel()} values (shape "
                               f"{self.shape}) is ambiguous; reduce it first, e.g. .all() or .any()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """A one-element integer tensor as a list index or ``range`` bound, as in PyTorch."""
        if self.numel() != 1 or backend.is_floating(self.data):
            raise TypeError(f"index: only integer tensors of a single element can be converted to "
                            f"an index, got dtype {backend.dtype_name(self.dtype)} and shape {self.shape}")
        return int(self.item())

    def __iter__(self):
        """The tensor's rows, each a tensor with a gradient path (``self[i]``), as in PyTorch."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

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

    def to(self, device=None, dtype=None, copy=False):
        """A copy on ``device`` ('cpu' or 'cuda') and/or with ``dtype``; self if nothing changes
        (unless ``copy``). The copy stays in the graph: its gradient flows back, moved and cast
        back (``functions.ToCopy``), as in PyTorch. A cast to integers has no gradient."""
        moves = device is not None and not backend.is_on(self.data, backend.check_device(device))
        casts = dtype is not None and backend.dtype_name(dtype) != backend.dtype_name(self.dtype)
        if not (moves or casts or copy):
            return self
        source = self if not casts or backend.dtype_kind(dtype) == "f" else self.detach()
        return F.ToCopy.apply(source, device=device, dtype=dtype)

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
        """A number or array as a constant tensor beside self (same device). A Python number takes
        self's dtype, as in PyTorch, except a float beside integers (float32, the default dtype)
        and an int beside bools (int64)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, int, float, np.number)):
            xp, kind = backend.namespace(self.data), backend.dtype_kind(self.dtype)
            dtype = (xp.float32 if isinstance(other, (float, np.floating)) and kind != "f" else
                     xp.int64 if kind == "b" and not isinstance(other, bool) else self.data.dtype)
            return Tensor._from_op(xp.asarray(other, dtype=dtype), None)
        return Tensor(other).to(self.device)

    def _operands(self, other, reverse=False, divide=False):
        """(self, other) for a binary op, (other, self) when ``reverse``, promoted as in PyTorch:
        integers (or bools) beside a float tensor take its dtype, and true division of integers
        gives float32. (NumPy 2 would make int64 / float32 float64.)"""
        other = self._lift(other)
        a, b = (other, self) if reverse else (self, other)
        if type(a.data) is not type(b.data) or (a.data.dtype == b.data.dtype and not divide):
            return a, b  # (arrays of two libraries: the op refuses them)
        float_a, float_b = backend.is_floating(a.data), backend.is_floating(b.data)
        if float_a != float_b or (divide and not float_a):
            dtype = a.dtype if float_a else b.dtype if float_b else backend.dtype_like("float32", a.data)
            return _with_dtype(a, dtype), _with_dtype(b, dtype)
        return a, b

    def __add__(self, other):
        return F.Add.apply(*self._operands(other))

    def __radd__(self, other):
        return F.Add.apply(*self._operands(other, reverse=True))

    def __sub__(self, other):
        return F.Sub.apply(*self._operands(other))

    def __rsub__(self, other):
        return F.Sub.apply(*self._operands(other, reverse=True))

    def __mul__(self, other):
        return F.Mul.apply(*self._operands(other))

    def __rmul__(self, other):
        return F.Mul.apply(*self._operands(other, reverse=True))

    def __truediv__(self, other):
        return F.Div.apply(*self._operands(other, divide=True))

    def __rtruediv__(self, other):
        return F.Div.apply(*self._operands(other, reverse=True, divide=True))

    def __neg__(self):
        return F.Neg.apply(self)

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float, np.number)) or isinstance(exponent, bool):
            raise TypeError(f"pow: the exponent must be a Python number, got "
                            f"{type(exponent).__name__}")
        if isinstance(exponent, (float, np.floating)) and not backend.is_floating(self.data):
            return _with_dtype(self, backend.dtype_like("float32", self.data)) ** exponent
        return F.Pow.apply(self, exponent=exponent)

    def __matmul__(self, other):
        return F.MatMul.apply(*self._operands(other))

    def __rmatmul__(self, other):
        return F.MatMul.apply(*self._operands(other, reverse=True))

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
        """``x[key]`` for every key NumPy accepts: ints, slices, None, ..., integer arrays, lists
        or Tensors (repeats allowed), boolean masks, and mixes of them (``functions.GetItem``)."""
        return F.GetItem.apply(self, key=_key_arrays(key))

    def __setitem__(self, key, value):
        """``x[key] = value``, written into the data: an in-place change like ``add_`` (refused on
        a leaf that requires grad outside no_grad; bumps the version). It is not recorded in the
        graph, so a value that requires grad is refused rather than silently cut off."""
        if isinstance(value, Tensor) and value.requires_grad and autograd._GradMode.enabled:
            raise RuntimeError("setitem: the value requires grad, but x[key] = value is not recorded "
                               "in the graph; assign value.detach(), or build x out of place")
        value = value.data if isinstance(value, Tensor) else value
        self._begin_inplace()
        self.data[backend.host_key(_key_arrays(key))] = value

    def index_select(self, dim, index):
        """The slices along axis ``dim`` at ``index`` (integers, any shape; repeats allowed)."""
        indices = backend.asarray_like(backend.host_key(_key_arrays(index)), self.data)
        if backend.dtype_kind(indices.dtype) not in "iu":
            raise TypeError(f"index_select: index must hold integers, got "
                            f"{backend.dtype_name(indices.dtype)}")
        return F.IndexSelect.apply(self, indices=indices, axis=dim)

    # reductions take NumPy's (axis, keepdims) or PyTorch's (dim, keepdim) spelling
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        return F.Sum.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        return F.Mean.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        """The largest values (only the values: PyTorch's max(dim) also returns indices)."""
        return F.Max.apply(self, axis=_pick(axis, dim), keepdims=keepdims or keepdim)

    def all(self):
        return Tensor._from_op(backend.namespace(self.data).all(self.data), None)

    def any(self):
        return Tensor._from_op(backend.namespace(self.data).any(self.data), None)

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
        if self.requires_grad and autograd._GradMode.enabled:
            if self._ctx is None:
                raise RuntimeError("a leaf tensor that requires grad is being changed in place; "
                                   "wrap the update in 'with minitransfer.no_grad():'")
            # PyTorch would record the change in the graph; here it would be missed, and the
            # gradient silently wrong, so it is refused
            raise RuntimeError(f"a result of {type(self._ctx).__name__} that requires grad is being "
                               f"changed in place, which its graph cannot record; compute a new "
                               f"tensor (h = h * 2), or change it under 'with minitransfer.no_grad():'")
        self._version_counter[0] += 1  # a graph that saved the old values can no longer backward

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


def _with_dtype(t, dtype):
    """t, or a copy cast to ``dtype`` (only integer or bool tensors, which have no gradient)."""
    xp = backend.namespace(t.data)
    return t if t.data.dtype == dtype else Tensor._from_op(xp.astype(t.data, dtype), None)


def _key_arrays(key):
    """An index with each Tensor in it replaced by its array."""
    parts = tuple(k.data if isinstance(k, Tensor) else k for k in (key if isinstance(key, tuple) else (key,)))
    return parts if isinstance(key, tuple) else parts[0]


# The op classes need Tensor, and Tensor's operators call them: import last (a cycle by design).
from minitransfer import functions as F  # noqa: E402
