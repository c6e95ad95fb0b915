"""float32 stays float32 through a training step (DESIGN §4 "Dtypes").

Under NumPy 2, one float64 NumPy scalar or 0-d array anywhere (np.sqrt(1 / n), a learning rate
given as np.float64) silently turns float32 arrays into float64. This test walks a whole step
of the MLP, forward, loss, backward and update, and checks every array it can reach.
"""

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, optim


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=np.float64(0.1), momentum=np.float64(0.9), nesterov=True,
                         weight_decay=np.float64(1e-3)),
    lambda ps: optim.Adam(ps, lr=np.float64(1e-3), weight_decay=1e-3),
    lambda ps: optim.AdamW(ps, lr=np.float64(1e-3), betas=(np.float64(0.9), np.float64(0.99))),
])
def test_every_parameter_gradient_and_activation_stays_float32(make):
    model = nn.MLP([64, 32, 16, 10], generator=0)
    optimizer = make(model.parameters())
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((8, 64)).astype(np.float32))
    y = mt.tensor(rng.integers(0, 10, size=8))
    for _ in range(2):  # the second step uses the optimizers' buffers
        optimizer.zero_grad()
        activations, h = [], x
        for layer in list(model.body) + [model.head]:
            h = layer(h)
            h.retain_grad()
            activations.append(h)
        loss = nn.CrossEntropyLoss()(h, y)
        loss.backward()
        optimizer.step()
        assert loss.dtype == np.float32
        for a in activations:
            assert a.dtype == np.float32 and a.grad.dtype == np.float32
        for name, p in model.named_parameters():
            assert p.dtype == np.float32, name
            assert p.grad.dtype == np.float32, name
    for buffers in optimizer.state.values():
        for value in buffers.values():
            assert not hasattr(value, "dtype") or value.dtype == np.float32
    assert np.isfinite(loss.item())
