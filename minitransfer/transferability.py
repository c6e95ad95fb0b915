"""Transferability scores: will a pretrained model transfer to a target, *before* fine-tuning it?

Each score reads the pretrained model's outputs on the n labelled target examples (never the
test set) and returns one number; larger means better expected transfer.

| score  | reads                                  | idea                                           |
|--------|----------------------------------------|------------------------------------------------|
| logme  | body features F (n × D)                | evidence of a Bayesian linear model y ≈ F w    |
|        |                                        | (You et al., ICML 2021; JMLR 2022)             |
| hscore | body features F                        | between-class over total feature variance      |
|        |                                        | (Bao et al., ICIP 2019)                        |
| leep   | source-head probabilities θ(x) (n × Z) | log-likelihood of a "dummy" classifier that    |
|        |                                        | maps source labels to target labels            |
|        |                                        | (Nguyen et al., ICML 2020)                     |
| nce    | source-head predictions z (n,)         | −H(Y | Z): how well the source label predicts  |
|        |                                        | the target label (Tran et al., ICCV 2019)      |

``score_model(model, x, y, method)`` extracts what a score reads from a model that still has
its *source* head (call it before ``replace_head``): the last body layer's features
(``transfer.features``) for logme and hscore, and the source head applied to them for leep and
nce. Everything is computed in float64 on the host. ``minitransfer transferability`` measures
how well each score ranks source → target pairs by their accuracy after fine-tuning.
"""

import math
from dataclasses import dataclass

import numpy as np

METHODS = ("logme", "hscore", "leep", "nce")

# H-score's pseudo-inverse drops the directions of the feature covariance whose variance is
# below HSCORE_RCOND times the largest: with n < D (k = 10 labels per class, 5 classes, 64
# features) the covariance has rank ≤ n − 1, and its remaining eigenvalues are rounding
# noise, about 1e-14 of the largest for float32 features (7 digits each, 14 for a variance).
HSCORE_RCOND = 1e-8


# ---- input checks ----------------------------------------------------------------------------
def check_features(features, caller, argument="features"):
    """A 2-D float64 copy of ``features`` (n × D), every entry finite."""
    try:
        array = np.array(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: {argument}: expected a 2-D array of numbers (examples × "
                         f"features), got {type(features).__name__}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{caller}: {argument}: expected a 2-D array of numbers (examples × "
                         f"features), got shape {array.shape}")
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        raise ValueError(f"{caller}: {argument}: expected finite numbers, got "
                         f"{array[tuple(bad[0])]} at index {tuple(int(i) for i in bad[0])}")
    return array


def check_labels(labels, n, caller):
    """Integer labels 0..C−1, one per example, every class with at least two examples.

    A score compares classes: a class with no example (a gap in 0..C−1) or a single one (no
    within-class spread, and LogME/H-score fit a line through one point) gives no answer.
    Returns (labels as int64, C).
    """
    array = np.asarray(labels)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"{caller}: labels: expected a 1-D array of integer class labels, got "
                         f"dtype {array.dtype} and shape {array.shape}")
    if len(array) != n:
        raise ValueError(f"{caller}: labels: expected one label per example ({n}), got {len(array)}")
    if array.min() < 0:
        raise ValueError(f"{caller}: labels: expected class labels 0..C-1, got {int(array.min())}")
    counts = np.bincount(array)
    if counts.min() == 0:
        raise ValueError(f"{caller}: labels: expected every class 0..{len(counts) - 1} to have "
                         f"examples, class {int(np.argmin(counts))} has none")
    if counts.min() < 2:
        raise ValueError(f"{caller}: labels: expected at least 2 examples of each class, class "
                         f"{int(np.argmin(counts))} has {int(counts.min())}")
    return array.astype(np.int64), len(counts)


def _one_hot(labels, classes):
    return (labels[:, None] == np.arange(classes)).astype(np.float64)


