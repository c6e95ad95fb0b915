# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2 — Broadcasting, `unbroadcast`, and checking gradients numerically
#
# A bias $b$ of shape $(4,)$ is added to a batch $X$ of shape $(3, 4)$: NumPy *broadcasts*
# $b$, as if it were copied into every row. The forward pass is easy; the backward pass must
# undo the copying. Then we learn the test every backward in this package must pass: compare
# it with **central differences**, and watch the check catch a wrong backward.
#
# Run it: `python lessons/02_broadcasting_and_gradcheck.py` (figures go to `figures/02/`).

# %%
import time

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer.functions import Function, unbroadcast

FIGURES, save = figures("02")
rng = np.random.default_rng(0)


# %% [markdown]
# ## 1. Broadcasting, and its gradient
#
# Shapes are aligned from the right; an axis of length 1, or a missing leading axis, is
# stretched. So $Z = X + b$ with $X \in \mathbb{R}^{3\times4}$, $b \in \mathbb{R}^{4}$ means
# $Z_{ij} = X_{ij} + b_j$. Each $b_j$ is used in 3 places, so its gradient is the **sum** of
# the 3 gradients that reach those places:
#
# $$\frac{\partial L}{\partial b_j} = \sum_i \frac{\partial L}{\partial Z_{ij}} = \sum_i g_{ij}.$$
#
# In general: sum $g$ over every axis that broadcasting created or stretched. That is
# `functions.unbroadcast(grad, shape)`, which every binary op (`Add`, `Sub`, `Mul`, `Div`)
# calls on its way back.

# %%
g = rng.standard_normal((3, 4))
print("unbroadcast (3,4) -> (4,):   ", np.round(unbroadcast(g, (4,)), 4))
print("by hand, g.sum(axis=0):      ", np.round(g.sum(axis=0), 4))
g3 = rng.standard_normal((2, 3, 4))
print("(2,3,4) -> (3,1) equals g.sum(axis=(0, 2))[:, None]:",
      np.allclose(unbroadcast(g3, (3, 1)), g3.sum(axis=(0, 2))[:, None]))
print("(2,3,4) -> () (a scalar used everywhere) equals g.sum():", np.isclose(unbroadcast(g3, ()), g3.sum()))

# %% [markdown]
# The engine does this for us: after `backward(g)`, `b.grad` is the column sum of `g`, in
# $b$'s own shape.

# %%
X = mt.randn(3, 4, generator=1, dtype=mt.float64, requires_grad=True)
b = mt.randn(4, generator=2, dtype=mt.float64, requires_grad=True)
Z = X + b
Z.backward(g)
print("b.grad shape", b.grad.shape, "| equals g.sum(axis=0):", np.allclose(b.grad.numpy(), g.sum(axis=0)))
print("X.grad equals g:", np.allclose(X.grad.numpy(), g))

# %% [markdown]
# ## 2. Numerical gradients
#
# For a function $s(x)$, the **central difference**
#
# $$\frac{\partial s}{\partial x_j} \approx
#   \frac{s(x + \varepsilon e_j) - s(x - \varepsilon e_j)}{2\varepsilon}$$
#
# has an error of order $\varepsilon^2$ (the $\varepsilon^1$ terms of the two Taylor series
# cancel; what is left is $\varepsilon^2 |s'''|/6$) — plus rounding: each value of $s$ carries
# an error of about $\varepsilon_\text{mach}|s|$ (machine epsilon: $2.2\times10^{-16}$ in
# float64, $1.2\times10^{-7}$ in float32), which the division by $2\varepsilon$ turns into
# about $\varepsilon_\text{mach}|s|/\varepsilon$. Too large an $\varepsilon$ and the Taylor
# error dominates; too small and rounding does. We measure the error for
# $s(x) = \sum u \odot e^{x}$, whose exact gradient is $u \odot e^{x}$ (and so is $s'''$), in
# float32 and float64, draw the two reference lines for float64, and fit the slope of the
# measured error on each side of the V: on a log–log plot, $\varepsilon^2$ has slope $+2$ and
# $\varepsilon_\text{mach}/\varepsilon$ slope $-1$. `gradcheck` uses $\varepsilon = 10^{-6}$
# (see its docstring, `minitransfer/gradcheck.py`); the cell prints both dtypes' errors there.

