"""Lesson 13's exercises: PGD's projection and one FGSM step (worked solutions in
``lessons/solutions/13_security.py``)."""

import numpy as np

from exercises import attempted, grade


def _cases():
    rng = np.random.default_rng(13)
    x = rng.choice([0.0, 0.05, 0.5, 0.97, 1.0], size=(6, 8))  # pixels at and near the edges
    return [(x, eps, x + rng.uniform(-0.6, 0.6, size=x.shape)) for eps in (0.0, 0.1, 0.3)]


def _project_problem(project):
    for x, eps, candidate in _cases():
        expected = np.clip(np.clip(candidate, x - eps, x + eps), 0, 1)
        got = np.asarray(attempted(project(candidate.copy(), x.copy(), eps)), dtype=np.float64)
        if got.shape != x.shape:
            return f"expected an array of shape {x.shape}, got shape {got.shape}"
        if not np.allclose(got, expected, atol=1e-12):
            i = np.unravel_index(np.argmax(np.abs(got - expected)), x.shape)
            return (f"with eps = {eps}, x = {x[i]}, x' = {candidate[i]:.3f}: expected {expected[i]:.3f}, "
                    f"got {got[i]:.3f} (stay within eps of x AND inside [0, 1])")
    return None


def check_project(project):
    """13.1: project(x_adv, x, eps) -> the nearest point of the eps-ball around x inside [0, 1]."""
    return grade("13.1", _project_problem, project)


def _fgsm_problem(fgsm_step):
    for x, eps, candidate in _cases():
        gradient = candidate - x  # any signs will do, zeros included
        gradient[0, :2] = 0.0
        expected = np.clip(x + eps * np.sign(gradient), 0, 1)
        got = np.asarray(attempted(fgsm_step(x.copy(), gradient.copy(), eps)), dtype=np.float64)
        if got.shape != x.shape or not np.allclose(got, expected, atol=1e-12):
            return (f"with eps = {eps}: expected clip(x + eps * sign(gradient), 0, 1), got values that "
                    f"differ by up to {np.max(np.abs(got - expected)) if got.shape == x.shape else 'shape'}")
    return None


def check_fgsm_step(fgsm_step):
    """13.2: fgsm_step(x, gradient, eps) -> clip(x + eps * sign(gradient), 0, 1)."""
    return grade("13.2", _fgsm_problem, fgsm_step)


SELF_TEST = [
    (check_project, "13_security.py:project", [
        lambda x_adv, x, eps: np.clip(x_adv, x - eps, x + eps),  # forgets [0, 1]
        lambda x_adv, x, eps: np.clip(x_adv, 0, 1),  # forgets the ball
        lambda x_adv, x, eps: np.clip(x_adv, x * (1 - eps), x * (1 + eps)),  # a relative radius
    ]),
    (check_fgsm_step, "13_security.py:fgsm_step", [
        lambda x, g, eps: np.clip(x + eps * g, 0, 1),  # the gradient, not its sign
        lambda x, g, eps: np.clip(x - eps * np.sign(g), 0, 1),  # down the loss
        lambda x, g, eps: x + eps * np.sign(g),  # leaves the data range
    ]),
]
