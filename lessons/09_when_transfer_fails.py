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
# target's data differ from the source's, the pretrained features may not fit. How badly?
# Transfer can even do **worse** than training from scratch — *negative transfer*.
#
# To call it negative we need more than one unlucky run. For each seed $s$ we pair the
# transfer run with the scratch run on the same labelled examples, $d_s = \text{acc}^{\text{transfer}}_s
# - \text{acc}^{\text{scratch}}_s$, and report the mean gain with its 95% confidence interval
#
# $$\bar d \pm t_{0.975,\,S-1}\,\frac{s_d}{\sqrt{S}}$$
#
# (`experiment.confidence_interval`). Transfer is flagged NEGATIVE when the whole interval lies
# below zero (`experiment.summarize`), helpful when it lies above, and unproven otherwise.
#
# The source is always the same: classes 0–4, clean. The targets are classes 5–9, then
# rotated by 90°, then with their pixels shuffled by one fixed permutation — the same
# information for a network trained from scratch, foreign to a pretrained one.
#
# Run it: `python lessons/09_when_transfer_fails.py` (figures go to `figures/09/`).

# %%
import copy
import os

import numpy as np
from _lesson import QUICK, figures, plt

from minitransfer import nn
from minitransfer.clustering import adjusted_rand_index, kmeans
from minitransfer.data import k_per_class
from minitransfer.experiment import make_task, summarize
from minitransfer.train import evaluate
from minitransfer.transfer import features, fine_tune, pretrain, replace_head

FIGURES, save = figures("09")
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3]
KS = [5] if QUICK else [5, 25]
PRETRAIN_STEPS, FINETUNE_STEPS = (300, 60) if QUICK else (1000, 300)
STRATEGIES = ["scratch", "linear_probe", "full"]


# %% [markdown]
# ## 1. The source and three targets
#
# `experiment.make_task(data, target)` cuts one data set in two: the source task is classes
# 0–4, the target task classes 5–9 (relabelled 0–4), transformed by `target`
# (`data.transforms.rotate90`, `data.transforms.permute_pixels`: $x'_j = x_{\pi(j)}$).

# %%
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
dim = source[0].shape[1]
side = int(np.sqrt(dim))
fig, axes = plt.subplots(4, 5, figsize=(6, 5))
rows = [("source", source[0])] + [(n, t.target_test[0]) for n, t in tasks.items()]
for i, (name, images) in enumerate(rows):
    for j in range(5):
        axes[i, j].imshow(images[j * 97].reshape(side, side), cmap="gray_r")
        axes[i, j].axis("off")
    axes[i, 0].set_title(name, fontsize=8, loc="left")
save(fig, "targets.png")

# %% [markdown]
# ## 2. A check before any fine-tuning: do the features fit the target?
#
# Without a single target label we can ask whether the pretrained features organise the
# target images: cluster them with k-means in feature space and in pixel space, and compare
# the adjusted Rand index with the true classes (lesson 8). Features that cluster the target
# *worse* than raw pixels are a warning sign. (k-means on pixels scores the same on all three
# targets: rotating or permuting pixels changes no distance between two images. A network
# trained from scratch sees the same information; only a pretrained one notices the change.)

# %%
bases = {}  # one pretrained network per seed, shared by the three targets
for seed in SEEDS:
    bases[seed] = nn.MLP([dim, 128, 5], generator=seed)
    pretrain(bases[seed], source, steps=PRETRAIN_STEPS, seed=seed)
    print(f"seed {seed}: pretrained, source accuracy {evaluate(bases[seed], source)['accuracy']:.1%}")
for name, task in tasks.items():
    x, y = task.target_test[0][:400], task.target_test[1][:400]
    ari_pixels = adjusted_rand_index(y, kmeans(x, 5, seed=0)[0])
    ari_features = adjusted_rand_index(y, kmeans(features(bases[0], x, layer=-1), 5, seed=0)[0])
    print(f"{name:<16} ARI of k-means on pixels {ari_pixels:.3f}, on pretrained features {ari_features:.3f}")

# %% [markdown]
# ## 3. Transfer vs scratch on each target, with confidence intervals
#
# For every seed, target, $k$ and strategy: a copy of that seed's pretrained network gets a
# new head and is fine-tuned on $k$ labelled target examples per class (the same examples for
# every strategy), then evaluated on the target's held-out test set.

# %%
summaries = {}
for name, task in tasks.items():
    results = []
    for seed, base in bases.items():
        for k in KS:
            x_k, y_k = k_per_class(*task.target_train, k, seed=seed)
            for strategy in STRATEGIES:
                net = copy.deepcopy(base)
                replace_head(net, task.target_classes, generator=seed + 1)
                fine_tune(net, (x_k, y_k), strategy, steps=FINETUNE_STEPS, seed=seed)
                results.append({"strategy": strategy, "k": k, "seed": seed, "curve": [],
                                "accuracy": evaluate(net, task.target_test)["accuracy"]})
    summaries[name] = summarize(results)

# %%
print(f"{'target':<16} {'strategy':<13} {'k':>3}  accuracy %   gain vs scratch [95% CI]  verdict")
for name, summary in summaries.items():
    for r in summary:
        accuracy = f"{100 * r['mean']:5.1f} ± {100 * r['std']:3.1f}"
        if r["strategy"] == "scratch":
            print(f"{name:<16} {r['strategy']:<13} {r['k']:>3}  {accuracy}")
            continue
        low, high = r["ci95"]
        verdict = "NEGATIVE transfer" if r["negative_transfer"] else \
            "transfer helped" if low > 0 else "no clear difference"
        print(f"{name:<16} {r['strategy']:<13} {r['k']:>3}  {accuracy}  {100 * r['gain_vs_scratch']:+6.1f} "
              f"[{100 * low:+6.1f}, {100 * high:+6.1f}]  {verdict}")
negatives = [f"{name}/{r['strategy']}/k={r['k']}" for name, s in summaries.items() for r in s
             if r["negative_transfer"]]
print(f"negative transfer detected in {len(negatives)} of "
      f"{sum(r['strategy'] != 'scratch' for s in summaries.values() for r in s)} comparisons: "
      + (", ".join(negatives) or "none"))

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
labels, x_pos = [], 0
for name, summary in summaries.items():
    for r in summary:
        if r["strategy"] == "scratch":
            continue
        gain, (low, high) = 100 * r["gain_vs_scratch"], r["ci95"]
        color = "C3" if r["negative_transfer"] else "C2" if low > 0 else "C7"
        ax.errorbar(x_pos, gain, yerr=[[gain - 100 * low], [100 * high - gain]], fmt="o", color=color,
                    capsize=3)
        labels.append(f"{name}\n{r['strategy']} k={r['k']}")
        x_pos += 1
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=60, ha="right")
ax.set_ylabel("gain over scratch (points)")
ax.set_title("Red: negative transfer (95% CI below 0); green: CI above 0; grey: unproven")
save(fig, "gains.png")

# %% [markdown]
# **Reading the results.** A *frozen* pretrained body (linear probe) is the first victim of
# data mismatch: its features were shaped by the source, and a rotated or permuted target
# breaks their spatial templates. Full fine-tuning can repair the features, so its loss is
# smaller — but it only rarely *gains* on a mismatched target: the pretrained start is then
# no better than a random one. The fix is not a cleverer optimiser but a better-matched
# source (lesson 6) or no transfer at all (lesson 10 asks how to decide).
#
# **Try it:** compare `make_task(..., "jitter")` (a target that *shares* the source's
# structure, with a shift-augmented source) with the three targets above.
