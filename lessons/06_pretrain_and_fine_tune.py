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
# # Lesson 6 — Pretraining and fine-tuning, and the document's claims measured
#
# The document's two stages (§3.3), with the step between them (§3.2):
#
# | | math | minitransfer |
# |---|---|---|
# | pretraining (§3.3.1) | $\min_\theta \frac1m\sum_{i=1}^{m} L(y_i, f_\theta(x_i))$ | `transfer.pretrain` |
# | new output layer (§3.2) | keep the body, replace the last layer | `transfer.replace_head` |
# | fine-tuning (§3.3.2) | $\min_\theta \frac1n\sum_{i=1}^{n} L(y_i, f_\theta(x_i))$ | `transfer.fine_tune` |
#
# with $m$ source examples, $n$ target examples, and the fine-tuning started from the
# pretrained $\theta^{\text{pre}}$ instead of random weights. §2.1 claims that this needs
# (1) less data, (2) less compute and (3) performs better: we measure each against the same
# network trained from scratch, over several seeds. The task: clean source images
# (Fashion-MNIST, or the 8×8 digits when it is missing), a target of *other* images of the
# same classes from a noisy sensor, with k labels per class.
#
# Run it: `python lessons/06_pretrain_and_fine_tune.py` (figures go to `figures/06/`).

# %%
import copy
import inspect
import os

import numpy as np
from _lesson import QUICK, figures, plt, reading, summary_reading

import minitransfer as mt
from minitransfer import nn, stats
from minitransfer.data import k_per_class
from minitransfer.experiment import compare, make_noisy_task, split_target, summarize
from minitransfer.optim import SGD, Adam
from minitransfer.report import format_table
from minitransfer.train import empirical_risk, evaluate
from minitransfer.transfer import fine_tune, pretrain, replace_head

FIGURES, save = figures("06")
SEEDS = [0, 1] if QUICK else [0, 1, 2]
PRETRAIN_STEPS, FINETUNE_STEPS = (300, 60) if QUICK else (2000, 300)

# %% [markdown]
# ## 0. Two tools first: Adam, and reading a gain measured over a few seeds
#
# **Adam** (`optim.Adam`) is the optimiser of `pretrain` and `fine_tune`. For each parameter,
# at step $t$, with $g = \nabla_\theta \hat R$ and $m_0 = v_0 = 0$:
#
# $$m \leftarrow \beta_1 m + (1-\beta_1)\,g,\qquad v \leftarrow \beta_2 v + (1-\beta_2)\,g\odot g,$$
# $$\hat m = \frac{m}{1-\beta_1^t},\qquad \hat v = \frac{v}{1-\beta_2^t},\qquad
#   \theta \leftarrow \theta - \eta\,\frac{\hat m}{\sqrt{\hat v}+\epsilon}.$$
#
# The code that does it, for one parameter (weight decay folded in first, as PyTorch does):

# %%
print(inspect.getsource(Adam._update_one))
scales = np.array([1e-3, 1.0, 1e3], dtype=np.float32)  # three gradients of very different sizes
for optimizer in (SGD, Adam):
    theta = mt.tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    opt = optimizer([theta], lr=1e-3)
    (theta * mt.tensor(scales)).sum().backward()  # the gradient is `scales`
    opt.step()
    print(f"{type(opt).__name__:<4} one step with lr 1e-3, gradients {[f'{g:g}' for g in scales]}: "
          f"theta moved by {[f'{x:.3g}' for x in theta.detach().numpy()]}")

# %% [markdown]
# At the first step $\hat m = g$ and $\hat v = g\odot g$: Adam moves every coordinate by about
# $\eta$ whatever the size of its gradient, where SGD moves each by $\eta\,g$.
#
# **A gain over seeds.** A seed fixes the pretrained body, the $k$ examples and the batch
# order, and transfer and scratch with the same seed share them. The paired differences
# $d_s = \text{acc}^{\text{transfer}}_s - \text{acc}^{\text{scratch}}_s$ cancel what the seed
# does to both; over $S$ seeds their mean has the 95% interval (`stats.paired_interval`)
#
# $$\bar d \pm t_{0.975,\,S-1}\,\frac{s_d}{\sqrt S}.$$
#
# Why $t$, not the normal 1.96: $s_d$ is estimated from $S$ numbers and can come out far too
# small; Student's $t$ with $S-1$ degrees of freedom widens the interval to pay for that:

