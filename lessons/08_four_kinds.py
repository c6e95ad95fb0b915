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
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import nn
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
for row in rows:
    # A rough rule with so few seeds: a gain smaller than the runs' spread is not a finding.
    verdict = "helped" if row["gain"] > row["std"] else "hurt" if -row["gain"] > row["std"] else \
        "unclear (the gain is within one std of the runs)"
    print(f"{row['kind']:<29} {row['metric']:<19} mean gain over {len(SEEDS)} seeds "
          f"{row['gain']:+.4f} (std of the transfer runs {row['std']:.4f}): {verdict}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
panels = [("accuracy", [r for r in rows if r["metric"].startswith("accuracy")]),
          ("ARI", [r for r in rows if r["metric"] == "ARI"]),
          ("reconstruction MSE (lower is better)",
           [r for r in rows if r["metric"] == "reconstruction MSE"])]
for ax, (title, chosen) in zip(axes, panels):
    labels = [chosen[0]["baseline"]] + [r["kind"].replace(" -> ", "\n-> ") for r in chosen]
    values = [chosen[0]["baseline_mean"]] + [r["mean"] for r in chosen]
    errors = [0] + [r["std"] for r in chosen]
    ax.bar(range(len(values)), values, yerr=errors, color=["gray"] + ["C0"] * len(chosen))
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_title(title, fontsize=9)
save(fig, "four_kinds.png")

# %% [markdown]
# **Reading the results.** When the target's images share the source's structure, all four
# kinds can help: labelled or not, the source teaches features (strokes, shapes) that make the
# noisy target easier to classify, to cluster and to reconstruct. The unlabelled source helps
# classification too, but no more than the labelled one: a classifier's features are shaped by
# the very distinctions the target needs. Small gains (clustering on digits, for instance) are
# within the spread of three seeds: more seeds would be needed to call them. Lesson 9 shows
# what happens when the structure is *not* shared.
#
# **Try it:** set `sigma=0.0` in `transforms.add_noise(x_source, ...)` (a plain autoencoder)
# and see whether its codes still cluster the target as well.
