"""Lesson 04's exercise: the empirical risk, computed one batch at a time.

04.1 ``risk_by_batches(model, loss_fn, x, y, batch_size)``: R̂(θ) = (1/n) Σᵢ L(yᵢ, f_θ(xᵢ)) over
     all n rows of the NumPy array ``x``, feeding the model ``batch_size`` rows at a time;
     ``loss_fn`` returns a batch's mean loss (a one-number Tensor). Compared with
     ``train.empirical_risk`` on data sets whose size is, and is not, a multiple of the batch
     size (where the mean of the batch means differs from R̂).
"""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade
from minitransfer import nn
from minitransfer.train import empirical_risk

__all__ = ["check_risk_by_batches"]

_CASES = [(10, 4), (7, 3), (12, 4), (5, 8)]  # (n, batch_size): uneven, uneven, even, one short batch


def check_risk_by_batches(risk_by_batches):
    """Exercise 04.1: the mean over all examples, whatever the batch size."""

    def check(answer):
        rng = np.random.default_rng(4)
        model = nn.MLP([6, 8, 3], generator=4, dtype=mt.float64)
        loss_fn = nn.CrossEntropyLoss()
        for n, batch_size in _CASES:
            x = rng.standard_normal((n, 6)) * 2
            y = rng.integers(0, 3, size=n)
            yours = attempted(answer(model, loss_fn, x.copy(), y.copy(), batch_size))
            yours = yours.item() if isinstance(yours, mt.Tensor) else float(yours)
            right = empirical_risk(model, loss_fn, (x, y))
            if not np.isclose(yours, right, rtol=1e-9, atol=1e-12):
                return (f"n = {n} examples in batches of {batch_size}: you give {yours:.6f}, the "
                        f"mean loss over all {n} examples is {right:.6f}")
        return None

    return grade("04.1", check, risk_by_batches)


# --- what tests/test_exercises.py runs: mistakes the check must catch ---

def _batch_losses(model, loss_fn, x, y, batch_size):
    with mt.no_grad():
        return [(loss_fn(model(mt.tensor(x[i:i + batch_size])), y[i:i + batch_size]).item(),
                 len(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]


def _mean_of_batch_means(model, loss_fn, x, y, batch_size):
    """Wrong: averages the batch means, over-weighting a short last batch."""
    return float(np.mean([loss for loss, _ in _batch_losses(model, loss_fn, x, y, batch_size)]))


def _full_batches_only(model, loss_fn, x, y, batch_size):
    """Wrong: drops the last, short batch (as a loader with drop_last=True would)."""
    full = [(loss, size) for loss, size in _batch_losses(model, loss_fn, x, y, batch_size)
            if size == batch_size]
    return sum(loss * size for loss, size in full) / sum(size for _, size in full)


def _sum_not_mean(model, loss_fn, x, y, batch_size):
    """Wrong: the total loss, not divided by n."""
    return sum(loss * size for loss, size in _batch_losses(model, loss_fn, x, y, batch_size))


SELF_TEST = [
    (check_risk_by_batches, "04_training_an_mlp.py:risk_by_batches",
     [_mean_of_batch_means, _full_batches_only, _sum_not_mean]),
]