# %%
x0, u = rng.standard_normal(5), rng.standard_normal(5)
exact = u[0] * np.exp(x0[0])  # ∂s/∂x₀, and also ∂³s/∂x₀³
epsilons = np.logspace(-12, -1, 23)
fig, ax = plt.subplots(figsize=(6.5, 3.8))
errors = {}
for dtype in (mt.float32, mt.float64):
    errors[dtype] = []
    for eps in epsilons:
        e = np.zeros(5)
        e[0] = eps
        with mt.no_grad():
            s_plus = (mt.tensor(x0 + e, dtype=dtype).exp() * mt.tensor(u, dtype=dtype)).sum().item()
            s_minus = (mt.tensor(x0 - e, dtype=dtype).exp() * mt.tensor(u, dtype=dtype)).sum().item()
        errors[dtype].append(abs((s_plus - s_minus) / (2 * eps) - exact) + 1e-17)
    errors[dtype] = np.array(errors[dtype])
    best = int(np.argmin(errors[dtype]))
    print(f"{dtype}: smallest error {errors[dtype][best]:.1e} at eps = {epsilons[best]:.0e}")
    ax.loglog(epsilons, errors[dtype], marker=".", label=f"{dtype}, measured")
at_gradcheck = int(np.argmin(np.abs(epsilons - 1e-6)))
print(f"at gradcheck's eps = 1e-6: float64 error {errors[mt.float64][at_gradcheck]:.1e}, "
      f"float32 error {errors[mt.float32][at_gradcheck]:.1e}")
size = np.sum(np.abs(u * np.exp(x0)))  # the scale of the rounding error in each value of s
ax.loglog(epsilons, abs(exact) * epsilons**2 / 6, "k--", lw=0.8, label="ε² |s'''| / 6")
for dtype, style in ((np.float32, "C0:"), (np.float64, "C1:")):
    ax.loglog(epsilons, np.finfo(dtype).eps * size / epsilons, style, lw=0.9,
              label=f"ε_mach |s| / ε ({np.dtype(dtype).name})")
ax.axvline(1e-6, color="gray", lw=0.5)
for side, chosen in (("truncation, eps >= 1e-4", epsilons >= 1e-4),
                     ("rounding, eps <= 1e-9", epsilons <= 1e-9)):
    slope = np.polyfit(np.log10(epsilons[chosen]), np.log10(errors[mt.float64][chosen]), 1)[0]
    print(f"float64, {side}: fitted slope of log error vs log eps {slope:+.2f}")
ax.set_xlabel("epsilon (gray line: gradcheck's 1e-6)")
ax.set_ylabel("|central difference - exact|")
ax.set_ylim(1e-13, 1e1)
ax.set_title("Truncation (right) vs rounding (left)")
ax.legend(fontsize=7)
save(fig, "central_difference_error.png")

# %% [markdown]
# ## 3. `gradcheck`
#
# `mt.gradcheck(fn, *inputs)` draws a **random** upstream gradient $u$ (not ones: a wrong sum
# over an axis could hide behind ones), forms $s = \sum u \odot f(x)$, and compares
# `backward(u)` with the central differences of $s$ for every element of every input.

# %%
a = mt.randn(3, 4, generator=3, dtype=mt.float64, requires_grad=True)
c = mt.randn(3, 1, generator=4, dtype=mt.float64, requires_grad=True)
for name, fn in [("a * c (broadcast)", lambda a, c: a * c),
                 ("(a / c.exp()).sum(axis=0)", lambda a, c: (a / c.exp()).sum(axis=0)),
                 ("log_softmax(a - c)", lambda a, c: (a - c).log_softmax(axis=-1))]:
    result = mt.gradcheck(fn, a, c, name=name)
    print(f"{name:<28} passed={result.passed}  max abs error {result.max_abs_error:.1e}")

# %% [markdown]
# ## 4. A wrong backward is caught
#
# Here is a multiplication whose author swapped the two gradients:
# $\partial L/\partial a = g \odot a$ instead of the correct $g \odot b$ (`functions.Mul`).
# The forward pass is right, so training would run without an error — on wrong gradients.

