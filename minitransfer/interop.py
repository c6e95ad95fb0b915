"""The way out to PyTorch: ``to_torch(model)`` and ``from_torch(module)`` for MLP-shaped models.

An MLP-shaped model is what ``nn.MLP`` builds: a ``body`` of Linear, ReLU, Linear, ReLU, ...
(possibly empty) and a Linear ``head``, every Linear with a bias, all weights of one dtype
(float32 or float64). Both directions copy the weights exactly, keep the dtype and which
parameters are frozen (``requires_grad``) and train/eval mode:

    minitransfer                      PyTorch (what to_torch returns)
    nn.MLP                            interop.TorchMLP, a torch.nn.Module: head(body(x))
      body  nn.Sequential               body  torch.nn.Sequential
      head  nn.Linear                   head  torch.nn.Linear

so the state-dict keys are the same on both sides (``body.0.weight``, ``head.bias``).
``from_torch`` also accepts a plain ``torch.nn.Sequential`` of Linear/ReLU ending in a Linear,
the way PyTorch tutorials write an MLP: its last layer becomes ``head`` and the layers before
it ``body``, renumbered from 0, e.g. Sequential(Linear, ReLU, Linear) has keys ``0.weight``,
``2.weight``, which become ``body.0.weight`` and ``head.weight``.

Anything else (another layer, a missing bias, sizes that do not chain, a forward that is not
head(body(x))) raises an error that names what was found: a converted model never computes
something different. Each conversion ends by running both models on a small probe batch and
comparing the outputs. torch is imported inside the functions: minitransfer does not need it.
"""

import numpy as np

from minitransfer import backend, nn
from minitransfer.autograd import no_grad
from minitransfer.tensor import Tensor

_torch_mlp_class = None  # TorchMLP, defined when torch is first needed


def _import_torch(caller):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{caller} needs PyTorch (the torch package), which is not installed; "
                          f"install it with 'pip install torch'. The rest of minitransfer does "
                          f"not need it.") from None
    return torch


