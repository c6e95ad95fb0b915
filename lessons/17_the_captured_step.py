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
# # Lesson 17 — What a training step costs: the tape, its replay, and threads
#
# Lesson 4 trained the document's MLP by minimising the empirical risk
# $\hat R(\theta) = \frac{1}{n}\sum_i L(y_i, f_\theta(x_i))$ one batch at a time,
# $\theta \leftarrow \theta - \eta\,\nabla_\theta \hat R_B(\theta)$. Each such step runs the
# same ops on arrays of the same shapes; only the numbers change. This lesson measures what the
# eager engine pays for rebuilding the graph at every step, and what recording it once and
# replaying it saves (`minitransfer.capture`, in `minitransfer/replay.py`; `fit(capture=True)`;
# `fine_tune` and `pretrain` use it by default). Then why the package runs BLAS with one thread.
#
# | idea | minitransfer |
# |---|---|
# | one eager step: forward, `backward()`, `optimizer.step()` | `train.fit(..., capture=False)` |
# | the step recorded as a tape of kernels on preallocated arrays | `mt.capture(model, loss_fn, opt, x, y)` |
# | the optimizer's update, in place on work arrays | `optim.SGD`, `optim.Adam` (`_update_one`) |
# | θ −= η g in one pass: BLAS's axpy, y ← αx + y | `minitransfer/blas.py`, `optim.SGD` |
# | buffers that start on a 64-byte boundary, as PyTorch's | `minitransfer/aligned.py` |
# | the BLAS thread count | `mt.set_num_threads(n)`, `--threads` |
#
# The data: scikit-learn's bundled 8×8 digits (the timings use random 784-pixel batches, the
# document's size). Run it: `python lessons/17_the_captured_step.py`.

# %%
import copy
import sys
import time
from pathlib import Path

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import nn, optim
from minitransfer.data import DataLoader, TensorDataset, digits
from minitransfer.train import fit

FIGURES, save = figures("17")
data = digits()
x_train, y_train = data.x, data.y
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
start = nn.MLP([64, 128, 10], generator=0)
model = copy.deepcopy(start)
loss_fn = nn.CrossEntropyLoss()
print(f"digits {x_train.shape}, model {model.sizes}")

# %% [markdown]
# ## 1. Capturing the step: record the tape once, replay it
#
# Every eager step builds the same graph again: one `Function` object and fresh arrays per op,
# then `backward()` sorted the graph, checked versions and allocated gradients. For batches of
# one shape only the numbers change, never the graph. `mt.capture(model, loss_fn, optimizer,
# x, y)` runs one step eagerly, walks its graph in topological order and keeps it as a
# **tape**: one *kernel* per op, reading and writing numbered *slots*. Every array a step needs
# is allocated once; a replay runs the kernels' forwards in order and their backwards in
# reverse, writing into those arrays (NumPy's `out=`), then updates the parameters with
# `optimizer.step()` (plain SGD: its axpy calls of section 2, prepared once). A ReLU
# whose input no other op reads runs in place, as `nn.ReLU(inplace=True)` in PyTorch: its value
# and its gradient live in its input's arrays (one buffer each where there were two). This is
# what a compiler does for a static graph (CUDA graphs, `torch.compile`). `minitransfer/replay.py`
# holds it, and what makes it record again (another batch shape, a frozen or replaced
# parameter), so that a tape is never replayed stale; `minitransfer/replay_kernels.py` holds the
# kernels, each beside the op class of `functions` it mirrors.

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
    shared = f"   (in place: in the arrays of [{kernel.ins[0]}])" if kernel.in_place else ""
    print(f"  [{kernel.out}] = {type(kernel).__name__.removesuffix('Kernel')}({inputs}){shared}")

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
# ## 2. What the replay saves, and what the engine costs
#
# Measured now: one SGD step of the 784-128-10 network (random data), six ways
# (`benchmarks/_networks.py`), all of which reach the same weights (`tests/test_bench_contenders.py`):
#
# - **eager**: minitransfer's engine: `zero_grad`, forward, loss, `backward()`, `step()`;
# - **lean**: the same NumPy calls under the leanest eager engine
#   (`benchmarks/_lean_engine.py`): a graph and a backward walk, but none of minitransfer's
#   checks (version counters, labels, shapes, dtypes, devices);
# - **ops**: the same NumPy calls with no engine at all;
# - **captured**: the tape of section 1, replayed;
# - **kept**: the step written by hand, updating as minitransfer's SGD does: g left as it is
#   (`p.grad` must survive the step), θ −= η g in one pass of BLAS's axpy (the end of this
#   section);
# - **floor**: the step written by hand, its gradients scaled in place.
#
# Eager − lean is then what minitransfer's checks cost, lean − ops what building and walking a
# graph costs. These are medians of a few interleaved rounds (three in quick mode), so a
# difference of a few percent can come out either way from one run to the next.

