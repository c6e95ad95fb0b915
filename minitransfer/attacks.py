"""White-box adversarial examples: FGSM and PGD, and the accuracy a model keeps under them.

An attacker who holds the model's weights asks how the loss changes with the *input*:
∇ₓL(y, f_θ(x)), the same chain rule that training runs for ∇θ, carried one step further back
(``backward()`` with ``x`` marked ``requires_grad``). Moving every pixel a little in the
direction that raises the loss is enough to change many predictions.

    FGSM (Goodfellow, Shlens & Szegedy, 2015):  x' = clip₀¹(x + ε · sign(∇ₓL(y, f_θ(x))))

    PGD  (Madry et al., 2018), L∞, from x⁰ = x (or x + U(−ε, ε) with ``random_start``):
         xᵗ⁺¹ = clip₀¹( Π_ε( xᵗ + α · sign(∇ₓL(y, f_θ(xᵗ))) ) ),   Π_ε: clip to [x − ε, x + ε]

ε bounds the change of every pixel (an L∞ ball); the images of this package lie in [0, 1]
(``data.digits`` divides by 16, Fashion-MNIST by 255), so adversarial images are clipped back
into that range. L is the cross-entropy summed over the batch, so each image's gradient is its
own loss's (a mean would only scale it, but could underflow in float32).

This module sits low (below ``train`` and ``transfer``) so that ``fine_tune(adversarial=ε)``
can use it; ``minitransfer.security`` holds the experiments and re-exports these functions.
"""

import contextlib
import math
import numbers

import numpy as np

from minitransfer import backend, nn
from minitransfer.autograd import enable_grad, no_grad
from minitransfer.tensor import Tensor

ATTACKS = ("fgsm", "pgd")
ADVERSARIAL_STEPS = 3  # PGD steps per batch in adversarial fine-tuning (α = 2.5 ε / steps)


# ---- checks: each names the function, the argument, what was expected and what came ---------
def check_eps(eps, caller, argument="eps"):
    """ε: a finite number ≥ 0 (the L∞ radius, in the data's units)."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{caller}: {argument}: expected a finite number >= 0 (an L-infinity radius "
                         f"in the data's units, e.g. 0.1), got {eps!r}")
    return float(eps)


def _check_alpha_steps(alpha, steps):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0 \
            or not math.isfinite(alpha):
        raise ValueError(f"pgd: alpha: expected a step size > 0 (e.g. eps / 4), got {alpha!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"pgd: steps: expected a positive integer, got {steps!r}")


def check_inputs(model, x, y, caller):
    """x as an array on the model's device, floating and inside [0, 1]; y as integer labels."""
    x = x.data if isinstance(x, Tensor) else x
    if not backend.is_array(x) or not backend.is_floating(x) or x.ndim < 2:
        raise ValueError(f"{caller}: x: expected a floating-point array of shape (n, features), got "
                         f"{type(x).__name__} of shape {getattr(x, 'shape', None)} and dtype "
                         f"{getattr(x, 'dtype', None)}")
    host = backend.to_numpy(x)
    _check_range(host, caller, "x")
    labels = backend.to_numpy(y.data if isinstance(y, Tensor) else np.asarray(y))
    if labels.dtype.kind not in "iu" or labels.shape != (len(host),):
        raise ValueError(f"{caller}: y: expected {len(host)} integer class labels (shape "
                         f"({len(host)},)), got dtype {labels.dtype} and shape {labels.shape}")
    device, dtype = _device_of(model), _dtype_of(model)
    with no_grad():
        classes = model(Tensor(x[:1], dtype=dtype).to(device)).shape[-1]
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise ValueError(f"{caller}: y: expected labels in [0, {classes}) (the model has {classes} "
                         f"outputs), got {int(bad)}")
    x = backend.as_array(x, dtype)  # computed in the model's dtype (float32 by default)
    return backend.to_device(x, device), backend.to_device(labels, device)


