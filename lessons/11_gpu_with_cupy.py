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
# # Lesson 11 — Running on a GPU with the CuPy backend
#
# Nothing in the math changes on a GPU: the same ops, the same vector–Jacobian products,
# the same $\theta \leftarrow \theta - \eta\nabla_\theta \hat R$. What changes is *where* the
# arrays live. minitransfer keeps that knowledge in one file, `minitransfer/backend.py`: every
# op asks for the array namespace `xp` of its data (NumPy on the CPU, CuPy on a GPU) and calls
# the same array-API names on it (`xp.matmul`, `xp.sum`, ...). This lesson runs on any machine:
# without a usable GPU it says why and runs everything on the CPU.
#
# **Installing CuPy** (only on a machine with an NVIDIA GPU; check the CUDA version that
# `nvidia-smi` prints):
#
# - CUDA 12.x: `pip install cupy-cuda12x`
# - CUDA 13.x: `pip install cupy-cuda13x`
# - or `pip install minitransfer[gpu]`, the package's extra (it installs `cupy-cuda12x`).
#
# Run it: `python lessons/11_gpu_with_cupy.py` (figures go to `figures/11/`).

# %%
import time

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import nn, optim
from minitransfer.backend import cupy_problem
from minitransfer.data import DataLoader, TensorDataset, class_subset, digits, train_test_split
from minitransfer.train import evaluate
from minitransfer.transfer import fine_tune, pretrain, replace_head

FIGURES, save = figures("11")


# %% [markdown]
# ## 1. Is there a GPU?
#
# `mt.gpu_available()` answers yes or no; `backend.cupy_problem()` says *why not*: CuPy
# missing, no CUDA driver, no device, or a kernel that fails to run. Both are safe to call
# anywhere: `import minitransfer` never imports CuPy.

# %%
problem = cupy_problem()
DEVICE = "cuda" if mt.gpu_available() else "cpu"
if problem is None:
    print("GPU found: this lesson runs on device 'cuda' and compares it with the CPU.")
else:
    print(f"No usable GPU: {problem}.\nEverything below runs on the CPU instead; the code is "
          f"the same on a GPU (DEVICE = 'cuda').")
print("DEVICE =", DEVICE)

# %% [markdown]
# ## 2. Tensors and models on a device, as in PyTorch
#
# `tensor.to(DEVICE)` copies a tensor; `model.to(DEVICE)` moves every parameter in place;
# `DataLoader(..., device=DEVICE)` delivers each batch on the device. Random numbers are
# drawn on the host from a seeded generator and then copied, so **the same seed gives the
# same weights on the CPU and on the GPU**.

# %%
x = mt.randn(2, 3, generator=0).to(DEVICE)
print("a tensor on", x.device, "| back on the host:", x.cpu().device)
cpu_model = nn.MLP([784, 128, 10], generator=0)
dev_model = nn.MLP([784, 128, 10], generator=0, device=DEVICE)
difference = max(float(np.abs(a.numpy() - b.cpu().numpy()).max())
                 for a, b in zip(cpu_model.state_dict().values(), dev_model.state_dict().values()))
print(f"same seed on cpu and {DEVICE}: largest weight difference {difference}")
if DEVICE == "cuda":
    try:
        mt.ones(3) + mt.ones(3).to("cuda")
    except ValueError as error:
        print("mixing devices is an error, as in PyTorch:", error)

# %% [markdown]
# ## 3. What one training step costs
#
# One step of the document's 784-128-10 network — forward, cross-entropy, backward, SGD
# update — at several batch sizes. Small batches are dominated by Python bookkeeping and,
# on a GPU, by kernel launches: a GPU pays off only when each step has enough arithmetic.
# (`loss.item()` waits for the device to finish, so the GPU timings are honest.)

# %%
def step_time(device, batch, repeats):
    """Median seconds per training step of the 784-128-10 MLP on random data."""
    model = nn.MLP([784, 128, 10], generator=0, device=device)
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    gen = np.random.default_rng(0)
    xb = mt.tensor(gen.random((batch, 784), dtype=np.float32)).to(device)
    yb = mt.tensor(gen.integers(0, 10, size=batch)).to(device)
    times = []
    for _ in range(repeats + 3):  # the first steps warm up caches (and compile GPU kernels)
        started = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        loss.item()
        times.append(time.perf_counter() - started)
    return float(np.median(times[3:]))


