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
# # Lesson 8 — The four kinds of transfer (§2.2), each run and measured
#
# §2.2 sorts transfer by whether the source task and the target task have labels:
#
# | kind | source: what is learned | target: how it is used | score (baseline) |
# |---|---|---|---|
# | supervised → supervised | a classifier | its body + a new head, $k$ labels/class | accuracy (scratch) |
# | unsupervised → supervised | a denoising autoencoder | its encoder + a new head | accuracy (scratch) |
# | supervised → unsupervised | a classifier | k-means on its features | ARI, NMI (k-means on pixels) |
# | unsupervised → unsupervised | a denoising autoencoder | cluster its codes; fine-tune it | ARI; MSE |
#
# New pieces of math, each with the function that implements it:
#
# - the **autoencoder** loss, learned without labels: reconstruct clean images $x$ from
#   noisy ones $\tilde x$, $\;L = \frac{1}{nD}\sum_i \lVert g(f(\tilde x_i)) - x_i\rVert^2$
#   (`nn.MSELoss`), with encoder $f$ = the MLP's body and decoder $g$ = its head;
# - **k-means** clustering, $\min \sum_i \lVert x_i - c_{\text{label}(i)}\rVert^2$
#   (`clustering.kmeans`), scored against the true classes — which it never saw — by the
#   adjusted Rand index (`clustering.adjusted_rand_index`: 0 = chance, 1 = perfect) and the
#   normalised mutual information $I(U;V)/\tfrac12(H(U)+H(V))$ (`clustering.normalized_mutual_info`).
#
# The task is lesson 6's: clean source images, noisy target images of the same classes.
#
# Run it: `python lessons/08_four_kinds.py` (figures go to `figures/08/`).

# %%
import os

import numpy as np
from _lesson import QUICK, figures, plt, reading

import minitransfer as mt
from minitransfer import nn, stats
from minitransfer.clustering import adjusted_rand_index, kmeans, normalized_mutual_info
from minitransfer.data import transforms
from minitransfer.experiment import make_noisy_task
from minitransfer.train import empirical_risk
from minitransfer.transfer import features, pretrain
from minitransfer.transfer.kinds import format_kinds, four_kinds

FIGURES, save = figures("08")
SEEDS = (0, 1) if QUICK else (0, 1, 2)
PRETRAIN_STEPS, FINETUNE_STEPS = (200, 60) if QUICK else (1000, 300)
CLUSTER_POINTS = 200 if QUICK else 500


# %%
def load_task():
    """Source: clean images, 10 classes. Target: other images of those classes, noisy."""
    # four_kinds adds fresh noise to the pool for every seed: a smaller Fashion pool keeps it fast
    return make_noisy_task(data_dir=os.environ.get("MINITRANSFER_FASHION_DIR"),
                           pool_size=3000 if QUICK else 10000)


task = load_task()
x_source = task.source[0]
dim = x_source.shape[1]
side = int(np.sqrt(dim))
print(f"{task.name}: {len(x_source)} source images of {side}x{side}, "
      f"{len(task.target_test[1])} held-out target images")

# %% [markdown]
# ## 1. Learning without labels: a denoising autoencoder
#
# `nn.MLP([D, 128, D])` is an autoencoder: the body squeezes $D$ pixels into 128 codes, the
# head expands them back. With as many codes as needed it could learn the identity; asking
# it to *remove noise* forces it to learn what images are made of. `pretrain` takes any
# loss: pass the pair (noisy input, clean target) and `nn.MSELoss()`.

# %%
autoencoder = nn.MLP([dim, 128, dim], generator=0)
noisy = transforms.add_noise(x_source, sigma=0.3, seed=0)
mse = nn.MSELoss()
print(f"reconstruction MSE before: {empirical_risk(autoencoder, mse, (noisy, x_source)):.4f}")
pretrain(autoencoder, (noisy, x_source), loss_fn=mse, steps=PRETRAIN_STEPS, seed=0)
after = empirical_risk(autoencoder, mse, (noisy, x_source))
print(f"reconstruction MSE after {PRETRAIN_STEPS} steps: {after:.4f} "
      f"(the noise alone costs {float(np.mean((noisy - x_source) ** 2)):.4f})")
with mt.no_grad():
    rebuilt = autoencoder(mt.tensor(noisy[:6])).numpy()
