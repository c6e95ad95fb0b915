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
# # Lesson 4 — Training the document's MLP: empirical risk and SGD
#
# The document's general objective (§3.3) is the **empirical risk**
#
# $$\min_\theta\ \hat R(\theta) = \frac{1}{n}\sum_{i=1}^{n} L\big(y_i, f_\theta(x_i)\big),$$
#
# with $L$ the cross-entropy (lesson 3) and $f_\theta$ the network of its §4 program:
# 784 inputs, 128 hidden ReLU units, 10 outputs. In code:
#
# | math | minitransfer |
# |---|---|
# | $f_\theta(x) = W_2\,\mathrm{ReLU}(W_1 x + b_1) + b_2$ | `nn.MLP([784, 128, 10])` |
# | $L(y, z) = -\log \operatorname{softmax}(z)_y$ | `nn.CrossEntropyLoss` |
# | $\hat R(\theta)$ | `train.empirical_risk(model, loss_fn, data)` |
# | $\theta \leftarrow \theta - \eta\,\nabla_\theta \hat R_B(\theta)$ (batch $B$) | `optim.SGD`, `train.fit` |
#
# The data: Fashion-MNIST (28×28 = 784 pixels) when it is installed locally, else
# scikit-learn's bundled 8×8 digits (64 pixels, so the network becomes 64-128-10).
#
# Run it: `python lessons/04_training_an_mlp.py` (figures go to `figures/04/`).

# %%
import copy
import os

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import nn, optim
from minitransfer.data import DataLoader, TensorDataset, digits, mnist_family, train_test_split
from minitransfer.train import empirical_risk, evaluate, fit

FIGURES, save = figures("04")


# %% [markdown]
# ## 1. The data

# %%
def load_images():
    """(x_train, y_train, x_test, y_test, side, class names): Fashion-MNIST, or digits without it."""
    try:
        root = os.environ.get("MINITRANSFER_FASHION_DIR")  # None: Debian's folder
        train, test = (mnist_family(root, name="fashion", split=s) for s in ("train", "test"))
        return train.x, train.y, test.x, test.y, 28, train.class_names
    except FileNotFoundError as error:
        print(f"Fashion-MNIST not found ({error}).\nFalling back to the 8x8 digits bundled with "
              f"scikit-learn: same lesson, smaller images (64 inputs instead of 784).")
        d = digits()
        x_train, x_test, y_train, y_test = train_test_split(d.x, d.y, test_fraction=0.3, seed=0)
        return x_train, y_train, x_test, y_test, 8, d.class_names


x_train, y_train, x_test, y_test, side, names = load_images()
if QUICK:
    x_train, y_train = x_train[:6000], y_train[:6000]
print(f"train {x_train.shape}, test {x_test.shape}, {len(names)} classes: {', '.join(names)}")
fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
for ax, image, label in zip(axes.flat, x_train, y_train):
    ax.imshow(image.reshape(side, side), cmap="gray_r")
    ax.set_title(names[label], fontsize=7)
    ax.axis("off")
save(fig, "samples.png")

# %% [markdown]
# ## 2. The model and the risk before training
#
# `nn.MLP(sizes)` names its hidden part `body` and its last layer `head` (the split that
# transfer learning will use). Before training, the logits are small and nearly equal, so
# every class gets probability ≈ 1/10 and the risk is ≈ $-\log\frac1{10} = \ln 10 \approx 2.303$.

# %%
model = nn.MLP([side * side, 128, 10], generator=0)
print(model)
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
loss_fn = nn.CrossEntropyLoss()
initial = empirical_risk(model, loss_fn, (x_train, y_train))
print(f"initial risk {initial:.3f} (ln 10 = {np.log(10):.3f})")

# %% [markdown]
# ## 3. Why minibatches work
#
# The risk is a mean, so its gradient is the mean of per-example gradients. Cut $n$
# examples into $K$ equal batches: the average of the $K$ batch gradients **is** the full
# gradient. A single batch gradient is an unbiased, noisy estimate of it — at $1/K$ of the
# cost. Because `.grad` accumulates (lesson 1), backpropagating each batch loss divided by
# $K$ adds up to the full gradient.