# %%
print(", ".join(f"S = {n}: t = {stats.t_quantile(0.975, n - 1):.2f}" for n in (2, 3, 5, 10, 30)))
print(f"three seeds: t(0.975, 2) = {stats.t_quantile(0.975, 2):.2f}, "
      f"{stats.t_quantile(0.975, 2) / 1.96:.1f} times the normal 1.96")

# %% [markdown]
# **What a 95% interval promises**: of many experiments, each building its interval, about 95%
# contain the true mean gain — a property of the procedure, not a 0.95 chance for this one
# interval. Simulated: experiments of three seeds, true gain 2 points, spread 3 per seed.

# %%
rng = np.random.default_rng(0)
d = rng.normal(2.0, 3.0, size=(20000, 3))
half = d.std(axis=1, ddof=1) / np.sqrt(3)
for name, q in (("t(0.975, 2)", stats.t_quantile(0.975, 2)), ("normal 1.96", 1.96)):
    covered = np.mean(np.abs(d.mean(axis=1) - 2.0) <= q * half)
    print(f"intervals with {name}: {covered:.1%} of 20,000 contain the true gain")

# %% [markdown]
# **Several comparisons read together.** Read eight intervals of strategies that change
# nothing: the chance that *at least one* excludes 0 is $1 - 0.95^8 = 34\%$. Holm's correction
# (`stats.holm`, `stats.holm_verdicts`) keeps the chance of *any* false "helped" or "hurt" in
# the family below 5%: sort the p-values, multiply the $i$-th smallest by $m-i+1$, keep them
# non-decreasing. (With 2 degrees of freedom the t-test's p is $1 - |t|/\sqrt{t^2+2}$.)

# %%
d = rng.normal(0.0, 3.0, size=(5000, 8, 3))  # 5,000 families of 8 comparisons, no true effect
t = d.mean(axis=2) / (d.std(axis=2, ddof=1) / np.sqrt(3))
p = 1 - np.abs(t) / np.sqrt(t**2 + 2)
print(f"closed form vs stats.paired_t_test: {p[0, 0]:.6f} vs {stats.paired_t_test(d[0, 0]):.6f}")
print(f"families with at least one p <= 0.05: {np.mean((p <= 0.05).any(axis=1)):.1%} "
      f"(1 - 0.95^8 = {1 - 0.95 ** 8:.1%}); after Holm: "
      f"{np.mean([(stats.holm(ps) <= 0.05).any() for ps in p]):.1%}")
print("Holm by hand: p = (0.01, 0.04, 0.03, 0.005) ->", stats.holm([0.01, 0.04, 0.03, 0.005]).round(3))


# %%
task = make_noisy_task(data_dir=os.environ.get("MINITRANSFER_FASHION_DIR"))  # clean source, noisy target
dim = task.source[0].shape[1]
pool, validation = split_target(task)
print(f"{task.name}: m = {len(task.source[1])} source examples; target: pool {len(pool[1])}, "
      f"validation {len(validation[1])}, held-out test {len(task.target_test[1])}")

# %% [markdown]
# ## 1. Pretraining (§3.3.1)
#
# `pretrain(model, source)` minimises the source risk with Adam. We watch the risk
# $\frac1m\sum_{i\le m} L$ (`train.empirical_risk`) fall.

# %%
loss_fn = nn.CrossEntropyLoss()
pretrained = nn.MLP([dim, 128, 10], generator=0)
before = empirical_risk(pretrained, loss_fn, task.source)
history = pretrain(pretrained, task.source, steps=PRETRAIN_STEPS, seed=0)
print(f"source risk {before:.3f} -> {empirical_risk(pretrained, loss_fn, task.source):.3f} "
      f"in {history.steps} steps ({history.seconds:.1f} s)")
print(f"the pretrained classifier used as it is on the noisy target: "
      f"{evaluate(pretrained, task.target_test)['accuracy']:.1%} (source-only baseline)")

# %% [markdown]
# ## 2. Replace the head (§3.2), then fine-tune (§3.3.2)
#
# Five labels per class, so $n = 50$. `fine_tune(..., strategy="full")` trains every weight
# from the pretrained start; `strategy="scratch"` re-draws every weight first — the same
# network, the same data, the same steps: the baseline that any claim must beat.