fig, axes = plt.subplots(3, 6, figsize=(7, 3.6))
for j in range(6):
    for i, (image, title) in enumerate([(noisy[j], "noisy input"), (rebuilt[j], "reconstruction"),
                                        (x_source[j], "clean")]):
        axes[i, j].imshow(image.reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
        axes[i, j].axis("off")
        if j == 0:
            axes[i, j].set_title(title, fontsize=8, loc="left")
save(fig, "denoising_autoencoder.png")

# %% [markdown]
# ## 2. Using features without labels: clustering the target
#
# `transfer.features(model, x, layer=-1)` is the body's output — what a pretrained network "sees".
# Cluster the noisy target images into 10 groups with k-means, in pixel space and in the
# spaces of two pretrained bodies, and score each clustering against the true classes.

# %%
classifier = nn.MLP([dim, 128, 10], generator=0)
pretrain(classifier, task.source, steps=PRETRAIN_STEPS, seed=0)
pick = np.random.default_rng(0).permutation(len(task.target_test[1]))[:CLUSTER_POINTS]
x_c, y_c = task.target_test[0][pick], task.target_test[1][pick]
for name, space in [("pixels", x_c), ("autoencoder codes", features(autoencoder, x_c, layer=-1)),
                    ("classifier features", features(classifier, x_c, layer=-1))]:
    clusters, _ = kmeans(space, 10, seed=0)
    print(f"k-means on {name:<20} ({space.shape[1]:>3} dims): "
          f"ARI {adjusted_rand_index(y_c, clusters):.3f}, NMI {normalized_mutual_info(y_c, clusters):.3f}")

# %% [markdown]
# ## 3. All four kinds, over seeds
#
# `kinds.four_kinds` runs the whole table for each seed: it pretrains a classifier and a
# denoising autoencoder on the source, then measures each kind against its baseline. Gains
# are "higher is better" (for the reconstruction error: baseline minus transfer).

# %%
rows = four_kinds(task, seeds=SEEDS, k=5, pretrain_steps=PRETRAIN_STEPS,
                  finetune_steps=FINETUNE_STEPS, cluster_points=CLUSTER_POINTS)
print(format_kinds(rows))

# %% [markdown]
# ## 4. Reading the table
#
# Each row's gain is paired by seed (the same seed pretrains both bodies, draws the $k$
# examples and picks the images to cluster), with its 95% interval (lesson 6, section 0). The
# six rows are read together, so Holm's correction applies to all six (the ARI and NMI rows
# score the same clusterings twice: counting both only makes the correction stricter). One
# more comparison, planned in advance: does a labelled source give a better body for
# classification than an unlabelled one? Its accuracy minus the autoencoder's, paired by seed.

# %%
def gain_per_seed(row):
    sign = -1 if row["metric"] == "reconstruction MSE" else 1  # lower error is better
    return sign * (np.array(row["values"]) - np.array(row["baseline_values"]))


holm = stats.holm_verdicts([gain_per_seed(r) for r in rows])
for r, comparison in zip(rows, holm):
    scale, digits = (100, 1) if r["metric"].startswith("accuracy") else (1, 4)
    print(reading(f"{r['kind']}, {r['metric']}, vs {r['baseline']}", comparison.interval, comparison,
                  len(rows), scale=scale, digits=digits, unit="points" if scale == 100 else r["metric"]))
labelled, unlabelled = rows[0], rows[1]  # supervised and unsupervised source, the same classifier task
sources = stats.paired_interval(np.subtract(labelled["values"], unlabelled["values"]))
print(reading(f"labelled minus unlabelled source, {labelled['metric']}", sources,
              meaning={"helped": "the classifier's body transfers better",
                       "no_difference": "no detectable difference between the two sources",
                       "hurt": "the autoencoder's encoder transfers better"}))
words = {"helped": "transfer helped", "hurt": "transfer hurt",
         "no_difference": f"no detectable difference with {len(SEEDS)} seeds"}
for r, comparison in zip(rows, holm):
    print(f"conclusion: {r['kind']}, {r['metric']}: {words[comparison.verdict.code]} "
          f"(against {r['baseline']}, Holm over {len(rows)})")

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
panels = [("accuracy", [r for r in rows if r["metric"].startswith("accuracy")]),
          ("ARI (y-axis zoomed to the values)", [r for r in rows if r["metric"] == "ARI"]),
          ("reconstruction MSE (lower is better)", [r for r in rows if r["metric"] == "reconstruction MSE"])]
for ax, (title, chosen) in zip(axes, panels):
    labels = [chosen[0]["baseline"]] + [r["kind"].replace(" -> ", "\n-> ") for r in chosen]
    values = [chosen[0]["baseline_mean"]] + [r["mean"] for r in chosen]
    errors = [chosen[0]["baseline_std"]] + [r["std"] for r in chosen]
    for i, (value, error) in enumerate(zip(values, errors)):
        ax.errorbar(i, value, yerr=error, fmt="o", capsize=4, color="gray" if i == 0 else "C0")
    for i, r in enumerate(chosen, start=1):  # the paired gain, which the seeds' spread hides
        low, high = r["ci95"]
        ax.annotate(f"gain {r['gain']:+.3f}\n[{low:+.3f}, {high:+.3f}]", (i, r["mean"]), fontsize=6,
                    xytext=(6, 0), textcoords="offset points", va="center")
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_xlim(-0.5, len(values) - 0.5)
    ax.set_title(f"{title}\nmean ± std over {len(SEEDS)} seeds; paired gain [95% CI]", fontsize=9)
save(fig, "four_kinds.png")

# %% [markdown]
# The conclusions above are printed from the verdicts: on another data set, or with more
# seeds, they change with the numbers. Lesson 9 shows what happens when the target does *not*
# share the source's structure.
#
# ## 5. Exercise (it grades itself)
#
# **08.1** Write the adjusted Rand index from the contingency table $n_{ij}$ (how many images
# of class $i$ fall in cluster $j$), with row sums $a_i$ and column sums $b_j$:
#
# $$\text{ARI} = \frac{\sum_{ij}\binom{n_{ij}}2 - E}
#   {\tfrac12\left[\sum_i\binom{a_i}2 + \sum_j\binom{b_j}2\right] - E},
# \qquad E = \frac{\sum_i\binom{a_i}2\sum_j\binom{b_j}2}{\binom n2}.$$
#
# The check compares it with `clustering.adjusted_rand_index`: 1 for the same partition under
# other names, about 0 for random clusters.

# %%
from exercises import lesson08  # noqa: E402


def my_adjusted_rand_index(labels_true, labels_pred):
    """The ARI of two labelings of the same items (1-D integer arrays)."""
    raise NotImplementedError  # your code here


lesson08.check_adjusted_rand_index(my_adjusted_rand_index)

# %% [markdown]
# **Try it:** set `sigma=0.0` in `transforms.add_noise(x_source, ...)` (a plain autoencoder)
# and see whether its codes still cluster the target as well.
