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
# # Lesson 12 — Explainability: why the model answers, what transfer keeps, what fine-tuning changes
#
# The document's §5.3 and its FAQ name explainability as a challenge of transfer learning. Here
# it is measured, with four questions and one tool each (`minitransfer.explain`):
#
# | question | tool |
# |---|---|
# | which pixels decide? | `saliency`, `integrated_gradients`, `occlusion` |
# | what does the body still represent? | `linear_cka` on `transfer.features` |
# | which layers moved, and how far? | `drift_per_layer` |
# | what was forgotten? are lower layers general? | `forgetting`, `layerwise_transferability` |
#
# $f$ is the **logit** of the class being explained. The task is `make_task("digits", "jitter")`:
# pretrain on jittered digits 0–4, fine-tune on 25 labelled jittered images per class of 5–9,
# with a 64-128-64-5 network (two hidden layers, so "per layer" means something).
#
# Run it: `python lessons/12_explainability.py` (figures go to `figures/12/`).

# %%
import copy

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import explain, nn, stats
from minitransfer.data import k_per_class
from minitransfer.experiment import make_task
from minitransfer.explain import pictures
from minitransfer.train import evaluate
from minitransfer.transfer import features, fine_tune, pretrain, replace_head

FIGURES, save = figures("12")


def reading(comparison, words, scale=1.0):
    """A Holm-corrected comparison in words, with its interval and adjusted p-value."""
    i = comparison.interval
    return (f"{scale * i.estimate:+.3f} [{scale * i.low:+.3f}, {scale * i.high:+.3f}] "
            f"(Holm p = {comparison.p_adjusted:.3g}) -> {words[comparison.verdict.code]}")


SEEDS = [0, 1, 2] if QUICK else [0, 1, 2, 3, 4]
PRETRAIN, FINETUNE = (200, 100) if QUICK else (1500, 1000)
STRATEGIES = ("linear_probe", "lp_ft", "full")
task = make_task("digits", "jitter")
x_test, y_test = task.target_test
pretrained, tuned = {}, {}
for seed in SEEDS:
    pretrained[seed] = nn.MLP([64, 128, 64, 5], generator=seed)
    pretrain(pretrained[seed], task.source, steps=PRETRAIN, seed=seed)
    target = k_per_class(*task.target_train, 25, seed=seed)
    for strategy in STRATEGIES:
        model = copy.deepcopy(pretrained[seed])  # the pretrained model keeps its source head
        replace_head(model, 5, generator=seed + 1)
        fine_tune(model, target, strategy, steps=FINETUNE, seed=seed)
        tuned[strategy, seed] = model
print(f"{len(SEEDS)} seeds: pretrained {PRETRAIN} steps, fine-tuned {FINETUNE} steps with "
      f"{', '.join(STRATEGIES)}")

# %% [markdown]
# ## 1. Which pixels decide? The input gradient is one `backward()` away
#
# Make the input a tensor with `requires_grad=True`, take the logit of the predicted class,
# call `backward()`: the engine's chain rule carries $\partial f/\partial\text{logits}$ back
# through every layer to $\partial f/\partial x$. Saliency is its absolute value.

# %%
model = tuned["full", 0]
x = mt.tensor(x_test[:8], requires_grad=True)
logits = model(x)
predicted = np.argmax(logits.detach().numpy(), axis=1)
(logits * mt.tensor(np.eye(5, dtype=np.float32)[predicted])).sum().backward()
print("saliency == |x.grad|:", np.allclose(explain.saliency(model, x_test[:8]), np.abs(x.grad.numpy())))

# %% [markdown]
# A gradient is local. **Integrated gradients** add the gradient up along the straight path
# from a baseline $x'$ (a black image) to $x$,
# $\mathrm{IG}(x) = (x - x') \odot \int_0^1 \nabla f(x' + \alpha (x - x'))\,d\alpha$, and so
# satisfy *completeness*: $\sum_i \mathrm{IG}_i = f(x) - f(x')$. The integral is a sum over
# `steps` points (the midpoint rule, $\alpha_k = (k - \tfrac12)/m$); `delta` measures how far
# from exact it is. A ReLU network's gradient jumps along the path wherever a unit switches on
# or off, so the rule's error per jump is of order $1/m$: expect the gap to shrink as $m$
# grows, and slowest for images whose path crosses many switches. Measured:

