"""Principal component analysis: the directions along which a cloud of points varies most.

Centre the n × d data, X_c = X − mean, and take its singular value decomposition
X_c = U S Vᵀ. The rows of Vᵀ are the principal directions, in decreasing order of the variance
they carry, S²ᵢ / (n − 1); the coordinates of the points along the first k are X_c V_k = U_k S_k,
and the share of the total variance each explains is S²ᵢ / Σⱼ S²ⱼ.

A direction v and −v are the same axis, and SVD routines may return either. So that a plot
does not flip between runs or machines, each direction is turned so that its entry of
largest magnitude is positive (the first such entry on a tie).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCA:
    coordinates: np.ndarray  # (n, k): the points along the first k directions
    components: np.ndarray  # (k, d): the directions, unit length, one per row
    explained_variance_ratio: np.ndarray  # (k,): share of the total variance of each
    mean: np.ndarray  # (d,): what was subtracted before the decomposition


def pca(x, n_components=2):
    """The first ``n_components`` principal components of the rows of ``x`` (n × d)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"pca: x: expected a 2-D array of at least 2 rows (points × features), "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"pca: x: expected finite numbers, got {x[bad]} at index {bad}")
    largest = min(x.shape)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or not 1 <= n_components <= largest:
        raise ValueError(f"pca: n_components: expected an integer from 1 to {largest} "
                         f"(min of {x.shape}), got {n_components!r}")
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = vt[:n_components]
    largest_entry = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(n_components), largest_entry])
    components = components * signs[:, None]
    variance = singular**2
    total = variance.sum()
    ratio = variance[:n_components] / total if total > 0 else np.zeros(n_components)
    return PCA((x - mean) @ components.T, components, ratio, mean)