# %%
batch = 256
n = min(4096, len(x_train) // batch * batch)
xs, ys = mt.tensor(x_train[:n]), y_train[:n]
model.zero_grad()
loss_fn(model(xs), ys).backward()
full = [p.grad.numpy().copy() for p in model.parameters()]
model.zero_grad()
for start in range(0, n, batch):
    (loss_fn(model(xs[start:start + batch]), ys[start:start + batch]) / (n // batch)).backward()
worst = max(float(np.abs(p.grad.numpy() - f).max()) for p, f in zip(model.parameters(), full))
print(f"full gradient vs mean of {n // batch} batch gradients: max difference {worst:.1e} (float32 rounding)")
one = model.head.weight.grad.numpy()
model.zero_grad()
loss_fn(model(xs[:batch]), ys[:batch]).backward()
noise = np.linalg.norm(model.head.weight.grad.numpy() - one) / np.linalg.norm(one)
print(f"one batch of {batch}: its head gradient is off the full one by {noise:.0%} (the 'stochastic' in SGD)")
model.zero_grad()

# %% [markdown]
# ## 4. One epoch by hand, the PyTorch way
#
# Each step: forget old gradients, forward, loss, backward, update
# $\theta \leftarrow \theta - \eta\,\nabla_\theta \hat R_B(\theta)$ (`optim.SGD`, whose docstring
# shows this rule). The `DataLoader` reshuffles the examples every epoch.

# %%
optimizer = optim.SGD(model.parameters(), lr=0.1)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
for xb, yb in loader:
    optimizer.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    optimizer.step()
after_one = empirical_risk(model, loss_fn, (x_train, y_train))
print(f"after 1 epoch ({len(loader)} steps): risk {initial:.3f} -> {after_one:.3f}, "
      f"test accuracy {evaluate(model, (x_test, y_test))['accuracy']:.1%}")

# %% [markdown]
# ## 5. More epochs with `train.fit`
#
# `fit` runs the same loop (and refuses to continue when the loss becomes NaN), evaluating
# on held-out data after every epoch. The test set is only *looked at*, never trained on.

# %%
epochs = 1 if QUICK else 4
history = fit(model, loss_fn, optimizer, loader, epochs=epochs, eval_data=(x_test, y_test), progress=True)
final = evaluate(model, (x_test, y_test), loss_fn)
print(f"after {1 + epochs} epochs: train risk {empirical_risk(model, loss_fn, (x_train, y_train)):.3f}, "
      f"test risk {final['loss']:.3f}, test accuracy {final['accuracy']:.1%}")

# %% [markdown]
# ## 6. The learning rate $\eta$
#
# Four rates from the same start, the same number of steps each (300; 100 in quick mode); the
# document's §4 uses $\eta = 0.01$. After each run we also count the **dead** hidden units: a
# ReLU whose input is negative for every training image outputs 0 on all of them and passes
# back no gradient ($g \odot [x > 0]$, lesson 3), so no later step can revive it. The cell
# prints the risks and the counts, then reads them.

# %%
def dead_units(net, x):
    """Hidden ReLUs that output 0 for every example of x (no gradient reaches their weights)."""
    with mt.no_grad():
        hidden = net.body(mt.tensor(x)).numpy()
    return int(np.sum(hidden.max(axis=0) <= 0))


start = nn.MLP([side * side, 128, 10], generator=1)
steps = 100 if QUICK else 300
print(f"before training: {dead_units(start, x_train)} of 128 hidden units dead")
lr_risk, lr_dead = {}, {}
for lr in (0.01, 0.1, 0.5, 2.0):
    net = copy.deepcopy(start)
    sweep_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    fit(net, loss_fn, optim.SGD(net.parameters(), lr=lr), sweep_loader, steps=steps, progress=False)
    lr_risk[lr], lr_dead[lr] = empirical_risk(net, loss_fn, (x_train, y_train)), dead_units(net, x_train)
    print(f"lr {lr}: risk after {steps} steps {lr_risk[lr]:.3f}, dead hidden units {lr_dead[lr]} of 128")

# %%
best = min(lr_risk, key=lr_risk.get)
print(f"lowest risk after {steps} steps: lr {best} ({lr_risk[best]:.3f})")
for lr, risk in lr_risk.items():
    if lr < best:
        print(f"  lr {lr} (smaller): risk {risk:.3f}, higher after the same {steps} steps")
    elif lr > best:
        words = [f"  lr {lr} (larger): risk {risk:.3f}"]
        if lr_dead[lr]:
            words.append(f"{lr_dead[lr]} of 128 hidden units dead")
        if risk >= np.log(10):
            words.append(f"no better than predicting 1/10 for every class (ln 10 = {np.log(10):.3f})")
        print(", ".join(words))

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
smooth = np.convolve(history.losses, np.ones(50) / 50, mode="valid")
left.plot(smooth)
left.set_xlabel("step (after the first epoch)")
left.set_ylabel("minibatch loss (moving mean of 50)")
right.bar([str(lr) for lr in lr_risk], list(lr_risk.values()))
right.axhline(np.log(10), color="gray", ls="--", label="ln 10")
right.set_xlabel("learning rate")
right.set_ylabel("risk after the run")
right.legend()
save(fig, "training.png")
with mt.no_grad():
    predicted = model(mt.tensor(x_test)).argmax(axis=1).numpy()
wrong = np.flatnonzero(predicted != y_test)[:8]
fig, axes = plt.subplots(1, 8, figsize=(8, 1.6))
for ax, i in zip(axes, wrong):
    ax.imshow(x_test[i].reshape(side, side), cmap="gray_r")
    ax.set_title(f"{names[predicted[i]]}?\n({names[y_test[i]]})", fontsize=6)
    ax.axis("off")
save(fig, "mistakes.png")

# %% [markdown]
# ## 7. Exercise: the empirical risk, one batch at a time
#
# **04.1** Write `risk_by_batches(model, loss_fn, x, y, batch_size)`: $\hat R(\theta)$ over
# all $n$ examples, computed batch by batch (a large data set never goes through the network
# at once). `loss_fn` returns each batch's *mean* loss, and the last batch may be smaller than
# the others: the mean of the batch means is then not $\hat R$. The check compares with
# `train.empirical_risk` on data sets whose size is not a multiple of the batch size.
# Worked solution: `lessons/solutions/04_training_an_mlp.py`.

# %%
from exercises import lesson04


def risk_by_batches(model, loss_fn, x, y, batch_size):
    """(1/n) Σ L(y_i, f(x_i)) over all n rows of x, computed batch_size rows at a time."""
    raise NotImplementedError  # your code here


lesson04.check_risk_by_batches(risk_by_batches)

# %% [markdown]
# **More to try** (not graded): replace `optim.SGD(..., lr=0.1)` by
# `optim.SGD(..., lr=0.1, momentum=0.9)` or `optim.Adam(model.parameters(), lr=1e-3)` and compare
# the final accuracy. What one step costs, and how replaying a recorded step makes it cheaper:
# lesson 17. Next lesson: the document's §4 program — and the bug that keeps it from
# transferring anything.
