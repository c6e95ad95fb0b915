"""FGSM and PGD against hand-derived gradients, their constraints, their order on a trained model,
adversarial fine-tuning, and (optionally) PyTorch's results on the same weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitransfer import attacks, nn
from minitransfer.transfer import fine_tune, freeze, pretrain


def small_model(dtype=None, seed=0):
    return nn.MLP([6, 5, 3], generator=seed, dtype=dtype)


def hand_gradient(model, x, y):
    """∇ₓ Σᵢ −log softmax(f(xᵢ))_{yᵢ} for a one-hidden-layer MLP, derived by hand:
    z₁ = x W₁ᵀ + b₁, h = ReLU(z₁), z₂ = h W₂ᵀ + b₂;  ∂L/∂z₂ = softmax(z₂) − onehot(y),
    ∂L/∂h = ∂L/∂z₂ W₂,  ∂L/∂z₁ = ∂L/∂h ⊙ [z₁ > 0],  ∂L/∂x = ∂L/∂z₁ W₁."""
    w1, b1 = model.body[0].weight.detach().numpy(), model.body[0].bias.detach().numpy()
    w2, b2 = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
    z1 = x @ w1.T + b1
    z2 = np.maximum(z1, 0) @ w2.T + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return ((p @ w2) * (z1 > 0)) @ w1


def test_fgsm_is_x_plus_eps_times_the_sign_of_the_hand_derived_gradient():
    model = small_model(dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.3, 0.7, size=(8, 6)), rng.integers(0, 3, size=8)
    gradient = hand_gradient(model, x, y)
    assert np.all(gradient != 0)  # every sign is defined
    adversarial = attacks.fgsm(model, x, y, 0.1)  # x ± 0.1 stays in [0.2, 0.8]: no clipping
    np.testing.assert_array_equal(adversarial, x + 0.1 * np.sign(gradient))
    assert adversarial.shape == x.shape and isinstance(adversarial, np.ndarray)
    wrong_way = x - 0.1 * np.sign(gradient)
    assert not np.allclose(adversarial, wrong_way)


def test_fgsm_clips_to_the_data_range_and_leaves_parameters_alone():
    model = small_model(dtype="float64")
    model.head.weight.grad = None
    freeze(model.body)
    x, y = np.full((4, 6), 0.97), np.array([0, 1, 2, 0])
    adversarial = attacks.fgsm(model, x, y, 0.1)
    expected = np.clip(x + 0.1 * np.sign(hand_gradient(model, x, y)), 0, 1)
    np.testing.assert_array_equal(adversarial, expected)
    assert adversarial.max() == 1.0 and adversarial.min() == pytest.approx(0.87)
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]  # restored
    assert all(p.grad is None for p in model.parameters())  # ∇ₓ only: no weight gradient


@settings(max_examples=25, deadline=None)
@given(eps=st.sampled_from([0.0, 0.01, 0.1, 0.3]), alpha=st.sampled_from([0.005, 0.05, 0.5]),
       steps=st.integers(1, 6), random_start=st.booleans(), seed=st.integers(0, 3))
def test_pgd_never_leaves_the_eps_ball_or_the_data_range(eps, alpha, steps, random_start, seed):
    model = small_model(seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.choice([0.0, 0.02, 0.5, 0.98, 1.0], size=(5, 6)).astype(np.float32)  # edges included
    y = rng.integers(0, 3, size=5)
    adversarial = attacks.pgd(model, x, y, eps, alpha, steps, random_start=random_start, seed=seed)
    assert adversarial.shape == x.shape and adversarial.dtype == np.float32
    assert np.all(np.abs(adversarial.astype(np.float64) - x) <= eps + 1e-7)  # float32 rounding
    assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_pgd_random_start_repeats_with_its_seed():
    model, x, y = small_model(), np.full((3, 6), 0.5, np.float32), np.array([0, 1, 2])
    first = attacks.pgd(model, x, y, 0.1, 0.02, 2, random_start=True, seed=7)
    np.testing.assert_array_equal(first, attacks.pgd(model, x, y, 0.1, 0.02, 2, random_start=True, seed=7))
    assert not np.array_equal(first, attacks.pgd(model, x, y, 0.1, 0.02, 2, random_start=True, seed=8))


@pytest.fixture(scope="module")
def trained():
    """A 64-32-10 MLP trained on 1,000 digits; the other 797 are held out."""
    from minitransfer.data import digits

    data = digits()
    model = nn.MLP([64, 32, 10], generator=0)
    pretrain(model, (data.x[:1000], data.y[:1000]), steps=400, seed=0)
    return model, data.x[1000:], data.y[1000:]


def test_pgd_accuracy_falls_with_eps_and_never_beats_fgsm_on_a_trained_model(trained):
    model, x, y = trained
    radii = [0.0, 0.05, 0.1, 0.2]
    pgd = [attacks.robust_accuracy(model, x, y, "pgd", eps) for eps in radii]  # α = ε/4, 10 steps
    fgsm = [attacks.robust_accuracy(model, x, y, "fgsm", eps) for eps in radii]
    assert pgd[0] == fgsm[0] > 0.8  # ε = 0: the clean accuracy
    assert all(a >= b for a, b in zip(pgd, pgd[1:])), pgd
    assert all(p <= f for p, f in zip(pgd, fgsm)), (pgd, fgsm)
    assert pgd[-1] < 0.5 * pgd[0]  # the attack does something


def test_robust_accuracy_takes_an_attack_function(trained):
    model, x, y = trained

    def do_nothing(model, x, y, eps):
        return x

    clean = attacks.robust_accuracy(model, x, y, eps=0)
    assert attacks.robust_accuracy(model, x, y, do_nothing, 0.3) == clean


def test_adversarial_batches_keep_the_shape_and_replace_the_second_half():
    from minitransfer.transfer import make_loader

    model = small_model()
    x = np.random.default_rng(0).uniform(0.2, 0.8, size=(10, 6)).astype(np.float32)
    y = np.arange(10) % 3
    clean = list(make_loader((x, y), 4, seed=0))
    mixed = list(attacks.AdversarialBatches(model, make_loader((x, y), 4, seed=0), 0.1))
    assert [b[0].shape for b in mixed] == [b[0].shape for b in clean] == [(4, 6), (4, 6), (2, 6)]
    for (cx, cy), (mx, my) in zip(clean, mixed):
        half = len(cx) // 2
        np.testing.assert_array_equal(my.numpy(), cy.numpy())
        np.testing.assert_array_equal(mx.numpy()[:half], cx.numpy()[:half])
        moved = np.abs(mx.numpy()[half:] - cx.numpy()[half:])
        assert moved.max() > 0.05 and moved.max() <= 0.1 + 1e-7


@pytest.mark.parametrize("strategy", ["linear_probe", "full"])
def test_adversarial_fine_tuning_trains_and_keeps_a_frozen_body(strategy):
    model = small_model()
    x = np.random.default_rng(0).uniform(0, 1, size=(24, 6)).astype(np.float32)
    y = np.arange(24) % 3
    head_before = model.head.weight.detach().numpy().copy()
    result = fine_tune(model, (x, y), strategy, steps=6, batch_size=8, adversarial=0.1)
    assert result.history.steps == 6 and result.frozen_unchanged
    assert not np.array_equal(model.head.weight.detach().numpy(), head_before)
    head = {id(p) for p in model.head.parameters()}
    assert all(p.requires_grad == (strategy == "full" or id(p) in head) for p in model.parameters())


def test_fgsm_and_pgd_equal_torch_on_the_same_weights():
    torch = pytest.importorskip("torch")
    model = small_model(dtype="float64")
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 1, size=(16, 6)), rng.integers(0, 3, size=16)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for mine, theirs in ((model.body[0], net[0]), (model.head, net[2])):
            theirs.weight.copy_(torch.from_numpy(mine.weight.detach().numpy()))
            theirs.bias.copy_(torch.from_numpy(mine.bias.detach().numpy()))

    def torch_pgd(eps, alpha, steps):
        start, labels = torch.from_numpy(x), torch.from_numpy(y)
        adv = start.clone()
        for _ in range(steps):
            adv.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(net(adv), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, adv)
            adv = adv.detach() + alpha * grad.sign()
            adv = torch.min(torch.max(adv, start - eps), start + eps).clamp(0, 1)
        return adv.numpy()

    np.testing.assert_allclose(attacks.fgsm(model, x, y, 0.1), torch_pgd(0.1, 0.1, 1), atol=1e-12)
    np.testing.assert_allclose(attacks.pgd(model, x, y, 0.1, 0.025, 10), torch_pgd(0.1, 0.025, 10),
                               atol=1e-12)


def test_adversarial_fine_tuning_gives_the_same_weights_eagerly_and_with_a_captured_step(monkeypatch):
    import inspect

    from minitransfer import train
    from minitransfer.transfer import strategies

    if "capture" not in inspect.signature(train.fit).parameters:
        pytest.skip("fit has no captured step on this branch")
    x = np.random.default_rng(0).uniform(0, 1, size=(40, 6)).astype(np.float32)
    y = np.arange(40) % 3
    weights = {}
    for capture in (False, True):
        def fit(*args, _capture=capture, **options):
            return train.fit(*args, **{**options, "capture": _capture})

        monkeypatch.setattr(strategies, "fit", fit)
        model = small_model()
        fine_tune(model, (x, y), "full", steps=8, batch_size=16, adversarial=0.1)  # batches of 16, 16, 8
        weights[capture] = {k: v.numpy() for k, v in model.state_dict().items()}
    for key in weights[False]:
        np.testing.assert_array_equal(weights[True][key], weights[False][key], err_msg=key)
