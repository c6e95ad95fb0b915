"""What the body "sees": the activation after each body layer, the one features helper.

A body layer is a Linear with the activation that follows it (``nn.MLP``'s body is
Linear, ReLU, Linear, ReLU, ...): h_l = ReLU(W_l h_{l−1} + b_l), h_0 = x. ``features`` returns
h_1, ..., h_L (or one of them) as host NumPy arrays. Every §5 module reads the body through this
function (DESIGN §11): explanation (CKA per layer, PCA), attacks in feature space,
transferability scores, domain adaptation and the scaling experiments.
"""

import numpy as np

from minitransfer import backend, nn
from minitransfer.autograd import no_grad
from minitransfer.tensor import Tensor


def body_modules(model):
    """The body's modules in the order they run (a nested Sequential is walked into)."""
    body = getattr(model, "body", None)
    if not isinstance(body, nn.Module) or not isinstance(getattr(model, "head", None), nn.Module):
        raise TypeError(f"features: the model needs a 'body' module and a 'head' (like nn.MLP), "
                        f"got {type(model).__name__}")
    order, stack = [], [body]
    while stack:
        module = stack.pop()
        if isinstance(module, nn.Sequential):
            stack.extend(reversed(list(module)))
        else:
            order.append(module)
    return order


def _layer_ends(modules):
    """Indices of the modules after which a body layer's activation is complete.

    A layer ends at the last module before the next Linear (its activation), or at the body's
    last module.
    """
    ends, seen_linear = [], False
    for i in range(len(modules)):
        seen_linear = seen_linear or isinstance(modules[i], nn.Linear)
        next_is_linear = i + 1 < len(modules) and isinstance(modules[i + 1], nn.Linear)
        if seen_linear and (next_is_linear or i + 1 == len(modules)):
            ends.append(i)
    return ends


def num_body_layers(model):
    """How many body layers (Linear + activation) the model has."""
    return len(_layer_ends(body_modules(model)))


def features(model, x, layer=None, batch_size=1024):
    """Body activations for inputs ``x`` (an array or Tensor of shape (n, d)), without a graph.

    ``layer=None`` returns a list [h_1, ..., h_L], one (n, width_l) float array per body layer;
    an int returns that one layer (``layer=-1``: the last, the features the head reads).
    """
    modules = body_modules(model)
    ends = _layer_ends(modules)
    if not ends:
        raise ValueError(f"features: the body of {type(model).__name__} has no Linear layer")
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, (int, np.integer))
                              or not -len(ends) <= layer < len(ends)):
        raise ValueError(f"features: layer must be None or an index in [{-len(ends)}, "
                         f"{len(ends)}) (the body has {len(ends)} layers), got {layer!r}")
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
