"""Lesson 14's exercises: LEEP from its equations, and a merged LoRA weight.

14.1 ``my_leep(source_probs, labels)``: the log expected empirical prediction of Nguyen et al.
     (2020) for probabilities θ (n × Z) over source labels and integer target labels (n,).
14.2 ``merge(weight, lora_a, lora_b, alpha, r)``: W + (α/r) B A for W (out × in), A (r × in),
     B (out × r).
"""

import numpy as np

from exercises import attempted, grade
from minitransfer.transferability import leep

__all__ = ["check_leep", "check_merge"]


def _joints():
    rng = np.random.default_rng(14)
    cases = [("the 3 x 2 toy joint of the tests", np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5],
                                                             [0.3, 0.7], [0.1, 0.9], [0.3, 0.7]]),
              np.array([0, 0, 1, 1, 2, 2]))]
    probs = rng.dirichlet(np.ones(4), size=30)
    cases.append(("30 examples, 4 source labels, 3 target labels", probs, np.arange(30) % 3))
    never = rng.dirichlet(np.ones(3), size=20)
    never[:, 2] = 0.0  # source label 2 is never predicted: its column of the joint is 0
    never /= never.sum(axis=1, keepdims=True)
    cases.append(("a source label that is never predicted", never, np.arange(20) % 4))
    return cases


def check_leep(my_leep):
    """Exercise 14.1: LEEP against ``transferability.leep`` on three joints."""

    def check(answer):
        for name, probs, labels in _joints():
            yours = attempted(answer(probs.copy(), labels.copy()))
            right = leep(probs, labels)
            if not np.isfinite(float(yours)):
                return f"{name}: got {yours}; divide only where P(z) > 0 (a column of zeros has no P(y | z))"
            if abs(float(yours) - right) > 1e-10:
                return f"{name}: got {float(yours):.6f}, expected {right:.6f}"
        return None

    return grade("14.1", check, my_leep)


def check_merge(merge):
    """Exercise 14.2: W + (alpha / r) B A, with W's shape."""

    def check(answer):
        rng = np.random.default_rng(15)
        for out_features, in_features, r, alpha in [(5, 7, 2, 4.0), (3, 3, 1, 1.0), (6, 4, 4, 8.0)]:
            w = rng.normal(size=(out_features, in_features))
            a, b = rng.normal(size=(r, in_features)), rng.normal(size=(out_features, r))
            yours = np.asarray(attempted(answer(w.copy(), a.copy(), b.copy(), alpha, r)))
            right = w + (alpha / r) * b @ a
            if yours.shape != w.shape:
                return f"W {w.shape}, A {a.shape}, B {b.shape}: got shape {yours.shape}, expected {w.shape}"
            if not np.allclose(yours, right, rtol=1e-12, atol=1e-12):
                return f"W {w.shape}, r = {r}, alpha = {alpha}: the merged weight differs by up to " \
                       f"{np.abs(yours - right).max():.3g}"
        return None

    return grade("14.2", check, merge)


# --- what tests/test_exercises.py runs: mistakes each check must catch ---

def _conditional_the_wrong_way(source_probs, labels):
    """Wrong: P(z | y) (normalised over z for each target label) instead of P(y | z)."""
    joint = np.stack([source_probs[labels == y].sum(axis=0) for y in range(labels.max() + 1)])
    conditional = joint / joint.sum(axis=1, keepdims=True)
    return float(np.mean(np.log(np.sum(source_probs * conditional[labels], axis=1))))


def _hard_predictions(source_probs, labels):
    """Wrong: the argmax instead of the probabilities (that is NCE's input, not LEEP's)."""
    return _leep_of(np.eye(source_probs.shape[1])[np.argmax(source_probs, axis=1)], labels)


def _leep_of(probs, labels):
    joint = np.stack([probs[labels == y].sum(axis=0) for y in range(labels.max() + 1)]) / len(labels)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    return float(np.mean(np.log(np.sum(probs * conditional[labels], axis=1))))


def _log_of_the_mean(source_probs, labels):
    """Wrong: the log of the mean expected prediction instead of the mean of its log."""
    joint = np.stack([source_probs[labels == y].sum(axis=0) for y in range(labels.max() + 1)])
    conditional = np.divide(joint, joint.sum(axis=0), out=np.zeros_like(joint), where=joint.sum(axis=0) > 0)
    return float(np.log(np.mean(np.sum(source_probs * conditional[labels], axis=1))))


def _without_scaling(weight, lora_a, lora_b, alpha, r):
    """Wrong: W + B A, forgetting alpha / r."""
    return weight + lora_b @ lora_a


def _inverted_scaling(weight, lora_a, lora_b, alpha, r):
    """Wrong: W + (r / alpha) B A."""
    return weight + (r / alpha) * lora_b @ lora_a


def _transposed(weight, lora_a, lora_b, alpha, r):
    """Wrong: Aᵀ Bᵀ, the transpose of the update (in × out, not out × in)."""
    return weight + (alpha / r) * (lora_a.T @ lora_b.T)


SELF_TEST = [
    (check_leep, "14_choosing_a_method.py:my_leep",
     [_conditional_the_wrong_way, _hard_predictions, _log_of_the_mean]),
    (check_merge, "14_choosing_a_method.py:merge", [_without_scaling, _inverted_scaling, _transposed]),
]
