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
# # Lesson 3 — Linear, ReLU and cross-entropy: derive each backward, then check it
#
# The document's network (§4) is `fc1 → relu → fc2`, trained with `nn.CrossEntropyLoss`.
# Three pieces, three vector–Jacobian products (VJPs). For each: the forward formula, the
# backward derived by hand, a NumPy implementation of that derivation, and two checks —
# against `backward()` and against central differences (`mt.gradcheck`, lesson 2).
#
# Notation: the layer computes $z$; $g = \partial L/\partial z$ arrives from above, with
# $z$'s shape; the VJP returns $\partial L/\partial(\text{input})$ without forming a Jacobian.
#
# Run it: `python lessons/03_linear_relu_cross_entropy.py` (figures go to `figures/03/`).

# %%
import inspect

import numpy as np
from _lesson import figures, plt

import minitransfer as mt
from minitransfer import functions, nn

FIGURES, save = figures("03")
rng = np.random.default_rng(0)


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# %% [markdown]
# ## 1. Linear: $z = xW^\top + b$
#
# `nn.Linear(in, out)` holds $W$ of shape (out, in) and $b$ of shape (out,), as PyTorch does;
# its forward is one fused op, `functions.Affine`. Element by element,
# $z_{nk} = \sum_j x_{nj} W_{kj} + b_k$, so
#
# $$\frac{\partial L}{\partial W_{kj}} = \sum_n g_{nk}\,x_{nj}
#   \;\Rightarrow\; \frac{\partial L}{\partial W} = g^\top x, \qquad
#   \frac{\partial L}{\partial x} = g\,W, \qquad
#   \frac{\partial L}{\partial b} = \sum_n g_{n\cdot}\ \ (\text{the bias was broadcast over rows}).$$
#
# Shapes check the algebra: $g^\top x$ is (out, N)(N, in) = (out, in), like $W$.

# %%
layer = nn.Linear(5, 3, generator=0, dtype=mt.float64)
x = mt.tensor(rng.standard_normal((4, 5)), dtype=mt.float64, requires_grad=True)
g = rng.standard_normal((4, 3))
layer(x).backward(g)
W = layer.weight.detach().numpy()
print("dL/dW: backward vs g.T @ x   max diff", max_diff(layer.weight.grad.numpy(), g.T @ x.detach().numpy()))
print("dL/dx: backward vs g @ W     max diff", max_diff(x.grad.numpy(), g @ W))
print("dL/db: backward vs g.sum(0)  max diff", max_diff(layer.bias.grad.numpy(), g.sum(axis=0)))
result = mt.gradcheck(mt.linear, x, layer.weight, layer.bias, name="linear")
print(f"gradcheck(linear): passed={result.passed}, max abs error {result.max_abs_error:.1e}")

# %% [markdown]
# ## 2. ReLU: $z = \max(x, 0)$
#
# Elementwise, so the Jacobian is diagonal and the VJP is a mask (`functions.ReLU`):
#
# $$\frac{\partial L}{\partial x} = g \odot [x > 0].$$
#
# At exactly $x = 0$ the derivative does not exist; like PyTorch we use 0. A central
# difference straddling the kink gives $\tfrac12$ instead — which is why `gradcheck` inputs
# are kept away from 0 for ReLU (see `op_registry.make_values`).

# %%
h = mt.tensor([-1.5, -0.2, 0.3, 2.0], dtype=mt.float64, requires_grad=True)
gh = np.array([1.0, 2.0, 3.0, 4.0])
h.relu().backward(gh)
print("ReLU backward", h.grad.tolist(), "| by hand g*[x>0]", (gh * (h.detach().numpy() > 0)).tolist())
print(f"gradcheck(relu): passed={mt.gradcheck(mt.relu, h).passed}")
eps = 1e-6
with mt.no_grad():
    plus, minus = mt.relu(mt.tensor(eps, dtype=mt.float64)), mt.relu(mt.tensor(-eps, dtype=mt.float64))
at_kink = (plus - minus).item() / (2 * eps)
print(f"central difference at the kink x = 0: {at_kink:.3f} (backward uses 0)")

# %% [markdown]
# ## 3. Cross-entropy: $\ell = -\log \operatorname{softmax}(z)_y$
#
# For one example with logits $z \in \mathbb{R}^C$ and label $y$,
# $\ell = -\log \frac{e^{z_y}}{\sum_c e^{z_c}} = \log\sum_c e^{z_c} - z_y$. Differentiate:
# $\partial \log\sum_c e^{z_c} / \partial z_k = e^{z_k}/\sum_c e^{z_c} = \operatorname{softmax}(z)_k$, and
# $\partial z_y/\partial z_k = [k = y]$. With the batch mean $L = \frac1N \sum_n \ell_n$:
#
# $$\frac{\partial L}{\partial z_n} =
#   \frac{1}{N}\big(\operatorname{softmax}(z_n) - \operatorname{onehot}(y_n)\big).$$
#
# Implemented by `functions.CrossEntropy` (fused, stable) behind `nn.CrossEntropyLoss`; both
# docstrings show this formula. The gradient is "predicted minus true": it vanishes only
# when the model puts probability 1 on the right class. Here is the engine's backward, printed
# from its source: the forward saved `self.softmax` and `self.one_hot`, so the backward is
# their difference times $g/N$ (`reduction="mean"`), times $g$ (`"sum"`), or times each
# row's own $g_n$ (`"none"`); `xp` is NumPy, or CuPy on a GPU (lesson 11).

# %%
print(inspect.getsource(functions.CrossEntropy.backward))

