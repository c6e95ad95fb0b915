"""k-means and the clustering scores used by the unsupervised-target transfer experiments."""

import numpy as np
import pytest

from minitransfer.clustering import adjusted_rand_index, kmeans, normalized_mutual_info


def test_kmeans_recovers_well_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat([0, 1, 2], 30)
    x = centres[truth] + rng.normal(scale=0.5, size=(90, 2))
    labels, found = kmeans(x, 3, seed=1)
    assert adjusted_rand_index(truth, labels) == 1.0
    distances = np.linalg.norm(centres[:, None, :] - found[None], axis=2)
    assert distances.min(axis=1).max() < 0.5  # every true centre has a found one nearby


def test_scores_on_hand_computed_examples():
    # identical partitions up to renaming: both scores are 1
    assert adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert normalized_mutual_info([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    # independent partitions: NMI 0; ARI of this 2x2 design is -0.5 by the formula:
    # pairs within true classes = 2, within predicted = 2, within both = 0, E = 2*2/6
    assert normalized_mutual_info([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx((0 - 4 / 6) / (2 - 4 / 6))


def test_scores_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 5, 200)
    assert adjusted_rand_index(a, b) == pytest.approx(metrics.adjusted_rand_score(a, b))
    assert normalized_mutual_info(a, b) == pytest.approx(metrics.normalized_mutual_info_score(a, b))


def test_kmeans_refuses_too_few_points():
    with pytest.raises(ValueError, match="at least k=5"):
        kmeans(np.zeros((3, 2)), 5)
