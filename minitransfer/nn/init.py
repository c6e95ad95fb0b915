"""Initialisers, named as in ``torch.nn.init``: each fills a tensor in place and returns it.

Values are drawn on the host from a seeded ``numpy.random.Generator`` (``generator=None`` is the
package's default one, reseeded by ``minitransfer.manual_seed``; an int is a seed) and then
copied into the tensor on its device and in its dtype: the same seed gives the same weights on
CPU and GPU, in float32 and float64. NumPy's global random state is never touched.

For a weight of shape (out, in): fan_in = in (how many inputs each unit sums) and
fan_out = out. The scale rules keep the variance of activations (fan_in) or of gradients
(fan_out) about the same from layer to layer:

    xavier_uniform_:  U(−a, a),  a = gain · √(6 / (fan_in + fan_out))
    xavier_normal_:   N(0, σ²),  σ = gain · √(2 / (fan_in + fan_out))
    kaiming_uniform_: U(−b, b),  b = gain · √(3 / fan)
    kaiming_normal_:  N(0, σ²),  σ = gain / √fan
"""

import math

from minitransfer import backend
from minitransfer.autograd import no_grad


def _fill(tensor, host_values):
    """Copy host values into ``tensor`` (its device and dtype), outside any graph."""
    with no_grad():
        tensor.copy_(host_values)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps activations' variance steady through ``nonlinearity``.

    linear/identity/sigmoid-free layers: 1; tanh: 5/3; relu: √2; leaky_relu with slope a:
    √(2 / (1 + a²)).
    """
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one "
                     f"of linear, identity, sigmoid, tanh, relu, leaky_relu")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, ...): in·k and out·k, k the rest."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape "
                         f"{tensor.shape}")
    receptive_field = 1
    for n in tensor.shape[2:]:
        receptive_field *= n
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with samples of U(a, b)."""
    return _fill(tensor, backend.get_generator(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with samples of N(mean, std²)."""
    return _fill(tensor, backend.get_generator(generator).normal(mean, std, size=tensor.shape))


def constant_(tensor, val):
    with no_grad():
        tensor.copy_(backend.namespace(tensor.data).full(tensor.shape, float(val),
                                                         dtype=tensor.data.dtype))
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(−b, b) with b = gain · √(3 / fan). ``nn.Linear``'s default is this with a = √5, which
    works out to b = 1/√fan_in."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator=generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator=generator)
