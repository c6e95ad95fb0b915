"""A poisoned pretrained model (BadNets, Gu, Dolan-Gavitt & Garg, 2017) and one defence,
fine-pruning (Liu, Dolan-Gavitt & Garg, 2018).

The attacker publishes a model pretrained on a source set in which some images carry a small
trigger (a bright square in a corner) and the label of one class. The model learns "trigger →
that class" beside its clean task, and its clean accuracy does not show it. Whoever fine-tunes
it gets the body, and perhaps the trigger's effect with it. Measured here as the *flip rate*:
the fraction of target test images whose prediction changes when the trigger is stamped on.

Fine-pruning: units of the last body layer that stay quiet on clean data are where a backdoor
can hide; the defender zeroes the weights into the least active ones (measured on their own
clean target examples), then fine-tunes.
"""

import math
import numbers

import numpy as np

from minitransfer import backend
from minitransfer.attacks import predict
from minitransfer.transfer import body_layers, features


def _side(x, caller):
    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise ValueError(f"{caller}: x: expected flattened square images (side × side features), got "
                         f"{x.shape[1]} features")
    return side


def _check_size(size, side, caller):
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= side:
        raise ValueError(f"{caller}: size: expected a trigger side from 1 to {side} pixels, got {size!r}")


def stamp_trigger(x, size=2, value=1.0):
    """Copies of the flattened square images ``x`` with the size × size bottom-right square set to
    ``value`` (the BadNets trigger)."""
    x = np.asarray(x)
    side = _side(x, "stamp_trigger")
    _check_size(size, side, "stamp_trigger")
    images = x.reshape(len(x), side, side).copy()
    images[:, side - size:, side - size:] = value
    return images.reshape(x.shape)


def poison_source(source, fraction=0.1, target_class=0, size=2, seed=0):
    """The attacker's source set: ``source`` plus triggered copies of a ``fraction`` of its images
    of other classes, all labelled ``target_class``. Returns ((x, y), indices of the copied images).
    """
    x, y = (np.asarray(a) for a in source)
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise ValueError(f"poison_source: fraction: expected a number strictly between 0 and 1, got "
                         f"{fraction!r}")
    classes = int(y.max()) + 1
    if isinstance(target_class, bool) or not isinstance(target_class, (int, np.integer)) \
            or not 0 <= target_class < classes:
        raise ValueError(f"poison_source: target_class: expected a class in [0, {classes}), got "
                         f"{target_class!r}")
    others = np.flatnonzero(y != target_class)
    count = min(len(others), max(1, round(fraction * len(y))))
    chosen = np.sort(np.random.default_rng(seed).choice(others, size=count, replace=False))
    triggered = stamp_trigger(x[chosen], size)
    poisoned = (np.concatenate([x, triggered]), np.concatenate([y, np.full(len(chosen), target_class)]))
    return poisoned, chosen


def backdoor_success(teacher, x, y, target_class, size=2):
    """The fraction of images not of ``target_class`` that the teacher calls ``target_class``
    once the trigger is stamped on (the backdoor, on the attacker's own task)."""
    others = x[y != target_class]
    return float(np.mean(predict(teacher, stamp_trigger(others, size)) == target_class))


def flip_rate(model, x, size=2):
    """The fraction of images whose predicted class changes when the trigger is stamped on."""
    return float(np.mean(predict(model, x) != predict(model, stamp_trigger(x, size))))


def fine_prune(model, clean_x, fraction=0.5):
    """Zero the incoming weights and bias of the ``fraction`` of units of the last body layer
    with the smallest mean activation on ``clean_x``; return their indices.

    A pruned unit's pre-activation is 0 for every input, so ReLU passes no gradient to its
    weights: fine-tuning (any strategy here) leaves it pruned.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
        raise ValueError(f"fine_prune: fraction: expected a number in [0, 1), got {fraction!r}")
    activity = features(model, clean_x, layer=-1).mean(axis=0)
    pruned = np.sort(np.argsort(activity, kind="stable")[:round(fraction * len(activity))])
    _, last = body_layers(model)[-1]
    rows = backend.asarray_like(pruned, last.weight.data)
    last.weight.data[rows] = 0
    if last.bias is not None:
        last.bias.data[rows] = 0
    return pruned