# %%
images = x_test[:32]
gaps = explain.completeness_gaps(model, images, steps=(8, 32, 64, 256))
for m, gap in gaps.items():
    print(f"IG with {m:>3} points: completeness gap |delta| / |f(x) - f(0)| median {np.median(gap):.4f}, "
          f"90th percentile {np.quantile(gap, 0.9):.4f}, share above 5% {np.mean(gap > 0.05):.2f}")
ig = explain.integrated_gradients(model, images, steps=64)
drops = explain.occlusion(model, images, patch=2)  # no gradient: zero a 2x2 square, see f drop
squares = [(r, c) for r in range(0, 8, 2) for c in range(0, 8, 2)]
taus = [stats.kendall_tau([a.reshape(8, 8)[r:r + 2, c:c + 2].sum() for r, c in squares],
                          [o.reshape(8, 8)[r, c] for r, c in squares])
        for a, o in zip(ig.attributions, drops)]
print(f"IG summed per 2x2 square vs occlusion's drop: Kendall tau {np.nanmean(taus):.2f} "
      f"(1 = the same ranking of squares, 0 = unrelated)")

# %% [markdown]
# Before and after fine-tuning: the linear probe keeps the pretrained body, so its maps show
# what the *pretrained features* attend to; full fine-tuning changed the body.

# %%
maps = {f"IG\n{s}": explain.integrated_gradients(tuned[s, 0], x_test[:4], steps=64).attributions
        for s in ("linear_probe", "full")}
moved = [stats.kendall_tau(a, b) for a, b in zip(*maps.values())]
print(f"IG maps, linear probe (pretrained body) vs full fine-tuning: Kendall tau per image "
      f"{np.round(moved, 2).tolist()}")
save(pictures.attribution_grid(x_test[:4], maps, (8, 8), "integrated gradients "
                                       "(red > 0 > blue)"), "attributions.png")

# %% [markdown]
# ## 2. What does the body still represent, and which layers moved?
#
# Linear CKA compares the features of the same test images (`transfer.features`: one matrix
# per body layer) before and after fine-tuning: with $A$, $B$ the column-centred features,
# $\mathrm{CKA} = \lVert B^\top A\rVert_F^2 / (\lVert A^\top A\rVert_F \lVert B^\top B\rVert_F)$,
# 1 for identical features, blind to rotations and scale. Drift is how far each layer's
# weights moved, relative to their size: $\lVert\theta_l - \theta^0_l\rVert / \lVert\theta^0_l\rVert$.
# Each strategy's "which layer moved more" is a paired interval over seeds of
# drift(layer 2) − drift(layer 1); the strategies are read together with Holm's correction
# (the linear probe's frozen body has drift 0 by construction: printed, not tested).

# %%
cka = {s: np.array([[explain.linear_cka(a, b) for a, b in
                     zip(features(pretrained[seed], x_test), features(tuned[s, seed], x_test))]
                    for seed in SEEDS]) for s in STRATEGIES}
drift = {s: np.array([list(explain.drift_per_layer(pretrained[seed], tuned[s, seed]).values())
                      for seed in SEEDS]) for s in STRATEGIES}
print(f"{'strategy':<13} {'CKA layer 1':>12} {'CKA layer 2':>12} {'drift layer 1':>14} {'drift layer 2':>14}")
for s in STRATEGIES:
    print(f"{s:<13} {cka[s][:, 0].mean():>12.3f} {cka[s][:, 1].mean():>12.3f} "
          f"{drift[s][:, 0].mean():>14.3f} {drift[s][:, 1].mean():>14.3f}")
words = {"helped": "layer 2 (nearest the head) moved more", "hurt": "layer 1 (nearest the input) moved more",
         "no_difference": "no detectable difference", "undecided": "undecided"}
