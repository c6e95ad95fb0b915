"""Freezing: a frozen layer stays bit-identical, yet the layers before it keep learning."""

import numpy as np

import minitransfer as mt
from minitransfer import nn, optim


def batches(count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(mt.tensor(rng.standard_normal((8, 6)).astype(np.float32)),
             mt.tensor(rng.integers(0, 3, size=8))) for _ in range(count)]


def train(model, optimizer, data):
    criterion = nn.CrossEntropyLoss()
    for x, y in data:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()


def test_a_frozen_middle_layer_is_bit_identical_while_the_first_layer_learns():
    model = nn.MLP([6, 8, 8, 3], generator=0)
    middle = model.body[2]
    middle.requires_grad_(False)
    frozen_bytes = [p.detach().numpy().tobytes() for p in middle.parameters()]
    first_before = model.body[0].weight.detach().numpy().copy()
    head_before = model.head.weight.detach().numpy().copy()
    # All parameters go to the optimizer, with momentum and weight decay: weight decay alone
    # would move a frozen weight if the optimizer did not skip it.
    sgd = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    train(model, sgd, batches())
    assert [p.detach().numpy().tobytes() for p in middle.parameters()] == frozen_bytes
    assert middle.weight.grad is None and middle.bias.grad is None
    assert np.abs(model.body[0].weight.detach().numpy() - first_before).max() > 1e-3
    assert np.abs(model.head.weight.detach().numpy() - head_before).max() > 1e-3


def test_freezing_does_not_change_the_gradient_that_reaches_earlier_layers():
    """Gradients flow *through* the frozen layer: the first layer's gradient is the same
    whether or not the middle layer is frozen."""
    x, y = batches(1)[0]
    grads = []
    for freeze in (False, True):
        model = nn.MLP([6, 8, 8, 3], generator=0)
        model.body[2].requires_grad_(not freeze)
        nn.CrossEntropyLoss()(model(x), y).backward()
        grads.append(model.body[0].weight.grad.numpy())
    assert np.abs(grads[0]).max() > 0
    np.testing.assert_array_equal(grads[1], grads[0])


def test_adam_with_only_trainable_parameters_and_a_frozen_body():
    model = nn.MLP([6, 8, 3], generator=1)
    model.body.requires_grad_(False)
    body_bytes = model.body[0].weight.detach().numpy().tobytes()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable == [model.head.weight, model.head.bias]
    head_before = model.head.bias.detach().numpy().copy()
    train(model, optim.AdamW(trainable, lr=0.01), batches(3, seed=1))
    assert model.body[0].weight.detach().numpy().tobytes() == body_bytes
    assert not np.array_equal(model.head.bias.detach().numpy(), head_before)