# %%
class WrongMul(Function):
    """z = a ⊙ b, with a deliberately wrong backward (dL/da = g ⊙ a)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return unbroadcast(g * self.a, self.a.shape), unbroadcast(g * self.a, self.b.shape)


p = mt.randn(3, 4, generator=5, dtype=mt.float64, requires_grad=True)
q = mt.randn(3, 4, generator=6, dtype=mt.float64, requires_grad=True)
try:
    mt.gradcheck(WrongMul.apply, p, q, name="WrongMul")
except mt.GradcheckError as error:
    print("caught:", error)

# %% [markdown]
# A subtler bug: a row sum $z_i = \sum_j x_{ij}$ whose backward gives every element the
# *mean* of $g$ instead of its own row's $g_i$. With an upstream gradient of ones, every
# $g_i = 1$ and the bug is invisible; with a random upstream it is not.

# %%
class WrongRowSum(Function):
    """z_i = Σ_j x_ij; the backward should give dL/dx_ij = g_i but gives mean(g)."""

    def forward(self, x):
        self.shape = x.shape
        return x.sum(axis=1)

    def backward(self, g):
        return (np.full(self.shape, g.mean()),)


r = mt.randn(4, 3, generator=7, dtype=mt.float64, requires_grad=True)
r.grad = None
WrongRowSum.apply(r).backward(np.ones(4))
print("with upstream ones, the wrong backward looks right:", np.allclose(r.grad.numpy(), np.ones((4, 3))))
result = mt.gradcheck(WrongRowSum.apply, r, name="WrongRowSum", raise_exception=False)
print("with a random upstream, gradcheck says passed =", result.passed)
print("  ", result.message)

# %% [markdown]
# ## 5. Checking a whole network cheaply: the directional mode
#
# A full check costs two forward passes per weight: 203,540 of them for the document's
# 784-128-10 network and its 101,770 weights. The cell below times that check (in quick mode,
# on the head's 1,290 weights only, the first layer held fixed). The **directional** mode
# checks one random direction $v$:
# $\langle \nabla s, v\rangle \approx (s(\theta + \varepsilon v) - s(\theta - \varepsilon v))/2\varepsilon$,
# two forward passes in all. The network is written with the function forms `mt.linear`
# (`functions.Affine`: $z = xW^\top + b$), `mt.relu` and `mt.cross_entropy`.

# %%
def mlp_loss(x, y):
    def loss(w1, b1, w2, b2):
        return mt.cross_entropy(mt.linear(mt.relu(mt.linear(x, w1, b1)), w2, b2), y)
    return loss


def weights(sizes, seed):
    gen = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w = gen.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        out += [mt.tensor(w, dtype=mt.float64, requires_grad=True),
                mt.tensor(gen.standard_normal(n_out) * 0.1, dtype=mt.float64, requires_grad=True)]
    return out


for sizes, mode in [([20, 16, 5], "full"), ([784, 128, 10], "directional")]:
    x = mt.tensor(rng.random((8, sizes[0])), dtype=mt.float64)
    y = rng.integers(0, sizes[-1], size=8)
    params = weights(sizes, seed=8)
    started = time.perf_counter()
    result = mt.gradcheck(mlp_loss(x, y), *params, mode=mode, name=f"MLP {sizes}")
    n_weights = sum(p.numel() for p in params)
    seconds = time.perf_counter() - started
    print(f"MLP {sizes}: {n_weights:,} weights, {mode} check passed={result.passed}, "
          f"max abs error {result.max_abs_error:.1e}, {seconds:.3f} s")

checked = [p.detach() for p in params[:2]] + params[2:] if QUICK else params  # quick: the head only
started = time.perf_counter()
result = mt.gradcheck(mlp_loss(x, y), *checked, mode="full", name="MLP [784, 128, 10], full")
full_seconds = time.perf_counter() - started
n_checked = sum(p.numel() for p in checked if p.requires_grad)
print(f"MLP [784, 128, 10], full check of {n_checked:,} weights{' (the head; quick mode)' if QUICK else ''}: "
      f"passed={result.passed}, {full_seconds:.1f} s measured now, {1e6 * full_seconds / n_checked:.0f} µs "
      f"per weight; the directional check of all {n_weights:,} took {1e3 * seconds:.0f} ms")

# %% [markdown]
# ## 6. Exercises
#
# **02.1** Write `numerical_gradient(f, x, eps)`: the central difference of section 2 for every
# element of a float64 array `x` of any shape (`np.ndindex(x.shape)` visits them), where `f`
# maps such an array to one number. Nudge one element at a time and put it back before the
# next; use the `eps` you are given. The check uses three functions with known gradients and
# $\varepsilon = 10^{-4}$, where a one-sided difference is visibly off and a central one is not.
#
# **02.2** Write `my_unbroadcast(grad, shape)`: section 1's rule — sum `grad` over the axes
# broadcasting created (in front) or stretched (length 1 in `shape`), and return exactly
# `shape`. The check compares with `functions.unbroadcast` on eight pairs of shapes.
#
# Worked solutions: `lessons/solutions/02_broadcasting_and_gradcheck.py`.

# %%
from exercises import lesson02


def numerical_gradient(f, x, eps=1e-6):
    """(f(x + eps e_j) - f(x - eps e_j)) / (2 eps) for every element j of x; x left unchanged."""
    raise NotImplementedError  # your code here


def my_unbroadcast(grad, shape):
    """grad summed over the axes that broadcasting created or stretched, with exactly `shape`."""
    raise NotImplementedError  # your code here


lesson02.check_numerical_gradient(numerical_gradient)
lesson02.check_unbroadcast(my_unbroadcast)

# %% [markdown]
# **More to try** (not graded): remove the `unbroadcast` calls from `WrongMul` and give it
# inputs of shapes (3, 4) and (4,): the engine refuses a gradient whose shape differs from its
# input's. Next lesson: derive the backward of Linear, ReLU and cross-entropy, then check each one.
