"""Module: the base class of every layer and model, shaped like ``torch.nn.Module``.

A module is a tree. Assigning a ``Parameter`` or another ``Module`` to an attribute registers
it under that name, so ``model.named_parameters()`` can walk the tree and name every weight by
its path: ``body.0.weight``, ``head.bias``. Those names are the keys of ``state_dict()``, and
they match PyTorch's, so a state dict can travel between the two libraries.
"""

from collections import OrderedDict, namedtuple

import numpy as np

from minitransfer import backend
from minitransfer.autograd import no_grad
from minitransfer.nn.parameter import Parameter
from minitransfer.tensor import Tensor

# What ``load_state_dict`` returns, as in PyTorch: the model's keys the state dict lacked, and
# the state dict's keys the model does not have.
_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class: subclasses call ``super().__init__()``, assign layers, and define ``forward``.

    ``model(x)`` calls ``model.forward(x)``. ``training`` is True after ``train()`` and False
    after ``eval()``; layers whose behaviour differs (dropout, batch norm) would read it.
    """

    # Bumped whenever any module gains, loses or swaps a parameter or a child: a captured training
    # step (``replay.capture``) compares it at every call to learn, in one comparison, that no
    # model anywhere has changed shape since the step was recorded.
    _structure_version = 0

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these two dicts to exist already.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        """Register Parameters and Modules by attribute name; anything else is a plain attribute.

        The registered value is also stored as an ordinary attribute, so reading ``self.weight``
        is a plain (fast) lookup; this method keeps the registry and the attribute in step.
        """
        registered = self.__dict__.get("_parameters")
        if registered is None:  # Module.__init__ has not run yet
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called: "
                                     f"call super().__init__() first in "
                                     f"{type(self).__name__}.__init__")
            object.__setattr__(self, name, value)
        elif isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (nn.Parameter or None expected)")
            self.register_parameter(name, None)
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                f"of {type(self).__name__} (nn.Module or None expected)")
            self.add_module(name, None)
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name):
        Module._structure_version += 1
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as a missing bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected nn.Parameter or None for {name!r}, "
                            f"got {type(param).__name__}")
        Module._structure_version += 1
        self._modules.pop(name, None)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name, module):
        """Register a child module (or None) under ``name``; ``Sequential`` uses "0", "1", ..."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: expected nn.Module or None for {name!r}, got "
                            f"{type(module).__name__}")
        Module._structure_version += 1
        self._parameters.pop(name, None)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # ---- walking the tree -----------------------------------------------------------------
    def named_modules(self, prefix=""):
        """Yield (path, module) for this module and every module below it, each once."""
        seen, stack = set(), [(prefix, self)]
        while stack:  # depth first, children in registration order
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix="", recurse=True):
        """Yield (path, parameter) pairs; a parameter shared by two layers is listed once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{path}.{name}" if path else name), param

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule and then on self (e.g. a custom initialiser)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients --------------------------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze (True) every parameter of this module and its children.

        A frozen parameter gets no gradient and no update, but gradients still flow *through*
        the layer to the trainable layers before it.
        """
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter (they accumulate across ``backward()`` calls)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:  # a new zero array: the old one may be shared with another tensor
                param.grad = Tensor(backend.namespace(param.grad.data).zeros_like(param.grad.data))

    # ---- devices and dtypes ---------------------------------------------------------------
    def to(self, device=None, dtype=None):
        """Move every parameter (and its gradient) to ``device`` and/or cast it to ``dtype``.

        As in PyTorch the parameters are changed *in place* (their ``.data`` is replaced), so an
        optimizer built before ``to()`` still holds the same Parameter objects.
        ``model.to("float64")`` is read as a dtype, like ``model.to(torch.float64)``.
        """
        if device is not None and dtype is None and _is_dtype(device):
            device, dtype = None, device
        if device is not None:  # check both before anything moves
            device = backend.check_device(device)
        if dtype is not None:
            _check_float_dtype(dtype)
        for param in self.parameters():
            for tensor in (param, param.grad):
                if tensor is None:
                    continue
                moved = tensor.to(device=device, dtype=dtype).data
                if moved is not tensor.data:
                    tensor._version_counter[0] += 1  # a graph that saved the old array cannot backward
                    tensor.data = moved
        return self

    def double(self):
        return self.to(dtype="float64")

    def float(self):
        return self.to(dtype="float32")

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ---- state dicts ----------------------------------------------------------------------
    def state_dict(self):
        """An ordered dict from parameter path (``body.0.weight``) to a detached Tensor.

        The tensors share memory with the parameters, as in PyTorch: training changes them.
        ``minitransfer.save(model.state_dict(), path)`` writes a copy to disk.
        """
        return OrderedDict((name, param.detach()) for name, param in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into this module's parameters.

        Every key is checked first, and nothing is loaded unless all checks pass: a value whose
        shape or dtype differs from the parameter's raises ``ValueError`` listing every such
        key with both shapes. With ``strict=True`` a missing or unexpected key is an error too;
        with ``strict=False`` they are returned as ``(missing_keys, unexpected_keys)``.
        Values may be Tensors or arrays on any device; they are copied to the parameter's device.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict of name -> Tensor, got "
                            f"{type(state_dict).__name__}")
        own = OrderedDict(self.named_parameters())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        problems = []
        for name, param in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.data if isinstance(value, Tensor) else value
            if not backend.is_array(value):
                problems.append(f"{name}: expected a Tensor or array, got {type(value).__name__}")
                continue
            shape, dtype = tuple(value.shape), backend.dtype_name(value.dtype)
            if shape != param.shape:
                problems.append(f"size mismatch for {name}: the checkpoint has shape {shape}, "
                                f"the model has shape {param.shape}")
            elif dtype != backend.dtype_name(param.dtype):
                problems.append(f"dtype mismatch for {name}: the checkpoint has {dtype}, the model "
                                f"has {backend.dtype_name(param.dtype)} (convert with "
                                f"model.double() or model.float() first)")
        if strict:
            problems += [f"missing key: {name}" for name in missing]
            problems += [f"unexpected key: {name}" for name in unexpected]
        if problems:
            raise ValueError(f"load_state_dict: error(s) in loading state_dict for "
                             f"{type(self).__name__}; nothing was loaded:\n  " + "\n  ".join(problems))
        with no_grad():
            for name, param in own.items():
                if name in state_dict:
                    param.copy_(state_dict[name])
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing -------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside the parentheses of this module's repr (layers override it)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + _indent(repr(child)) for name, child in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        inner = ([self.extra_repr()] if self.extra_repr() else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(inner) + "\n)"


def _indent(text):
    return text.replace("\n", "\n  ")


def _is_dtype(value):
    """True for 'float64', numpy.float64 and the like; False for device names such as 'cpu'."""
    try:
        np.dtype(backend.dtype_name(value))
    except TypeError:
        return False
    return True


def _check_float_dtype(dtype):
    if not _is_dtype(dtype) or np.dtype(backend.dtype_name(dtype)).kind != "f":
        raise TypeError(f"to(): dtype must be a floating-point type such as 'float32' or "
                        f"'float64', got {dtype!r}")