def __getattr__(name):
    """``interop.TorchMLP`` is defined on first use, so that importing this module needs no torch
    (and ``torch.load`` of a pickled TorchMLP finds the class)."""
    if name == "TorchMLP":
        return _torch_mlp(_import_torch("TorchMLP"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _torch_mlp(torch):
    global _torch_mlp_class
    if _torch_mlp_class is None:

        class TorchMLP(torch.nn.Module):
            """torch.nn's twin of minitransfer's nn.MLP: logits = head(body(x))."""

            def __init__(self, body, head):
                super().__init__()
                self.body = body
                self.head = head

            def forward(self, x):
                return self.head(self.body(x))

        TorchMLP.__module__, TorchMLP.__qualname__ = __name__, "TorchMLP"
        _torch_mlp_class = TorchMLP
    return _torch_mlp_class


def _check_mlp_layers(caller, body, head, linear, relu):
    """The Linear layers, in order, of an MLP-shaped body [(name, layer), ...] and head (name,
    layer); ``linear`` and ``relu`` are the library's classes. A TypeError names what differs."""
    expected = "Linear, ReLU, Linear, ReLU, ..., Linear (the body, then the head), as nn.MLP builds"
    if type(head[1]) is not linear:
        raise TypeError(f"{caller}: expected {expected}; found {type(head[1]).__name__} at "
                        f"{head[0]}, where the Linear head belongs")
    for index, (name, layer) in enumerate(body + [head]):
        wanted = linear if index % 2 == 0 else relu
        if type(layer) is not wanted:
            raise TypeError(f"{caller}: expected {expected}; found {type(layer).__name__} at "
                            f"{name}, where {wanted.__name__} belongs")
    layers = body[::2] + [head]
    for name, layer in layers:
        if layer.bias is None:
            raise TypeError(f"{caller}: every Linear needs a bias (nn.MLP's do); the Linear at "
                            f"{name} has none")
    for (before, a), (name, b) in zip(layers, layers[1:]):
        if a.out_features != b.in_features:
            raise ValueError(f"{caller}: sizes do not chain: the Linear at {before} gives "
                             f"{a.out_features} features, but the one at {name} expects {b.in_features}")
    return [layer for _, layer in layers]


def _one_float_dtype(caller, dtypes):
    names = sorted(set(dtypes))
    if len(names) != 1 or names[0] not in ("float32", "float64"):
        raise ValueError(f"{caller}: expected every weight in float32, or every weight in float64; "
                         f"found {', '.join(names)}")
    return names[0]


def _check_same_outputs(caller, ours, theirs, torch, dtype, n_inputs):
    """Run both models on a probe batch; a ValueError if their outputs differ."""
    x = np.random.default_rng(0).standard_normal((4, n_inputs)).astype(dtype)
    device = next(iter(ours.parameters())).device
    with no_grad():
        mine = ours(Tensor(x).to(device)).numpy()
    torch_device = next(theirs.parameters()).device
    with torch.no_grad():
        other = theirs(torch.from_numpy(x).to(torch_device)).cpu().numpy()
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    if mine.shape != other.shape or not np.allclose(mine, other, rtol=tolerance, atol=tolerance):
        raise ValueError(f"{caller}: the converted model's outputs differ from the original's on a "
                         f"probe batch; the original's forward is not head(body(x))")


def to_torch(model):
    """An equivalent ``torch.nn.Module`` (``TorchMLP``, on the CPU) with a copy of the weights.

    ``model`` is an ``nn.MLP`` or any module shaped like one (see the module docstring). The
    result has the same state-dict keys, dtype, frozen parameters and train/eval mode.
    """
    torch = _import_torch("to_torch")
    if not isinstance(model, nn.Module):
        hint = " (from_torch converts that way)" if type(model).__module__.startswith("torch") else ""
        raise TypeError(f"to_torch: expected a minitransfer model (an nn.MLP), got "
                        f"{type(model).__name__}{hint}")
    children = dict(model.named_children())
    if set(children) != {"body", "head"} or not isinstance(children["body"], nn.Sequential) \
            or list(model.named_parameters(recurse=False)):
        raise TypeError(f"to_torch: expected an MLP-shaped model: a 'body' (nn.Sequential) and a "
                        f"'head' (nn.Linear) and nothing else, as nn.MLP builds; found "
                        f"{type(model).__name__} (children: {', '.join(sorted(children)) or 'none'})")
    body = [(f"body.{name}", layer) for name, layer in model.body.named_children()]
    linears = _check_mlp_layers("to_torch", body, ("head", model.head), nn.Linear, nn.ReLU)
    dtype = _one_float_dtype("to_torch", [backend.dtype_name(p.dtype) for p in model.parameters()])
    converted = {id(layer): _torch_linear(torch, layer, dtype) for layer in linears}
    torch_body = torch.nn.Sequential(*[converted[id(layer)] if isinstance(layer, nn.Linear)
                                       else torch.nn.ReLU() for _, layer in body])
    module = _torch_mlp(torch)(torch_body, converted[id(model.head)])
    module.train(model.training)
    _check_same_outputs("to_torch", model, module, torch, dtype, linears[0].in_features)
    return module


def _torch_linear(torch, layer, dtype):
    """torch.nn.Linear holding a copy of ``layer``'s weights (skip_init: torch's RNG is untouched)."""
    copy = torch.nn.utils.skip_init(torch.nn.Linear, layer.in_features, layer.out_features,
                                    dtype=getattr(torch, dtype))
    with torch.no_grad():
        for name in ("weight", "bias"):
            ours = getattr(layer, name)
            getattr(copy, name).copy_(torch.from_numpy(np.array(ours.detach().numpy(), copy=True)))
            getattr(copy, name).requires_grad_(ours.requires_grad)
    return copy


def from_torch(module):
    """An ``nn.MLP`` with a copy of the weights of a PyTorch MLP (see the module docstring).

    ``module`` is a ``torch.nn.Module`` with exactly a ``body`` (torch.nn.Sequential) and a
    ``head`` (torch.nn.Linear), such as ``to_torch`` makes, or a ``torch.nn.Sequential`` of
    Linear/ReLU ending in a Linear. The model is on the CPU, with the module's dtype, frozen
    parameters and train/eval mode.
    """
    torch = _import_torch("from_torch")
    if not isinstance(module, torch.nn.Module):
        hint = " (to_torch converts that way)" if isinstance(module, nn.Module) else ""
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}{hint}")
    if isinstance(module, torch.nn.Sequential):
        children = list(module.named_children())
        if not children:
            raise TypeError("from_torch: expected a Sequential ending in a Linear; this one is empty")
        body, head = children[:-1], children[-1]
    else:
        children = dict(module.named_children())
        if set(children) != {"body", "head"} or not isinstance(children["body"], torch.nn.Sequential) \
                or list(module.named_parameters(recurse=False)):
            raise TypeError(f"from_torch: expected a torch.nn.Sequential of Linear/ReLU ending in a "
                            f"Linear, or a module with exactly a 'body' (Sequential) and a 'head' "
                            f"(Linear); found {type(module).__name__} (children: "
                            f"{', '.join(sorted(children)) or 'none'})")
        body = [(f"body.{name}", layer) for name, layer in children["body"].named_children()]
        head = ("head", children["head"])
    linears = _check_mlp_layers("from_torch", body, head, torch.nn.Linear, torch.nn.ReLU)
    dtype = _one_float_dtype("from_torch", [str(p.dtype).removeprefix("torch.")
                                            for p in module.parameters()])
    sizes = [linears[0].in_features] + [layer.out_features for layer in linears]
    # generator=0: the initial draw is overwritten below, and the default generator stays as it was
    model = nn.MLP(sizes, generator=0, dtype=dtype)
    ours = [layer for layer in model.body if isinstance(layer, nn.Linear)] + [model.head]
    with no_grad():
        for mine, theirs in zip(ours, linears):
            for name in ("weight", "bias"):
                value = getattr(theirs, name)
                getattr(mine, name).copy_(value.detach().cpu().numpy())
                getattr(mine, name).requires_grad_(value.requires_grad)
    model.train(module.training)
    _check_same_outputs("from_torch", model, module, torch, dtype, sizes[0])
    return model