# %%
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
names = ("eager", "lean", "ops", "captured", "kept", "floor")
measured = {}
print(f"{'batch':>5} " + " ".join(f"{name:>9}" for name in names) + "   (µs per step; / the floor's)")
for batch in (1, 64, 256):
    t = median_time(_networks.make_contenders(batch, with_torch=False), rounds, seconds)
    measured[batch] = t
    print(f"{batch:>5} " + " ".join(f"{t[name]:7.0f}µs" for name in names))
    print(f"{'':>5} " + " ".join(f"{t[name] / t['floor']:8.2f}x" for name in names)
          + f"   -> batch {batch}: captured takes {t['captured'] / t['eager']:.2f}x the eager step's time; "
          f"eager - lean {t['eager'] - t['lean']:+.0f} µs, lean - ops {t['lean'] - t['ops']:+.0f} µs")

fig, ax = plt.subplots(figsize=(7, 3.2))
width = 0.8 / len(names)
for i, name in enumerate(names):
    ax.bar(np.arange(3) + (i - (len(names) - 1) / 2) * width,
           [measured[b][name] / measured[b]["floor"] for b in measured], width, label=name)
ax.set_xticks(np.arange(3), [f"batch {b}" for b in measured])
ax.set_ylabel("time per step / the floor's")
ax.axhline(1.0, color="gray", lw=0.8)
ax.legend(ncol=3, fontsize=8)
save(fig, "step_times.png")

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
# ### Where an array starts in memory, and one pass instead of two
#
# NumPy takes an array's memory from the C library's `malloc`, which promises only 16-byte
# alignment; the CPU reads memory in 64-byte cache lines, and an AVX-512 instruction reads 64
# bytes at once, so on an array that starts mid-line every wide read straddles two lines.
# PyTorch's CPU allocator starts every buffer on a 64-byte boundary (`c10/core/alignment.h`),
# and so do the arrays that minitransfer allocates once and reuses at every step: a captured
# step's buffers, the optimizers' work arrays and state (`minitransfer/aligned.py`).
#
# θ −= η g in NumPy is two passes: η g into a work array (g must survive the step), then θ
# minus it. BLAS, the library under NumPy's matrix products, has had the fused form since
# 1979: `axpy`, y ← αx + y, one pass (PyTorch's SGD makes it: `param.add_(grad, alpha=-lr)`).
# `minitransfer.blas.axpy` calls it in the OpenBLAS NumPy loaded, and returns False where it
# cannot, so that SGD falls back to the two passes. The CPU's fused multiply-add rounds once,
# NumPy twice, so the two can differ in the last bit; eager and captured steps call the same
# function and still agree bit for bit. Measured now, for the first layer's 128×784 float32
# weight: the two passes on arrays 16 bytes past a 64-byte boundary, on aligned arrays, and
# axpy on the aligned arrays; the per-round differences give paired intervals
# (`stats.paired_interval`).

# %%
from minitransfer import aligned, blas
from minitransfer.stats import HELPED, HURT, paired_interval


def placed(shape, offset):
    """A float32 array of ``shape`` that starts ``offset`` bytes past a 64-byte boundary."""
    nbytes = int(np.prod(shape)) * 4
    raw = aligned.empty((nbytes + aligned.ALIGNMENT,), np.uint8, np.zeros(1))
    return raw[offset:offset + nbytes].view(np.float32).reshape(shape)


updates = {}
for offset in (16, 0):
    theta, g, work = (placed((128, 784), offset) for _ in range(3))
    theta[...], g[...] = 0.0, np.random.default_rng(1).standard_normal((128, 784))
    updates[offset] = (lambda theta=theta, g=g, work=work:
                       np.subtract(theta, np.multiply(g, 0.01, out=work), out=theta))
if blas.available():
    updates["axpy"] = lambda: blas.axpy(-0.01, g, theta)  # the aligned arrays of the last loop
per_round = {name: [] for name in updates}
for _ in range(rounds):
    for name, update in updates.items():
        per_round[name].append(median_time({"": update}, 1, seconds / 5)[""])
t = {name: np.array(times) for name, times in per_round.items()}
gap = paired_interval(t[16] - t[0])
reading = {HELPED: "the aligned arrays are faster", HURT: "the arrays 16 bytes off are faster"}
print(f"θ −= η g on 128x784 float32: 64-byte aligned {np.median(t[0]):.1f} µs, 16 bytes off "
      f"{np.median(t[16]):.1f} µs; off − aligned: {gap} µs over {gap.n} rounds, "
      f"{reading.get(gap.verdict().code, 'no detectable difference')} here, now")
