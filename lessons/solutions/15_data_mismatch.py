"""Worked solution of lesson 15's exercise (Deep CORAL's distance in NumPy)."""

import numpy as np


def coral_distance(fs, ft):
    """‖C_s − C_t‖²_F / (4 d²), with C = (X − x̄)ᵀ (X − x̄) / (n − 1) for each domain."""

    def covariance(x):
        centred = x - x.mean(axis=0)  # each domain on its own mean
        return centred.T @ centred / (len(x) - 1)

    d = fs.shape[1]
    return float(np.sum((covariance(fs) - covariance(ft)) ** 2) / (4 * d * d))