# ---- LogME ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """The maximum evidence of y ≈ F w for each target column, and where it is reached."""

    alpha: np.ndarray  # prior precision α of w, one per column
    beta: np.ndarray  # noise precision β, one per column
    log_evidence: np.ndarray  # log p(y | F, α, β) at those α, β (a sum over the n examples)
    iterations: int  # fixed-point iterations until every column converged


def max_evidence(features, targets, tol=1e-10, max_iter=1000):
    """Maximise the evidence of a Bayesian linear model over α, β, for each column of ``targets``.

    The model: w ~ N(0, α⁻¹ I_D), y | F, w ~ N(F w, β⁻¹ I_n). Its evidence (marginal likelihood)

        log p(y | F, α, β) = n/2 log β + D/2 log α − n/2 log 2π
                             − β/2 ‖F m − y‖² − α/2 ‖m‖² − 1/2 log |A|,
        A = α I + β FᵀF,   m = β A⁻¹ Fᵀ y   (the posterior mean of w).

    The maximum is a fixed point of (MacKay, 1992; You et al., JMLR 2022)

        γ = Σᵢ β σᵢ² / (α + β σᵢ²),   α ← γ / ‖m‖²,   β ← (n − γ) / ‖F m − y‖²,

    with σᵢ the singular values of F. With F = U diag(σ) Vᵀ and zᵢ = uᵢᵀ y everything depends
    on t = α/β alone: ‖m‖² = Σ σᵢ² zᵢ² / (σᵢ² + t)², ‖F m − y‖² = Σ (t zᵢ / (σᵢ² + t))² + (‖y‖² − ‖z‖²),
    log|A| = Σᵢ log(α + β σᵢ²) + (D − r) log α for the r = min(n, D) singular values. One SVD,
    then each iteration costs O(r) per column, and all columns iterate at once (arrays of t),
    starting from α = β = 1. It stops when no column's evidence per example moved by more than
    ``tol`` in an iteration: after a few iterations on features that carry the labels, after
    a hundred or more on features that do not (``benchmarks/bench_transferability.py``: 6 on
    1,000 × 128 ReLU features of five classes, 146 on Gaussian noise; 20 and 63 ms). With
    n ≤ D the features can fit the labels exactly and the maximum may lie at β → ∞
    (y ~ N(0, α⁻¹ F Fᵀ), noise-free), which the iteration approaches with a growing β while
    the evidence settles: it stops there too.
    """
    f = check_features(features, "max_evidence")
    y = check_features(targets, "max_evidence", "targets")
    if len(y) != len(f):
        raise ValueError(f"max_evidence: targets: expected one row per example ({len(f)}), got {len(y)}")
    n, dim = f.shape
    u, sigma, _ = np.linalg.svd(f, full_matrices=False)
    if sigma[0] == 0:
        raise ValueError("max_evidence: features: expected at least one non-zero feature, got all zeros")
    s2 = (sigma ** 2)[:, None]  # (r, 1)
    z = u.T @ y  # (r, K): the targets in the singular basis
    outside = np.maximum(np.sum(y * y, axis=0) - np.sum(z * z, axis=0), 0.0)  # y off F's columns

    def moments(t):  # γ, ‖m‖², ‖F m − y‖² at t = α/β
        gamma = np.sum(s2 / (s2 + t), axis=0)
        m2 = np.sum((np.sqrt(s2) * z / (s2 + t)) ** 2, axis=0)  # the ratio first: no overflow
        residual = np.sum((t * z / (s2 + t)) ** 2, axis=0) + outside
        return gamma, np.maximum(m2, 1e-300), np.maximum(residual, 1e-300)

    gamma, m2, residual = moments(np.ones(y.shape[1]))  # α = β = 1
    previous, iterations = np.full(y.shape[1], -np.inf), 0
    while iterations < max_iter:
        iterations += 1
        alpha, beta = gamma / m2, (n - gamma) / residual
        # m at exactly these α, β (t kept finite: features with no information send α/β to ∞)
        gamma, m2, residual = moments(np.clip(alpha / beta, 1e-300, 1e300))
        log_det = np.sum(np.log(alpha + beta * s2), axis=0) + (dim - len(sigma)) * np.log(alpha)
        evidence = (n / 2 * np.log(beta) + dim / 2 * np.log(alpha) - n / 2 * math.log(2 * math.pi)
                    - beta / 2 * residual - alpha / 2 * m2 - log_det / 2)
        if np.all(np.abs(evidence - previous) <= tol * n):
            break
        previous = evidence
    return Evidence(alpha, beta, evidence, iterations)


