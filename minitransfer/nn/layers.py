"""Layers: Linear, ReLU, Identity, Flatten, Sequential, the MLP of the document, and
GradientReversal (domain adaptation, ``minitransfer.adapt``).

The document's f_θ is a multilayer perceptron:

    h₀ = x,   hₗ = ReLU(hₗ₋₁ W_lᵀ + b_l) for the hidden layers,   f_θ(x) = h_{k−1} W_kᵀ + b_k

``MLP`` names the hidden layers ``body`` and the last Linear ``head``: transfer learning keeps
the body (the learned features) and replaces the head (the task's output layer).
"""

import math
from collections import OrderedDict

import numpy as np

from minitransfer import backend
from minitransfer import functions as F
from minitransfer.nn import init
from minitransfer.nn.module import Module
from minitransfer.nn.parameter import Parameter
from minitransfer.tensor import Tensor


def _positive_int(value, what, layer):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {what} must be a positive integer, got {value!r}")
    return int(value)


class Linear(Module):
    """z = x Wᵀ + b, with W of shape (out_features, in_features) and b of shape (out_features,).

    Initialised as PyTorch does: every weight and bias is drawn from U(−1/√in, 1/√in), the
    weight first and then the bias, from ``generator`` (None: the package's default generator,
    reseeded by ``minitransfer.manual_seed``; an int seed; or a ``numpy.random.Generator``).
    The forward pass is one fused op, ``functions.Affine``.
    """

    def __init__(self, in_features, out_features, bias=True, *, generator=None, dtype=None,
                 device=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dtype = np.float32 if dtype is None else dtype
        self.weight = Parameter(Tensor(np.zeros((self.out_features, self.in_features)), dtype=dtype))
        if bias:
            self.bias = Parameter(Tensor(np.zeros(self.out_features), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)
        if device is not None:
            self.to(device)

    def reset_parameters(self, generator=None):
        """PyTorch's default: kaiming_uniform_ with a = √5 for W (bound 1/√in), then U(−1/√in,
        1/√in) for b."""
        generator = backend.get_generator(generator)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def _name(self):
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._name()}: expected a Tensor, got {type(x).__name__} "
                            f"(wrap it with minitransfer.tensor(...))")
        shape = x.data.shape
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ValueError(f"{self._name()}: expected input with {self.in_features} features "
                             f"(last dimension), got shape {x.shape}")
        if 0 in shape[:-1]:
            raise ValueError(f"{self._name()}: expected a batch of at least one example, got shape "
                             f"{x.shape}")
        if type(x.data) is not type(self.weight.data):
            raise ValueError(f"{self._name()}: expected input on the weight's device "
                             f"({type(self.weight.data).__name__} on {self.weight.device}), got "
                             f"{type(x.data).__name__} on {x.device}; move it with x.to(...)")
        if x.data.dtype != self.weight.data.dtype:
            # NumPy would quietly promote float32 weights to float64 here; PyTorch refuses too.
            raise TypeError(f"{self._name()}: expected input of dtype "
                            f"{backend.dtype_name(self.weight.dtype)} like the layer's weight, got "
                            f"{backend.dtype_name(x.dtype)}; convert the input (x.float(), "
                            f"x.double()) or the model (model.float(), model.double())")
        if self.bias is None:
            return F.Affine.apply(x, self.weight)
        return F.Affine.apply(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """max(x, 0), elementwise (``functions.ReLU``)."""

    def forward(self, x):
        return F.ReLU.apply(x)


class GradientReversal(Module):
    """The identity forward; backward multiplies the gradient by −λ (``functions.GradientReversal``).

    Placed between features and a domain classifier (``adapt.dann``), it makes the features
    *maximise* the loss the classifier minimises. ``lambda_`` (λ ≥ 0) is a plain attribute: a
    training loop may change it at every step (DANN ramps it from 0 to 1). PyTorch has no such
    layer; implementations there write the same two-line autograd Function.
    """

    def __init__(self, lambda_=1.0):
        super().__init__()
        self.lambda_ = check_lambda(lambda_)

    def forward(self, x):
        return F.GradientReversal.apply(x, lambda_=check_lambda(self.lambda_))

    def extra_repr(self):
        return f"lambda_={self.lambda_:g}"


def check_lambda(value):
    """λ of a gradient reversal as a float: a finite number >= 0, else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"GradientReversal: lambda_ must be a finite number >= 0 (0 passes no "
                         f"gradient back, 1 the whole gradient reversed), got {value!r}")
    return float(value)


class Identity(Module):
    """Returns its input unchanged: a placeholder, e.g. for a removed head."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge the dimensions from ``start_dim`` on: (N, 8, 8) images -> (N, 64) rows."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return x.flatten(self.start_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}"


class Sequential(Module):
    """Apply modules one after another: ``Sequential(Linear(4, 3), ReLU())(x)``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict), so parameter names
    read ``0.weight``, ``2.bias``, as in PyTorch.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]


class MLP(Module):
    """Multilayer perceptron with a named feature extractor ``body`` and output layer ``head``.

        f_θ(x) = W_k h_{k−1} + b_k,   h_l = ReLU(W_l h_{l−1} + b_l),   h_0 = x

    ``MLP([784, 128, 10])`` is the document's network: body = Sequential(Linear(784, 128),
    ReLU()), head = Linear(128, 10); its state dict keys are ``body.0.weight``,
    ``body.0.bias``, ``head.weight``, ``head.bias``. Every hidden layer is followed by a ReLU;
    the head is not (it outputs logits for ``CrossEntropyLoss``). All layers draw their initial
    weights, in order, from one ``generator``.
    """

    def __init__(self, sizes, *, generator=None, dtype=None, device=None):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes must list at least the input and output sizes, e.g. "
                             f"[784, 128, 10], got {sizes}")
        for size in sizes:
            _positive_int(size, "every size", "MLP")
        self.sizes = [int(n) for n in sizes]
        generator = backend.get_generator(generator)  # one stream for all layers, in order
        hidden = []
        for n_in, n_out in zip(self.sizes[:-2], self.sizes[1:-1]):
            hidden += [Linear(n_in, n_out, generator=generator, dtype=dtype), ReLU()]
        self.body = Sequential(*hidden)
        self.head = Linear(self.sizes[-2], self.sizes[-1], generator=generator, dtype=dtype)
        if device is not None:
            self.to(device)

    def forward(self, x):
        return self.head(self.body(x))
