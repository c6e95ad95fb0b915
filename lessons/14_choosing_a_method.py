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
# # Lesson 14 — Choosing a method before paying for it
#
# The FAQ asks "how do I choose a suitable transfer method?" and answers "consider the task, the
# data and the model". Lesson 10 chose by fine-tuning every strategy and looking. This lesson
# asks the question *before* fine-tuning: a **transferability score** reads the pretrained
# model's outputs on the k labelled target examples and returns one number, larger = better
# expected transfer. We build four, measure how well each ranks source → target pairs by the
# accuracy they reach after fine-tuning, fit a small advisor on some pairs and judge it on
# others, and try two cheaper strategies (BitFit, LoRA) that train a few percent of the weights.
#
# Data: the 8×8 digits (source classes 0–4, target classes 5–9 under each of the package's
# transforms), so that the grid of pairs runs in seconds. `minitransfer transferability` runs
# the same grid, larger; `minitransfer advise` applies the advisor it fits.

# %%
import math

import numpy as np
from _lesson import QUICK, figures, plt

from minitransfer import advisor
from minitransfer.commands.common import make_model
from minitransfer.commands.transferability import average_over_seeds, run_grid
from minitransfer.commands.transferability_report import peft_table, tau_table
from minitransfer.data import k_per_class
from minitransfer.experiment import TARGETS, make_task, split_target
from minitransfer.transfer import pretrain
from minitransfer.transferability import METHODS, all_scores, logme, max_evidence, model_outputs

FIGURES, save = figures("14")
HIDDEN = (128, 64)
CHECKPOINTS = [(HIDDEN, 30), (HIDDEN, 300)] if QUICK else [(HIDDEN, 30), (HIDDEN, 300), (HIDDEN, 2000)]
KS = [10] if QUICK else [10, 25]
FINETUNE_STEPS = 40 if QUICK else 150
RESAMPLES = 300 if QUICK else 2000
STRATEGIES = ["scratch", "linear_probe", "lp_ft", "full", "bitfit", "lora"]

# %% [markdown]
# ## 1. LogME: the evidence of a linear model on the features
#
# Let $F$ ($n \times D$) hold the last body layer's features of the $n$ labelled examples and
# $y \in \{0,1\}^n$ mark one class. A Bayesian linear model $w \sim \mathcal N(0, \alpha^{-1} I)$,
# $y \mid F, w \sim \mathcal N(Fw, \beta^{-1} I)$ has the evidence
#
# $$\log p(y \mid F, \alpha, \beta) = \tfrac n2 \log\beta + \tfrac D2 \log\alpha - \tfrac n2 \log 2\pi
#   - \tfrac\beta2 \lVert Fm - y\rVert^2 - \tfrac\alpha2 \lVert m\rVert^2 - \tfrac12 \log|A|,$$
#
# $A = \alpha I + \beta F^\top F$, $m = \beta A^{-1} F^\top y$. LogME (You et al., 2021) maximises
# it over $\alpha, \beta$ by the fixed point $\gamma = \sum_i \beta\sigma_i^2/(\alpha + \beta\sigma_i^2)$,
# $\alpha \leftarrow \gamma/\lVert m\rVert^2$, $\beta \leftarrow (n-\gamma)/\lVert Fm - y\rVert^2$
# ($\sigma_i$ the singular values of $F$: `transferability.max_evidence`), divides by $n$ and
# averages over the classes (`transferability.logme`). Features in which the labels are a
# linear function get a high evidence; features unrelated to them, a low one.

# %%
task = make_task("digits", "jitter")
pool, _ = split_target(task)
model = make_model(task, HIDDEN, seed=0)
pretrain(model, task.source, steps=300, seed=0)
x_k, y_k = k_per_class(*pool, 25, seed=0)
feats, probs = model_outputs(model, x_k)
onehot = (y_k[:, None] == np.arange(5)).astype(float)
fit = max_evidence(feats, onehot)
c = 0
a_, b_ = fit.alpha[c], fit.beta[c]
big_a = a_ * np.eye(feats.shape[1]) + b_ * feats.T @ feats
m = b_ * np.linalg.solve(big_a, feats.T @ onehot[:, c])
direct = (len(feats) / 2 * math.log(b_) + feats.shape[1] / 2 * math.log(a_)
          - len(feats) / 2 * math.log(2 * math.pi) - b_ / 2 * np.sum((feats @ m - onehot[:, c]) ** 2)
          - a_ / 2 * m @ m - np.linalg.slogdet(big_a)[1] / 2)
print(f"features {feats.shape}: the fixed point stopped after {fit.iterations} iterations")
print(f"class 0: alpha = {a_:.4g}, beta = {b_:.4g}; evidence by the iteration {fit.log_evidence[c]:.6f}, "
      f"by the formula directly {direct:.6f}")
print(f"LogME = {logme(feats, y_k):+.4f}  (random features of the same shape: "
      f"{logme(np.random.default_rng(0).normal(size=feats.shape), y_k):+.4f})")

