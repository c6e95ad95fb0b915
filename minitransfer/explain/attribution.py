"""Attribution: which input pixels decide the model's answer for one class.

f(x) is the *logit* of the target class t (before the softmax), for each row x of a batch:

| method               | attribution of pixel i                             | source                    |
|----------------------|----------------------------------------------------|---------------------------|
| saliency             | |∂f/∂xᵢ|                                            | Simonyan et al., 2014     |
| integrated gradients | (xᵢ − x′ᵢ) ∫₀¹ ∂f/∂xᵢ(x′ + α(x − x′)) dα           | Sundararajan et al., 2017 |
| occlusion            | f(x) − f(x with the patch holding pixel i set to 0)| Zeiler & Fergus, 2014     |

The gradient ∂f/∂x is one ``backward()`` away: the input becomes a Tensor with
``requires_grad=True`` and the engine's chain rule carries ∂f/∂logits back through the layers
(the parameters are asked for no gradient meanwhile, and get none).

Integrated gradients satisfy *completeness*: Σᵢ IGᵢ = f(x) − f(x′) (the fundamental theorem of
calculus along the straight path from the baseline x′ to x). The integral is a quadrature with
``steps`` points; ``delta`` = Σᵢ IGᵢ − (f(x) − f(x′)) measures how far it is from exact. Along
the path a ReLU network's gradient is piecewise constant, jumping where a unit switches on or
off, so the error shrinks like 1/steps, and an example whose path crosses a kink near a
quadrature point converges slowly.
"""

from dataclasses import dataclass

import numpy as np

from minitransfer import backend
from minitransfer.autograd import no_grad
from minitransfer.tensor import Tensor
from minitransfer.transfer.workflow import body_layers, check_body_head

CHUNK_ROWS = 16384  # rows per forward pass when many copies of a batch are stacked
METHODS = ("riemann_middle", "gausslegendre")  # Captum's names for the two rules


def input_width(model):
    """How many input features the model reads: the first body layer's (or the head's) in_features."""
    layers = body_layers(model)
    return layers[0][1].in_features if layers else model.head.in_features


def check_inputs(model, x, caller, argument="x"):
    """``x`` as a host (n, d) NumPy array of finite numbers whose width d the model reads."""
    check_body_head(model, caller)
    width = input_width(model)
    data = backend.to_numpy(x.data) if isinstance(x, Tensor) else x
    array = np.asarray(data)
    if array.dtype.kind not in "fiub" or array.ndim != 2 or array.shape[1] != width or len(array) == 0:
        raise ValueError(f"{caller}: {argument}: expected a batch of shape (n, {width}) with n >= 1 "
                         f"(one flattened image per row), got {type(data).__name__} of shape "
                         f"{array.shape} and dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{caller}: {argument}: expected finite numbers, got {array[bad]} at "
                         f"index {bad}")
    return array.astype(np.float64)


def _to_model(model, array):
    """A Tensor holding ``array`` with the model's parameters' dtype, on their device."""
    reference = next(iter(model.parameters()))
    return Tensor(array, dtype=reference.dtype).to(reference.device)


def target_logits(model, x, target):
    """f(x) = logit of class target[i] for each row i (no graph), float64, in chunks."""
    out = np.empty(len(x))
    with no_grad():
        for start in range(0, len(x), CHUNK_ROWS):
            logits = backend.to_numpy(model(_to_model(model, x[start:start + CHUNK_ROWS])).data)
            rows = np.arange(len(logits))
            out[start:start + CHUNK_ROWS] = logits[rows, target[start:start + CHUNK_ROWS]]
    return out


def check_target(model, x, target, caller):
    """One class index per row: ``target`` (an int or n ints) or, when None, the predicted class."""
    classes = model.head.out_features
    if target is None:
        with no_grad():
            logits = backend.to_numpy(model(_to_model(model, x)).data)
        return np.argmax(logits, axis=1)
    values = np.asarray(backend.to_numpy(target.data) if isinstance(target, Tensor) else target)
    if values.ndim == 0:
        values = np.full(len(x), values)
    if (values.dtype.kind not in "iu" or values.shape != (len(x),)
            or values.min() < 0 or values.max() >= classes):
        raise ValueError(f"{caller}: target: expected None, one class index or {len(x)} class "
                         f"indices (one per row of x), each an integer in [0, {classes}), got "
                         f"{values.tolist() if values.size <= 8 else f'shape {values.shape}'} "
                         f"of dtype {values.dtype}")
    return values.astype(np.int64)


