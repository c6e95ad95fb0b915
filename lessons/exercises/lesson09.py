"""Lesson 09's exercise: rewire a first layer to read permuted pixels (09.1)."""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade
from minitransfer import nn
from minitransfer.data import transforms


def _permutation_problem(answer):
    rng = np.random.default_rng(0)
    for out_features, in_features in ((3, 6), (16, 64)):
        weight = rng.standard_normal((out_features, in_features))
        permutation = rng.permutation(in_features)
        x = rng.standard_normal((5, in_features))
        rewired = np.asarray(attempted(answer(weight.copy(), permutation.copy())), dtype=np.float64)
        if rewired.shape != weight.shape:
            return f"W' must keep W's shape {weight.shape}, got {rewired.shape}"
        if not np.allclose(x[:, permutation] @ rewired.T, x @ weight.T):
            return (f"with W of shape {weight.shape} and permutation {permutation.tolist()[:8]}...: "
                    f"W' x' differs from W x by up to "
                    f"{np.abs(x[:, permutation] @ rewired.T - x @ weight.T).max():.3g}")
    # The whole network: with its first layer rewired, a model reads permuted images as the
    # original model reads the originals (same logits), through transforms.permute_pixels.
    model = nn.MLP([64, 32, 10], generator=0, dtype=np.float64)
    images = rng.random((8, 64))
    permuted = transforms.permute_pixels(images, seed=7)
    permutation = transforms.pixel_permutation(64, 7)
    rewired_model = nn.MLP([64, 32, 10], generator=1, dtype=np.float64)
    rewired_model.load_state_dict(model.state_dict())
    with mt.no_grad():
        first = rewired_model.body[0].weight
        first.data[...] = attempted(answer(first.detach().numpy().copy(), permutation))
        before, after = model(mt.tensor(images)).numpy(), rewired_model(mt.tensor(permuted)).numpy()
    if not np.allclose(before, after):
        return (f"an MLP rewired by your function gives other logits on permuted images (up to "
                f"{np.abs(before - after).max():.3g} apart)")
    return None


def check_permute_first_layer(answer):
    """09.1: ``answer(weight, permutation)`` returns W' with W' x[permutation] = W x."""
    return grade("09.1", _permutation_problem, answer)


# Plausible mistakes the check must reject (tests/test_exercises.py).
def _inverse_permutation(weight, permutation):
    return weight[:, np.argsort(permutation)]


def _unchanged(weight, permutation):
    return weight


SELF_TEST = [
    (check_permute_first_layer, "09_when_transfer_fails.py:permute_first_layer",
     [_inverse_permutation, _unchanged]),
]