# %%
x_k, y_k = k_per_class(*pool, k=5, seed=0)
model = copy.deepcopy(pretrained)
print(replace_head(model, 10, generator=1))
fine_tune(model, (x_k, y_k), "full", steps=FINETUNE_STEPS, seed=0)
scratch = copy.deepcopy(pretrained)
fine_tune(scratch, (x_k, y_k), "scratch", steps=FINETUNE_STEPS, seed=0)
print(f"n = {len(y_k)}: fine-tuned {evaluate(model, task.target_test)['accuracy']:.1%}, "
      f"from scratch {evaluate(scratch, task.target_test)['accuracy']:.1%}")

# %% [markdown]
# ## 3. The learning curve over k
#
# `experiment.compare` repeats this for every strategy, every $k$ and every seed: it
# pretrains once per seed, fine-tunes a fresh copy for each (strategy, k), records a learning
# curve on the **validation** set every 25 steps, and reads the held-out test set once, at the
# end. `summarize` pairs each run with scratch's run of the same seed (section 0). Also shown:
# linear probing (only the head learns; lesson 7).

# %%
k_max = int(min(100, np.bincount(pool[1]).min()))
KS = [5, 25] if QUICK else [1, 5, 25, k_max]
STRATEGIES = ["scratch", "linear_probe", "full"]
results = compare(task, STRATEGIES, KS, SEEDS, pretrain_steps=PRETRAIN_STEPS,
                  finetune_steps=FINETUNE_STEPS, log=print)
summary = summarize(results)
print(format_table(summary))

# %% [markdown]
# ## 4. The three claims of §2.1, and how each is read
#
# **Better performance** — each gain's interval, and all of them read together with Holm's
# correction (one comparison per strategy and $k$). **Less data** — how many labels per class
# does fine-tuning need to match scratch with the most labels? (interpolated in $\log k$).
# **Less compute** — "steps to target" counts fine-tuning steps until the *validation*
# accuracy first reaches scratch's final validation accuracy at that $k$; the pretraining
# steps are paid once and shared by every target, or paid by someone else. **Does the edge
# shrink?** One comparison planned in advance: the gain at $k=5$ minus the gain at the
# largest $k$, paired by seed.

# %%
def row(strategy, k):
    return next(r for r in summary if r["strategy"] == strategy and r["k"] == k)


acc = {(r["strategy"], r["k"], r["seed"]): r["accuracy"] for r in results}


family = sum(r["gain_vs_scratch"] is not None for r in summary)
for r in summary:
    if r["strategy"] != "scratch":
        print(summary_reading(f"better performance? {r['strategy']} k={r['k']}", r, family))
goal, k_ref = row("scratch", KS[-1])["mean"], KS[-1]
for strategy in STRATEGIES[1:]:
    curve = [row(strategy, k)["mean"] for k in KS]
    if max(curve) < goal:
        print(f"less data? {strategy} never reaches scratch's {goal:.1%} at k={k_ref}")
    else:
        first = next(i for i, a in enumerate(curve) if a >= goal)
        k_needed = KS[0] if first == 0 else float(np.exp(np.interp(
            goal, [curve[first - 1], curve[first]], np.log([KS[first - 1], KS[first]]))))
        print(f"less data? {strategy} matches scratch's {goal:.1%} (k={k_ref}) with about "
              f"{k_needed:.0f} labels per class")
for k in KS:
    steps = ", ".join(f"{s} {row(s, k)['steps_to_target'] or float('nan'):.0f} "
                      f"({row(s, k)['seeds_reaching_target']}/{len(SEEDS)})" for s in STRATEGIES)
    print(f"less compute? k={k}: validation steps to reach {row('scratch', k)['target_accuracy']:.1%} "
          f"(seeds that did): {steps}; plus {PRETRAIN_STEPS} pretraining steps")
for strategy in STRATEGIES[1:]:
    gain = {(k, s): acc[(strategy, k, s)] - acc[("scratch", k, s)] for k in KS for s in SEEDS}
    shrink = stats.paired_interval([gain[(5, s)] - gain[(KS[-1], s)] for s in SEEDS])
    print(reading(f"does the edge shrink? {strategy}: gain at k=5 minus gain at k={KS[-1]}", shrink,
                  meaning={"helped": "the gain is smaller at the largest k", "hurt": "the gain is larger "
                           "at the largest k", "no_difference": "no detectable change in the gain"}))

