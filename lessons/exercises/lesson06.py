"""Lesson 06's exercises: the paired 95% interval (06.1) and one Adam step (06.2)."""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade
from minitransfer import stats
from minitransfer.optim import Adam

# Paired differences (accuracy of a strategy minus scratch's, one per seed), of several lengths.
_DIFFERENCES = ([0.01, 0.03, 0.02], [0.05, -0.01, 0.02, 0.04], [-0.10, -0.12],
                [0.003, 0.004, 0.002, 0.001, 0.006], [0.2, 0.1, 0.4, 0.0, 0.3, 0.1, 0.2, 0.5, 0.1, 0.3])


def _interval_with(quantile, differences, ddof=1):
    d = np.asarray(differences)
    half = quantile * d.std(ddof=ddof) / np.sqrt(len(d))
    return d.mean() - half, d.mean() + half


def _paired_interval_problem(answer):
    for differences in _DIFFERENCES:
        low, high = (float(v) for v in attempted(answer(list(differences))))
        right = stats.paired_interval(differences)
        if np.allclose([low, high], [right.low, right.high], rtol=1e-6, atol=1e-9):
            continue
        n = len(differences)
        hints = {"you used the normal quantile 1.96; with S seeds use t(0.975, S - 1)":
                 _interval_with(1.96, differences),
                 "s_d is the sample standard deviation: divide by S - 1 (ddof=1)":
                 _interval_with(stats.t_quantile(0.975, n - 1), differences, ddof=0),
                 "the degrees of freedom are S - 1, not S":
                 _interval_with(stats.t_quantile(0.975, n), differences)}
        hint = next((h for h, wrong in hints.items() if np.allclose([low, high], wrong, rtol=1e-6)), "")
        return (f"for the differences {differences} you gave [{low:.5f}, {high:.5f}], expected "
                f"[{right.low:.5f}, {right.high:.5f}]" + (f" ({hint})" if hint else ""))
    return None


def check_paired_interval(answer):
    """06.1: ``answer(differences)`` returns (low, high), the 95% paired t-interval."""
    return grade("06.1", _paired_interval_problem, answer)


# (lr, betas, eps): the last one makes eps large enough that its place in the formula shows.
_ADAM_SETTINGS = ((1e-2, (0.9, 0.999), 1e-8), (1e-1, (0.5, 0.9), 1e-8), (1e-2, (0.9, 0.999), 0.1))


def _adam_step_problem(answer):
    rng = np.random.default_rng(0)
    for lr, betas, eps in _ADAM_SETTINGS:
        start = rng.standard_normal(4)
        reference = mt.tensor(start.astype(np.float32), requires_grad=True)
        optimizer = Adam([reference], lr=lr, betas=betas, eps=eps)
        theta, m, v = start.copy(), np.zeros(4), np.zeros(4)
        for t in range(1, 4):
            grad = rng.standard_normal(4) * (10.0 ** rng.integers(-2, 3, size=4))
            optimizer.zero_grad()
            (reference * mt.tensor(grad.astype(np.float32))).sum().backward()
            optimizer.step()
            result = attempted(answer(theta.copy(), grad.copy(), m.copy(), v.copy(), t, lr=lr,
                                      betas=betas, eps=eps))
            theta, m, v = (np.asarray(a, dtype=np.float64) for a in result)
            expected = reference.detach().numpy()
            if not np.allclose(theta, expected, rtol=1e-4, atol=1e-6):
                return (f"with lr={lr}, betas={betas}, eps={eps}, after step {t} your theta is "
                        f"{np.round(theta, 5).tolist()}, optim.Adam's {np.round(expected, 5).tolist()}")
    return None


def check_adam_step(answer):
    """06.2: ``answer(theta, grad, m, v, t, lr, betas, eps)`` returns (theta, m, v) after one step."""
    return grade("06.2", _adam_step_problem, answer)


# Plausible mistakes each check must reject (tests/test_exercises.py).
def _normal_quantile(differences):
    return _interval_with(1.96, differences)


def _population_std(differences):
    return _interval_with(stats.t_quantile(0.975, len(differences) - 1), differences, ddof=0)


def _divides_by_n(differences):
    d = np.asarray(differences)
    half = stats.t_quantile(0.975, len(d) - 1) * d.std(ddof=1) / len(d)
    return d.mean() - half, d.mean() + half


def _adam_without_bias_correction(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * grad
    v = betas[1] * v + (1 - betas[1]) * grad**2
    return theta - lr * m / (np.sqrt(v) + eps), m, v


def _adam_eps_inside_the_root(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * grad
    v = betas[1] * v + (1 - betas[1]) * grad**2
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return theta - lr * m_hat / np.sqrt(v_hat + eps), m, v


def _adam_fixed_betas(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return _adam_eps_inside_the_root(theta, grad, m, v, t, lr, (0.9, 0.999), 0.0)


SELF_TEST = [
    (check_paired_interval, "06_pretrain_and_fine_tune.py:paired_interval",
     [_normal_quantile, _population_std, _divides_by_n]),
    (check_adam_step, "06_pretrain_and_fine_tune.py:adam_step",
     [_adam_without_bias_correction, _adam_eps_inside_the_root, _adam_fixed_betas]),
]
