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
# # Lesson 9 — When transfer fails: data mismatch and negative transfer
#
# The FAQ (§6, question 4) names "data mismatch" as a limit of transfer learning: when the
# target's data differ from the source's, the pretrained features may not fit. Transfer can
# even do **worse** than training from scratch — *negative transfer*.
#
# One source for every target: classes 0–4, clean. Four targets, each a step further away:
#
# | target | classes | images | role |
# |---|---|---|---|
# | no change | the source's own classes 0–4 | other images, as they are | control: transfer should help |
# | new classes | classes 5–9 | as they are | the baseline: what changing the classes costs |
# | rotated 90° | classes 5–9 | rotated (`transforms.rotate90`) | new classes *and* a mismatch |
# | pixels permuted | classes 5–9 | one fixed shuffle, $x'_j = x_{\pi(j)}$ | new classes *and* foreign input |
#
# A mismatch is measured *against the new-classes row*: the rotated target changes the
# classes too, so only its loss beyond the new-classes loss can be blamed on the rotation.
#
# Run it: `python lessons/09_when_transfer_fails.py` (figures go to `figures/09/`).

# %%
import copy
import os

import numpy as np
from _lesson import QUICK, figures, plt, reading

from minitransfer import nn, stats
from minitransfer.clustering import adjusted_rand_index, kmeans
from minitransfer.data import k_per_class, train_test_split
from minitransfer.experiment import Task, make_task
from minitransfer.train import evaluate
from minitransfer.transfer import features, fine_tune, pretrain, replace_head

FIGURES, save = figures("09")
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3]
KS = [5] if QUICK else [5, 25]
PRETRAIN_STEPS, FINETUNE_STEPS = (300, 60) if QUICK else (1000, 300)
STRATEGIES = ["scratch", "linear_probe", "full"]


# %% [markdown]
# ## 1. The source and the four targets
#
# `experiment.make_task(data, target)` cuts one data set in two: the source task is classes
# 0–4 of its training half, the target task classes 5–9 (relabelled 0–4), transformed by
# `target`. The control target is built from the task's `source_test`, the *held-out* images
# of classes 0–4 that pretraining never saw: half to draw the $k$ examples from, half to test on.

# %%
def control_task(task):
    """Other images of the source classes: a target that shares everything with the source."""
    x_pool, x_test, y_pool, y_test = train_test_split(*task.source_test, test_fraction=0.5, seed=3)
    return Task("no change", task.source, (x_pool, y_pool), (x_test, y_test), 5, 5)


TARGETS = [("new classes", "none"), ("rotated 90°", "rotate"), ("pixels permuted", "permute")]
root = os.environ.get("MINITRANSFER_FASHION_DIR")  # None: Debian's folder
try:
    tasks = {name: make_task("fashion", target, data_dir=root) for name, target in TARGETS}
    print("Fashion-MNIST: source = T-shirt/top, Trouser, Pullover, Dress, Coat (clothing);\n"
          "new classes = Sandal, Shirt, Sneaker, Bag, Ankle boot (mostly footwear and bags)")
except FileNotFoundError as error:
    print(f"Fashion-MNIST not found ({error}).\nFalling back to the 8x8 digits bundled with "
          f"scikit-learn: source = digits 0-4, new classes = digits 5-9.")
    tasks = {name: make_task("digits", target) for name, target in TARGETS}