TESTED = STRATEGIES[1:]  # the linear probe's frozen body: drift 0 by construction, not tested
for s, c in zip(TESTED, stats.holm_verdicts([drift[s][:, 1] - drift[s][:, 0] for s in TESTED])):
    print(f"{s:<13} drift layer 2 - layer 1: {reading(c, words)}")
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, values, title in ((axes[0], cka, "linear CKA vs pretrained"), (axes[1], drift, "drift")):
    for i, s in enumerate(STRATEGIES):
        ax.bar(np.arange(2) + 0.25 * (i - 1), values[s].mean(axis=0), 0.25, label=s)
    ax.set_xticks([0, 1], ["layer 1", "layer 2"])
    ax.set_title(title)
axes[1].legend()
save(fig, "cka_drift.png")

# %% [markdown]
# ## 3. What was forgotten?
#
# Put each fine-tuned body under the **source** head kept from pretraining (the pretrained
# model still has it) and measure source accuracy on held-out source images. A frozen body
# forgets nothing by construction; the question is how much each other strategy loses.

# %%
words = {"helped": "source accuracy rose", "hurt": "forgot (source accuracy fell)",
         "no_difference": "no detectable forgetting", "undecided": "undecided"}
changes = {s: [] for s in STRATEGIES}
for s in STRATEGIES:
    for seed in SEEDS:
        lost = explain.forgetting(pretrained[seed], tuned[s, seed], task.source_test)
        changes[s].append(lost.after - lost.before)
    before = np.mean([evaluate(pretrained[seed], task.source_test)["accuracy"] for seed in SEEDS])
    print(f"{s:<13} source accuracy {before:.1%} -> {before + np.mean(changes[s]):.1%}")
for s, c in zip(TESTED, stats.holm_verdicts([changes[s] for s in TESTED])):
    print(f"{s:<13} source accuracy change, points: {reading(c, words, 100)}")

# %% [markdown]
# ## 4. Are lower layers general? Yosinski's table
#
# Copy the first $j$ pretrained layers into a freshly initialised network, then train on the
# target with the copied layers **frozen** or **fine-tuned** (Yosinski et al., 2014). $j = 0$
# copies nothing: training from scratch. Each gain over scratch is paired by seed.

# %%
runs = {seed: explain.layerwise_transferability(
    pretrained[seed], k_per_class(*task.target_train, 25, seed=seed), task.target_test, outputs=5,
    steps=FINETUNE, seed=seed) for seed in SEEDS}
scratch = np.array([runs[seed][0].accuracy for seed in SEEDS])
rows = [(j, frozen) for j in (1, 2) for frozen in (True, False)]
accuracy = {row: np.array([next(r.accuracy for r in runs[seed] if (r.layers_copied, r.frozen) == row)
                           for seed in SEEDS]) for row in rows}
words = {"helped": "copying helped", "hurt": "copying hurt", "no_difference": "no detectable difference",
         "undecided": "undecided"}
print(f"j = 0 (scratch): {scratch.mean():.1%}")
for (j, frozen), c in zip(rows, stats.holm_verdicts([accuracy[row] - scratch for row in rows])):
    print(f"j = {j} {'frozen' if frozen else 'fine-tuned':<10}: {accuracy[j, frozen].mean():.1%}, "
          f"gain, points: {reading(c, words, 100)}")
fig, ax = plt.subplots(figsize=(4.5, 3))
for frozen in (True, False):
    ax.plot([0, 1, 2], [scratch.mean()] + [accuracy[j, frozen].mean() for j in (1, 2)], marker="o",
            label="frozen" if frozen else "fine-tuned")
ax.set_xlabel("j: layers copied")
ax.set_ylabel("target accuracy")
ax.legend()
save(fig, "layerwise.png")

# %% [markdown]
# ## Exercise 12.1 — linear CKA by hand
#
# Write `my_linear_cka(a, b)`: centre each column of `a` (n × d₁) and `b` (n × d₂) by its
# mean over the n rows, then return $\lVert B^\top A\rVert_F^2 / (\lVert A^\top A\rVert_F\,
# \lVert B^\top B\rVert_F)$. The check compares it with `explain.linear_cka` on five pairs,
# including ReLU-like features whose means are far from 0. A worked solution is in
# `lessons/solutions/12_explainability.py`. Then: why must the rows of `a` and `b` be the
# same images, in the same order?

# %%
from exercises.lesson12 import check_linear_cka  # noqa: E402


def my_linear_cka(a, b):
    raise NotImplementedError  # your code here


check_linear_cka(my_linear_cka)
