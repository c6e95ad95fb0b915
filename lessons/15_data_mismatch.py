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
# # Lesson 15 — When the data do not match: domain adaptation without target labels
#
# The FAQ names *data mismatch* as a main limit of transfer learning: data from another source
# look different, and accuracy drops (lesson 9 measured it). Here the classes stay the same —
# the ten digits — but the target's images are shifted (noisy, inverted, jittered), and we
# have **no target labels at all**. Can the unlabelled target images still help?
#
# Ben-David et al. (2010) bound the target error of a classifier $h$ by
#
# $$\epsilon_T(h) \le \epsilon_S(h) + \tfrac12\, d_{\mathcal H\Delta\mathcal H}(S, T) + \lambda^*,$$
#
# the source error, plus a divergence between the two domains *as the features see them*,
# plus the error of the best joint classifier. Unsupervised domain adaptation lowers the middle
# term: it trains on labelled source data while pulling the features of both domains together.
#
# Run it: `python lessons/15_data_mismatch.py` (figures go to `figures/15/`).

# %%
import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import functions as F
from minitransfer import nn, stats
from minitransfer.adapt import (
    DEFAULT_WEIGHT,
    compare_methods,
    make_shift_task,
    mmd_loss,
    proxy_a_distance,
    summarize,
)
from minitransfer.gradcheck import GradcheckError, gradcheck

FIGURES, save = figures("15")
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]
STEPS = 150 if QUICK else 400
SHIFTS = ["noise", "invert"] if QUICK else ["noise", "invert", "jitter"]

# %% [markdown]
# ## 1. A layer that is the identity forward and flips the gradient backward
#
# DANN (Ganin et al., JMLR 2016) puts a **gradient reversal** between the features $h$ and a
# domain classifier $D$ that guesses "source or target":
#
# $$R_\lambda(h) = h, \qquad
#   \frac{\partial L}{\partial h} = -\lambda\, \frac{\partial L}{\partial R_\lambda(h)}.$$
#
# $D$ minimises its loss as usual; the features below receive $-\lambda$ times its gradient, so
# they move to *maximise* it: they learn to hide the domain. `functions.GradientReversal` is
# the op, `nn.GradientReversal(lambda_)` the layer. Its backward is on purpose **not** the
# derivative of its forward, so `gradcheck` compares it with central differences of
# $x \mapsto -\lambda x$ (`reference=`).

# %%
x = mt.tensor(np.array([[1.0, -2.0, 0.5]]), requires_grad=True)
layer = nn.GradientReversal(0.5)
out = layer(x)
(out * mt.tensor(np.array([[1.0, 2.0, 3.0]]))).sum().backward()
print(f"forward: {out.detach().numpy().ravel()} (the input), "
      f"backward: {x.grad.numpy().ravel()} = -0.5 * [1, 2, 3]")
xs = mt.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
flip = gradcheck(lambda t: F.GradientReversal.apply(t, lambda_=0.7), xs, reference=lambda t: t * -0.7)
print(f"gradcheck against -0.7 x: passed = {flip.passed}")


class Unflipped(F.GradientReversal):
    def backward(self, g):  # the slip: scaled, not reversed
        return (self.lambda_ * g,)


try:
    gradcheck(lambda t: Unflipped.apply(t, lambda_=0.7), xs, reference=lambda t: t * -0.7, name="Unflipped")
except GradcheckError as error:
    print(f"caught: {str(error)[:60]}...")

# %% [markdown]
# ## 2. The remedies, and how mismatched the domains are
#
# Every method minimises the source loss $L_y$ plus $w$ times an alignment term on the body's
# last features $h_S$ (a source batch) and $h_T$ (a target batch):
#
# | method | alignment term | `minitransfer.adapt` |
# |---|---|---|
# | DANN | $L_d$, the domain classifier's cross-entropy, through $R_\lambda$ | `dann` |
# | Deep CORAL | $\lVert C_S - C_T\rVert_F^2 / 4d^2$, $C$ the feature covariance | `coral_loss` |
# | MMD | $\overline{k(s, s')} + \overline{k(t, t')} - 2\,\overline{k(s, t)}$ | `mmd_loss` |
#
# DANN ramps $\lambda_p = \frac{2}{1+e^{-10p}} - 1$ from 0 to 1 as training goes ($p$ from 0
# to 1: `dann_lambda`); MMD's $k$ is a mean of Gaussian kernels whose widths are multiples of
# the median distance between features.
#
# The weights $w$ were chosen without any target label (`adapt.DEFAULT_WEIGHT`, the reason is
# in `adapt/training.py`). How far apart are the domains? The **proxy A-distance**
# $d_A = 2(1 - 2\epsilon)$, with $\epsilon$ the test error of a linear classifier that tells
# source from target (`proxy_a_distance`): 2 = perfectly separable, 0 = indistinguishable.