batches = [1, 64, 1024] if QUICK else [1, 64, 256, 1024, 4096]
repeats = 5 if QUICK else 30
devices = ["cpu", "cuda"] if DEVICE == "cuda" else ["cpu"]
timings = {(d, b): step_time(d, b, repeats) for d in devices for b in batches}
print(f"{'batch':>6} {'CPU µs/step':>12} {'GPU µs/step':>12} {'GPU speed-up':>13}")
for b in batches:
    cpu = 1e6 * timings[("cpu", b)]
    if DEVICE == "cuda":
        gpu = 1e6 * timings[("cuda", b)]
        print(f"{b:>6} {cpu:>12.0f} {gpu:>12.0f} {cpu / gpu:>12.1f}x")
    else:
        print(f"{b:>6} {cpu:>12.0f} {'no GPU':>12} {'—':>13}")

# %% [markdown]
# The GPU column of the speed-up table in `lessons/README.md` is left empty on purpose: it
# will be filled in by a run of this lesson on a GPU machine, which has not happened yet.
# No number there is guessed.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for device in devices:
    ax.plot(batches, [1e6 * timings[(device, b)] / b for b in batches], marker="o", label=device)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("batch size")
ax.set_ylabel("µs per example per step")
ax.set_title("784-128-10 training step: cost per example")
ax.legend()
save(fig, "step_time.png")

# %% [markdown]
# ## 4. The whole transfer workflow on the device
#
# `pretrain`, `replace_head`, `fine_tune` and `evaluate` follow the model: its data loader
# moves each batch to the model's device. The example uses the bundled 8×8 digits: source
# digits 0–4, target digits 5–9 with 10 labels per class.

# %%
data = digits()
x_train, x_test, y_train, y_test = train_test_split(data.x, data.y, test_fraction=0.3, seed=0)
source = class_subset((x_train, y_train), [0, 1, 2, 3, 4])
target_test = class_subset((x_test, y_test), [5, 6, 7, 8, 9])
target_x, target_y = class_subset((x_train, y_train), [5, 6, 7, 8, 9])
pick = np.concatenate([np.flatnonzero(target_y == c)[:10] for c in range(5)])
model = nn.MLP([64, 128, 5], generator=0, device=DEVICE)
started = time.perf_counter()
pretrain(model, source, steps=200 if QUICK else 1000, seed=0)
replace_head(model, 5, generator=1)
fine_tune(model, (target_x[pick], target_y[pick]), "full", steps=60 if QUICK else 300, seed=0)
accuracy = evaluate(model, target_test)["accuracy"]
print(f"on {DEVICE}: pretrain + fine-tune in {time.perf_counter() - started:.1f} s, "
      f"target test accuracy {accuracy:.1%}, weights on {next(model.parameters()).device}")
loader = DataLoader(TensorDataset(target_x, target_y), batch_size=8, device=DEVICE)
print("a batch from DataLoader(device=DEVICE) lives on", next(iter(loader))[0].device)

# %% [markdown]
# ## 5. Exercise (it grades itself): code that runs where the data lives
#
# **11.1** Write a numerically stable log-softmax along the last axis,
# $\log\mathrm{softmax}(x)_i = x_i - m - \log\sum_j e^{x_j - m}$ with $m = \max_j x_j$, using only
# the array's own namespace `xp = backend.namespace(x)` (`xp.max`, `xp.exp`, `xp.log`,
# `xp.sum` with `axis=-1, keepdims=True`), never `np.` on the data: then the same function
# runs on CuPy arrays on a GPU. The check runs it on NumPy arrays (float32 must stay float32,
# logits of ±1000 must not overflow) and on `array_api_strict` arrays, the tests' CPU
# stand-in for CuPy.

# %%
from exercises import lesson11  # noqa: E402


def log_softmax(x):
    """log softmax(x) along the last axis, computed with x's own array library."""
    raise NotImplementedError  # your code here


lesson11.check_log_softmax(log_softmax)

# %% [markdown]
# **Try it:** on a GPU machine, raise the hidden layer to 2048 units and watch the speed-up
# grow: a bigger matrix product gives the GPU more to do per kernel launch.
