"""Two distances between a batch of source features and a batch of target features, written
with Tensor ops so that their gradients reach the feature extractor.

Both take fs (n × d) and ft (m × d), the activations of the same body on source and target
inputs (``transfer.features`` gives them without a graph; a training loop gives them with one).

- ``coral_loss`` (Deep CORAL, Sun & Saenko 2016) compares second moments:

      C = (1 / (n − 1)) (X − 1x̄)ᵀ (X − 1x̄),      ℓ_CORAL = ‖C_s − C_t‖²_F / (4 d²)

- ``mmd_loss`` (multi-kernel MMD, Long et al. 2015) compares whole distributions through
  Gaussian kernels k_σ(a, b) = exp(−‖a − b‖² / (2σ²)), averaged over the bandwidths σ; the
  biased estimator of the squared maximum mean discrepancy is

      MMD² = mean_{i,j} k(sᵢ, sⱼ) + mean_{i,j} k(tᵢ, tⱼ) − 2 mean_{i,j} k(sᵢ, tⱼ)

  = ‖(1/n) Σ φ(sᵢ) − (1/m) Σ φ(tⱼ)‖² in the kernel's feature space: 0 for identical samples.
"""

import numpy as np

from minitransfer import backend
from minitransfer.tensor import Tensor


def check_features(fs, ft, caller, min_rows=2):
    """fs and ft as Tensors of shape (n, d) and (m, d) with n, m >= ``min_rows``, else an error
    naming ``caller`` and both shapes (arrays are wrapped, keeping their dtype)."""
    fs, ft = (f if isinstance(f, Tensor) else Tensor(f) for f in (fs, ft))
    if fs.ndim != 2 or ft.ndim != 2:
        raise ValueError(f"{caller}: expected 2-D features (examples × features), got source "
                         f"{fs.shape} and target {ft.shape}")
    if fs.shape[1] != ft.shape[1]:
        raise ValueError(f"{caller}: source and target features must have the same size, got "
                         f"{fs.shape[1]} source features (shape {fs.shape}) and {ft.shape[1]} "
                         f"target features (shape {ft.shape}); take both from the same layer")
    if min(fs.shape[0], ft.shape[0]) < min_rows:
        raise ValueError(f"{caller}: expected at least {min_rows} examples from each domain, got "
                         f"{fs.shape[0]} source and {ft.shape[0]} target")
    return fs, ft


def covariance(f):
    """The (d × d) sample covariance (1 / (n − 1)) (X − 1x̄)ᵀ (X − 1x̄) of the rows of f."""
    centred = f - f.mean(axis=0, keepdims=True)
    return (centred.T @ centred) / (f.shape[0] - 1)


def coral_loss(fs, ft):
    """‖C_s − C_t‖²_F / (4 d²): Deep CORAL's distance between the feature covariances.

    0 when the two covariances are equal (whatever the means). By hand: source rows (0, 0),
    (2, 0) and target rows (0, 0), (0, 2) have covariances diag(2, 0) and diag(0, 2); the
    squared Frobenius norm of their difference is 8, and 8 / (4 · 2²) = 0.5.
    """
    fs, ft = check_features(fs, ft, "coral_loss")
    d = fs.shape[1]
    difference = covariance(fs) - covariance(ft)
    return (difference * difference).sum() / (4 * d * d)


def squared_distances(a, b):
    """‖aᵢ − bⱼ‖² for every pair of rows, as ‖aᵢ‖² + ‖bⱼ‖² − 2 aᵢ·bⱼ (one matrix product)."""
    return (a * a).sum(axis=1, keepdims=True) + (b * b).sum(axis=1, keepdims=True).T - (a @ b.T) * 2


def median_distance(fs, ft):
    """The median Euclidean distance between two different rows of the pooled features (a
    number, computed without a graph): the scale of the "median heuristic"; 1 if it is 0."""
    pooled = np.concatenate([np.asarray(backend.to_numpy(f.data if isinstance(f, Tensor) else f),
                                        dtype=np.float64) for f in (fs, ft)])
    squared = np.sum(pooled**2, axis=1)
    d2 = squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T
    pairs = d2[np.triu(np.ones(d2.shape, dtype=bool), k=1)]  # each pair i < j once
    median = float(np.sqrt(max(np.median(pairs), 0))) if len(pairs) else 0.0
    return median if median > 0 else 1.0


def mean_kernel(a, b, sigmas):
    """mean_{i,j} (1/K) Σ_k exp(−‖aᵢ − bⱼ‖² / (2σ_k²)): the K kernels at once, as a (K, n, m)
    stack from one broadcast product, so the graph holds 3 ops for them instead of 3K."""
    scales = np.array([-1.0 / (2 * sigma * sigma) for sigma in sigmas], dtype=np.float64)
    scales = Tensor(scales.reshape(-1, 1, 1), dtype=backend.dtype_name(a.dtype)).to(a.device)
    distances = squared_distances(a, b).reshape(1, a.shape[0], b.shape[0])
    return (distances * scales).exp().mean()


def mmd_loss(fs, ft, bandwidths=(0.5, 1, 2, 4, 8), scale=None):
    """The biased multi-kernel MMD² between source and target features (Long et al., 2015).

    The kernel is the mean of Gaussian kernels exp(−‖a − b‖² / (2σ²)) with σ = b · ``scale``
    for each b in ``bandwidths``. ``scale`` defaults to ``median_distance(fs, ft)`` (the
    median heuristic), computed from the values and held constant: no gradient flows through
    it, as in DAN's implementations (give ``scale`` to fix it, e.g. for a gradient check).
    """
    fs, ft = check_features(fs, ft, "mmd_loss", min_rows=1)
    bandwidths = tuple(bandwidths)
    if not bandwidths or any(isinstance(b, bool) or not isinstance(b, (int, float, np.number))
                             or not b > 0 for b in bandwidths):
        raise ValueError(f"mmd_loss: bandwidths must be positive numbers (multiples of the median "
                         f"distance), got {bandwidths!r}")
    scale = median_distance(fs, ft) if scale is None else float(scale)
    sigmas = [float(b) * scale for b in bandwidths]
    return mean_kernel(fs, fs, sigmas) + mean_kernel(ft, ft, sigmas) - mean_kernel(fs, ft, sigmas) * 2
