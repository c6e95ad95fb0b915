"""Lesson 07's exercise: build the L2-SP penalty yourself (07.1)."""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade
from minitransfer import nn
from minitransfer.tensor import Tensor
from minitransfer.transfer import l2sp_penalty

# (layer sizes, alpha, beta, seed): alpha and beta differ, so swapping them shows.
_CASES = (([4, 3, 2], 0.1, 0.01, 0), ([5, 4, 3, 2], 0.5, 0.2, 1))


def _moved_model(sizes, seed):
    """A small MLP, its body's starting weights θ⁰ by name, and every weight moved away from them."""
    model = nn.MLP(sizes, generator=seed, dtype=np.float64)
    reference = {name: p.detach().numpy().copy() for name, p in model.named_parameters()
                 if not name.startswith("head.")}
    rng = np.random.default_rng(seed)
    with mt.no_grad():
        for p in model.parameters():
            p.add_(rng.standard_normal(p.shape) * 0.3)
    return model, reference


def _l2sp_problem(answer):
    for sizes, alpha, beta, seed in _CASES:
        model, reference = _moved_model(sizes, seed)
        penalty = attempted(answer(model, reference, alpha, beta))
        if not isinstance(penalty, Tensor) or penalty.numel() != 1:
            return (f"return Ω as a scalar Tensor built from the parameters (so backward() can "
                    f"differentiate it), got {type(penalty).__name__}")
        model.zero_grad()
        penalty.backward()
        yours = {name: None if p.grad is None else p.grad.numpy().copy()
                 for name, p in model.named_parameters()}
        model.zero_grad()
        expected = l2sp_penalty(model, reference, alpha, beta)
        expected.backward()
        if not np.isclose(penalty.item(), expected.item(), rtol=1e-9):
            return (f"on an MLP {sizes} with alpha={alpha}, beta={beta}: your Ω = {penalty.item():.6g}, "
                    f"transfer.l2sp_penalty gives {expected.item():.6g}")
        for name, p in model.named_parameters():
            theta = p.detach().numpy()
            # the hand computation: α(θ − θ⁰) on the body, βθ on the head
            by_hand = alpha * (theta - reference[name]) if name in reference else beta * theta
            if yours[name] is None:
                return f"{name} got no gradient: is it part of your Ω?"
            agrees = np.allclose(yours[name], p.grad.numpy(), rtol=1e-9) and np.allclose(yours[name], by_hand)
            if not agrees:
                return (f"on an MLP {sizes} with alpha={alpha}, beta={beta}: the gradient of {name} "
                        f"differs from {'α(θ − θ⁰)' if name in reference else 'βθ'} by up to "
                        f"{np.abs(yours[name] - by_hand).max():.3g}")
    return None


def check_l2sp_penalty(answer):
    """07.1: ``answer(model, reference, alpha, beta)`` returns Ω(θ) as a scalar Tensor."""
    return grade("07.1", _l2sp_problem, answer)


# Plausible mistakes the check must reject (tests/test_exercises.py).
def _without_the_half(model, reference, alpha, beta):
    return 2 * l2sp_penalty(model, reference, alpha, beta)


def _decay_towards_zero(model, reference, alpha, beta):
    """Plain weight decay: the body pulled to 0, not to θ⁰."""
    return l2sp_penalty(model, {name: np.zeros_like(ref) for name, ref in reference.items()}, alpha, beta)


def _alpha_on_the_head(model, reference, alpha, beta):
    return l2sp_penalty(model, reference, alpha, alpha)


def _forgets_the_head(model, reference, alpha, beta):
    return l2sp_penalty(model, reference, alpha, 0.0)


def _a_number_not_a_tensor(model, reference, alpha, beta):
    return l2sp_penalty(model, reference, alpha, beta).item()


SELF_TEST = [
    (check_l2sp_penalty, "07_strategies.py:l2sp_penalty",
     [_without_the_half, _decay_towards_zero, _alpha_on_the_head, _forgets_the_head, _a_number_not_a_tensor]),
]
