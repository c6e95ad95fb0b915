"""Worked solutions to lesson 14's exercises (try them yourself first).

14.1 Build the joint of target label y and source label z by adding each example's source
probabilities into its target label's row, divided by n. Each column z, divided by its sum
P̂(z), is the conditional P̂(y | z); a source label the model never predicts has a column of
zeros and no conditional, so divide only where P̂(z) > 0 (it contributes nothing: θ_z = 0 for
every example). Then each example's expected empirical prediction is Σ_z P̂(yᵢ | z) θ(xᵢ)_z,
a row of θ times a row of the conditional, and LEEP is the mean of its log.

14.2 ΔW = (α/r) B A has W's shape: B is out × r, A is r × in, so B @ A is out × in.
"""

import numpy as np


def my_leep(source_probs, labels):
    n, classes = len(labels), int(labels.max()) + 1
    one_hot = (labels[:, None] == np.arange(classes)).astype(float)  # n × C
    joint = one_hot.T @ source_probs / n  # C × Z: P̂(y, z)
    marginal = joint.sum(axis=0)  # P̂(z)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    expected = np.sum(source_probs * conditional[labels], axis=1)  # Σ_z P̂(yᵢ | z) θᵢ_z
    return float(np.mean(np.log(expected)))


def merge(weight, lora_a, lora_b, alpha, r):
    return weight + (alpha / r) * (lora_b @ lora_a)
