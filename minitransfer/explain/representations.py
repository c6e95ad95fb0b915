"""Representations: what transfer keeps of the pretrained network, and what fine-tuning changes.

| question                                        | function                                  |
|-------------------------------------------------|-------------------------------------------|
| do two layers see the inputs alike?             | ``linear_cka(a, b)`` on feature matrices  |
| how far did each parameter move?                | ``layer_drift(before, after)``            |
| how far did each body layer move?               | ``drift_per_layer(before, after)``        |
| how much of the source task is forgotten?       | ``forgetting(pretrained, fine_tuned, ...)``|

Feature matrices come from ``transfer.features`` (the activation after each body layer), the
one helper every §5 module reads the body with.
"""

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from minitransfer import backend, nn
from minitransfer.tensor import Tensor
from minitransfer.train import evaluate
from minitransfer.transfer.workflow import body_layers, check_body_head


def _feature_matrix(values, argument):
    array = np.asarray(backend.to_numpy(values.data) if isinstance(values, Tensor) else values)
    if array.dtype.kind not in "fiub" or array.ndim != 2 or len(array) < 2 or array.shape[1] < 1:
        raise ValueError(f"linear_cka: {argument}: expected a 2-D array (examples × features) "
                         f"with at least 2 rows, got shape {array.shape} and dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"linear_cka: {argument}: expected finite numbers, got "
                         f"{array[~np.isfinite(array)][0]}")
    return array.astype(np.float64)


def linear_cka(a, b):
    """Linear centered kernel alignment (Kornblith et al., 2019) of two feature matrices.

    ``a`` (n × d₁) and ``b`` (n × d₂) hold the features of the *same* n inputs, one row each.
    With the columns centred (A = a − mean, B = b − mean),

        CKA(a, b) = ‖BᵀA‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F),

    the similarity of the two n × n Gram matrices AAᵀ and BBᵀ (‖BᵀA‖²_F = tr(AAᵀ BBᵀ)). It is 1
    for identical features, lies in [0, 1], is symmetric, and does not change when either side
    is rotated (multiplied by an orthogonal matrix) or scaled by a number: it compares what
    the layers represent, not the coordinates they use. By hand, a = (1, 2, 3)ᵀ and
    b = (1, 0, 0)ᵀ: A = (−1, 0, 1), B = (⅔, −⅓, −⅓), BᵀA = −1, AᵀA = 2, BᵀB = ⅔, CKA = 1/(4/3) = 0.75.
    """
    a, b = _feature_matrix(a, "a"), _feature_matrix(b, "b")
    if len(a) != len(b):
        raise ValueError(f"linear_cka: a and b must hold the same examples (the same number of "
                         f"rows), got {len(a)} and {len(b)} rows")
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    self_a, self_b = np.linalg.norm(a.T @ a), np.linalg.norm(b.T @ b)
    for name, norm in (("a", self_a), ("b", self_b)):
        if norm == 0:
            raise ValueError(f"linear_cka: {name}: every row is the same (nothing varies once "
                             f"the columns are centred), so CKA is undefined")
    return float(np.linalg.norm(b.T @ a) ** 2 / (self_a * self_b))


def _state(source, argument):
    """name → host float64 array, from a Module or a mapping of arrays/Tensors."""
    if isinstance(source, nn.Module):
        items = source.state_dict().items()
    elif isinstance(source, Mapping):
        items = source.items()
    else:
        raise TypeError(f"layer_drift: {argument}: expected a model (nn.Module) or a state dict "
                        f"(name -> array), got {type(source).__name__}")
    return {name: np.asarray(backend.to_numpy(v.data if isinstance(v, Tensor) else v), dtype=np.float64)
            for name, v in items}


def layer_drift(before, after):
    """‖θ_after − θ_before‖ / ‖θ_before‖ for every parameter name (Frobenius norms).

    ``before`` and ``after``: two models or two state dicts with the same names and shapes
    (for a model whose head was replaced, compare the bodies: ``model.body`` or the state dict's
    ``body.*`` entries). 0 means untouched (a frozen layer: exactly 0.0); 0.1 means the
    parameter moved by a tenth of its own size. A parameter that was all zeros gives ``inf``
    when it moved and 0.0 when it did not.
    """
    old, new = _state(before, "before"), _state(after, "after")
    if list(old) != list(new):
        raise ValueError(f"layer_drift: before and after must have the same parameter names, "
                         f"got only in before: {sorted(set(old) - set(new))}, only in after: "
                         f"{sorted(set(new) - set(old))}")
    drift = {}
    for name, value in old.items():
        if value.shape != new[name].shape:
            raise ValueError(f"layer_drift: {name}: before has shape {value.shape}, after has "
                             f"{new[name].shape}")
        drift[name] = _relative(np.linalg.norm(new[name] - value), np.linalg.norm(value))
    return drift


def _relative(change, size):
    if size == 0:
        return math.inf if change > 0 else 0.0
    return float(change / size)


def drift_per_layer(before, after):
    """{layer name: ‖Δθ_l‖ / ‖θ_l‖} for each body layer (its weight and bias taken together).

    ``before`` and ``after`` are two models with the same body; the layers are
    ``transfer.body_layers``, the one definition of a layer (``body.0``, ``body.2``, ...).
    """
    for model, argument in ((before, "before"), (after, "after")):
        check_body_head(model, f"drift_per_layer: {argument}")
    layer_drift(before.body, after.body)  # the same names and shapes, or a clear error
    old, new = _state(before.body, "before"), _state(after.body, "after")
    result = {}
    for name, layer in body_layers(before):
        keys = [f"{name[len('body.'):]}.{p}" for p, _ in layer.named_parameters(recurse=False)]
        change = math.sqrt(sum(np.sum((new[k] - old[k]) ** 2) for k in keys))
        size = math.sqrt(sum(np.sum(old[k] ** 2) for k in keys))
        result[name] = _relative(change, size)
    return result


@dataclass(frozen=True)
class Forgetting:
    before: float  # source accuracy of the pretrained model
    after: float  # source accuracy of the fine-tuned body under the pretrained (source) head
    drop: float  # before − after: how much of the source task the fine-tuning forgot


def forgetting(pretrained, fine_tuned, source_test):
    """Source accuracy before and after fine-tuning, and the drop (catastrophic forgetting).

    ``pretrained`` still has its source head (keep a copy before ``replace_head``);
    ``fine_tuned`` has the target head. The fine-tuned body is put under the *source* head kept
    from pretraining and evaluated on ``source_test`` (x, y): a body left untouched (a linear
    probe) forgets nothing (drop exactly 0); one that moved far may solve the source no more.
    """
    for model, argument in ((pretrained, "pretrained"), (fine_tuned, "fine_tuned")):
        check_body_head(model, f"forgetting: {argument}")
    width = fine_tuned.head.in_features
    if pretrained.head.in_features != width:
        raise ValueError(f"forgetting: the pretrained head reads {pretrained.head.in_features} "
                         f"features but the fine-tuned body gives {width}")
    under_source_head = copy.deepcopy(fine_tuned)
    under_source_head.head = copy.deepcopy(pretrained.head)
    before = evaluate(pretrained, source_test)["accuracy"]
    after = evaluate(under_source_head, source_test)["accuracy"]
    return Forgetting(before, after, before - after)