# %% [markdown]
# ## 2. H-score, LEEP and NCE
#
# **H-score** (Bao et al., 2019):
# $H = \operatorname{tr}\big(\operatorname{cov}(f)^{+}\operatorname{cov}(E[f\mid y])\big)$,
# between-class over total variance summed over directions, at most $C-1$; the ⁺ is a
# pseudo-inverse that drops directions with variance below $10^{-8}$ of the largest
# (`transferability.hscore`).
#
# **LEEP** (Nguyen et al., 2020) reads the *source head's* probabilities $\theta(x)$ over the
# source labels $z$: with $\hat P(y, z) = \frac1n\sum_{i: y_i = y}\theta(x_i)_z$ and
# $\hat P(y\mid z) = \hat P(y,z)/\sum_{y'}\hat P(y',z)$,
# $\text{LEEP} = \frac1n\sum_i \log \sum_z \hat P(y_i\mid z)\,\theta(x_i)_z$ (`transferability.leep`).
#
# **NCE** (Tran et al., 2019) uses the hard source prediction $z_i = \arg\max\theta(x_i)$:
# $\text{NCE} = -H(Y\mid Z) = \sum_{y,z}\hat P(y,z)\log\hat P(y\mid z)$ (`transferability.nce`).

# %%
scores = all_scores(model, x_k, y_k)
print("scores of this checkpoint on 25 jittered examples per class:",
      ", ".join(f"{m} {v:+.4f}" for m, v in scores.items()))
print(f"H-score bound C - 1 = 4; LEEP of a uniform source head = log(1/5) = {math.log(0.2):.4f}")

# %% [markdown]
# ## 3. The grid: do the scores rank pairs like their accuracy after fine-tuning?
#
# Every target of the package (each its own source → target pair), checkpoints pretrained for
# different numbers of steps, k labels per class. For each pair: the scores *before*
# fine-tuning, then every strategy fine-tuned for the same number of steps from a copy of the
# checkpoint, and its accuracy on the held-out test set (`commands.transferability.run_grid`).
# Kendall's τ between a score and the accuracy (`stats.kendall_tau`) counts concordant minus
# discordant pairs of pairs; its interval is a percentile bootstrap over the pairs
# (`stats.bootstrap_interval`), read at the Bonferroni level because the table reads many τ at once.

# %%
tasks = {target: make_task("digits", target) for target in TARGETS}
records, seconds = run_grid(tasks, CHECKPOINTS, KS, [0], STRATEGIES, FINETUNE_STEPS, log=lambda *a: None)
pairs = average_over_seeds(records)
print(f"{len(pairs)} pairs ({len(TARGETS)} targets x {len(CHECKPOINTS)} checkpoints x k in {KS}), "
      f"{FINETUNE_STEPS} fine-tuning steps per strategy, {seconds['fine_tune']:.1f} s of fine-tuning")
taus = tau_table(pairs, KS, n_resamples=RESAMPLES)
level = f"{100 * taus[0]['bonferroni_level']:.2f}%"
print(f"{'score':<7} {'k':>3} {'accuracy after':<13} {'tau [95% interval]':<21} {level + ' interval':<17} "
      f"verdict (read from the wider, Bonferroni interval: {len(taus)} read together)")
