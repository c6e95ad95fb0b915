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
# # Lesson 7 — Fine-tuning strategies: what each changes in the update rule
#
# §3.1 says "replace the last layer, then fine-tune the whole model"; §5 asks for "smarter
# transfer strategies". Every strategy minimises the same target risk
# $\hat R(\theta) = \frac1n\sum_{i\le n} L(y_i, f_\theta(x_i))$ from the pretrained
# $\theta^0$; they differ in **which** parameters move and **how fast**. With
# $\theta = (\theta_{\text{body}}, \theta_{\text{head}})$ and body layers $l = 1..B$:
#
# | strategy | update rule | minitransfer |
# |---|---|---|
# | full | $\theta \leftarrow \theta - \eta\,\nabla_\theta \hat R$ | `fine_tune(..., "full")` |
# | linear probe | $\theta_{\text{body}}$ fixed, $\theta_{\text{head}}$ as in full | `transfer.freeze` |
# | LP-FT | linear probe for $T/2$ steps, then full at $\eta/100$ | `"lp_ft"` |
# | discriminative | layer $l$ at rate $\eta_l = \eta\,\gamma^{B+1-l}$ (head: $\eta$) | `layer_groups` |
# | gradual unfreezing | stage $s$ trains the head and the top $s$ body layers | `"gradual_unfreeze"` |
# | L2-SP | full, on $\hat R + \Omega(\theta)$ (below) | `transfer.l2sp_penalty` |
#
# where $\Omega(\theta) = \frac\alpha2\lVert\theta_{\text{body}} - \theta^0_{\text{body}}\rVert^2
# + \frac\beta2\lVert\theta_{\text{head}}\rVert^2$.
#
# The table shows plain gradient steps; `fine_tune` feeds the same gradients to Adam
# (`optim.Adam`), with a default rate per strategy (`transfer.DEFAULT_LR`). The network has
# two hidden layers here, so that "per layer" means something: 128 and 64 units.
#
# Run it: `python lessons/07_strategies.py` (figures go to `figures/07/`).

# %%
import copy
import os

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import nn
from minitransfer.data import k_per_class
from minitransfer.experiment import confidence_interval, make_noisy_task
from minitransfer.train import evaluate
from minitransfer.transfer import (
    DEFAULT_LR,
    STRATEGIES,
    fine_tune,
    freeze,
    l2sp_penalty,
    layer_groups,
    pretrain,
    replace_head,
)

FIGURES, save = figures("07")
SEEDS = [0, 1] if QUICK else [0, 1, 2]
KS = [5] if QUICK else [5, 25]
PRETRAIN_STEPS, FINETUNE_STEPS = (300, 60) if QUICK else (1500, 300)


# %% [markdown]
# The task of lesson 6: clean source images, a noisy target with $k$ labels per class.

# %%
def load_task():
    """(source, target pool, target test): clean images, then noisy images of the same classes."""
    task = make_noisy_task(data_dir=os.environ.get("MINITRANSFER_FASHION_DIR"))
    return task.source, task.target_train, task.target_test


source, pool, test = load_task()
sizes = [source[0].shape[1], 128, 64, 10]
print("network", sizes, "| strategies:", ", ".join(STRATEGIES))
print("default learning rates (Adam):", DEFAULT_LR)
bases = {}  # one pretrained network per seed, shared by every strategy and k
for seed in SEEDS:
    bases[seed] = nn.MLP(sizes, generator=seed)
    history = pretrain(bases[seed], source, steps=PRETRAIN_STEPS, seed=seed)
    print(f"seed {seed}: pretrained for {history.steps} steps, source accuracy "
          f"{evaluate(bases[seed], source)['accuracy']:.1%}")

# %% [markdown]
# ## 1. The mechanics, checked one by one
#
# **Freezing** sets `requires_grad=False`: no gradient is computed for those weights and the
# optimizer skips them — but gradients still flow *through* a frozen layer to trainable
# layers below it (that is what gradual unfreezing relies on).

# %%
pretrained = bases[0]
model = copy.deepcopy(pretrained)
replace_head(model, 10, generator=1)
freeze(model.body[2])  # the second hidden layer only
loss = nn.CrossEntropyLoss()(model(mt.tensor(pool[0][:32])), pool[1][:32])
loss.backward()
print("frozen body.2 has a gradient:", model.body[2].weight.grad is not None,
      "| body.0 below it still gets one:", model.body[0].weight.grad is not None)

# %% [markdown]
# **Discriminative rates** are optimizer parameter groups, one per layer: the head at $\eta$,
# each layer below at $\gamma$ times the rate of the layer above it (`decay`, here 0.5).

# %%
model = copy.deepcopy(pretrained)
replace_head(model, 10, generator=1)
for group in layer_groups(model, lr=1e-3, decay=0.5):
    count = sum(p.numel() for p in group["params"])
    print(f"  group {group['name']:<7} lr {group['lr']:.2e}  ({count:,} weights)")

# %% [markdown]
# **L2-SP** pulls the body back to $\theta^0$ instead of to zero. Its gradient is
# $\alpha(\theta_{\text{body}} - \theta^0_{\text{body}})$ on the body and $\beta\,\theta_{\text{head}}$
# on the head (the docstring of `l2sp_penalty`). Move the weights a little and check.

