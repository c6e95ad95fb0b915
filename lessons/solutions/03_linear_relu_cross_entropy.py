"""Worked solutions to lesson 03's exercises (try them yourself first).

03.1 From z_nk = Σ_j x_nj W_kj + b_k (lesson 3, section 1): each W_kj meets x_nj in every row n,
so dL/dW = gᵀ x, shaped (out, N)(N, in) = (out, in) like W; each x_nj meets W_kj for every
output k, so dL/dx = g W, shaped (N, in) like x; the bias was broadcast over the rows, so its
gradient sums g over them. The shapes alone rule out most transposition mistakes, but not in
a square layer: there only the values tell, which is why the check runs gradcheck.

03.2 dℓ/dz = softmax(z) − onehot(y) for each row (lesson 3, section 3); the batch mean divides
by N, the sum does not. The softmax is computed after subtracting each row's maximum, which
changes nothing mathematically and keeps exp from overflowing.
"""

import numpy as np


def affine_backward(g, x, weight):
    grad_x = g @ weight  # (N, out) @ (out, in) -> (N, in)
    grad_weight = g.T @ x  # (out, N) @ (N, in) -> (out, in)
    grad_bias = g.sum(axis=0)  # the bias was added to every row
    return grad_x, grad_weight, grad_bias


def cross_entropy_grad(logits, labels, reduction="mean"):
    shifted = logits - logits.max(axis=1, keepdims=True)  # every exponent <= 0: no overflow
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    grad = softmax - np.eye(logits.shape[1])[labels]
    return grad / len(labels) if reduction == "mean" else grad