for t in taus:
    print(f"{t['score']:<7} {t['k']:>3} {t['accuracy_of']:<13} {t['tau']:+.2f} [{t['low']:+.2f}, "
          f"{t['high']:+.2f}]  [{t['low_bonferroni']:+.2f}, {t['high_bonferroni']:+.2f}]    "
          f"{t['verdict_text']}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
for ax, method in zip(axes, METHODS):
    for target in TARGETS:
        group = [p for p in pairs if p["target"] == target]
        ax.scatter([p["scores"][method] for p in group], [100 * p["accuracy"]["lp_ft"] for p in group],
                   s=18, label=target)
    ax.set_xlabel(method)
axes[0].set_ylabel("accuracy after LP-FT (%)")
axes[0].legend(fontsize=6)
save(fig, "scores_vs_accuracy.png")

# %% [markdown]
# ## 4. Where each score is wrong
#
# Computed from the grid above: H-score saturates at $C-1$ when the features have more
# dimensions than there are examples (any labels are then linearly separable); LEEP and NCE
# read the source head, which says nothing when it was barely trained; a score can rank pairs
# by how hard their *target* is rather than by how well the checkpoint transfers (the τ table's
# control row, scratch, never uses the checkpoint); and no score says whether transferring
# beats not transferring at all.

# %%
n_k = {k: 5 * k for k in KS}
for k in KS:
    at_k = [p for p in pairs if p["k"] == k]
    saturated = sum(p["scores"]["hscore"] > 4 - 1e-6 for p in at_k)
    print(f"k = {k} (n = {n_k[k]} examples, {HIDDEN[-1]} features): H-score at its bound 4 on "
          f"{saturated} of {len(at_k)} pairs")
young = [p for p in pairs if p["checkpoint"].endswith("@30")]
print(f"checkpoints pretrained for 30 steps: LEEP from {min(p['scores']['leep'] for p in young):.3f} to "
      f"{max(p['scores']['leep'] for p in young):.3f} (uniform head: {math.log(0.2):.3f})")
for t in taus:
    if t["score"] == "logme" and t["accuracy_of"] == "scratch":
        print(f"LogME against scratch's accuracy (scratch never uses the checkpoint), k = {t['k']}: "
              f"tau {t['tau']:+.2f}, 95% [{t['low']:+.2f}, {t['high']:+.2f}], {level} "
              f"[{t['low_bonferroni']:+.2f}, {t['high_bonferroni']:+.2f}] -> {t['verdict_text']}")
scratch_wins = sum(p["accuracy"]["scratch"] > max(p["accuracy"][s] for s in STRATEGIES if s != "scratch")
                   for p in pairs)
print(f"training from scratch beat every transfer strategy on {scratch_wins} of {len(pairs)} pairs")

# %% [markdown]
# ## 5. An advisor, judged on targets it has not seen
#
# The advisor is one split: "if *feature* < *threshold*: strategy A, else strategy B", the
# feature being a score or k (`advisor.fit_rule` picks the split with the least mean *regret*,
# best accuracy in hindsight minus the advised strategy's). Fitted on all pairs it would look
# good on them by construction; so each target's pairs are advised by a rule fitted on the
# other targets only (`advisor.leave_one_target_out`), and compared with two fixed choices on
# the same pairs. The gains are paired t-intervals over pairs, read together with Holm's correction.

# %%
rows, rules = advisor.leave_one_target_out(pairs, STRATEGIES)
held = advisor.summarize_held_out(rows, n_resamples=RESAMPLES)
print(f"rule fitted on every pair: {advisor.fit_rule(pairs, STRATEGIES)}")
for name in held["mean_regret"]:
    hit = held["hit_rate"][name]
    label = "advisor" if name == "advisor" else f"always {name}"
    print(f"{label:<13} mean regret {100 * held['mean_regret'][name]:4.1f} pp, picks the best "
          f"{100 * hit['estimate']:.0f}% [{100 * hit['low']:.0f}, {100 * hit['high']:.0f}] of the time")
for name, gain in held["gain_over"].items():
    print(f"advisor vs always {name}: gain {100 * gain['estimate']:+.1f} pp "
          f"[{100 * gain['low']:+.1f}, {100 * gain['high']:+.1f}] -> {gain['verdict_text']}")

# %% [markdown]
# ## 6. Cheaper fine-tuning: BitFit and LoRA, at equal steps
#
# **BitFit** (Ben Zaken et al., 2022) trains only the body's biases and the head. **LoRA**
# (Hu et al., 2022) freezes each body weight $W$ and learns a low-rank update,
# $z = xW^\top + b + \frac\alpha r (xA^\top)B^\top$, $\Delta W = \frac\alpha r BA$ of rank ≤ r
# ($r = 4$, $\alpha = 8$; $B = 0$ at the start, so training starts at the pretrained function;
# `transfer.lora`). After fine-tuning, `merge_lora` folds $\Delta W$ into $W$: a plain MLP again.

# %%
peft = peft_table(pairs)
for row in peft:
    counts = ", ".join(f"{n:,}" for n in row["trainable_parameters"].values())
    versus = "" if "vs_baseline" not in row else (
        f"  vs full {100 * row['vs_baseline']:+.1f} pp [{100 * row['low']:+.1f}, {100 * row['high']:+.1f}]"
        f" -> {row['verdict_text']}")
    print(f"{row['strategy']:<13} {100 * row['mean_accuracy']:5.1f}%  trains {counts:>7} parameters{versus}")

# %% [markdown]
# ## 7. Exercises
#
# **14.1** Write `my_leep(source_probs, labels)` from section 2's formula: the empirical joint
# $\hat P(y, z)$, the conditional $\hat P(y\mid z)$, then the mean log of
# $\sum_z \hat P(y_i\mid z)\,\theta(x_i)_z$. The check compares it with `transferability.leep`
# on several joints, including one where a source label is never predicted.
#
# **14.2** Write `merge(weight, lora_a, lora_b, alpha, r)`: the merged weight
# $W + \frac\alpha r BA$ of section 6 ($W$: out × in, $A$: r × in, $B$: out × r).
#
# Worked solutions: `lessons/solutions/14_choosing_a_method.py`.

# %%
from exercises import lesson14


def my_leep(source_probs, labels):
    """LEEP = mean_i log sum_z P(y_i | z) theta_i[z], P(y | z) from the empirical joint."""
    raise NotImplementedError  # your code here


def merge(weight, lora_a, lora_b, alpha, r):
    """The weight W + (alpha / r) B A that a merged LoRA layer uses."""
    raise NotImplementedError  # your code here


lesson14.check_leep(my_leep)
lesson14.check_merge(merge)

# %% [markdown]
# **More to try** (not graded): run `minitransfer transferability` (the larger grid) and
# compare its τ table with this one; pretrain a checkpoint with `minitransfer pretrain` and ask
# `minitransfer advise --checkpoint pretrained.npz --target rotate --k 10` what to do with it.