def logme(features, labels):
    """LogME: the maximum log evidence per example, one-vs-rest per class, averaged over classes.

        LogME = (1/C) Σ_c (1/n) max_{α,β} log p(y_c | F, α, β),   y_c = [labels = c] ∈ {0, 1}ⁿ

    with the evidence of ``max_evidence`` (its docstring has the formula). Features that hold
    the label linearly give a large evidence; features unrelated to it, a small one.
    """
    f = check_features(features, "logme")
    y, classes = check_labels(labels, len(f), "logme")
    result = max_evidence(f, _one_hot(y, classes))
    return float(np.mean(result.log_evidence) / len(f))


# ---- H-score ----------------------------------------------------------------------------------
def hscore(features, labels, rcond=HSCORE_RCOND):
    """H(f) = tr(cov(f)⁺ cov(E[f | y])), centered covariances (Bao et al., 2019).

        cov(f)        = (1/n) Σᵢ (fᵢ − μ)(fᵢ − μ)ᵀ
        cov(E[f | y]) = Σ_c (n_c / n) (μ_c − μ)(μ_c − μ)ᵀ   (μ_c the mean feature of class c)

    The ratio of between-class to total variance, summed over directions: at most C − 1, large
    when the classes' mean features are far apart compared with the spread of all features.
    ⁺ is the pseudo-inverse by eigendecomposition, dropping eigenvalues below ``rcond`` times
    the largest (``HSCORE_RCOND``, above). Centering makes it invariant to adding a constant.
    """
    f = check_features(features, "hscore")
    y, classes = check_labels(labels, len(f), "hscore")
    centered = f - f.mean(axis=0)
    total = centered.T @ centered / len(f)
    one_hot = _one_hot(y, classes)
    class_means = (one_hot.T @ centered) / one_hot.sum(axis=0)[:, None]  # (C, D), centered
    spread = class_means[y]  # E[f | y] of each example
    between = spread.T @ spread / len(f)
    eigenvalues, vectors = np.linalg.eigh(total)
    kept = eigenvalues > rcond * eigenvalues.max()
    if not np.any(kept):
        raise ValueError("hscore: features: expected features that vary over the examples, got "
                         "constant features")
    projected = vectors[:, kept]
    return float(np.sum(np.einsum("dk,de,ek->k", projected, between, projected) / eigenvalues[kept]))


# ---- LEEP and NCE -----------------------------------------------------------------------------
def check_probabilities(source_probs, caller):
    """Rows of probabilities over the Z source classes: non-negative, summing to 1 (±1e-6)."""
    p = check_features(source_probs, caller, "source_probs")
    sums = p.sum(axis=1)
    if p.min() < 0 or np.max(np.abs(sums - 1)) > 1e-6:
        row = int(np.argmax((p.min(axis=1) < 0) | (np.abs(sums - 1) > 1e-6)))
        raise ValueError(f"{caller}: source_probs: expected rows of probabilities (non-negative, "
                         f"summing to 1), got row {row} with sum {sums[row]:.6g} and minimum "
                         f"{p[row].min():.6g}")
    return p


