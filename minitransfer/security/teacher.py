"""Attacks crafted on the public teacher (Wang et al., USENIX Security 2018, "With great training
comes great vulnerability").

The attacker never sees the student, only the pretrained model that everyone fine-tunes from,
and one image of each target class (images the student was not trained on). To make a student
read image x (true class c) as another class c′, the attacker moves x, within an L∞ ball of
radius ε, so that the *teacher's body* sees in it what it sees in the attacker's image g of
class c′:

    x′ = argmin_{‖x′ − x‖∞ ≤ ε, x′ ∈ [0, 1]}  ½ ‖φ(x′) − φ(g)‖²,      φ = h_layer of the teacher's body

solved by PGD (``attacks.sign_steps`` ascending −½‖φ(x′) − φ(g)‖², φ by ``transfer.layer_output``).
A student whose body still computes φ (a linear probe keeps it exactly) then sees a class c′
image and says so. The attack succeeds when the student predicts c′; the untargeted rate counts
any wrong prediction. A model trained from scratch shares nothing with the teacher: the control.
"""

import numpy as np

from minitransfer import backend
from minitransfer.attacks import check_eps, check_inputs, predict, sign_steps
from minitransfer.tensor import Tensor
from minitransfer.transfer import features, layer_output


def attacker_images(x, y, classes, seed):
    """The attacker's images: one per class (index c holds an image of class c), drawn at random."""
    rng = np.random.default_rng(seed)
    return np.stack([x[rng.choice(np.flatnonzero(y == c))] for c in range(classes)])


def attack_targets(y, classes, seed):
    """For each true label c, a target class c′ ≠ c drawn uniformly from the other classes."""
    offsets = np.random.default_rng(seed).integers(1, classes, size=len(y))
    return (np.asarray(y) + offsets) % classes


def feature_attack(teacher, x, guides, eps, alpha=None, steps=20, layer=-1):
    """Move each row of ``x`` within ε so that the teacher's body features approach those of
    the matching row of ``guides`` (targeted, feature space). Returns a NumPy array like ``x``.

    ``alpha`` defaults to ε/4; ``layer`` is a body layer index (−1: the features the head reads).
    ε = 0 returns x unchanged.
    """
    eps = check_eps(eps, "feature_attack")
    labels = np.zeros(len(x), dtype=np.int64)  # the teacher's labels are not used: only its body
    x_checked, _ = check_inputs(teacher, x, labels, "feature_attack")
    guides = np.asarray(guides)
    if guides.shape != tuple(x_checked.shape):
        raise ValueError(f"feature_attack: guides: expected one image per row of x, shape "
                         f"{tuple(x_checked.shape)}, got shape {guides.shape}")
    if eps == 0:
        return backend.to_numpy(x_checked).copy()
    wanted = Tensor(backend.asarray_like(features(teacher, guides, layer=layer), x_checked))

    def closeness(model, x_tensor):  # −½‖φ(x′) − φ(g)‖², summed over the rows
        difference = layer_output(model, x_tensor, layer) - wanted
        return (difference * difference).sum() * -0.5

    alpha = eps / 4 if alpha is None else alpha
    return backend.to_numpy(sign_steps(teacher, x_checked, closeness, eps, alpha, steps))


def attack_rates(student, x_adversarial, y, targets):
    """(targeted success, untargeted rate): the fractions of images the student reads as the
    attacker's class c′, and as anything but their true class."""
    predicted = predict(student, x_adversarial)
    return float(np.mean(predicted == targets)), float(np.mean(predicted != y))