# %%
z = mt.tensor(rng.standard_normal((4, 3)), dtype=mt.float64, requires_grad=True)
labels = np.array([0, 2, 1, 2])
loss = nn.CrossEntropyLoss()(z, labels)
loss.backward()
zn = z.detach().numpy()
softmax = np.exp(zn - zn.max(axis=1, keepdims=True))
softmax /= softmax.sum(axis=1, keepdims=True)
by_hand = (softmax - np.eye(3)[labels]) / len(labels)
print(f"loss = {loss.item():.6f}, by hand {np.mean(-np.log(softmax[np.arange(4), labels])):.6f}")
print("dL/dz: backward vs (softmax - onehot)/N   max diff", max_diff(z.grad.numpy(), by_hand))
print("gradcheck(cross_entropy): passed =", mt.gradcheck(lambda t: mt.cross_entropy(t, labels), z).passed)
print(f"ten equal logits give L = ln 10 = {nn.CrossEntropyLoss()(mt.zeros(2, 10), [3, 7]).item():.4f}")

# %% [markdown]
# **Why "stable"?** $e^{1000}$ overflows. Subtracting the row maximum first,
# $\log\sum_c e^{z_c} = m + \log\sum_c e^{z_c - m}$ with $m = \max_c z_c$, changes nothing
# mathematically and keeps every exponent $\le 0$ (`functions.LogSumExp` shows it in its
# docstring; `functions.CrossEntropy` does the same inside).

# %%
big = np.array([[1000.0, 0.0, -1000.0]])
with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
    naive = -np.log(np.exp(big[0, 1]) / np.exp(big).sum())
print("naive formula with logits (1000, 0, -1000), label 1:", naive)
print("nn.CrossEntropyLoss:", nn.CrossEntropyLoss()(mt.tensor(big, dtype=mt.float64), [1]).item())

# %% [markdown]
# ## 4. All three together, against PyTorch (when installed)
#
# The same weights in PyTorch must give the same gradients: minitransfer's names and state
# dict layout are PyTorch's, so the weights load directly. PyTorch is only an oracle here;
# the lesson runs without it.

# %%
model = nn.MLP([6, 5, 3], generator=1, dtype=mt.float64)
xb, yb = rng.standard_normal((8, 6)), rng.integers(0, 3, size=8)
nn.CrossEntropyLoss()(model(mt.tensor(xb, dtype=mt.float64)), yb).backward()
try:
    import torch
except ImportError:
    print("PyTorch is not installed: comparison skipped (pip install torch to run it)")
else:
    ref = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    ref.load_state_dict({k.replace("body.", "").replace("head", "2"): torch.tensor(v.numpy())
                         for k, v in model.state_dict().items()})
    torch.nn.functional.cross_entropy(ref(torch.tensor(xb)), torch.tensor(yb)).backward()
    pairs = zip(model.parameters(), ref.parameters())
    worst = max(max_diff(p.grad.numpy(), q.grad.numpy()) for p, q in pairs)
    print(f"PyTorch {torch.__version__}: largest gradient difference over all weights {worst:.1e}")

# %% [markdown]
# ## 5. The pictures
#
# Left: ReLU and its derivative (a step). Right: the loss of one example as its correct
# logit $z_y$ moves (the other two logits at 0), and the derivative
# $\operatorname{softmax}(z)_y - 1$, which goes from $-1$ (very wrong) to $0$ (confident and right).

# %%
t = np.linspace(-4, 4, 401)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
left.plot(t, np.maximum(t, 0), label="ReLU(x)")
left.plot(t, (t > 0).astype(float), label="derivative [x > 0]")
left.legend()
left.set_xlabel("x")
p_y = np.exp(t) / (np.exp(t) + 2)
right.plot(t, -np.log(p_y), label="loss  -log softmax(z)_y")
right.plot(t, p_y - 1, label="dL/dz_y = softmax(z)_y - 1")
right.legend()
right.set_xlabel("z_y (other logits 0)")
save(fig, "relu_and_cross_entropy.png")

# %% [markdown]
# ## 6. Exercises: write the backward yourself
#
# **03.1** Write `affine_backward(g, x, weight)` for $z = xW^\top + b$ (section 1): given
# $g = \partial L/\partial z$ of shape (N, out), $x$ (N, in) and $W$ (out, in), return the
# three NumPy arrays $(\partial L/\partial x, \partial L/\partial W, \partial L/\partial b)$. The
# check makes an op whose forward is $xW^\top + b$ and whose backward is your function (a
# `functions.Function`, as `functions.Affine` is) and runs `mt.gradcheck` on it for three
# layer shapes — one of them square, where a transposed $W$ has the right shape and the wrong values.
#
# **03.2** Write `cross_entropy_grad(logits, labels, reduction)`: section 3's
# $\partial L/\partial z$ in NumPy for `reduction="mean"` and `"sum"` (which loses the $1/N$),
# stable for logits of $\pm 1000$. The check compares with `backward()`.
#
# Worked solutions: `lessons/solutions/03_linear_relu_cross_entropy.py`.

# %%
from exercises import lesson03


def affine_backward(g, x, weight):
    """(dL/dx, dL/dW, dL/db) for z = x W.T + b, given g = dL/dz."""
    raise NotImplementedError  # your code here


def cross_entropy_grad(logits, labels, reduction="mean"):
    """dL/dz of the cross-entropy of logits (N, C) and integer labels, "mean" or "sum"."""
    raise NotImplementedError  # your code here


lesson03.check_affine_backward(affine_backward)
lesson03.check_cross_entropy_grad(cross_entropy_grad)

# %% [markdown]
# Next lesson: put the pieces together and train the document's 784-128-10 network.