def input_gradient(model, x, target):
    """∂f/∂x for each row (f = the target class's logit), by the engine's own ``backward()``.

    One forward pass of the whole batch and one backward pass of s = Σᵢ f(xᵢ): row i of the
    model's output depends on row i of the input only, so ∂s/∂xᵢ = ∂f(xᵢ)/∂xᵢ. The seed of
    the backward pass is the one-hot matrix of the targets (∂s/∂logits). Parameters do not
    require a gradient meanwhile (their ``.grad`` stays as it was); their flags are restored.
    """
    parameters = list(model.parameters())
    flags = [p.requires_grad for p in parameters]
    gradient = np.empty_like(x)
    try:
        for p in parameters:
            p.requires_grad_(False)
        for start in range(0, len(x), CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            inputs = _to_model(model, x[rows]).requires_grad_(True)
            logits = model(inputs)
            one_hot = np.zeros(logits.shape)
            one_hot[np.arange(len(one_hot)), target[rows]] = 1.0
            (logits * _to_model(model, one_hot)).sum().backward()
            gradient[rows] = backend.to_numpy(inputs.grad.data)
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad_(flag)
    return gradient


def saliency(model, x, target=None):
    """|∂f/∂x|: how strongly a small change of each pixel moves the target logit.

    ``x``: a batch (n, d) (NumPy array or Tensor); ``target``: None (each row's predicted
    class), one class index, or n of them. Returns a float64 NumPy array shaped like ``x``.
    """
    x = check_inputs(model, x, "saliency")
    target = check_target(model, x, target, "saliency")
    return np.abs(input_gradient(model, x, target))


@dataclass(frozen=True)
class IntegratedGradients:
    attributions: np.ndarray  # (n, d): (x − x′) ⊙ the averaged gradient along the path
    delta: np.ndarray  # (n,): Σ attributions − (f(x) − f(x′)), the completeness gap
    difference: np.ndarray  # (n,): f(x) − f(x′), what the attributions should add up to
    target: np.ndarray  # (n,): the class whose logit was explained


def check_baseline(baseline, x):
    """The baseline x′ broadcast to x's shape: None gives zeros (a black image)."""
    if baseline is None:
        return np.zeros_like(x)
    array = np.asarray(backend.to_numpy(baseline.data) if isinstance(baseline, Tensor) else baseline)
    if array.dtype.kind not in "fiub" or array.shape not in ((x.shape[1],), (1, x.shape[1]), x.shape):
        raise ValueError(f"integrated_gradients: baseline: expected None, one row of shape "
                         f"({x.shape[1]},) or a batch of shape {x.shape} like x, got shape "
                         f"{array.shape} and dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"integrated_gradients: baseline: expected finite numbers, got "
                         f"{array[~np.isfinite(array)][0]}")
    return np.broadcast_to(array.astype(np.float64), x.shape)


def quadrature(method, steps):
    """Points αₖ in (0, 1) and weights wₖ (summing to 1) for ∫₀¹ g(α) dα ≈ Σₖ wₖ g(αₖ).

    riemann_middle: αₖ = (k − ½)/m, wₖ = 1/m (the midpoint rule: exact for linear g);
    gausslegendre: the Gauss–Legendre nodes and weights moved from [−1, 1] to [0, 1] (exact for
    polynomials of degree 2m − 1, but no better than the midpoint rule across a ReLU's jumps).
    """
    if method == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1) / 2, weights / 2


