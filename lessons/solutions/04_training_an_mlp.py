"""Worked solution to lesson 04's exercise (try it yourself first).

04.1 ``loss_fn`` returns the mean over its batch, so a batch of b examples contributes
b × (its mean) to the sum Σᵢ L(yᵢ, f(xᵢ)); add those up and divide by n once, at the end. The
mean of the batch means would weight every batch alike, and a short last batch would count
as much as a full one. No graph is needed to evaluate a risk, so the forward passes run
under ``no_grad()``. This is ``minitransfer.train.empirical_risk``.
"""

import minitransfer as mt


def risk_by_batches(model, loss_fn, x, y, batch_size):
    total = 0.0
    with mt.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            total += loss_fn(model(mt.tensor(xb)), yb).item() * len(xb)  # the batch's sum of losses
    return total / len(x)
