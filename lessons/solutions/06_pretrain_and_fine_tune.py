"""Worked solutions to lesson 06's exercises (checked by lessons/exercises/lesson06.py)."""

import math

import numpy as np

from minitransfer import stats


def paired_interval(differences):
    """06.1: d̄ ± t(0.975, S − 1) · s_d / √S over the S paired differences."""
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    mean = d.mean()
    s_d = d.std(ddof=1)  # the sample standard deviation: S − 1 in the denominator
    half = stats.t_quantile(0.975, n - 1) * s_d / math.sqrt(n)
    return mean - half, mean + half


def adam_step(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """06.2: m, v are running means of g and g²; the bias corrections undo their start at 0."""
    beta1, beta2 = betas
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)  # eps outside the root, as PyTorch
    return theta, m, v