def integrated_gradients(model, x, target=None, baseline=None, steps=50, method="riemann_middle"):
    """IG = (x − x′) ⊙ Σₖ wₖ ∇f(x′ + αₖ (x − x′)), with the rule of ``quadrature`` (midpoint).

    ``baseline`` x′: None (zeros, a black image), one row (d,) or a batch shaped like ``x``.
    Returns an ``IntegratedGradients`` with ``.attributions`` (float64, shaped like ``x``) and
    ``.delta``, the completeness gap Σᵢ IGᵢ − (f(x) − f(x′)) of each example.
    """
    x = check_inputs(model, x, "integrated_gradients")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"integrated_gradients: steps: expected a positive integer, got {steps!r}")
    if method not in METHODS:
        raise ValueError(f"integrated_gradients: method: expected one of {', '.join(METHODS)}, "
                         f"got {method!r}")
    target = check_target(model, x, target, "integrated_gradients")
    baseline = check_baseline(baseline, x)
    alphas, weights = quadrature(method, int(steps))
    average = np.zeros_like(x)
    per_chunk = max(1, CHUNK_ROWS // len(x))  # path points per backward pass
    for start in range(0, len(alphas), per_chunk):
        a = alphas[start:start + per_chunk]
        path = (baseline[None] + a[:, None, None] * (x - baseline)[None]).reshape(-1, x.shape[1])
        gradient = input_gradient(model, path, np.tile(target, len(a))).reshape(len(a), *x.shape)
        average += np.tensordot(weights[start:start + per_chunk], gradient, axes=1)
    attributions = (x - baseline) * average
    difference = target_logits(model, x, target) - target_logits(model, baseline, target)
    return IntegratedGradients(attributions, attributions.sum(axis=1) - difference, difference, target)


def completeness_gaps(model, x, steps=(8, 16, 32, 64, 128, 256), method="riemann_middle",
                      target=None):
    """{m: |delta| / |f(x) − f(0)| of each example} for every number of points m in ``steps``.

    How fast the quadrature converges: the relative completeness gap of integrated gradients
    (zero baseline), example by example, as the number of points grows.
    """
    gaps = {}
    for m in steps:
        result = integrated_gradients(model, x, target, steps=m, method=method)
        gaps[m] = np.abs(result.delta) / np.maximum(np.abs(result.difference), 1e-12)
    return gaps


def image_side(width, caller):
    """The side of a square image of ``width`` pixels (8 for 64, 28 for 784), or a clear error."""
    side = int(round(np.sqrt(width)))
    if side * side != width:
        raise ValueError(f"{caller}: image_shape: {width} inputs are not a square image; pass "
                         f"image_shape=(height, width) with height * width = {width}")
    return side, side


def occlusion(model, x, target=None, patch=2, image_shape=None):
    """f(x) − f(x with one patch × patch square set to 0), for every square of a grid.

    Each image (a row of ``x``, reshaped to ``image_shape``: by default a square, 8 × 8 for the
    digits and 28 × 28 for Fashion-MNIST) is cut into non-overlapping squares (stride = patch;
    the last row and column of squares are smaller when patch does not divide the side). Every
    pixel of a square gets that square's drop in the target logit. No gradient is used: a check
    of ``saliency`` and ``integrated_gradients`` by other means.
    """
    x = check_inputs(model, x, "occlusion")
    target = check_target(model, x, target, "occlusion")
    shape = image_side(x.shape[1], "occlusion") if image_shape is None else tuple(image_shape)
    if len(shape) != 2 or shape[0] * shape[1] != x.shape[1]:
        raise ValueError(f"occlusion: image_shape: expected (height, width) with height * width = "
                         f"{x.shape[1]} (the width of x), got {image_shape!r}")
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or not 1 <= patch <= max(shape):
        raise ValueError(f"occlusion: patch: expected an integer from 1 to {max(shape)} (the image "
                         f"is {shape[0]} x {shape[1]}), got {patch!r}")
    squares = [(r, c) for r in range(0, shape[0], patch) for c in range(0, shape[1], patch)]
    images = x.reshape(len(x), *shape)
    occluded = np.repeat(images[None], len(squares), axis=0)
    for i, (r, c) in enumerate(squares):
        occluded[i, :, r:r + patch, c:c + patch] = 0.0
    logits = target_logits(model, occluded.reshape(-1, x.shape[1]), np.tile(target, len(squares)))
    drops = target_logits(model, x, target)[None] - logits.reshape(len(squares), len(x))
    attributions = np.empty_like(images)
    for i, (r, c) in enumerate(squares):
        attributions[:, r:r + patch, c:c + patch] = drops[i][:, None, None]
    return attributions.reshape(x.shape)