# %%
print("weights w:", {m: w for m, w in DEFAULT_WEIGHT.items() if m != "source_only"})
tasks = {shift: make_shift_task("digits", shift) for shift in SHIFTS}
for shift, task in tasks.items():
    pixels = proxy_a_distance(task.source[0][:400], task.target_train[0][:400])
    mmd = mmd_loss(task.source[0][:200], task.target_train[0][:200]).item()
    print(f"{shift:<7} raw pixels: proxy A-distance {pixels:.2f}, MMD² {mmd:.4f}")

# %% [markdown]
# ## 3. Each remedy against source-only, with intervals
#
# For every shift and seed, all methods start from the same initial network (64-128-64-10)
# and see the same source batches; target labels are read only to score the test set, and by
# an upper bound trained with the labelled target images added (`target_labels`). The gain of
# each method over source-only is paired by seed; the gains are read together with Holm's
# correction (`stats.holm_verdicts`), because with many intervals some exclude 0 by chance.

# %%
records, pictures = [], {}
for shift, task in tasks.items():
    runs, pictures[shift] = compare_methods(task, seeds=SEEDS, steps=STEPS, log=None)
    records += [dict(r, target=shift) for r in runs]
rows = summarize(records)
print(f"{'shift':<7} {'method':<13} {'target acc %':>12} {'d_A':>5}  gain [95% CI]       Holm verdict")
for r in rows:
    line = (f"{r['target']:<7} {r['method']:<13} {100 * r['target_accuracy']:12.1f} "
            f"{r['proxy_a_distance']:5.2f}")
    if "gain" in r:
        low, high = r["ci95"]
        line += f"  {100 * r['gain']:+5.1f} [{100 * low:+5.1f}, {100 * high:+5.1f}]  {r['verdict_text']}"
    print(line)

# %% [markdown]
# ## 4. What the numbers say
#
# The sentences below are computed from the table: a method "helped" only where Holm's
# correction keeps its gain above zero.

# %%
by = {(r["target"], r["method"]): r for r in rows}
for shift in SHIFTS:
    helped = [r["method"] for r in rows if r["target"] == shift and r.get("verdict_holm") == stats.HELPED]
    hurt = [r["method"] for r in rows if r["target"] == shift and r.get("verdict_holm") == stats.HURT]
    base = by[shift, "source_only"]["target_accuracy"]
    print(f"{shift}: source-only {100 * base:.1f}%; helped: {', '.join(helped) or 'none detectable'}; "
          f"hurt: {', '.join(hurt) or 'none detectable'}")
    for method in ("dann", "coral", "mmd"):
        row, before = by[shift, method], by[shift, "source_only"]["proxy_a_distance"]
        if row["proxy_a_distance"] < before - 0.2:  # the domains look clearly closer to a linear probe
            text = (f"  {method} brought the domains closer (d_A {before:.2f} -> "
                    f"{row['proxy_a_distance']:.2f}); its gain {100 * row['gain']:+.1f} points, "
                    f"95% interval up to {100 * row['ci95'][1]:+.1f}")
            if row["ci95"][1] < 0.02:
                text += (": no gain of 2 points or more, so aligning the features' distributions "
                         "did not align the classes")
            print(text)
winners = [f"{r['method']} on {r['target']}" for r in rows if r.get("verdict_holm") == stats.HELPED]
print(f"beats source-only after Holm's correction ({len([r for r in rows if 'gain' in r])} comparisons): "
      + (", ".join(winners) or "none with these seeds and steps"))

# %% [markdown]
# ## 5. The features, before and after
#
# Source (blue) and target (red) features of the first seed, projected on their first two
# principal components (`stats.pca` on `transfer.features`): source-only first, then each method.

# %%
methods = list(pictures[SHIFTS[0]])
fig, axes = plt.subplots(len(SHIFTS), len(methods), figsize=(2.4 * len(methods), 2.3 * len(SHIFTS)),
                         squeeze=False)
for i, shift in enumerate(SHIFTS):
    for j, method in enumerate(methods):
        fs, ft = pictures[shift][method]
        points = stats.pca(np.concatenate([fs, ft]), 2).coordinates
        axes[i][j].scatter(*points[:len(fs)].T, s=3, color="C0")
        axes[i][j].scatter(*points[len(fs):].T, s=3, color="C3")
        axes[i][j].set_title(f"{shift}: {method}", fontsize=8)
        axes[i][j].set_xticks([])
        axes[i][j].set_yticks([])
save(fig, "features_pca.png")

# %% [markdown]
# ## Exercise 15.1 — Deep CORAL's distance in NumPy
#
# Write `coral_distance(fs, ft)` for two NumPy arrays of features (n × d and m × d):
# $\lVert C_S - C_T\rVert_F^2 / 4d^2$ with $C = \frac{1}{n-1}(X - \bar x)^\top (X - \bar x)$ for
# each domain. The check compares it with `adapt.coral_loss` on three cases. A worked solution
# is in `lessons/solutions/15_data_mismatch.py`.

# %%
from exercises.lesson15 import check_coral_distance  # noqa: E402


def coral_distance(fs, ft):
    raise NotImplementedError  # your code here


check_coral_distance(coral_distance)
