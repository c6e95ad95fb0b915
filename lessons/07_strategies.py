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
# (`optim.Adam`, lesson 6), with a default rate per strategy (`transfer.DEFAULT_LR`). The
# network has two hidden layers here, so that "per layer" means something: 128 and 64 units.
#
# Run it: `python lessons/07_strategies.py` (figures go to `figures/07/`).

# %%
import copy
import os

import numpy as np
from _lesson import QUICK, figures, plt, reading

import minitransfer as mt
from minitransfer import nn, stats
from minitransfer.data import k_per_class
from minitransfer.experiment import make_noisy_task, split_target
from minitransfer.train import evaluate
from minitransfer.transfer import (
    DEFAULT_LR,
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
# The strategies of the table above; fine_tune also has bitfit and lora (lesson 14).
STRATEGIES = ["scratch", "linear_probe", "full", "lp_ft", "discriminative", "gradual_unfreeze", "l2sp"]

# %% [markdown]
# The task of lesson 6: clean source images, a noisy target with $k$ labels per class drawn
# from a pool, a validation set carved from the target's pool beforehand (`split_target`),
# and a held-out test set.

# %%
task = make_noisy_task(data_dir=os.environ.get("MINITRANSFER_FASHION_DIR"))
source, test = task.source, task.target_test
pool, validation = split_target(task)
sizes = [source[0].shape[1], 128, 64, 10]
print("network", sizes, "| strategies:", ", ".join(STRATEGIES))
print("default learning rates (Adam):", {s: DEFAULT_LR[s] for s in STRATEGIES})
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
# optimizer skips them. The chain rule still runs *through* a frozen layer when a trainable
# layer lies below it: freeze only the middle layer, and the first one still learns. (None of
# this lesson's strategies needs that: gradual unfreezing goes top-down, so every trainable
# layer lies above the frozen ones. It is what lets you freeze any layer you choose.)

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
# new head; score it on the validation set and on the held-out test set. Besides accuracy we
# record how far each body layer travelled, $\lVert\theta_l - \theta^0_l\rVert / \lVert\theta^0_l\rVert$:
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
            records.append({"seed": seed, "k": k, "strategy": strategy, **drift,
                            "validation": evaluate(net, validation)["accuracy"],
                            "test": evaluate(net, test)["accuracy"]})
    print(f"seed {seed}: {len(KS) * len(STRATEGIES)} fine-tuning runs done")


def per_seed(k, strategy, key):
    """{seed: value} of one measurement (test, validation or a layer's drift)."""
    return {r["seed"]: r[key] for r in records if r["k"] == k and r["strategy"] == strategy}


def mean_of(k, strategy, key):
    return float(np.mean(list(per_seed(k, strategy, key).values())))


def paired(k, a, b, key):
    """The paired interval of a − b over seeds (one measurement, one k)."""
    first, second = per_seed(k, a, key), per_seed(k, b, key)
    return stats.paired_interval([first[s] - second[s] for s in SEEDS])


LAYERS = ["body.0.weight", "body.2.weight"]
print(f"{'k':>3} {'strategy':<17} {'test accuracy %':>15} {'validation %':>13}   drift body.0  body.2")
for k in KS:
    for strategy in STRATEGIES:
        test_acc = np.array(list(per_seed(k, strategy, "test").values()))
        drift = " ".join(f"{mean_of(k, strategy, n):>{w}.3f}"
                         for n, w in zip(LAYERS, (12, 7))) if strategy != "scratch" else "  (re-drawn)"
        print(f"{k:>3} {strategy:<17} {100 * test_acc.mean():>8.1f} ± {100 * test_acc.std(ddof=1):>3.1f} "
              f"{100 * mean_of(k, strategy, 'validation'):>13.1f}   {drift}")

# %% [markdown]
# ## 3. Reading the measurements
#
# **Gains over scratch** on the test set: one interval per strategy and $k$, read together
# with Holm's correction (lesson 6, section 0). **Which strategy moves a layer most** (of those
# that start from $\theta^0$; scratch re-draws it): the one with the largest mean drift,
# against the runner-up, paired by seed (two layers at each $k$, read together).
# **Choosing a strategy** uses the validation set only: the pick has the best mean validation
# accuracy; every other candidate is compared with it, paired by seed, and those with no
# detectable difference (Holm) are *within noise* of it — the data cannot tell them apart.
# The test accuracy of the pick is read once, after.

# %%
others = [s for s in STRATEGIES if s != "scratch"]
gains = [(k, s, [per_seed(k, s, "test")[i] - per_seed(k, "scratch", "test")[i] for i in SEEDS])
         for k in KS for s in others]
for (k, s, _), holm in zip(gains, stats.holm_verdicts([d for _, _, d in gains])):
    print(reading(f"gain over scratch: {s} k={k}", holm.interval, holm, len(gains)))
moves = []
for k in KS:
    for layer in LAYERS:
        ranked = sorted(others, key=lambda s: -mean_of(k, s, layer))
        moves.append((k, layer, ranked[0], ranked[1], paired(k, ranked[0], ranked[1], layer)))
tests = stats.holm_verdicts([[per_seed(k, a, n)[i] - per_seed(k, b, n)[i] for i in SEEDS]
                             for k, n, a, b, _ in moves])
for (k, layer, first, second, interval), holm in zip(moves, tests):
    print(reading(f"drift of {layer[:-7]} at k={k}, largest ({first}) minus runner-up ({second})", interval,
                  holm, len(moves), unit="% of its starting norm",
                  meaning={"helped": f"{first} moved it most", "no_difference": f"{first} and {second} tie"}))
for k in KS:
    mean_validation = {s: mean_of(k, s, "validation") for s in STRATEGIES}
    picks = [s for s in STRATEGIES if mean_validation[s] == max(mean_validation.values())]
    pick, rivals = picks[0], [s for s in STRATEGIES if s != picks[0]]
    verdicts = stats.holm_verdicts([[per_seed(k, pick, "validation")[i] - per_seed(k, s, "validation")[i]
                                     for i in SEEDS] for s in rivals])
    for s, holm in zip(rivals, verdicts):
        print(reading(f"validation k={k}: {pick} minus {s}", holm.interval, holm, len(rivals)))
    tied = [s for s, holm in zip(rivals, verdicts) if holm.verdict.code != stats.HELPED]
    print(f"conclusion: validation picks at k={k}: {' = '.join(picks)} "
          f"({100 * mean_validation[pick]:.1f}% on validation{', a tie' if len(picks) > 1 else ''}); "
          f"within noise of it (Holm over {len(rivals)}): {', '.join(tied) or 'none'}; "
          f"test accuracy, read once: " + ", ".join(f"{s} {100 * mean_of(k, s, 'test'):.1f}%" for s in picks))
frozen = max(max(per_seed(k, "linear_probe", n).values()) for k in KS for n in LAYERS)
still = ": its body never moved; whatever it reaches, it reaches with the pretrained features as they are"
print(f"conclusion: the linear probe's largest body drift is {frozen:.3f}" + (still if frozen == 0 else ""))

# %%
fig, ax = plt.subplots(figsize=(9, 3.6))
width = 0.8 / len(KS)
for j, k in enumerate(KS):
    intervals = [paired(k, s, "scratch", "test") for s in STRATEGIES]
    ax.bar(np.arange(len(STRATEGIES)) + j * width, [100 * i.estimate for i in intervals], width,
           yerr=np.nan_to_num([[100 * (i.estimate - i.low) for i in intervals],
                               [100 * (i.high - i.estimate) for i in intervals]]), label=f"k = {k}")
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(np.arange(len(STRATEGIES)) + width * (len(KS) - 1) / 2, STRATEGIES, fontsize=8, rotation=15)
ax.set_ylabel("test gain over scratch (points, 95% CI)")
ax.set_title("Fine-tuning strategies on the noisy target")
ax.legend()
save(fig, "strategies.png")

# %% [markdown]
# The printed lines say which candidates the validation data can tell apart from the pick, and
# which they cannot. Lesson 10 asks what choosing on so little validation data costs.
#
# ## 4. Exercise (it grades itself): build L2-SP yourself
#
# **07.1** Write the L2-SP penalty $\Omega(\theta) = \frac\alpha2\lVert\theta_{\text{body}} -
# \theta^0_{\text{body}}\rVert^2 + \frac\beta2\lVert\theta_{\text{head}}\rVert^2$ as a Tensor
# expression of `model`'s parameters, so that `backward()` gives its gradient. `reference`
# maps each body parameter's name to its starting array $\theta^0$; the head is `model.head`.
# The check compares your value and gradients with `transfer.l2sp_penalty` and with the hand
# computation $\alpha(\theta - \theta^0)$, $\beta\theta$ on a small model.

# %%
from exercises import lesson07  # noqa: E402


def my_l2sp_penalty(model, reference, alpha, beta):
    """Ω(θ) as a scalar Tensor (a function of model's parameters, so backward() works)."""
    raise NotImplementedError  # your code here


lesson07.check_l2sp_penalty(my_l2sp_penalty)

# %% [markdown]
# **Try it:** fine-tune with `optimizer="sgd"` (momentum 0.9) instead of Adam, or give L2-SP
# a much larger `alpha` and compare its drift with the linear probe's.
