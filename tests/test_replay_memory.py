"""The captured step's memory plan: a ReLU writes over its input where nothing else reads it
(``replay_kernels.relus_in_place``), as ``nn.ReLU(inplace=True)`` does in PyTorch, and never where
another op, the step's x or the model's output still needs that input.

Each case trains a captured model beside an eager twin and compares every loss and parameter
bit for bit (the kernels do the eager ops' arithmetic in the same order).
"""

import copy

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, optim
from minitransfer.replay import capture
from minitransfer.replay_kernels import ReLUKernel


class Residual(nn.Module):
    """head(h + relu(h)), h = inner(x): h is read by the ReLU and by the sum."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(6, 6, generator=0, dtype=np.float64)
        self.head = nn.Linear(6, 3, generator=1, dtype=np.float64)

    def forward(self, x):
        h = self.inner(x)
        return self.head(h + mt.relu(h))


class Chained(nn.Module):
    """head(a) + skip(a), a = relu(relu(inner(x))): two ReLUs in a row, the second's result read
    twice (its gradient arrives in two parts before the ReLUs' backward runs)."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(6, 6, generator=0, dtype=np.float64)
        self.head = nn.Linear(6, 3, generator=1, dtype=np.float64)
        self.skip = nn.Linear(6, 3, generator=2, dtype=np.float64)

    def forward(self, x):
        a = mt.relu(mt.relu(self.inner(x)))
        return self.head(a) + self.skip(a)


def data(n=8, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return [(mt.tensor(rng.standard_normal((5, features))), mt.tensor(rng.integers(0, classes, 5)))
            for _ in range(n)]


def train_side_by_side(model, loss_fn, batches):
    """(captured step, eager losses, captured losses, eager twin) after len(batches) SGD steps."""
    twin = copy.deepcopy(model)
    eager_opt, captured_opt = (optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (twin, model))
    step = capture(model, loss_fn, captured_opt, *batches[0])
    eager, captured = [], []
    for x, y in batches:
        eager_opt.zero_grad()
        loss = loss_fn(twin(x), y)
        loss.backward()
        eager_opt.step()
        eager.append(loss.item())
        captured.append(step(x, y).item())
    for p, q in zip(twin.parameters(), model.parameters()):
        np.testing.assert_array_equal(q.data, p.data)
    assert captured == eager
    return step, twin


def relu_kernels(step):
    tape, = step.tapes.values()
    return tape, [k for k in tape.kernels if isinstance(k, ReLUKernel)]


def test_an_mlps_relus_share_their_inputs_value_and_gradient_buffers():
    model = nn.MLP([6, 8, 8, 3], generator=0, dtype=np.float64)
    step, _ = train_side_by_side(model, nn.CrossEntropyLoss(), data())
    tape, relus = relu_kernels(step)
    assert len(relus) == 2 and all(k.in_place for k in relus)
    for k in relus:
        assert tape.values[k.out] is tape.values[k.ins[0]]
        assert tape.grads[k.out] is tape.grads[k.ins[0]]
        assert k.mask.dtype == np.bool_ and k.mask.shape == (5, 8)


def test_two_relus_in_a_row_share_one_buffer_and_their_result_may_be_read_twice():
    step, _ = train_side_by_side(Chained(), nn.CrossEntropyLoss(), data())
    tape, (first, second) = relu_kernels(step)
    assert first.in_place and second.in_place
    assert tape.values[second.out] is tape.values[first.ins[0]]
    assert tape.grads[second.out] is tape.grads[first.ins[0]]


def test_a_pre_activation_that_another_op_reads_is_not_overwritten():
    step, _ = train_side_by_side(Residual(), nn.CrossEntropyLoss(), data())
    tape, (relu,) = relu_kernels(step)
    assert not relu.in_place and relu.mask is None
    assert tape.values[relu.out] is not tape.values[relu.ins[0]]


def test_a_relu_on_the_steps_input_leaves_x_as_it_was():
    model = nn.Sequential(nn.ReLU(), nn.Linear(6, 3, generator=0, dtype=np.float64))
    batches = data()
    kept = [x.data.copy() for x, _ in batches]
    step, _ = train_side_by_side(model, nn.CrossEntropyLoss(), batches)
    _, (relu,) = relu_kernels(step)
    assert not relu.in_place
    for (x, _), before in zip(batches, kept):
        np.testing.assert_array_equal(x.data, before)


def test_a_relu_in_the_loss_leaves_the_models_output_as_it_was():
    model = nn.MLP([6, 8, 3], generator=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    batches = [(mt.tensor(rng.standard_normal((5, 6))), mt.tensor(rng.standard_normal((5, 3))))
               for _ in range(6)]

    def loss_fn(out, target):
        return mt.mse_loss(mt.relu(out), target)

    step, twin = train_side_by_side(model, loss_fn, batches)
    _, (inside, in_loss) = relu_kernels(step)
    assert inside.in_place and not in_loss.in_place
    expected = twin(batches[-1][0]).data  # the output of the weights the last step started from...
    step(*batches[-1])  # ...is what this step's output holds, negative entries included
    assert (step.output.data < 0).any()
    np.testing.assert_array_equal(step.output.data, expected)


def test_the_mask_from_the_output_is_the_mask_from_the_input_bit_for_bit():
    """[max(x, 0) > 0] = [x > 0], NaN, ±0 and ±inf included, and g ⊙ (boolean mask) rounds as
    g ⊙ (float mask): −0.0 and NaN where the eager op makes them."""
    x = np.array([np.nan, -0.0, 0.0, -1.5, 2.0, np.inf, -np.inf, 1e-300, -1e-300])
    g = np.array([1.0, -2.0, 3.0, -4.0, np.nan, -6.0, 7.0, -8.0, np.nan])
    np.testing.assert_array_equal(np.maximum(x, 0.0) > 0.0, x > 0.0)
    eager = g * (x > 0).astype(x.dtype)  # functions.ReLU.backward
    in_place = g.copy()
    np.multiply(in_place, np.maximum(x, 0.0) > 0.0, out=in_place)
    np.testing.assert_array_equal(in_place.view(np.int64), eager.view(np.int64))


@pytest.mark.parametrize("batch", [1, 64])
def test_a_784_128_10_tape_holds_the_hand_counted_bytes(batch):
    """float64, n = batch. Values: the hidden layer once (Affine's result, then the ReLU's, in
    the same buffer), the logits, the loss. Gradients: the same three, and W1, b1, W2, b2. And
    the ReLU's boolean mask, one byte a number. (Two buffers more, without sharing.)"""
    model = nn.MLP([784, 128, 10], generator=0, dtype=np.float64)
    x = mt.tensor(np.random.default_rng(0).standard_normal((batch, 784)))
    y = mt.tensor(np.zeros(batch, dtype=np.int64))
    step = capture(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y)
    tape, (relu,) = relu_kernels(step)
    arrays = {id(a): a for a in [*tape.values[2:], *(g for g in tape.grads if g is not None), relu.mask]}
    leaves = {id(data) for _, data, _, _ in tape.leaves}
    held = sum(a.nbytes for key, a in arrays.items() if key not in leaves)
    numbers = 2 * (batch * 128 + batch * 10 + 1) + 128 * 784 + 128 + 10 * 128 + 10
    assert held == 8 * numbers + batch * 128