def _check_range(host, caller, argument):
    outside = np.argwhere(~((host >= 0) & (host <= 1)))  # NaN is outside too
    if len(outside):
        index = tuple(int(i) for i in outside[0])
        raise ValueError(f"{caller}: {argument}: expected values in the data range [0, 1] (the "
                         f"package's images: pixel / 16 or / 255), got {host[index]} at index {index}")


def _device_of(model):
    return next((p.device for p in model.parameters()), "cpu")


def _dtype_of(model):
    return next((p.dtype for p in model.parameters()), np.float32)


# ---- the gradient with respect to the input ---------------------------------------------------
@contextlib.contextmanager
def parameters_frozen(model):
    """Parameters stop requiring a gradient inside the block, and get their flags back after.

    An attack wants ∇ₓ only: ``backward()`` then computes no weight gradient (one GEMM less per
    layer) and leaves every parameter's ``.grad`` exactly as it was.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def input_gradient(model, x, objective):
    """∇ₓ objective(model, x) for an array ``x`` on the model's device, by the engine's backward.

    ``objective(model, x_tensor)`` returns a scalar Tensor; its gradient with respect to each
    input row is returned as an array shaped like ``x``. Parameters' ``.grad`` are untouched.
    """
    with parameters_frozen(model), enable_grad():
        x_tensor = Tensor(x, requires_grad=True)
        objective(model, x_tensor).backward()
    return x_tensor.grad.data


def cross_entropy_objective(labels):
    """The objective FGSM and PGD raise: L = Σᵢ −log softmax(f_θ(xᵢ))_{yᵢ}."""
    loss = nn.CrossEntropyLoss(reduction="sum")
    y = Tensor(labels)
    return lambda model, x: loss(model(x), y)


def sign_steps(model, x, objective, eps, alpha, steps, random_start=False, seed=None):
    """Projected sign-gradient ascent on ``objective`` inside the L∞ ball of radius ε around x.

    The one loop behind FGSM (one step of α = ε from x), PGD and the feature-space attack of
    ``security`` (which ascends minus a distance). ``x`` is an array on the model's device.
    """
    xp = backend.namespace(x)
    low, high = xp.clip(x - eps, 0.0, 1.0), xp.clip(x + eps, 0.0, 1.0)  # the ball ∩ [0, 1]
    adversarial = x
    if random_start:
        noise = np.random.default_rng(seed).uniform(-eps, eps, size=tuple(x.shape))
        noise = backend.asarray_like(noise.astype(backend.dtype_name(x.dtype)), x)
        adversarial = xp.clip(x + noise, low, high)
    for _ in range(steps):
        step = alpha * xp.sign(input_gradient(model, adversarial, objective))
        adversarial = xp.clip(adversarial + step, low, high)  # Π_ε, then [0, 1]
    return adversarial


# ---- the attacks ------------------------------------------------------------------------------
def fgsm(model, x, y, eps):
    """The fast gradient sign method: x' = clip₀¹(x + ε · sign(∇ₓL(y, f_θ(x)))), one step.

    ``x``: (n, features) images in [0, 1]; ``y``: their n labels. Returns a NumPy array shaped
    like ``x``. Where ∇ₓL is exactly 0 the pixel does not move (sign(0) = 0, as in PyTorch).
    """
    eps = check_eps(eps, "fgsm")
    x, labels = check_inputs(model, x, y, "fgsm")
    xp = backend.namespace(x)
    gradient = input_gradient(model, x, cross_entropy_objective(labels))
    return backend.to_numpy(xp.clip(x + eps * xp.sign(gradient), 0.0, 1.0))


def pgd(model, x, y, eps, alpha, steps, random_start=False, seed=None):
    """Projected gradient descent on the loss (L∞): ``steps`` sign steps of size ``alpha``, each
    projected back into the ε-ball around x and into [0, 1]. Returns a NumPy array like ``x``.

    ``random_start`` starts from x + U(−ε, ε) drawn with ``numpy.random.default_rng(seed)``.
    """
    eps = check_eps(eps, "pgd")
    _check_alpha_steps(alpha, steps)
    x, labels = check_inputs(model, x, y, "pgd")
    adversarial = sign_steps(model, x, cross_entropy_objective(labels), eps, float(alpha), int(steps),
                             random_start, seed)
    return backend.to_numpy(adversarial)


def predict(model, x, batch_size=1024):
    """The predicted class of every row of ``x`` (a host NumPy array of ints), in eval mode."""
    was_training = getattr(model, "training", False)
    model.eval()
    device, predictions = _device_of(model), []
    try:
        with no_grad():
            for start in range(0, len(x), batch_size):
                logits = model(Tensor(x[start:start + batch_size]).to(device))
                predictions.append(backend.to_numpy(logits.data).argmax(axis=1))
    finally:
        model.train(was_training)
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def robust_accuracy(model, x, y, attack="pgd", eps=0.1, **options):
    """Accuracy of ``model`` on adversarial versions of (x, y): the fraction still classified right.

    ``attack``: "fgsm", "pgd" (default α = ε/4, 10 steps, no random start; ``options`` override
    them) or a callable ``attack(model, x, y, eps)`` returning adversarial inputs. ε = 0 gives
    the clean accuracy. The model runs in eval mode and is restored to its mode afterwards.
    """
    eps = check_eps(eps, "robust_accuracy")
    if not callable(attack) and attack not in ATTACKS:
        raise ValueError(f"robust_accuracy: attack: expected one of {', '.join(ATTACKS)} or a "
                         f"function attack(model, x, y, eps), got {attack!r}")
    x_checked, _ = check_inputs(model, x, y, "robust_accuracy")
    labels = backend.to_numpy(y.data if isinstance(y, Tensor) else np.asarray(y))
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        if eps == 0:
            adversarial = x_checked
        elif attack == "fgsm":
            adversarial = fgsm(model, x, y, eps, **options)
        elif attack == "pgd":
            settings = {"alpha": eps / 4, "steps": 10, **options}
            adversarial = pgd(model, x, y, eps, **settings)
        else:
            adversarial = attack(model, x, y, eps, **options)
    finally:
        model.train(was_training)
    return float(np.mean(predict(model, adversarial) == labels))


# ---- adversarial fine-tuning: PGD examples mixed into every batch -----------------------------
class AdversarialBatches:
    """A loader's batches with their second half replaced by PGD examples of the current model.

    Each batch (x, y) of n rows becomes (x₁..ₘ, x'ₘ₊₁..ₙ) with m = n // 2 and x' = PGD(ε,
    α = 2.5 ε / ``ADVERSARIAL_STEPS``, ``ADVERSARIAL_STEPS`` steps, from x) on the model as it
    is at that step: the loss is then half clean, half adversarial (Goodfellow et al., 2015;
    the PGD examples of Madry et al., 2018). The shape of each batch does not change, so a
    captured training step replays it as it would a clean batch.
    """

    def __init__(self, model, loader, eps):
        self.model, self.loader, self.eps = model, loader, check_eps(eps, "fine_tune", "adversarial")
        self.dataset = getattr(loader, "dataset", None)  # fit checks its arrays before training
        inputs = getattr(self.dataset, "arrays", (None,))[0]  # a TensorDataset's x
        if inputs is not None:  # PGD clips to [0, 1]: data outside it would be changed silently
            _check_range(backend.to_numpy(inputs), "fine_tune", "target x (with adversarial=)")

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        alpha = 2.5 * self.eps / ADVERSARIAL_STEPS
        for x, y in self.loader:
            if self.eps == 0:
                yield x, y
                continue
            half = len(x) // 2
            objective = cross_entropy_objective(y.data[half:])
            mixed = backend.namespace(x.data).asarray(x.data, copy=True)
            mixed[half:] = sign_steps(self.model, x.data[half:], objective, self.eps, alpha,
                                      ADVERSARIAL_STEPS)
            yield Tensor(mixed), y