def leep(source_probs, labels):
    """LEEP: log expected empirical prediction (Nguyen et al., 2020).

    With θ(xᵢ) the source model's probabilities over source labels z, the empirical joint and
    conditional of target label y and source label z are

        P̂(y, z) = (1/n) Σ_{i: yᵢ = y} θ(xᵢ)_z,   P̂(y | z) = P̂(y, z) / Σ_y' P̂(y', z),

    and LEEP = (1/n) Σᵢ log Σ_z P̂(yᵢ | z) θ(xᵢ)_z: the average log-likelihood of a classifier
    that reads the source prediction and translates it to a target label. ≤ 0; larger is better.
    """
    p = check_probabilities(source_probs, "leep")
    y, classes = check_labels(labels, len(p), "leep")
    joint = _one_hot(y, classes).T @ p / len(p)  # (C, Z)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    expected = np.sum(p * conditional[y], axis=1)  # Σ_z P̂(yᵢ | z) θ(xᵢ)_z
    return float(np.mean(np.log(expected)))


def nce(source_predictions, labels):
    """NCE: negative conditional entropy −H(Y | Z) (Tran et al., 2019).

    Z is the source model's predicted (hard) label of each example. With the empirical joint
    P̂(y, z) = #{i: yᵢ = y, zᵢ = z} / n and P̂(z) = Σ_y P̂(y, z),

        NCE = −H(Y | Z) = Σ_{y,z} P̂(y, z) log (P̂(y, z) / P̂(z)),

    0 when the source label determines the target label, −log C when it says nothing.
    """
    z = np.asarray(source_predictions)
    if z.ndim != 1 or z.dtype.kind not in "iu" or (len(z) and z.min() < 0):
        raise ValueError(f"nce: source_predictions: expected a 1-D array of source class labels "
                         f"(integers >= 0), got dtype {z.dtype} and shape {z.shape}")
    y, classes = check_labels(labels, len(z), "nce")
    sources = int(z.max()) + 1
    joint = np.bincount(y * sources + z, minlength=classes * sources).reshape(classes, sources) / len(z)
    marginal = joint.sum(axis=0)
    present = joint > 0
    return float(np.sum(joint[present] * np.log((joint / np.where(marginal > 0, marginal, 1))[present])))


# ---- from a model -----------------------------------------------------------------------------
def model_outputs(model, x):
    """(last body layer's features, source-head probabilities) of ``model`` on ``x``, float64.

    The probabilities are softmax(h Wᵀ + b) of the model's current head on those features: the
    *source* task's head as long as ``replace_head`` has not run.
    """
    from minitransfer import backend
    from minitransfer.transfer import features as body_features

    h = body_features(model, x, layer=-1).astype(np.float64)
    weight = backend.to_numpy(model.head.weight.data).astype(np.float64)
    logits = h @ weight.T
    if model.head.bias is not None:
        logits += backend.to_numpy(model.head.bias.data).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return h, probs / probs.sum(axis=1, keepdims=True)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"score_model: method: expected one of {', '.join(METHODS)}, got {method!r}")


def score_from_outputs(method, feats, probs, labels):
    """One score from ``model_outputs``' features and probabilities."""
    _check_method(method)
    if method == "logme":
        return logme(feats, labels)
    if method == "hscore":
        return hscore(feats, labels)
    if method == "leep":
        return leep(probs, labels)
    return nce(np.argmax(probs, axis=1), labels)


def score_model(model, x, y, method="logme"):
    """The transferability score ``method`` (logme, hscore, leep, nce) of ``model`` on (x, y).

    ``model`` is the pretrained model with its source head; x holds the n labelled target
    inputs and y their labels. Returns one float, larger = better expected transfer.
    """
    _check_method(method)
    feats, probs = model_outputs(model, x)
    return score_from_outputs(method, feats, probs, y)


def all_scores(model, x, y, methods=METHODS):
    """{method: score} for every method, reading the model once."""
    for method in methods:
        _check_method(method)
    feats, probs = model_outputs(model, x)
    return {method: score_from_outputs(method, feats, probs, y) for method in methods}
