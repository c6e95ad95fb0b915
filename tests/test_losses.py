"""Losses: hand-computed values and gradients, numerical stability, input validation."""

import math

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn

# Row 0: logits (0, 0), label 0 -> loss ln 2.  Row 1: logits (ln 3, 0), label 1 -> softmax
# (3/4, 1/4), loss −ln(1/4) = ln 4.
LOGITS = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
LABELS = np.array([0, 1])


@pytest.mark.parametrize("reduction, expected", [
    ("mean", 1.5 * math.log(2)), ("sum", 3 * math.log(2)), ("none", [math.log(2), math.log(4)])])
def test_cross_entropy_values_by_hand(reduction, expected):
    loss = nn.CrossEntropyLoss(reduction=reduction)(mt.tensor(LOGITS), LABELS)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    z = mt.tensor(LOGITS, requires_grad=True)
    nn.CrossEntropyLoss()(z, mt.tensor(LABELS)).backward()
    # ((0.5, 0.5) − (1, 0)) / 2 and ((0.75, 0.25) − (0, 1)) / 2
    np.testing.assert_allclose(z.grad.numpy(), [[-0.25, 0.25], [0.375, -0.375]], rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    z = mt.tensor([[1000.0, 0.0], [-1000.0, 1000.0]], requires_grad=True)
    loss = nn.CrossEntropyLoss(reduction="none")(z, [1, 1])
    np.testing.assert_allclose(loss.detach().numpy(), [1000.0, 0.0])
    loss.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [[1.0, -1.0], [0.0, 0.0]])


def test_cross_entropy_accepts_labels_as_list_array_or_tensor():
    z = mt.tensor(LOGITS)
    values = [nn.CrossEntropyLoss()(z, labels).item()
              for labels in ([0, 1], LABELS, mt.tensor(LABELS), LABELS.astype(np.uint8))]
    assert values == [values[0]] * 4


@pytest.mark.parametrize("logits, labels, error, message", [
    (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "expected integer class labels, got dtype float64"),
    (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"labels must lie in \[0, 3\) .* from 0 to 3"),
    (np.zeros((2, 3)), np.array([-1, 0]), ValueError, "from -1 to 0"),
    (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, r"expected labels of shape \(2,\).* \(3,\)"),
    (np.zeros((2, 3)), np.array([[0], [1]]), ValueError, r"got shape \(2, 1\)"),
    (np.zeros(3), np.array([0]), ValueError, r"logits of shape \(N, C\).*got shape \(3,\)"),
    (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), TypeError, "floating-point logits"),
])
def test_cross_entropy_rejects_bad_inputs(logits, labels, error, message):
    with pytest.raises(error, match=message):
        nn.CrossEntropyLoss()(mt.tensor(logits), labels)


def test_reduction_must_be_known():
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="MSELoss: reduction"):
        nn.MSELoss(reduction=None)


@pytest.mark.parametrize("reduction, expected, gradient", [
    ("mean", 13 / 3, [0.0, 4 / 3, 2.0]), ("sum", 13.0, [0.0, 4.0, 6.0]),
    ("none", [0.0, 4.0, 9.0], [0.0, 4.0, 6.0])])
def test_mse_values_and_gradients_by_hand(reduction, expected, gradient):
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = nn.MSELoss(reduction=reduction)(x, mt.tensor([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(loss.detach().numpy(), expected, rtol=1e-6)
    (loss if reduction != "none" else loss.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), gradient, rtol=1e-6)
    assert loss.dtype == np.float32


def test_mse_rejects_broadcasting_and_dtype_promotion():
    x = mt.tensor(np.zeros((4, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"target of the input's shape \(4, 1\), got shape \(4,\)"):
        nn.MSELoss()(x, np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="input float32 and target float64"):
        nn.MSELoss()(x, np.zeros((4, 1)))
