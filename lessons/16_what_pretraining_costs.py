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
# # Lesson 16 — What pretraining costs, and what it buys
#
# The document claims that transfer "reduces the data and the compute a model needs" (§2.1),
# and asks for more efficient pretraining, because pretraining costs grow with the data
# (§5.1). Both are claims about compute, so this lesson counts compute, in one unit, and
# measures three things on the same task:
#
# 1. how the gain of fine-tuning over training from scratch grows with the pretraining data
#    $m$ (distinct source images) and with the pretraining budget (optimizer steps);
# 2. after how many target tasks one pretraining, shared by all of them, costs less than
#    training each task from scratch (the break-even count);
# 3. which cheaper way of pretraining keeps most of the gain: early stopping, a warm-up +
#    cosine learning rate, a coreset, or a distilled smaller student.
#
# The task is `minitransfer scale`'s default: the bundled 8×8 digits, source classes 0–4 (each
# image with 10 copies jittered by ±2 pixels), target classes 5–9 jittered, 25 labels per class.
# The command runs the same measurements with more seeds (`minitransfer scale`).
#
# Run it: `python lessons/16_what_pretraining_costs.py` (figures go to `figures/16/`).

# %%
import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import nn, pretraining
from minitransfer.commands.scale_report import (
    best_method_sentence,
    early_stopping_sentence,
    ends_sentence,
    pays_sentence,
)
from minitransfer.experiment import make_task
from minitransfer.scaling import ScaleSettings, distinct_images, measure, summarize_scaling

FIGURES, save = figures("16")
task = make_task("digits", "jitter")
HIDDEN = (128, 64)
print(f"source: {distinct_images(task)} distinct images, {len(task.source[1])} rows with their "
      f"jittered copies; target pool: {len(task.target_train[1])} images of 5 classes")

# %% [markdown]
# ## 1. Counting compute: multiply-adds per example
#
# An MLP spends its time in the matrix products of its Linear layers. Layer $l$ maps
# $\text{in}_l$ features to $\text{out}_l$: one example's forward pass costs
# $\text{in}_l \cdot \text{out}_l$ multiply-adds there ($z = h W^\top + b$). Backward, with
# $g = \partial L / \partial z$:
#
# $$\frac{\partial L}{\partial W_l} = g^\top h_{l-1} \quad (\text{in}_l\cdot\text{out}_l,
# \text{ if } W_l \text{ trains}), \qquad \frac{\partial L}{\partial h_{l-1}} = g\,W_l \quad
# (\text{in}_l\cdot\text{out}_l, \text{ if a layer below } l \text{ trains}).$$
#
# The second product is needed only to carry the gradient down to a trained layer, so the
# engine (`functions.Affine`, through `needs_input_grad`) skips it for the first layer — the
# input $x$ needs no gradient — and for every layer above a frozen body. The optimizer step is
# a few operations per *parameter*, not per example: we count it as free.
# `pretraining.training_macs(model)` adds it all up (its docstring holds the formula).

# %%
model = nn.MLP([64, *HIDDEN, 5], generator=0)
full = pretraining.training_macs(model)
print(f"multiply-adds per example: forward {pretraining.forward_macs(model):,}, "
      f"backward {pretraining.backward_macs(model):,}, a training step {full:,} (every layer trains)")
probe = pretraining.training_macs(model, trains=[False, False, True])
print(f"a linear probe (body frozen): {probe:,} per example, {full / probe:.1f}x cheaper")

# %% [markdown]
# Does the engine really compute only these products? Count them: wrap NumPy's `matmul` and
# `dot` (every product the engine runs goes through one of them), run one forward and
# backward on a batch of 32, and compare with 32 × the formula.

# %%
counted = {"macs": 0}
matmul, dot = np.matmul, np.dot


def counting(product):
    def wrapped(a, b, *args, **kwargs):
        counted["macs"] += int(np.prod(np.shape(a))) * int(np.shape(b)[-1])
        return product(a, b, *args, **kwargs)
    return wrapped