# %% [markdown]
# **Less compute, seen in the learning curve.** One pretrained body (section 1), fine-tuned by
# each strategy on 5 labels per class with three fine-tuning seeds, its validation accuracy
# read every 5 steps. Step 0 is the network as fine-tuning starts (a new random head; for
# scratch, re-drawn weights): a run with learning rate 0 prepares it as the strategy does and
# moves nothing.

# %%
EVERY = 5
panel = {}
for strategy in STRATEGIES:
    for seed in SEEDS:
        data = k_per_class(*pool, k=5, seed=seed)
        start, net = copy.deepcopy(pretrained), copy.deepcopy(pretrained)
        for m in (start, net):
            replace_head(m, 10, generator=seed + 1)
        fine_tune(start, data, strategy, steps=1, lr=0.0, seed=seed)
        run = fine_tune(net, data, strategy, steps=FINETUNE_STEPS, seed=seed, eval_data=validation,
                        eval_every=EVERY)
        panel.setdefault(strategy, []).append([evaluate(start, validation)["accuracy"]]
                                              + [a for _, a in run.curve])
    steps = [0] + [s for s, _ in run.curve]
    print(f"{strategy:<13} validation accuracy at steps {steps[:4]}: "
          f"{[f'{100 * a:.1f}' for a in np.mean(panel[strategy], axis=0)[:4]]} ... "
          f"step {steps[-1]}: {100 * np.mean(panel[strategy], axis=0)[-1]:.1f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
for strategy in STRATEGIES:
    mean = np.array([100 * row(strategy, k)["mean"] for k in KS])
    std = np.array([100 * row(strategy, k)["std"] for k in KS])
    left.plot(KS, mean, marker="o", label=strategy)
    left.fill_between(KS, mean - std, mean + std, alpha=0.2)
    right.plot(steps, 100 * np.mean(panel[strategy], axis=0), marker=".", ms=3, label=strategy)
left.set_xscale("log")
left.set_xlabel("labels per class k (log scale)")
left.set_ylabel("held-out test accuracy (%)")
left.set_title(f"Less data? (mean ± std of {len(SEEDS)} seeds)")
left.legend()
right.set_xlabel(f"fine-tuning step (validation read every {EVERY} steps, from step 0)")
right.set_ylabel("validation accuracy (%)")
right.set_title(f"Less compute? (k = 5, one body, {len(SEEDS)} fine-tuning seeds)")
right.legend()
save(fig, "learning_curves.png")

# %% [markdown]
# ## 5. What we found
#
# Printed from the verdicts above, never typed in advance: on another data set they change
# with the numbers. "Read together": Holm's correction over every gain of the table.

# %%
for strategy in STRATEGIES[1:]:
    words = {}
    for k in KS:
        code = row(strategy, k)["verdict_holm"]
        words.setdefault({"no_difference": "no detectable difference"}.get(code, code), []).append(str(k))
    print(f"conclusion: {strategy} vs scratch, read together (Holm over {family}): "
          + "; ".join(f"{w} at k = {', '.join(ks)}" for w, ks in words.items()))
last = row("full", KS[-1])
answer = {"helped": "no, full fine-tuning is still ahead", "hurt": "scratch is ahead",
          "no_difference": "within noise: no detectable difference", "undecided": "undecided (one seed)"}
print(f"conclusion: does scratch catch up with full fine-tuning at the largest k = {KS[-1]}? "
      f"{answer[last['verdict_holm']]}; {summary_reading(f'full k={KS[-1]}', last, family)}")

# %% [markdown]
# ## 6. Exercises (they grade themselves)
#
# **06.1** Write the paired 95% interval yourself: `(low, high)` for a list of paired
# differences, with `stats.t_quantile` for $t$ (not `stats.paired_interval`).
#
# **06.2** Write one Adam step in NumPy: given θ, the gradient, the moments $m, v$ and the
# step number $t$ (from 1), return the new θ, m and v. The check runs it beside `optim.Adam`.

# %%
from exercises import lesson06  # noqa: E402


def paired_interval(differences):
    """(low, high) of the 95% t-interval of the mean of ``differences``."""
    raise NotImplementedError  # your code here


def adam_step(theta, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One Adam update of the NumPy array ``theta``: return (theta, m, v) after step ``t``."""
    raise NotImplementedError  # your code here


lesson06.check_paired_interval(paired_interval)
lesson06.check_adam_step(adam_step)
