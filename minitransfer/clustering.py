"""k-means and two scores for clusterings, in plain NumPy (the unsupervised target tasks).

Unsupervised transfer (the document's §2.2, kinds 2 and 4) has no labels on the target, so
"did the pretrained features help?" is asked by clustering the target images in feature space
and comparing the clusters with the true classes, which the clustering never saw:

- adjusted Rand index (ARI): agreement of two partitions over all pairs of points, corrected
  for chance: 0 for a random clustering, 1 for a perfect one.
- normalised mutual information (NMI): I(U; V) / mean(H(U), H(V)), 0 (independent) to 1.
"""

import numpy as np


def kmeans(x, k, seed=0, n_init=4, max_iter=100):
    """Lloyd's algorithm with k-means++ starts; returns (labels, centres) of the best of n_init runs.

    Each run alternates two steps until nothing moves: assign each point to its nearest
    centre, then move each centre to the mean of its points. The run with the smallest
    within-cluster sum of squares Σᵢ ‖xᵢ − c_{label(i)}‖² wins.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < k or k < 1:
        raise ValueError(f"kmeans: expected a 2-D array with at least k={k} rows, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centres = _kmeans_plus_plus(x, k, rng)
        for _ in range(max_iter):
            labels = _nearest(x, centres)
            moved = np.array([x[labels == j].mean(axis=0) if np.any(labels == j) else centres[j]
                              for j in range(k)])
            if np.allclose(moved, centres):
                break
            centres = moved
        labels = _nearest(x, centres)
        inertia = float(((x - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, centres)
    return best[1], best[2]


def _nearest(x, centres):
    # ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²; the ‖x‖² term does not change which centre is nearest
    distances = -2 * x @ centres.T + (centres**2).sum(axis=1)
    return distances.argmin(axis=1)


def _kmeans_plus_plus(x, k, rng):
    """Spread the starting centres: each new one is drawn with probability ∝ squared distance."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = ((x[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2).min(axis=1)
        total = d2.sum()
        centres.append(x[rng.choice(len(x), p=d2 / total)] if total > 0 else x[rng.integers(len(x))])
    return np.array(centres)


def _contingency(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"labels: expected two 1-D arrays of the same length, got {a.shape} and {b.shape}")
    _, a_codes = np.unique(a, return_inverse=True)
    _, b_codes = np.unique(b, return_inverse=True)
    table = np.zeros((a_codes.max() + 1, b_codes.max() + 1), dtype=np.int64)
    np.add.at(table, (a_codes, b_codes), 1)  # host-side counting, not engine code
    return table


def adjusted_rand_index(labels_true, labels_pred):
    """ARI = (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E), E = Σ C(a_i,2) Σ C(b_j,2) / C(n,2)."""
    table = _contingency(labels_true, labels_pred)
    n = table.sum()

    def pairs(counts):
        return float((counts * (counts - 1) / 2).sum())

    both, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2) if n > 1 else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:  # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return (both - expected) / (maximum - expected)


def normalized_mutual_info(labels_true, labels_pred):
    """NMI = I(U; V) / ((H(U) + H(V)) / 2), with natural logarithms (arithmetic-mean normalisation)."""
    table = _contingency(labels_true, labels_pred).astype(np.float64)
    p = table / table.sum()
    pu, pv = p.sum(axis=1), p.sum(axis=0)
    nonzero = p > 0
    mutual = float((p[nonzero] * np.log(p[nonzero] / np.outer(pu, pv)[nonzero])).sum())
    hu = -float((pu[pu > 0] * np.log(pu[pu > 0])).sum())
    hv = -float((pv[pv > 0] * np.log(pv[pv > 0])).sum())
    if hu + hv == 0:
        return 1.0
    return mutual / ((hu + hv) / 2)
