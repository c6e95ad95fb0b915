"""Gradient checks (float64, central differences) of Linear, MLP and both losses."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitransfer as mt
from minitransfer import nn
from minitransfer.gradcheck import GradcheckError, gradcheck


def as_function(module):
    """f(x, *params) = module(x) computed with ``params`` in place of the module's parameters.

    gradcheck differentiates with respect to its inputs, and it evaluates the function on
    perturbed copies of them; swapping the arrays in lets it perturb the module's weights.
    """
    params = list(module.parameters())

    def fn(x, *values):
        saved = [p.data for p in params]
        for p, value in zip(params, values):
            p.data = value.data
        try:
            return module(x)
        finally:
            for p, array in zip(params, saved):
                p.data = array

    return fn


def random_input(shape, seed):
    return mt.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@given(batch=st.integers(0, 4), n_in=st.integers(1, 5), n_out=st.integers(1, 4),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_gradcheck(batch, n_in, n_out, bias, seed):
    layer = nn.Linear(n_in, n_out, bias=bias, generator=seed).double()
    shape = (batch, n_in) if batch else (n_in,)  # batch 0 stands for a single row (in,)
    gradcheck(as_function(layer), random_input(shape, seed), *layer.parameters(), name="Linear")


def test_linear_gradcheck_with_leading_batch_axes():
    layer = nn.Linear(3, 2, generator=0).double()
    gradcheck(as_function(layer), random_input((2, 4, 3), 1), *layer.parameters())


def test_mlp_gradcheck_full_and_directional():
    model = nn.MLP([5, 4, 3, 2], generator=3).double()
    gradcheck(as_function(model), random_input((6, 5), 4), *model.parameters(), name="MLP")
    big = nn.MLP([64, 32, 16, 10], generator=5).double()
    result = gradcheck(as_function(big), random_input((8, 64), 6), *big.parameters(),
                       mode="directional", name="MLP 64-32-16-10")
    assert result.passed and result.max_abs_error < 1e-6


def test_gradcheck_catches_a_wrong_linear_backward(monkeypatch):
    """The check above can fail: a backward that forgets the bias gradient is caught."""
    layer = nn.Linear(3, 2, generator=0).double()

    def wrong_backward(self, g):
        grads = original(self, g)
        return grads[0], grads[1], grads[2] * 0.5

    original = mt.functions.Affine.backward
    monkeypatch.setattr(mt.functions.Affine, "backward", wrong_backward)
    with pytest.raises(GradcheckError, match="input 2"):
        gradcheck(as_function(layer), random_input((4, 3), 0), *layer.parameters())


@given(batch=st.integers(1, 5), classes=st.integers(1, 5),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_cross_entropy_loss_gradcheck(batch, classes, reduction, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=batch)
    loss = nn.CrossEntropyLoss(reduction=reduction)
    gradcheck(lambda z: loss(z, labels), random_input((batch, classes), seed),
              name=f"CrossEntropyLoss({reduction})")


@given(shape=st.sampled_from([(), (3,), (2, 3), (2, 1, 4)]),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_mse_loss_gradcheck_for_input_and_target(shape, reduction, seed):
    loss = nn.MSELoss(reduction=reduction)
    gradcheck(loss, random_input(shape, seed), random_input(shape, seed + 1),
              name=f"MSELoss({reduction})")


def test_mlp_with_cross_entropy_gradcheck():
    """The whole objective of the document: L(y, f_θ(x)) with respect to every weight."""
    model = nn.MLP([4, 6, 3], generator=2).double()
    labels = np.array([0, 2, 1, 2, 0])
    forward = as_function(model)
    criterion = nn.CrossEntropyLoss()
    gradcheck(lambda x, *params: criterion(forward(x, *params), labels),
              random_input((5, 4), 9), *model.parameters())