# %%
reference = {name: p.detach().numpy().copy() for name, p in model.named_parameters()
             if not name.startswith("head.")}
with mt.no_grad():
    for p in model.parameters():
        p.add_(np.random.default_rng(0).standard_normal(p.shape).astype(np.float32) * 0.01)
model.zero_grad()
l2sp_penalty(model, reference, alpha=0.1, beta=0.01).backward()
params = dict(model.named_parameters())
body_error = max(float(np.abs(params[n].grad.numpy() - 0.1 * (params[n].detach().numpy() - ref)).max())
                 for n, ref in reference.items())
head = model.head.weight
head_error = float(np.abs(head.grad.numpy() - 0.01 * head.detach().numpy()).max())
print(f"L2-SP gradient vs alpha*(theta - theta0): max error {body_error:.1e}; "
      f"head vs beta*theta: {head_error:.1e}")

# %% [markdown]
# ## 2. Every strategy, measured
#
# For each seed: pretrain once, then for each $k$ and strategy fine-tune a fresh copy with a
# new head and evaluate on the held-out target test set. Besides accuracy we record how far
# each body layer travelled, $\lVert\theta_l - \theta^0_l\rVert / \lVert\theta^0_l\rVert$:
# the update rule, seen in its result.

# %%
records = []
for seed, base in bases.items():
    start = {n: p.detach().numpy().copy() for n, p in base.named_parameters() if n.endswith("weight")}
    for k in KS:
        x_k, y_k = k_per_class(*pool, k=k, seed=seed)
        for strategy in STRATEGIES:
            net = copy.deepcopy(base)
            replace_head(net, 10, generator=seed + 1)
            fine_tune(net, (x_k, y_k), strategy, steps=FINETUNE_STEPS, seed=seed)
            drift = {n: float(np.linalg.norm(p.detach().numpy() - start[n]) / np.linalg.norm(start[n]))
                     for n, p in net.named_parameters() if n in start and n.startswith("body")}
            records.append({"seed": seed, "k": k, "strategy": strategy,
                            "accuracy": evaluate(net, test)["accuracy"], **drift})
    print(f"seed {seed}: {len(KS) * len(STRATEGIES)} fine-tuning runs done")

# %%
table = {}
print(f"{'k':>3} {'strategy':<17} {'accuracy %':>12} {'gain vs scratch [95% CI]':>26}   drift body.0  body.2")
for k in KS:
    scratch = {r["seed"]: r["accuracy"] for r in records if r["k"] == k and r["strategy"] == "scratch"}
    for strategy in STRATEGIES:
        rows = [r for r in records if r["k"] == k and r["strategy"] == strategy]
        acc = np.array([r["accuracy"] for r in rows])
        diff = [r["accuracy"] - scratch[r["seed"]] for r in rows]
        low, high = confidence_interval(diff)
        table[(k, strategy)] = (acc.mean(), np.mean(diff), low, high)
        gain, drift = "—", ""
        if strategy != "scratch":
            gain = f"{100 * np.mean(diff):+5.1f} [{100 * low:+5.1f}, {100 * high:+5.1f}]"
            drift = " ".join(f"{np.mean([r[f'body.{i}.weight'] for r in rows]):>{w}.3f}"
                             for i, w in ((0, 12), (2, 7)))
        spread = f"{100 * acc.mean():>6.1f} ± {100 * acc.std(ddof=1):>3.1f}"
        print(f"{k:>3} {strategy:<17} {spread} {gain:>26} {drift}")
best = {k: max(STRATEGIES, key=lambda s: table[(k, s)][0]) for k in KS}
print("best strategy here:", ", ".join(f"k={k}: {s} ({100 * table[(k, s)][0]:.1f}%)"
                                       for k, s in best.items()))

# %%
fig, ax = plt.subplots(figsize=(9, 3.6))
width = 0.8 / len(KS)
for j, k in enumerate(KS):
    gains = [100 * table[(k, s)][1] for s in STRATEGIES]
    errors = [[100 * (table[(k, s)][1] - table[(k, s)][2]) for s in STRATEGIES],
              [100 * (table[(k, s)][3] - table[(k, s)][1]) for s in STRATEGIES]]
    ax.bar(np.arange(len(STRATEGIES)) + j * width, gains, width, yerr=np.nan_to_num(errors),
           label=f"k = {k}")
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(np.arange(len(STRATEGIES)) + width * (len(KS) - 1) / 2, STRATEGIES, fontsize=8, rotation=15)
ax.set_ylabel("gain over scratch (points, 95% CI)")
ax.set_title("Fine-tuning strategies on the noisy target")
ax.legend()
save(fig, "strategies.png")

# %% [markdown]
# **Reading the table.** The linear probe's body drift is exactly 0 (frozen), so everything it
# gains comes from the pretrained features; full fine-tuning moves the body most; L2-SP and
# LP-FT move it less (a penalty, a tiny second-phase rate); discriminative rates move the
# lower layer less than the upper one. Which strategy wins depends on $k$ and on how far the
# target is from the source — lesson 10 shows how to choose without peeking at the test set.
#
# **Try it:** fine-tune with `optimizer="sgd"` (momentum 0.9) instead of Adam, or give L2-SP
# a much larger `alpha` and watch its drift shrink towards the linear probe's.
