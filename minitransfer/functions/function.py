"""``Function``, a node of the graph, and ``unbroadcast``, the helper of every binary op."""

import numpy as np

from minitransfer import backend
from minitransfer.autograd import _GradMode
from minitransfer.tensor import Tensor


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


class Function:
    """A node of the graph. ``Op.apply(*tensors, **params)`` runs ``forward`` on the arrays and,
    when gradients are needed, remembers the inputs so that ``backward`` can run later."""

    inputs = None

    @classmethod
    def apply(cls, *inputs, **params):
        arrays = [t.data for t in inputs]
        kind = type(arrays[0])
        for array in arrays:
            if type(array) is not kind:
                raise ValueError(f"{cls.__name__}: all inputs must be on the same device, got "
                                 f"{inputs[0].device} and {backend.device_of(array)} "
                                 f"({kind.__name__} and {type(array).__name__})")
        fn = cls()
        out = fn.forward(*arrays, **params)
        if type(out) is not kind and isinstance(out, np.generic):  # NumPy reductions return scalars
            out = np.asarray(out)
        needs_input_grad = [t.requires_grad for t in inputs]
        if _GradMode.enabled and True in needs_input_grad:
            fn.inputs, fn.needs_input_grad = inputs, needs_input_grad
            fn.saved_versions = [t._version_counter[0] for t in inputs]  # t._version, inlined
            return Tensor._from_op(out, fn)
        return Tensor._from_op(out, None)

    def release(self):
        """Drop the inputs and saved arrays once backward has used them (frees the graph)."""
        self.__dict__.clear()
