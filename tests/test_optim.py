"""Optimizers: hand-computed updates, param groups, skipping, errors, state dicts, schedules."""

import math

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, optim
from minitransfer.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, StepLR


def param(values, grad=None):
    p = nn.Parameter(np.array(values, dtype=np.float64))
    if grad is not None:
        p.grad = mt.tensor(np.array(grad, dtype=np.float64))
    return p


def values(p):
    return p.detach().numpy()


# ---- SGD -------------------------------------------------------------------------------------
def test_plain_sgd_is_theta_minus_lr_grad():
    p = param([1.0, 2.0], grad=[0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(values(p), [0.95, 2.1], rtol=1e-15)


@pytest.mark.parametrize("options, multiples", [
    # constant gradient g = 1: how far each of three steps moves, in units of lr
    (dict(momentum=0.9), [1.0, 1.9, 2.71]),                          # b = 1, 1.9, 2.71
    (dict(momentum=0.9, dampening=0.5), [1.0, 1.4, 1.76]),           # b = 1, .9+.5, 1.26+.5
    (dict(momentum=0.9, nesterov=True), [1.9, 2.71, 3.439]),         # g + 0.9 b
])
def test_sgd_momentum_dampening_nesterov_by_hand(options, multiples):
    p = param([0.0])
    sgd = optim.SGD([p], lr=0.1, **options)
    position = 0.0
    for multiple in multiples:
        p.grad = mt.tensor(np.array([1.0]))
        sgd.step()
        position -= 0.1 * multiple
        np.testing.assert_allclose(values(p), [position], rtol=1e-12)


def test_sgd_weight_decay_adds_lambda_theta_to_the_gradient():
    p = param([2.0, -4.0], grad=[1.0, 1.0])
    optim.SGD([p], lr=0.5, weight_decay=0.1).step()
    np.testing.assert_allclose(values(p), [2.0 - 0.5 * 1.2, -4.0 - 0.5 * 0.6], rtol=1e-15)


STEPPERS = [lambda ps: optim.SGD(ps, lr=0.1),  # the plain rule, which SGD says first
            lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
            lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
            lambda ps: optim.AdamW(ps, lr=0.1)]


@pytest.mark.parametrize("make", STEPPERS)
def test_step_never_writes_into_the_gradient_and_bumps_the_version(make):
    p = param([1.0, 2.0], grad=[0.5, -1.0])
    grad_array = p.grad.data
    version = p._version
    opt = make([p])
    for _ in range(2):
        opt.step()
    assert p.grad.data is grad_array
    np.testing.assert_array_equal(grad_array, [0.5, -1.0])
    assert p._version > version


@pytest.mark.parametrize("make", STEPPERS)
def test_a_graph_that_saved_a_parameter_refuses_backward_after_a_step(make):
    """The update writes the parameter's array; its version bump is what makes a graph built
    before the step refuse to backward with the new values (as after ``sub_``)."""
    p = param([1.0, 2.0], grad=[0.5, -1.0])
    loss = (p * p).sum()
    make([p]).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


# ---- Adam and AdamW --------------------------------------------------------------------------
def test_adam_moves_each_coordinate_by_lr_for_a_constant_gradient():
    """m̂ = g and v̂ = g² at every step when g is constant, so each step is lr · g / |g|."""
    p = param([1.0, 1.0], grad=[0.5, -200.0])
    adam = optim.Adam([p], lr=0.01)
    for _ in range(3):
        adam.step()
    np.testing.assert_allclose(values(p), [1.0 - 0.03, 1.0 + 0.03], rtol=1e-7)
    assert adam.state[p]["step"] == 3


def test_adam_second_step_by_hand():
    p = param([0.0])
    adam = optim.Adam([p], lr=1.0, betas=(0.9, 0.999), eps=0.0)
    for g in (1.0, 3.0):
        p.grad = mt.tensor(np.array([g]))
        adam.step()
    # step 1 moves by 1. Step 2: m = 0.9·0.1·1 + 0.1·3 = 0.39, m̂ = 0.39 / 0.19;
    # v = 0.999·0.001·1 + 0.001·9 = 0.009999, v̂ = 0.009999 / (1 − 0.999²)
    second = (0.39 / 0.19) / math.sqrt(0.009999 / (1 - 0.999**2))
    np.testing.assert_allclose(values(p), [-1.0 - second], rtol=1e-12)


@pytest.mark.parametrize("make", [optim.Adam, optim.AdamW])
def test_adam_adds_eps_after_the_bias_correction(make):
    """θ ← θ − η m̂ / (√v̂ + ε), with ε added to √v̂, *after* v is bias-corrected (as PyTorch).

    A large ε (0.1) makes the placement visible. Step 1 with g = 1: m̂ = 1, v̂ = 1, so the step
    is η / (1 + 0.1). (Adding ε to √v before dividing by √(1 − β₂) = √0.001 would give
    η / (1 + 0.1/0.0316) = η / 4.16 instead.) Step 2 with g = 3, by hand below.
    """
    p = param([0.0])
    adam = make([p], lr=0.5, betas=(0.9, 0.999), eps=0.1, weight_decay=0.0)
    p.grad = mt.tensor(np.array([1.0]))
    adam.step()
    np.testing.assert_allclose(values(p), [-0.5 / 1.1], rtol=1e-12)
    p.grad = mt.tensor(np.array([3.0]))
    adam.step()
    m_hat = (0.9 * 0.1 * 1 + 0.1 * 3) / (1 - 0.9**2)  # 0.39 / 0.19
    v_hat = (0.999 * 0.001 * 1 + 0.001 * 9) / (1 - 0.999**2)  # 0.009999 / 0.001999
    np.testing.assert_allclose(values(p), [-0.5 / 1.1 - 0.5 * m_hat / (math.sqrt(v_hat) + 0.1)], rtol=1e-12)


def test_sgd_three_steps_by_hand_with_every_option():
    """Momentum 0.5, dampening 0.2, weight decay 0.1, lr 0.1, gradients 1, −2, 4 on θ₀ = 1.

    step 1: d = 1 + 0.1·1 = 1.1;            b = d = 1.1;                        θ = 0.89
    step 2: d = −2 + 0.089 = −1.911;        b = 0.5·1.1 + 0.8·(−1.911) = −0.9788;  θ = 0.98788
    step 3: d = 4 + 0.098788 = 4.098788;    b = 0.5·(−0.9788) + 0.8·4.098788 = 2.7896304;
            θ = 0.98788 − 0.27896304 = 0.70891696
    """
    p = param([1.0])
    sgd = optim.SGD([p], lr=0.1, momentum=0.5, dampening=0.2, weight_decay=0.1)
    for g, expected in ((1.0, 0.89), (-2.0, 0.98788), (4.0, 0.70891696)):
        p.grad = mt.tensor(np.array([g]))
        sgd.step()
        np.testing.assert_allclose(values(p), [expected], rtol=1e-12)


def test_adamw_decays_the_weights_directly_and_adam_through_the_gradient():
    p_w = param([2.0, -3.0], grad=[0.0, 0.0])
    optim.AdamW([p_w], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(values(p_w), [2.0 * 0.95, -3.0 * 0.95], rtol=1e-15)  # θ(1 − ηλ)
    p_a = param([2.0, -3.0], grad=[0.0, 0.0])
    optim.Adam([p_a], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(values(p_a), [2.0 - 0.1, -3.0 + 0.1], rtol=1e-7)  # normalised
    assert optim.AdamW([param([1.0])]).defaults["weight_decay"] == 0.01


# ---- param groups, skipping, errors ----------------------------------------------------------
def test_param_groups_have_their_own_learning_rates():
    body, head = param([1.0], grad=[1.0]), param([1.0], grad=[1.0])
    sgd = optim.SGD([{"params": [body], "lr": 0.01}, {"params": [head]}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in sgd.param_groups] == [0.01, 0.1]
    assert sgd.param_groups[0]["momentum"] == 0.5
    sgd.step()
    np.testing.assert_allclose([values(body)[0], values(head)[0]], [0.99, 0.9], rtol=1e-15)
    extra = param([5.0], grad=[2.0])
    sgd.add_param_group({"params": extra, "lr": 1.0})
    sgd.step()
    np.testing.assert_allclose(values(extra), [3.0], rtol=1e-15)


def test_frozen_and_gradient_free_parameters_are_skipped():
    frozen = param([1.0], grad=[1.0]).requires_grad_(False)
    no_grad_yet = param([2.0])
    trained = param([3.0], grad=[1.0])
    for opt in (optim.SGD([frozen, no_grad_yet, trained], lr=0.1, momentum=0.9, weight_decay=1.0),
                optim.AdamW([frozen, no_grad_yet, trained], lr=0.1, weight_decay=1.0)):
        opt.step()
        assert values(frozen)[0] == 1.0 and values(no_grad_yet)[0] == 2.0
        assert frozen not in opt.state and no_grad_yet not in opt.state
    assert values(trained)[0] < 3.0


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr must be a non-negative number, got -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be a non-negative"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), r"momentum must lie in \[0, 1\), got 1.0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "momentum must be a non-negative"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
    (lambda p: optim.Adam(p, lr=float("nan")), "lr must be a non-negative number"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "AdamW: weight_decay"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([{"params": p}, {"params": p}], lr=0.1), "more than one parameter group"),
    (lambda p: optim.SGD(p + p, lr=0.1), "the same parameter twice"),
])
def test_bad_optimizer_arguments_raise_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make([param([1.0])])


def test_a_rejected_param_group_is_not_added():
    sgd = optim.SGD([param([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a non-negative"):
        sgd.add_param_group({"params": [param([2.0])], "lr": -1.0})
    assert len(sgd.param_groups) == 1
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(param([1.0]), lr=0.1)
    with pytest.raises(TypeError, match="non-leaf"):
        optim.SGD([param([1.0]) * 2], lr=0.1)


def test_zero_grad_and_closure():
    p = param([1.0], grad=[1.0])
    sgd = optim.SGD([p], lr=0.1)
    sgd.zero_grad(set_to_none=False)
    assert p.grad is not None and values(p.grad)[0] == 0.0
    sgd.zero_grad()
    assert p.grad is None

    def closure():
        sgd.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert sgd.step(closure).item() == 1.0
    np.testing.assert_allclose(values(p), [0.8])  # gradient 2θ = 2


# ---- state dicts -----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1)])
def test_optimizer_state_dict_resumes_training_exactly(make):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((5, 3))
    p = param([1.0, 2.0, 3.0])
    opt = make([p])
    for g in grads[:3]:
        p.grad = mt.tensor(g)
        opt.step()
    saved, saved_values = opt.state_dict(), values(p).copy()
    assert list(saved["param_groups"][0]["params"]) == [0] and 0 in saved["state"]
    for g in grads[3:]:
        p.grad = mt.tensor(g)
        opt.step()
    resumed = param(saved_values)
    opt2 = make([resumed])
    opt2.load_state_dict(saved)
    for g in grads[3:]:
        resumed.grad = mt.tensor(g)
        opt2.step()
    np.testing.assert_array_equal(values(resumed), values(p))


def test_optimizer_load_state_dict_checks_group_sizes():
    sgd = optim.SGD([param([1.0]), param([2.0])], lr=0.1)
    other = optim.SGD([param([1.0])], lr=0.5)
    with pytest.raises(ValueError, match=r"groups of sizes \[2\], the state dict has \[1\]"):
        sgd.load_state_dict(other.state_dict())
    assert sgd.param_groups[0]["lr"] == 0.1


# ---- learning-rate schedules -----------------------------------------------------------------
def lrs(scheduler, epochs):
    seen = []
    for _ in range(epochs):
        seen.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return seen


def test_step_lr():
    sgd = optim.SGD([param([1.0])], lr=1.0)
    assert lrs(StepLR(sgd, step_size=2, gamma=0.5), 6) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert sgd.param_groups[0]["lr"] == 0.125


def test_cosine_annealing_lr():
    sgd = optim.SGD([param([1.0])], lr=1.0)
    c = math.cos(math.pi / 4)
    np.testing.assert_allclose(lrs(CosineAnnealingLR(sgd, T_max=4, eta_min=0.1), 5),
                               [1.0, 0.1 + 0.9 * (1 + c) / 2, 0.55, 0.1 + 0.9 * (1 - c) / 2, 0.1])


def test_lambda_lr_per_group_and_state_dict():
    sgd = optim.SGD([{"params": [param([1.0])], "lr": 1.0}, {"params": [param([1.0])], "lr": 0.1}])
    scheduler = LambdaLR(sgd, [lambda t: 1 / (t + 1), lambda t: 2.0**t])
    for _ in range(2):
        scheduler.step()
    np.testing.assert_allclose(scheduler.get_last_lr(), [1 / 3, 0.4])
    state = scheduler.state_dict()
    assert state["last_epoch"] == 2 and "lr_lambdas" not in state
    with pytest.raises(ValueError, match="list of 2 functions"):
        LambdaLR(sgd, [lambda t: 1.0])
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        StepLR(sgd, step_size=0)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        CosineAnnealingLR("sgd", T_max=3)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda ps: optim.AdamW(ps, lr=0.1)])
def test_optimizers_run_on_the_array_api_standard(make):
    """Updates use only array-API operations, so array_api_strict (a GPU stand-in) works too."""
    import array_api_strict

    grads = np.random.default_rng(0).standard_normal((3, 2))
    results = []
    for wrap in (np.asarray, array_api_strict.asarray):
        p = mt.Tensor(wrap(np.array([1.0, -2.0])), requires_grad=True)
        opt = make([p])
        for g in grads:
            p.grad = mt.Tensor(wrap(g))
            opt.step()
        results.append(np.asarray(p.data))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)