if "axpy" in t:
    saved = paired_interval(t[0] - t["axpy"])
    reading = {HELPED: "one pass is faster", HURT: "two passes are faster"}
    print(f"θ −= η g on 128x784 float32: two passes {np.median(t[0]):.1f} µs, axpy "
          f"{np.median(t['axpy']):.1f} µs; two − one: {saved} µs over {saved.n} rounds, "
          f"{reading.get(saved.verdict().code, 'no detectable difference')} here, now")
else:
    print("NumPy's BLAS here is not OpenBLAS: the optimizer makes the two passes, nothing to compare")

# %% [markdown]
# ## 3. Threads: when a second one pays
#
# BLAS may split a matrix product over several threads. Splitting has a cost (the second
# thread must be woken and waited for), so it pays only when there is enough arithmetic to
# share and the other core is free. Measured now with `threadpoolctl`, which sets a running
# process's BLAS thread count: three products, from this lesson's digits network to a large
# square one, then whole captured training steps of the digits network, the size the package
# trains (its default of one thread was chosen on whole jobs: README, "Threads"). Each round
# times 1 and then 2 threads; the per-round differences give a paired interval, and the four
# comparisons are read together with Holm's correction (`stats.holm_verdicts`).

# %%
from threadpoolctl import threadpool_limits

from minitransfer.stats import holm_verdicts


def one_against_two(run):
    """µs per call of ``run`` with 1 and with 2 BLAS threads, in alternating rounds."""
    by_threads = {1: [], 2: []}
    for _ in range(rounds):
        for threads in by_threads:
            with threadpool_limits(limits=threads, user_api="blas"):
                by_threads[threads].append(median_time({"": run}, 1, seconds)[""])
    return np.array(by_threads[1]), np.array(by_threads[2])


rng = np.random.default_rng(0)
timed = {}
for name, (m, k, n) in {"(64x64)(64x128), the digits network's first layer": (64, 64, 128),
                        "(64x784)(784x128), the document network's largest": (64, 784, 128),
                        "(1024x1024)(1024x1024)": (1024, 1024, 1024)}.items():
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    timed[name] = one_against_two(lambda: np.matmul(a, b))  # noqa: B023 (timed before a, b change)

digits_net = copy.deepcopy(start)
digits_step = mt.capture(digits_net, loss_fn, optim.SGD(digits_net.parameters(), lr=0.01),
                         x_train[:64], y_train[:64])
timed["a captured training step of the digits network, batch 64"] = one_against_two(
    lambda: digits_step(x_train[:64], y_train[:64]))

readings = {HELPED: "one thread is faster", HURT: "two threads are faster"}  # of 2 threads − 1 thread
comparisons = holm_verdicts([t2 - t1 for t1, t2 in timed.values()])
for (name, (t1, t2)), comparison in zip(timed.items(), comparisons):
    reading = readings.get(comparison.verdict.code, "no detectable difference")
    print(f"{name}: 1 thread {np.median(t1):.0f} µs, 2 threads {np.median(t2):.0f} µs -> 2 threads take "
          f"{np.median(t2) / np.median(t1):.2f}x the time of 1; 2 threads - 1 thread: "
          f"{comparison.interval} µs, {reading} here, now "
          f"(Holm-adjusted p = {comparison.p_adjusted:.3g}, {len(timed)} comparisons)")

# %% [markdown]
# ## 4. Exercise: an update that allocates nothing
#
# **17.1** A replayed step is fast because every array it writes was allocated once. The
# optimizer's update must follow suit: write `sgd_update(param, grad, lr, work)` that performs
# $\theta \leftarrow \theta - \eta\,g$ **in place** on the NumPy array `param`, using the
# preallocated array `work` (same shape) for the temporary $\eta g$ — no new array — and leaving
# `grad` as it is (the learner, or a gradient-clipping step, may still read `p.grad`). Hint:
# NumPy's ufuncs take `out=`. The check compares values, that `param` is updated in place, that
# `grad` is untouched, and counts the arrays your function allocates.
# Worked solution: `lessons/solutions/17_the_captured_step.py`.

# %%
from exercises import lesson17


def sgd_update(param, grad, lr, work):
    """θ ← θ − lr·g in place on ``param``, with ``work`` holding lr·g; ``grad`` unchanged."""
    raise NotImplementedError  # your code here


lesson17.check_sgd_update(sgd_update)

# %% [markdown]
# **More to try** (not graded): time `fit(..., capture=True)` against `capture=False` at batch 1
# and at batch 512 on the digits: where does the replay save most, and why (the share of
# Python bookkeeping in a step shrinks as the matrix products grow)?
