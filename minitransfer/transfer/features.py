"""What the body "sees": the activation after each body layer, the one features helper.

A body layer is a module with parameters of its own (``workflow.body_layers``: a Linear) with
the activation that follows it. ``nn.MLP``'s body is Linear, ReLU, Linear, ReLU, ..., so
h_l = ReLU(W_l h_{l−1} + b_l), h_0 = x, and ``features`` returns h_1, ..., h_L (or one of
them) as host NumPy arrays; ``layer_output`` gives one layer as a Tensor with its graph, for
the attacks that differentiate through the body. Every §5 module reads the body through these
two (DESIGN §11): explanation (CKA per layer, PCA), attacks in feature space, transferability
scores, domain adaptation and the scaling experiments.
"""

import numpy as np

from minitransfer import backend, nn
from minitransfer.autograd import no_grad
from minitransfer.tensor import Tensor
from minitransfer.transfer.workflow import check_body_head, holds_parameters


def body_modules(model):
    """The body's modules in the order they run (a nested Sequential is walked into)."""
    check_body_head(model, "features")
    order, stack = [], [model.body]
    while stack:
        module = stack.pop()
        if isinstance(module, nn.Sequential):
            stack.extend(reversed(list(module)))
        else:
            order.append(module)
    return order


def _layer_ends(modules):
    """Indices of the modules after which a body layer's activation is complete.

    A layer ends at the last module before the next layer starts (after its activation), or at
    the body's last module.
    """
    ends, seen_layer = [], False
    for i in range(len(modules)):
        seen_layer = seen_layer or holds_parameters(modules[i])
        next_starts = i + 1 < len(modules) and holds_parameters(modules[i + 1])
        if seen_layer and (next_starts or i + 1 == len(modules)):
            ends.append(i)
    return ends


def _modules_and_ends(model, layer, caller):
    """The body's modules and its layer ends, with ``layer`` checked (None or an index)."""
    modules = body_modules(model)
    ends = _layer_ends(modules)
    if not ends:
        raise ValueError(f"{caller}: the body of {type(model).__name__} has no layer with parameters")
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, (int, np.integer))
                              or not -len(ends) <= layer < len(ends)):
        raise ValueError(f"{caller}: layer must be None or an index in [{-len(ends)}, "
                         f"{len(ends)}) (the body has {len(ends)} layers), got {layer!r}")
    return modules, ends


def num_body_layers(model):
    """How many body layers (a Linear and its activation) the model has: len(body_layers(model))."""
    return len(_layer_ends(body_modules(model)))


def features(model, x, layer=None, batch_size=1024):
    """Body activations for inputs ``x`` (an array or Tensor of shape (n, d)), without a graph.

    ``layer=None`` returns a list [h_1, ..., h_L], one (n, width_l) float array per body layer;
    an int returns that one layer (``layer=-1``: the last, the features the head reads).
    """
    modules, ends = _modules_and_ends(model, layer, "features")
    data = x.data if isinstance(x, Tensor) else x
    if not backend.is_array(data) or data.ndim != 2:
        raise ValueError(f"features: x must be a 2-D array of shape (n, d), got "
                         f"{type(data).__name__} of shape {getattr(data, 'shape', None)}")
    device = next((p.device for p in model.parameters()), "cpu")
    dtype = next((p.dtype for p in model.parameters()), np.float32)
    chunks = [[] for _ in ends]
    with no_grad():
        for start in range(0, len(data), batch_size):
            h = Tensor(data[start:start + batch_size], dtype=dtype).to(device)
            for i, module in enumerate(modules):
                h = module(h)
                if i in ends:
                    chunks[ends.index(i)].append(backend.to_numpy(h.data))
    layers = [np.concatenate(c) if c else np.zeros((0, 0)) for c in chunks]
    return layers if layer is None else layers[layer]


def layer_output(model, x, layer=-1):
    """h_layer for a Tensor ``x``, as a Tensor that keeps its graph: ``features`` for autograd.

    The same walk through the body as ``features`` (same modules, same layer ends), without
    ``no_grad``, so that ``backward()`` reaches x: the attacks of ``security`` move inputs to
    change what the body sees.
    """
    modules, ends = _modules_and_ends(model, layer, "layer_output")
    h = x
    for module in modules[:ends[layer] + 1]:
        h = module(h)
    return h
