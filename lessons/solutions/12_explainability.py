"""Worked solution of lesson 12's exercise (linear CKA)."""

import numpy as np


def linear_cka(a, b):
    """CKA(a, b) = ‖BᵀA‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F), with A and B the column-centred features.

    Centring removes each feature's mean over the n examples: CKA compares how the examples
    vary, not where the cloud sits. ‖BᵀA‖²_F = tr(AAᵀBBᵀ) is the alignment of the two n × n
    Gram matrices, and the denominator makes it 1 for a = b.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
