"""SGD's plain rule prepared once for a captured step (``SGD._captured_update``): the eager step's
numbers bit for bit, and ``optimizer.step()`` again whenever the plain rule stops applying."""

import copy

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import blas, nn, optim
from minitransfer.optim.lr_scheduler import StepLR
from minitransfer.replay import capture
from minitransfer.transfer.workflow import freeze

SIZES = [12, 16, 8, 4]


def batches(n, dtype, batch=16, seed=0):
    rng = np.random.default_rng(seed)
    teacher = np.random.default_rng(99).standard_normal((SIZES[0], SIZES[-1]))
    xs = [rng.standard_normal((batch, SIZES[0])) for _ in range(n)]
    return [(mt.tensor(x.astype(dtype)), mt.tensor(np.argmax(x @ teacher, axis=1))) for x in xs]


class CountingSGD(optim.SGD):
    """SGD that counts its ``step()`` calls (a subclass: it gets no prepared update)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def count_steps(optimizer):
    """Count ``optimizer.step()`` calls on this SGD instance (its class stays SGD)."""
    optimizer.steps = 0
    plain_step = optimizer.step

    def step(closure=None):
        optimizer.steps += 1
        return plain_step(closure)

    optimizer.step = step
    return optimizer


def eager_losses(model, optimizer, data, between=None):
    losses = []
    for i, (x, y) in enumerate(data):
        optimizer.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if between:
            between(i, model, optimizer)
    return losses


def captured_losses(model, optimizer, data, between=None):
    step, losses = capture(model, nn.CrossEntropyLoss(), optimizer, *data[0]), []
    for i, (x, y) in enumerate(data):
        losses.append(step(x, y).item())
        if between:
            between(i, model, optimizer)
    return losses, step


def assert_bit_identical(eager_model, captured_model, eager, captured):
    assert captured == eager
    for p, q in zip(eager_model.parameters(), captured_model.parameters()):
        np.testing.assert_array_equal(q.data, p.data)


@pytest.mark.skipif(not blas.available(), reason="NumPy's BLAS is not OpenBLAS")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_sgd_is_updated_by_the_prepared_calls_bit_for_bit(dtype):
    eager_model = nn.MLP(SIZES, generator=0, dtype=dtype)
    captured_model = copy.deepcopy(eager_model)
    data = batches(30, dtype)
    versions = [p._version for p in captured_model.parameters()]
    eager = eager_losses(eager_model, optim.SGD(eager_model.parameters(), lr=0.1), data)
    optimizer = count_steps(optim.SGD(captured_model.parameters(), lr=0.1))
    captured, step = captured_losses(captured_model, optimizer, data)
    assert optimizer.steps == 0  # every update went through the prepared calls
    assert_bit_identical(eager_model, captured_model, eager, captured)
    assert np.mean(eager[-5:]) < np.mean(eager[:5])  # it learned
    for p, q, before in zip(eager_model.parameters(), captured_model.parameters(), versions):
        assert q._version == before + 30 == p._version  # one in-place change per step, as eager
    assert optimizer._work_arrays == {}  # one BLAS pass: no work array was needed


def change_between_steps(i, model, optimizer):
    """Momentum from step 5 to 9, then plain again; the learning rate halves at step 12;
    lr = 0 at step 20 and 21."""
    group = optimizer.param_groups[0]
    group["momentum"] = 0.9 if 4 <= i < 9 else 0.0
    if i == 11:
        group["lr"] = group["lr"] / 2
    if i in (19, 20):
        group["lr"] = 0.0
    if i == 21:
        group["lr"] = 0.05


def test_a_rule_changed_between_steps_is_followed_as_the_eager_step_follows_it():
    eager_model = nn.MLP(SIZES, generator=0, dtype=np.float64)
    captured_model = copy.deepcopy(eager_model)
    data = batches(26, np.float64)
    eager = eager_losses(eager_model, optim.SGD(eager_model.parameters(), lr=0.1), data,
                         change_between_steps)
    optimizer = count_steps(optim.SGD(captured_model.parameters(), lr=0.1))
    captured, _ = captured_losses(captured_model, optimizer, data, change_between_steps)
    assert_bit_identical(eager_model, captured_model, eager, captured)
    expected_steps = 5 + 2 if blas.available() else 26  # momentum steps 5-9 and lr = 0 at 20-21
    assert optimizer.steps == expected_steps


def test_a_scheduler_and_a_new_param_group_are_read_at_every_step():
    eager_model = nn.MLP(SIZES, generator=0, dtype=np.float64)
    captured_model = copy.deepcopy(eager_model)
    data = batches(12, np.float64)
    extra = {id(eager_model): mt.tensor(np.ones(3), requires_grad=True),
             id(captured_model): mt.tensor(np.ones(3), requires_grad=True)}

    def between(i, model, optimizer):
        if i == 0:
            optimizer.scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
        optimizer.scheduler.step()
        if i == 5:
            optimizer.add_param_group({"params": [extra[id(model)]]})

    eager = eager_losses(eager_model, optim.SGD(eager_model.parameters(), lr=0.2), data, between)
    optimizer = count_steps(optim.SGD(captured_model.parameters(), lr=0.2))
    captured, _ = captured_losses(captured_model, optimizer, data, between)
    assert_bit_identical(eager_model, captured_model, eager, captured)
    if blas.available():
        assert optimizer.steps == 6  # steps 7-12: the groups changed, step() makes them
    np.testing.assert_array_equal(extra[id(captured_model)].data, np.ones(3))  # no gradient


def test_freezing_after_capture_records_again_and_prepares_again():
    eager_model = nn.MLP(SIZES, generator=0, dtype=np.float64)
    captured_model = copy.deepcopy(eager_model)
    data = batches(10, np.float64)

    def between(i, model, optimizer):
        if i == 3:
            freeze(model.body)

    eager = eager_losses(eager_model, optim.SGD(eager_model.parameters(), lr=0.1), data, between)
    optimizer = count_steps(optim.SGD(captured_model.parameters(), lr=0.1))
    captured, step = captured_losses(captured_model, optimizer, data, between)
    assert_bit_identical(eager_model, captured_model, eager, captured)
    assert step.recordings == 2
    if blas.available():
        assert optimizer.steps == 0


def test_a_subclass_or_a_missing_blas_gets_optimizer_step(monkeypatch):
    model = nn.MLP(SIZES, generator=0, dtype=np.float64)
    optimizer = CountingSGD(model.parameters(), lr=0.1)
    assert optimizer._captured_update({p: np.zeros(p.shape) for p in model.parameters()}) is None
    data = batches(3, np.float64)
    captured_losses(model, optimizer, data)
    assert optimizer.steps == 3
    monkeypatch.setattr(blas, "_FUNCTIONS", {})
    monkeypatch.setattr(blas, "_SEARCHED", True)
    plain = optim.SGD(model.parameters(), lr=0.1)
    assert plain._captured_update({p: np.zeros(p.shape) for p in model.parameters()}) is None
    assert optim.Adam(model.parameters())._captured_update({}) is None


@pytest.mark.skipif(not blas.available(), reason="NumPy's BLAS is not OpenBLAS")
def test_the_prepared_update_refuses_a_frozen_or_replaced_parameter():
    model = nn.MLP(SIZES, generator=0, dtype=np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.25)
    update = optimizer._captured_update({p: np.ones(p.shape) for p in model.parameters()})
    before = [p.data.copy() for p in model.parameters()]
    assert update() is True
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, old - 0.25)  # θ − η·1
    first = next(iter(model.parameters()))
    now = [p.data.copy() for p in model.parameters()]
    first.requires_grad_(False)
    assert update() is False
    first.requires_grad_(True)
    first.data = first.data.copy()  # what model.to(...) does
    assert update() is False
    for p, old in zip(model.parameters(), now):
        np.testing.assert_array_equal(p.data, old)  # a refused update changes nothing
