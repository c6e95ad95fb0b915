"""Worked solutions of lesson 13's exercises."""

import numpy as np


def project(x_adv, x, eps):
    """13.1: into the eps-ball around x (each pixel within eps of its clean value), then into the
    data range. Pixel by pixel, the two intervals [x − eps, x + eps] and [0, 1] overlap (x lies
    in both), so clipping into one and then the other gives the nearest point of their
    intersection, in either order."""
    return np.clip(np.clip(x_adv, x - eps, x + eps), 0.0, 1.0)


def fgsm_step(x, gradient, eps):
    """13.2: every pixel moves by eps up the loss (the sign of its gradient; 0 where the gradient
    is 0), then back into the data range [0, 1]."""
    return np.clip(x + eps * np.sign(gradient), 0.0, 1.0)