source = tasks["new classes"].source  # the same clean classes 0-4 for every target
tasks = {"no change": control_task(tasks["new classes"]), **tasks}
dim = source[0].shape[1]
side = int(np.sqrt(dim))
fig, axes = plt.subplots(5, 5, figsize=(6, 6))
shown = [("source", source[0])] + [(name, task.target_test[0]) for name, task in tasks.items()]
for i, (name, images) in enumerate(shown):
    for j in range(5):
        axes[i, j].imshow(images[j * (len(images) // 5)].reshape(side, side), cmap="gray_r")
        axes[i, j].axis("off")
    axes[i, 0].set_title(name, fontsize=8, loc="left")
save(fig, "targets.png")

# %% [markdown]
# ## 2. A check before any fine-tuning: do the features fit the target?
#
# Without a single target label: cluster the target's images with k-means in the pretrained
# feature space and in pixel space, and compare each clustering with the true classes by the
# adjusted Rand index (lesson 8). The gain is ARI(features) − ARI(pixels), paired by seed
# (each seed its own pretrained body and k-means start). The **no change** target is the
# positive control: there the features were trained on exactly these classes, so a check
# that cannot see a gain there is blind. (k-means on pixels scores the same on the last three
# targets: rotating or permuting pixels changes no distance between two images.) Then: does
# the check *separate* the mismatched targets from the new-classes baseline?

# %%
bases = {}  # one pretrained network per seed, shared by every target
for seed in SEEDS:
    bases[seed] = nn.MLP([dim, 128, 5], generator=seed)
    pretrain(bases[seed], source, steps=PRETRAIN_STEPS, seed=seed)
    print(f"seed {seed}: pretrained, source accuracy {evaluate(bases[seed], source)['accuracy']:.1%}")
ari_gain = {}
for name, task in tasks.items():
    x, y = task.target_test[0][:400], task.target_test[1][:400]
    pixels = [adjusted_rand_index(y, kmeans(x, 5, seed=s)[0]) for s in SEEDS]
    feats = [adjusted_rand_index(y, kmeans(features(bases[s], x, layer=-1), 5, seed=s)[0]) for s in SEEDS]
    ari_gain[name] = np.subtract(feats, pixels)
    print(f"{name:<16} ARI of k-means on pixels {np.mean(pixels):.3f}, "
          f"on pretrained features {np.mean(feats):.3f}")
checks = stats.holm_verdicts(list(ari_gain.values()))
for name, holm in zip(tasks, checks):
    print(reading(f"label-free check, {name}: ARI features minus pixels", holm.interval, holm, len(checks),
                  scale=1, digits=3, unit="ARI"))
apart = stats.holm_verdicts([ari_gain[name] - ari_gain["new classes"] for name, _ in TARGETS[1:]])
for (name, _), holm in zip(TARGETS[1:], apart):
    print(reading(f"label-free check, {name} minus new classes", holm.interval, holm, len(apart),
                  scale=1, digits=3, unit="ARI"))

# %% [markdown]
# ## 3. Transfer vs scratch on each target
#
# For every seed, target, $k$ and strategy: a copy of that seed's pretrained network gets a
# new head and is fine-tuned on $k$ labelled target examples per class (the same examples for
# every strategy and, on the last three targets, the same images transformed), then scored on
# the target's held-out test set. Each gain is paired by seed; all of them are read together
# (Holm). Then the mismatch itself: each mismatched target's gain minus the new-classes gain,
# paired by seed (same bodies, same examples), read together.

# %%
acc = {}  # (target, strategy, k, seed) -> held-out accuracy
for name, task in tasks.items():
    for seed, base in bases.items():
        for k in KS:
            x_k, y_k = k_per_class(*task.target_train, k, seed=seed)
            for strategy in STRATEGIES:
                net = copy.deepcopy(base)
                replace_head(net, task.target_classes, generator=seed + 1)
                fine_tune(net, (x_k, y_k), strategy, steps=FINETUNE_STEPS, seed=seed)
                acc[(name, strategy, k, seed)] = evaluate(net, task.target_test)["accuracy"]


def gain(name, strategy, k):
    return np.array([acc[(name, strategy, k, s)] - acc[(name, "scratch", k, s)] for s in SEEDS])


print(f"{'target':<16} {'k':>3}  " + "  ".join(f"{s + ' %':>13}" for s in STRATEGIES))
for name in tasks:
    for k in KS:
        print(f"{name:<16} {k:>3}  " + "  ".join(
            f"{100 * np.mean([acc[(name, s, k, i)] for i in SEEDS]):>6.1f} ± "
            f"{100 * np.std([acc[(name, s, k, i)] for i in SEEDS], ddof=1):>3.1f}" for s in STRATEGIES))
rows = [(name, s, k) for name in tasks for s in STRATEGIES[1:] for k in KS]
gains = stats.holm_verdicts([gain(*r) for r in rows])
for (name, s, k), holm in zip(rows, gains):
    print(reading(f"gain over scratch: {name}, {s}, k={k}", holm.interval, holm, len(rows)))
extra = [(name, s, k) for name, _ in TARGETS[1:] for s in STRATEGIES[1:] for k in KS]
mismatch = stats.holm_verdicts([gain(n, s, k) - gain("new classes", s, k) for n, s, k in extra])
for (name, s, k), holm in zip(extra, mismatch):
    print(reading(f"mismatch: {name} minus new classes, {s}, k={k}", holm.interval, holm, len(extra),
                  meaning={"hurt": f"{name} loses more than the new classes alone",
                           "helped": f"{name} loses less than the new classes alone",
                           "no_difference": "no detectable extra loss"}))

# %%
fig, ax = plt.subplots(figsize=(9, 3.8))
for x_pos, holm in enumerate(gains):
    g, i = 100 * holm.interval.estimate, holm.interval
    color = {"hurt": "C3", "helped": "C2"}.get(holm.verdict.code, "C7")
    ax.errorbar(x_pos, g, yerr=[[g - 100 * i.low], [100 * i.high - g]], fmt="o", color=color, capsize=3)
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(range(len(rows)), [f"{n}\n{s} k={k}" for n, s, k in rows], fontsize=6, rotation=60, ha="right")
ax.set_ylabel("gain over scratch (points, 95% CI)")
ax.set_title(f"Red: hurt, green: helped (Holm over {len(rows)}); grey: no detectable difference")
save(fig, "gains.png")

# %% [markdown]
# ## 4. What we found
#
# Printed from the verdicts above (Holm-corrected, as read together): the control first
# (can the method see a gain where there must be one?), then the baseline, then the mismatch
# beyond it, then the label-free check.

# %%
verdict_of = {row: holm.verdict.code for row, holm in zip(rows, gains)}
said = {"helped": "helped", "hurt": "hurt (negative transfer)", "no_difference": "no detectable difference"}
for name in tasks:
    print(f"conclusion: {name}: " + "; ".join(f"{s} k={k} {said[verdict_of[(name, s, k)]]}"
                                              for s in STRATEGIES[1:] for k in KS))
beyond = {"hurt": "an extra loss", "helped": "a smaller loss", "no_difference": "no detectable extra loss"}
for (name, s, k), holm in zip(extra, mismatch):
    print(f"conclusion: beyond the new classes, {name} ({s}, k={k}): {beyond[holm.verdict.code]}")
sees = {"helped": "sees", "hurt": "sees (worse than pixels)", "no_difference": "does not see"}
print(f"conclusion: the label-free check {sees[checks[0].verdict.code]} the control's fit")
rated = {"helped": "better than", "hurt": "worse than", "no_difference": "no differently from"}
for (name, _), check in zip(TARGETS[1:], apart):
    tuned = next(h for (n, s, k), h in zip(extra, mismatch) if (n, s, k) == (name, "linear_probe", KS[0]))
    agree = "agree" if check.verdict.code == tuned.verdict.code else "disagree"
    print(f"conclusion: the label-free check rates {name} {rated[check.verdict.code]} the new classes; the "
          f"linear probe at k={KS[0]} fares {rated[tuned.verdict.code]} them: they {agree}")
negatives = [f"{n}/{s}/k={k}" for (n, s, k), h in zip(rows, gains) if h.verdict.code == stats.HURT]
print(f"negative transfer detected in {len(negatives)} of {len(rows)} comparisons: "
      f"{', '.join(negatives) or 'none'}")

# %% [markdown]
# ## 5. Exercise (it grades itself)
#
# A permuted image holds the same pixels in other places. A pretrained body can read it
# exactly as it read the original — if you know $\pi$ and move the columns of its first
# weight matrix. **09.1** Write `permute_first_layer(weight, permutation)`: the weight
# $W'$ (shape out × D) with $W'x' = Wx$ for every image $x$ and its permuted copy
# $x'_j = x_{\pi(j)}$ (`transforms.permute_pixels`). Fine-tuning has to discover that rewiring
# from $k$ examples per class.

# %%
from exercises import lesson09  # noqa: E402


def permute_first_layer(weight, permutation):
    """W' such that W' @ x[permutation] == W @ x for every x."""
    raise NotImplementedError  # your code here


lesson09.check_permute_first_layer(permute_first_layer)

# %% [markdown]
# **Try it:** add `("inverted", "invert")` to `TARGETS` (`transforms.invert`: dark becomes
# light) and see where it falls between the control and the baseline.
