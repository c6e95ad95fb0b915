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
# Same start, 300 steps each. Too small: slow (the document's §4 uses $\eta = 0.01$). Too
# large: the steps overshoot, ReLUs die, and the risk stays at $\ln 10$ or worse.

# %%
start = nn.MLP([side * side, 128, 10], generator=1)
lr_risk = {}
for lr in (0.01, 0.1, 0.5, 2.0):
    net = copy.deepcopy(start)
    steps = 100 if QUICK else 300
    sweep_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    fit(net, loss_fn, optim.SGD(net.parameters(), lr=lr), sweep_loader, steps=steps, progress=False)
    lr_risk[lr] = empirical_risk(net, loss_fn, (x_train, y_train))
    print(f"lr {lr}: risk after {steps} steps {lr_risk[lr]:.3f}")

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
# ## 7. Capturing the step: record the tape once, replay it
#
# Every step above built the same graph again: one `Function` object and fresh arrays per op,
# then `backward()` sorted the graph, checked versions and allocated gradients. For batches of
# one shape only the numbers change, never the graph. `mt.capture(model, loss_fn, optimizer,
# x, y)` runs one step eagerly, walks its graph in topological order and keeps it as a
# **tape**: one *kernel* per op, reading and writing numbered *slots*. Every array a step needs
# is allocated once; a replay runs the kernels' forwards in order and their backwards in
# reverse, writing into those arrays (NumPy's `out=`), then calls `optimizer.step()`. This is
# what a compiler does for a static graph (CUDA graphs, `torch.compile`). `minitransfer/replay.py`
# holds it, and what makes it record again (another batch shape, a frozen or replaced
# parameter), so that a tape is never replayed stale.

# %%
captured_model = copy.deepcopy(model)
xb, yb = next(iter(loader))
step = mt.capture(captured_model, loss_fn, optim.SGD(captured_model.parameters(), lr=0.1), xb, yb)
tape, = step.tapes.values()
names = {0: "x", 1: "y"} | {slot: name for name, p in captured_model.named_parameters()
                            for t, _, _, slot in tape.leaves if t is p}
print("the tape of one step; slots " + ", ".join(f"[{slot}] {name}" for slot, name in sorted(names.items())))
for kernel in tape.kernels:  # (CrossEntropy reads the labels y from slot 1 too)
    inputs = ", ".join(f"[{i}]" for i in kernel.ins)
    print(f"  [{kernel.out}] = {type(kernel).__name__.lstrip('_')}({inputs})")

# %% [markdown]
# The replay must give the eager step's numbers. Train two copies side by side:

# %%
eager_model = copy.deepcopy(captured_model)
eager_optimizer = optim.SGD(eager_model.parameters(), lr=0.1)
worst, compare_steps = 0.0, 10 if QUICK else 50
for (xb, yb), _ in zip(loader, range(compare_steps)):
    eager_optimizer.zero_grad()
    eager_loss = loss_fn(eager_model(xb), yb)
    eager_loss.backward()
    eager_optimizer.step()
    worst = max(worst, abs(step(xb, yb).item() - eager_loss.item()))
gap = max(float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
          for p, q in zip(captured_model.parameters(), eager_model.parameters()))
print(f"captured vs eager over {compare_steps} steps: largest loss difference {worst:.1e}, "
      f"largest weight difference {gap:.1e}")

# %% [markdown]
# What the replay saves, measured now: one SGD step of the 784-128-10 network (random data)
# by the eager engine, the captured tape, and the **floor**: the same step written by hand in
# NumPy (`benchmarks/_networks.py`: five matrix products, and gradients scaled in place, which
# an engine may not do since `p.grad` must survive the step). Medians of interleaved rounds.

# %%
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _networks  # the benchmarks' contenders


def median_time(runs, rounds, seconds):
    """{name: µs per call}, medians over interleaved rounds: a busy neighbour slows all alike."""
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                run()
                calls += 1
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    return {name: float(np.median(values)) for name, values in times.items()}


rounds, seconds = (3, 0.02) if QUICK else (9, 0.05)
print(f"{'batch':>5} {'eager':>8} {'captured':>9} {'floor':>8} {'eager/floor':>12} {'captured/floor':>15}")
for batch in (1, 64, 256):
    xs, ys = _networks.make_batch(batch)
    weights = _networks.initial_weights()
    t = median_time({"eager": _networks.make_minitransfer(xs, ys, weights),
                     "captured": _networks.make_captured(xs, ys, weights),
                     "floor": _networks.make_floor(xs, ys, weights)}, rounds, seconds)
    print(f"{batch:>5} {t['eager']:6.0f}µs {t['captured']:7.0f}µs {t['floor']:6.0f}µs "
          f"{t['eager'] / t['floor']:12.2f} {t['captured'] / t['floor']:15.2f}   -> batch {batch}: "
          f"captured takes {t['captured'] / t['eager']:.2f}x the eager step's time")

# %% [markdown]
# `fit(..., capture=True)` trains with the captured step (the smaller last batch of an epoch
# gets a tape of its own, recorded once):

# %%
histories = {}
for use_capture in (False, True):
    net = copy.deepcopy(start)
    sweep_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    histories[use_capture] = fit(net, loss_fn, optim.SGD(net.parameters(), lr=0.1), sweep_loader,
                                 steps=100 if QUICK else 300, progress=False, capture=use_capture)
print(f"fit eager: {histories[False].seconds:.2f} s, fit(capture=True): {histories[True].seconds:.2f} s, "
      f"identical losses at every step: {histories[False].losses == histories[True].losses}")

# %% [markdown]
# ## 8. Threads: why one beats two for small matrices
#
# BLAS may split a matrix product over several threads. That pays when there is much
# arithmetic to share and the other core is free; it costs when the product is small (waking
# and waiting for the second thread take longer) or another process holds the other core.
# Measured now with `threadpoolctl`, which sets a running process's BLAS thread count:

# %%
from threadpoolctl import threadpool_limits

rng = np.random.default_rng(0)
for name, (m, k, n) in {"(64x784)(784x128), a step's largest": (64, 784, 128),
                        "(1024x1024)(1024x1024)": (1024, 1024, 1024)}.items():
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    by_threads = {1: [], 2: []}
    for _ in range(rounds):
        for threads in by_threads:
            with threadpool_limits(limits=threads, user_api="blas"):
                by_threads[threads].append(median_time({"": lambda: np.matmul(a, b)}, 1, seconds)[""])  # noqa: B023
    t1, t2 = (float(np.median(by_threads[threads])) for threads in (1, 2))
    print(f"{name}: 1 thread {t1:.0f} µs, 2 threads {t2:.0f} µs -> 2 threads take {t2 / t1:.2f}x the time "
          f"of 1 ({'one thread is faster' if t2 > t1 else 'two threads are faster'} here, now)")

# %% [markdown]
# **Try it:** replace `optim.SGD(..., lr=0.1)` by `optim.SGD(..., lr=0.1, momentum=0.9)` or
# `optim.Adam(model.parameters(), lr=1e-3)` and compare the final accuracy.
# Next lesson: the document's §4 program — and the bug that keeps it from transferring anything.
