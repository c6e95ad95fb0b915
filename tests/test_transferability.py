"""Transferability scores against hand-computed values and a direct evaluation of the evidence."""

import math

import numpy as np
import pytest

from minitransfer import nn
from minitransfer.transferability import (
    METHODS,
    all_scores,
    hscore,
    leep,
    logme,
    max_evidence,
    model_outputs,
    nce,
    score_model,
)


def _one_hot(y, classes):
    return (y[:, None] == np.arange(classes)).astype(np.float64)


def _direct_evidence(f, y, alpha, beta):
    """log p(y | F, α, β) from its definition: A, m by a linear solve, log|A| by slogdet."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    sign, log_det = np.linalg.slogdet(a)
    assert sign > 0
    return (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
            - beta / 2 * np.sum((f @ m - y) ** 2) - alpha / 2 * m @ m - log_det / 2)


@pytest.mark.parametrize("n, d", [(60, 10), (20, 35)], ids=["n>d", "n<d"])
def test_logme_equals_the_evidence_evaluated_directly_at_the_converged_alpha_beta(n, d):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + 1.5 * _one_hot(y, 3) @ rng.normal(size=(3, d))
    result = max_evidence(f, _one_hot(y, 3))
    assert result.iterations < 1000
    interior = result.beta < 1e6
    assert interior.sum() >= 2
    for c in np.flatnonzero(interior):
        alpha, beta = result.alpha[c], result.beta[c]
        direct = _direct_evidence(f, _one_hot(y, 3)[:, c], alpha, beta)
        assert result.log_evidence[c] == pytest.approx(direct, rel=1e-9)
        # a maximum: moving α or β by 2% either way lowers the evidence
        for da, db in [(1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98)]:
            assert _direct_evidence(f, _one_hot(y, 3)[:, c], alpha * da, beta * db) < direct
    for c in np.flatnonzero(~interior):
        # n < d: the features interpolate y and the maximum lies at β → ∞, where
        # y ~ N(0, α⁻¹ F Fᵀ); its best α = n / yᵀ(F Fᵀ)⁻¹ y gives the evidence in closed form
        assert n < d
        gram, target = f @ f.T, _one_hot(y, 3)[:, c]
        alpha = n / (target @ np.linalg.solve(gram, target))
        limit = (-n / 2 * math.log(2 * math.pi) - np.linalg.slogdet(gram)[1] / 2
                 + n / 2 * math.log(alpha) - n / 2)
        assert result.log_evidence[c] == pytest.approx(limit, rel=1e-6)
        assert result.alpha[c] == pytest.approx(alpha, rel=1e-4)
    assert logme(f, y) == pytest.approx(np.mean(result.log_evidence) / n, rel=1e-12)


def test_logme_is_invariant_to_permuting_the_examples():
    rng = np.random.default_rng(1)
    f, y = rng.normal(size=(50, 12)), np.arange(50) % 5
    order = rng.permutation(50)
    assert logme(f[order], y[order]) == pytest.approx(logme(f, y), rel=1e-12)


def test_scores_rank_separating_features_above_random_ones():
    rng = np.random.default_rng(2)
    y = np.arange(100) % 4
    noise = rng.normal(size=(100, 16))
    separating = noise.copy()
    separating[:, :4] += 4 * _one_hot(y, 4)  # one direction per class
    assert logme(separating, y) > logme(noise, y) + 0.1
    assert hscore(separating, y) > hscore(noise, y) + 1


def test_leep_and_nce_match_a_3x2_joint_computed_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    theta = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5], [0.3, 0.7], [0.1, 0.9], [0.3, 0.7]])
    # P̂(y, z) = (1/6) Σ_{i: yᵢ = y} θᵢ_z:  z=0 column 1.4, 0.8, 0.4 (sum 2.6); z=1 column 0.6, 1.2, 1.6 (3.4)
    # P̂(y | z=0) = (1.4, 0.8, 0.4) / 2.6,   P̂(y | z=1) = (0.6, 1.2, 1.6) / 3.4
    expected = [0.8 * 1.4 / 2.6 + 0.2 * 0.6 / 3.4, 0.6 * 1.4 / 2.6 + 0.4 * 0.6 / 3.4,
                0.5 * 0.8 / 2.6 + 0.5 * 1.2 / 3.4, 0.3 * 0.8 / 2.6 + 0.7 * 1.2 / 3.4,
                0.1 * 0.4 / 2.6 + 0.9 * 1.6 / 3.4, 0.3 * 0.4 / 2.6 + 0.7 * 1.6 / 3.4]
    assert leep(theta, y) == pytest.approx(np.mean(np.log(expected)), rel=1e-12)
    # hard source labels z = 0, 0, 0, 1, 1, 1: P̂(y, z) = 2/6, 1/6 | 1/6, 2/6; P̂(z) = 1/2 each
    # NCE = Σ P̂(y, z) log P̂(y | z) = 2·(2/6) log(2/3) + 2·(1/6) log(1/3)
    z = np.array([0, 0, 0, 1, 1, 1])
    assert nce(z, y) == pytest.approx(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3), rel=1e-12)
    # with one-hot θ (hard predictions), LEEP is NCE (Nguyen et al., 2020)
    assert leep(np.eye(2)[z], y) == pytest.approx(nce(z, y), rel=1e-12)
    assert nce(np.array([0, 0, 1, 1, 2, 2]), y) == 0.0  # the source label determines y


def test_hscore_by_hand_and_invariant_to_adding_a_constant():
    # one feature 0, 2, 4, 6; classes 0, 0, 1, 1: total variance 5, between-class variance 4
    f, y = np.array([[0.0], [2.0], [4.0], [6.0]]), np.array([0, 0, 1, 1])
    assert hscore(f, y) == pytest.approx(0.8, rel=1e-12)
    rng = np.random.default_rng(3)
    f, y = rng.normal(size=(40, 6)), np.arange(40) % 4
    assert hscore(f + 3.0, y) == pytest.approx(hscore(f, y), rel=1e-9)
    assert hscore(f, y) <= 3 + 1e-9  # at most C − 1


def test_score_model_reads_the_last_body_layer_and_the_source_head():
    model = nn.MLP([6, 5, 4, 3], generator=0)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 6)).astype(np.float32), np.arange(30) % 2
    feats, probs = model_outputs(model, x)
    assert feats.shape == (30, 4) and probs.shape == (30, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-12)
    import minitransfer as mt

    logits = model(mt.tensor(x)).detach().numpy().astype(np.float64)
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-5)
    scores = all_scores(model, x, y)
    assert list(scores) == list(METHODS)
    assert scores["logme"] == score_model(model, x, y, "logme") == logme(feats, y)
    assert scores["nce"] == nce(np.argmax(probs, axis=1), y)


def test_the_readme_block_runs_as_printed():
    """README's "Choosing a method" block prints what its comments say."""
    import os
    import pathlib
    import re
    import subprocess
    import sys

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Choosing a method"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python"))]
    expected = re.findall(r"# (True|\d+|\[.*?\])$", code, flags=re.M)
    assert len(expected) == 3, expected
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