x = mt.tensor(task.source[0][:32])
y = mt.tensor(task.source[1][:32])
for trains in ([True, True, True], [False, False, True]):
    for layer, train in zip(pretraining.linear_layers(model), trains):
        layer.requires_grad_(train)
    counted["macs"] = 0
    np.matmul, np.dot = counting(matmul), counting(dot)
    try:
        nn.CrossEntropyLoss()(model(x), y).backward()
    finally:
        np.matmul, np.dot = matmul, dot
    expected = 32 * pretraining.training_macs(model)
    print(f"trains {trains}: the engine ran {counted['macs']:,} multiply-adds, the formula says "
          f"{expected:,}: {counted['macs'] == expected}")

# %% [markdown]
# ## 2. The measurements
#
# `scaling.measure` does, for each seed: scratch; one plain pretraining of $B$ steps (its
# snapshots give the steps curve: with a constant rate the first $s$ steps of a long run *are*
# a run of $s$ steps); pretrainings on $m$ distinct images; the efficient methods; and a
# fine-tuning of each, with a learning curve on a validation set. Plain pretraining happens
# once per seed and every fine-tuning starts from a copy of it: *pretrain once, fine-tune
# many*. `scaling.summarize_scaling` reads the runs with `experiment.summarize` (paired gains,
# 95% intervals, Holm's correction over each table) and adds the compute.

# %%
SEEDS = [0, 1] if QUICK else [0, 1, 2]
settings = ScaleSettings(ms=(25, None), pretrain_steps=(20, 200), finetune_steps=100) if QUICK \
    else ScaleSettings(ms=(10, 30, 100, None), pretrain_steps=(10, 30, 100, 300, 1000))
records, seconds = measure(task, HIDDEN, SEEDS, settings)
tables = summarize_scaling(records, settings)


def show(rows, columns):
    for row in rows:
        gain = "" if row["gain_vs_scratch"] is None else (
            f"gain {100 * row['gain_vs_scratch']:+5.1f} [{100 * row['ci95'][0]:+5.1f}, "
            f"{100 * row['ci95'][1]:+5.1f}]  {row['verdict_holm']}")
        extra = "  ".join(f"{name} {fmt(row)}" for name, fmt in columns)
        print(f"  {row['strategy']:<26} {100 * row['mean']:5.1f}%  {extra}  {gain}")


# %% [markdown]
# ## 3. How much pretraining buys: the gain vs $m$ and vs steps
#
# Accuracy on the held-out target test set; the gain over scratch in points, paired by seed,
# with its 95% interval and its Holm-corrected verdict.

# %%
print(f"gain vs m (pretraining budget B = {settings.budget} steps):")
show(tables["m"], [])
print(ends_sentence(tables["m"]))
print("gain vs pretraining steps (all source images):")
show(tables["steps"], [("MACs", lambda r: pretraining.format_macs(r["pretrain_macs"]))])
print(ends_sentence(tables["steps"]))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, table, label in ((axes[0], "m", "distinct source images m"),
                         (axes[1], "steps", "pretraining steps")):
    rows = tables[table][1:]
    x_values = [r["x"] for r in rows]
    ax.fill_between(x_values, [100 * r["ci95"][0] for r in rows], [100 * r["ci95"][1] for r in rows],
                    alpha=0.25, label="95% interval")
    ax.plot(x_values, [100 * r["gain_vs_scratch"] for r in rows], marker="o", label="fine-tune − scratch")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(label)
axes[0].set_ylabel("gain over scratch (points)")
axes[0].legend()
save(fig, "gain_vs_m_and_steps.png")

# %% [markdown]
# ## 4. When pretraining pays for itself
#
# Count what it takes to reach the same target accuracy (scratch's mean final validation
# accuracy): scratch pays $S$ per task; transfer pays one pretraining $P$, shared, then $F$ per
# task. After $N$ tasks transfer is cheaper when $P + N F < N S$, i.e. from
# $N = \lfloor P / (S - F) \rfloor + 1$ on (`pretraining.break_even`), and never when $F \ge S$.

