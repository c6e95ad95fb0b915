"""Parity with PyTorch (skipped when torch is not installed; it is not a dependency).

The same initial weights (moved through ``state_dict``), the same batches, 20 steps of each
optimizer in float64: losses and weights must agree to 1e-6 relative. A minitransfer checkpoint
loaded into the equivalent ``torch.nn`` model must give the same logits.
"""

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, optim

torch = pytest.importorskip("torch")

SIZES = [12, 10, 8, 4]


def torch_mlp(sizes):
    """torch.nn's twin of nn.MLP(sizes): the same module names, so the same state-dict keys."""
    model = torch.nn.Module()
    hidden = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        hidden += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model.body = torch.nn.Sequential(*hidden)
    model.head = torch.nn.Linear(sizes[-2], sizes[-1])
    model.forward = lambda x: model.head(model.body(x))
    return model


def to_torch(state_dict):
    return {k: torch.from_numpy(np.array(v.numpy())) for k, v in state_dict.items()}


def batches(count=20, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((16, SIZES[0])), rng.integers(0, SIZES[-1], size=16))
            for _ in range(count)]


OPTIMIZERS = {
    "SGD momentum nesterov weight decay": (
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    "SGD momentum dampening": (
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3)),
    "Adam weight decay": (
        lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2),
        lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2)),
    "AdamW": (
        lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_twenty_steps_match_pytorch_in_float64(name):
    make_ours, make_theirs = OPTIMIZERS[name]
    ours = nn.MLP(SIZES, generator=0).double()
    theirs = torch_mlp(SIZES).double()
    theirs.load_state_dict(to_torch(ours.state_dict()))  # the same initial weights
    ours_opt, theirs_opt = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    ours_loss, theirs_loss = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for x, y in batches():
        ours_opt.zero_grad()
        loss = ours_loss(ours(mt.tensor(x)), y)
        loss.backward()
        ours_opt.step()
        theirs_opt.zero_grad()
        expected = theirs_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        expected.backward()
        theirs_opt.step()
        np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), theirs_state[key].numpy(), rtol=1e-6, atol=1e-12,
                                   err_msg=key)


def test_param_groups_and_a_schedule_match_pytorch():
    ours = nn.MLP(SIZES, generator=1).double()
    theirs = torch_mlp(SIZES).double()
    theirs.load_state_dict(to_torch(ours.state_dict()))
    ours_opt = optim.SGD([{"params": ours.body.parameters(), "lr": 0.01},
                          {"params": ours.head.parameters()}], lr=0.1, momentum=0.9)
    theirs_opt = torch.optim.SGD([{"params": theirs.body.parameters(), "lr": 0.01},
                                  {"params": theirs.head.parameters()}], lr=0.1, momentum=0.9)
    ours_sched = optim.lr_scheduler.CosineAnnealingLR(ours_opt, T_max=10)
    theirs_sched = torch.optim.lr_scheduler.CosineAnnealingLR(theirs_opt, T_max=10)
    for x, y in batches(10, seed=1):
        for model, opt, lib in ((ours, ours_opt, mt), (theirs, theirs_opt, torch)):
            opt.zero_grad()
            data, target = (mt.tensor(x), y) if lib is mt else (torch.from_numpy(x), torch.from_numpy(y))
            loss_fn = nn.CrossEntropyLoss() if lib is mt else torch.nn.CrossEntropyLoss()
            loss_fn(model(data), target).backward()
            opt.step()
        ours_sched.step()
        theirs_sched.step()
        np.testing.assert_allclose(ours_sched.get_last_lr(), theirs_sched.get_last_lr(), rtol=1e-12)
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), theirs_state[key].numpy(), rtol=1e-6, atol=1e-12)


def test_a_minitransfer_checkpoint_loads_into_torch_with_the_same_logits(tmp_path):
    model = nn.MLP(SIZES, generator=2)  # float32, as saved by a real run
    path = tmp_path / "model.npz"
    mt.save(model.state_dict(), path)
    twin = torch_mlp(SIZES)
    with np.load(path, allow_pickle=False) as archive:
        result = twin.load_state_dict({k: torch.from_numpy(archive[k]) for k in archive.files})
    assert not result.missing_keys and not result.unexpected_keys
    x = np.random.default_rng(3).standard_normal((5, SIZES[0])).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(mt.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_torch_state_dict_loads_into_minitransfer():
    """And back: torch.nn.Linear's default init, read by nn.MLP through load_state_dict."""
    torch.manual_seed(0)
    twin = torch_mlp(SIZES)
    model = nn.MLP(SIZES, generator=0)
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((5, SIZES[0])).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(mt.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    bound = 1 / np.sqrt(SIZES[0])  # both libraries draw from U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(model.body[0].weight.detach().numpy()).max() <= bound