# %%
scratch = tables["strategy"][0]
print(f"target accuracy {100 * scratch['target_accuracy']:.1f}%; scratch reaches it with "
      f"{pretraining.format_macs(scratch['finetune_macs'])} multiply-adds per task")
for row in tables["strategy"][1:]:
    print(pays_sentence(row, scratch))
print("and for each pretraining budget (full fine-tuning):")
for row in tables["steps"][1:]:
    print(f"  {row['strategy']:<12} P = {pretraining.format_macs(row['pretrain_macs']):<8} "
          f"break-even: {row['break_even_tasks'] or 'never'}")

# %% [markdown]
# ## 5. Cheaper pretraining: what keeps the gain?
#
# Each method against plain pretraining, paired by seed: early stopping on 10% held-out source
# images, warm-up + cosine decay (`pretraining.warmup_cosine`), coresets of a quarter and a half
# of the images (class-balanced random, or k-center greedy on raw pixels: `select_coreset`)
# trained for the same passes over their data, and a student with half the hidden widths
# distilled from the plain model at temperature $T$ (`pretraining.distillation_loss`:
# $T^2 \cdot \mathrm{KL}(p_T^{\text{teacher}} \,\|\, q_T^{\text{student}})$, Hinton et al., 2015),
# beside the same small network pretrained on the labels.

# %%
plain = tables["method"][1]
print("method                      accuracy  pretraining MACs (x plain)  minus plain [95%]  vs plain (Holm)")
for row in tables["method"][1:]:
    versus = row.get("vs_plain")
    difference = "" if versus is None else (
        f"{100 * versus['difference']:+5.1f} [{100 * versus['ci95'][0]:+5.1f}, "
        f"{100 * versus['ci95'][1]:+5.1f}]  {versus['verdict_holm']}")
    ratio = row["pretrain_macs"] / plain["pretrain_macs"]
    print(f"  {row['strategy']:<26} {100 * row['mean']:5.1f}%  "
          f"{pretraining.format_macs(row['pretrain_macs']):>8} ({ratio:.2f})   {difference}")
print(best_method_sentence(tables["method"]))
print(early_stopping_sentence(tables["method"], settings.budget))
fig, ax = plt.subplots(figsize=(7, 4))
for row in tables["method"][1:]:
    ax.errorbar([row["pretrain_macs"]], [100 * row["gain_vs_scratch"]],
                yerr=[[100 * (row["gain_vs_scratch"] - row["ci95"][0])],
                      [100 * (row["ci95"][1] - row["gain_vs_scratch"])]], marker="o", capsize=3)
    ax.annotate(row["strategy"], (row["pretrain_macs"], 100 * row["gain_vs_scratch"]), fontsize=7)
ax.axhline(0, color="gray", lw=0.8)
ax.set_xscale("log")
ax.set_xlabel("pretraining compute (multiply-adds)")
ax.set_ylabel("gain over scratch (points)")
save(fig, "methods.png")

# %% [markdown]
# With few seeds many intervals hold 0: "no detectable difference" is then what the numbers
# say, not "no difference". `minitransfer scale --seeds 10` narrows them.
#
# ## 6. Exercises
#
# **16.1** Write `macs_per_example(sizes, trains)`: the multiply-adds of one training example of
# an MLP with layer sizes `sizes` when `trains[l]` says whether layer $l$ trains, as the engine
# computes them (section 1). **16.2** Write `break_even_tasks(P, F, S)`: the smallest number of
# tasks from which pretraining once is cheaper, or `None` for never (section 4; mind the tie).
# Worked solutions: `lessons/solutions/16_what_pretraining_costs.py`.

# %%
from exercises import lesson16  # noqa: E402


def macs_per_example(sizes, trains):
    """Forward + backward multiply-adds of one example (the optimizer step is free)."""
    raise NotImplementedError  # your code here


def break_even_tasks(pretrain_macs, finetune_macs, scratch_macs):
    """The smallest N with P + N·F < N·S, or None when it never holds."""
    raise NotImplementedError  # your code here


lesson16.check_macs_per_example(macs_per_example)
lesson16.check_break_even_tasks(break_even_tasks)
