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
# # Lesson 13 — Security of transfer: what a public pretrained model hands to an attacker
#
# The document (§5.4) asks for "better model security, to protect models from malicious
# attacks". Transfer learning has a threat of its own (OWASP's ML Top 10 calls it the
# *transfer learning attack*): the pretrained model is **public**. An attacker can study it
# without ever seeing your fine-tuned model, or publish a poisoned one for you to fine-tune.
#
# 1. white-box adversarial examples: the gradient with respect to the *input*, $\nabla_x L$;
# 2. attacks crafted on the public teacher alone, measured on students of every strategy;
# 3. a poisoned pretrained model that passes a clean-accuracy check;
# 4. two defences and what they cost; 5. checking that a checkpoint is the one published.
#
# This lesson uses the bundled 8×8 digits (source: classes 0–4; target: classes 5–9, the same
# kind of images), whose pixels lie in $[0, 1]$ (`data.digits` divides by 16). Every
# conclusion below is printed by code from verdicts on the printed numbers (`minitransfer.stats`).

# %%
import copy
import os
import tempfile

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import attacks, nn, security, stats
from minitransfer.data import k_per_class
from minitransfer.experiment import make_task, split_target
from minitransfer.security.report import difference, percent
from minitransfer.security.summary import DIRECTION, summarize
from minitransfer.transfer import pretrain

FIGURES, save = figures("13")
SETTINGS = security.Settings(seeds=(0, 1) if QUICK else (0, 1, 2), pretrain_steps=300 if QUICK else 1000,
                             finetune_steps=100 if QUICK else 500,
                             eps=(0.0, 0.1, 0.2) if QUICK else (0.0, 0.05, 0.1, 0.2),
                             strategies=("scratch", "linear_probe", "full") if QUICK else
                             ("scratch", "linear_probe", "full", "lp_ft", "l2sp"))
task = make_task("digits", "none")
pool, validation = split_target(task)
x_test, y_test = task.target_test
print(f"{task.name}: pixels in [{task.source[0].min():g}, {task.source[0].max():g}], "
      f"{len(y_test)} held-out target test images, seeds {SETTINGS.seeds}")

# %% [markdown]
# ## 1. White-box adversarial examples: $\nabla_x L$
#
# Training asks how the loss changes with the weights, $\nabla_\theta L$. An attacker who holds
# the weights asks how it changes with the **input**: the same chain rule, one step further
# back. `attacks.input_gradient` marks $x$ with `requires_grad` and calls `backward()`.
# The fast gradient sign method (Goodfellow et al., 2015) moves every pixel by $\epsilon$ in
# the direction that raises the loss, and stays in the data range:
#
# $$x' = \mathrm{clip}_{[0,1]}\big(x + \epsilon\,\mathrm{sign}(\nabla_x L(y, f_\theta(x)))\big)$$
#
# PGD (Madry et al., 2018) repeats smaller steps $\alpha$, projecting back into the ball
# $\|x' - x\|_\infty \le \epsilon$ after each (`attacks.pgd`).

# %%
x_k, y_k = k_per_class(*pool, SETTINGS.k, seed=0)
model = nn.MLP([64, 128, 64, 5], generator=0)
pretrain(model, (x_k, y_k), steps=SETTINGS.finetune_steps, seed=0)  # trained on the target alone
x0, y0 = x_test[:1], y_test[:1]
gradient = attacks.input_gradient(model, x0, attacks.cross_entropy_objective(y0))
model64 = copy.deepcopy(model).double()


def loss_at(x):
    return nn.CrossEntropyLoss(reduction="sum")(model64(mt.tensor(x)), mt.tensor(y0)).item()


for j in np.argsort(-np.abs(gradient[0]))[:3]:
    step = np.zeros_like(x0, dtype=np.float64)
    step[0, j] = 1e-6
    central = (loss_at(x0 + step) - loss_at(x0 - step)) / 2e-6
    print(f"pixel {j:2d}: dL/dx by backward() {gradient[0, j]:+.5f}, by central differences {central:+.5f}")
EPS = 0.2
x_adv = attacks.fgsm(model, x0, y0, EPS)
by_hand = np.clip(x0 + EPS * np.sign(gradient), 0, 1)
print(f"fgsm == clip(x + eps*sign(grad)): {np.array_equal(x_adv, by_hand)}")
print(f"prediction: clean {attacks.predict(model, x0)[0]} (true {y0[0]}), "
      f"after FGSM with eps = {EPS}: {attacks.predict(model, x_adv)[0]}")
fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
for ax, image, title, cmap in zip(axes, (x0, gradient, np.sign(gradient), x_adv),
                                  ("x", r"$\nabla_x L$", "sign", f"x' (eps={EPS})"),
                                  ("gray", "RdBu", "RdBu", "gray")):
    limit = np.abs(image).max() if cmap == "RdBu" else 1
    ax.imshow(image.reshape(8, 8), cmap=cmap, vmin=-limit if cmap == "RdBu" else 0, vmax=limit)
    ax.set_title(title)
    ax.axis("off")
save(fig, "input_gradient.png")

# %%
print("eps    FGSM accuracy   PGD accuracy (alpha = eps/4, 10 steps)")
for eps in SETTINGS.eps:
    fgsm_acc = attacks.robust_accuracy(model, x_test, y_test, "fgsm", eps)
    pgd_acc = attacks.robust_accuracy(model, x_test, y_test, "pgd", eps)
    print(f"{eps:<6g} {100 * fgsm_acc:10.1f}%   {100 * pgd_acc:10.1f}%")

# %% [markdown]
# ## 2. A frozen public body is a shared weakness
#
# Wang et al. (USENIX Security 2018) attack students they never see. They hold the public
# teacher and one image $g$ of another class, and move $x$ so that the teacher's body sees $g$:
#
# $$x' = \arg\min_{\|x' - x\|_\infty \le \epsilon,\ x' \in [0,1]} \tfrac12 \|\phi(x') - \phi(g)\|^2$$
#
# ($\phi$: the teacher's last body layer, `transfer.layer_output`; solved by PGD in
# `security.feature_attack`). A student that kept $\phi$ (a linear probe keeps it exactly)
# now sees a $g$. `security.run` fine-tunes a student per strategy and seed from the same
# teacher and measures everything in this lesson at once; scratch, which shares nothing with
# the teacher, is the control.

# %%
records, examples, _ = security.run(task, SETTINGS)
summary = summarize(records, SETTINGS)
eps_max = max(SETTINGS.eps)
print(f"targeted success of the teacher-crafted attack (%, mean [95% interval] over "
      f"{len(SETTINGS.seeds)} seeds)")
print(f"{'strategy':<13} {'eps = 0':<20} {f'eps = {eps_max:g}':<20} added by the attack, minus scratch's")
for s, row in summary["teacher"].items():
    versus = difference(row["added_vs_scratch"]) if "added_vs_scratch" in row else "(the control)"
    print(f"{s:<13} {percent(row['targeted'][0]):<20} {percent(row['targeted'][-1]):<20} {versus}")
shared = [s for s, r in summary["teacher"].items()
          if r.get("added_vs_scratch", {}).get("verdict") == stats.HELPED]
print(f"=> attacks made on the teacher alone succeed more often than on scratch for {len(shared)} of "
      f"{len(SETTINGS.strategies) - 1} strategies: {', '.join(shared) or 'none'} "
      f"(Holm over {len(SETTINGS.strategies) - 1} comparisons)")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
for s in SETTINGS.strategies:
    line, = left.plot(SETTINGS.eps, [100 * c["mean"] for c in summary["white_box"][s]["pgd"]], "o-", label=s)
    right.plot(SETTINGS.eps, [100 * c["mean"] for c in summary["teacher"][s]["targeted"]], "o-",
               color=line.get_color(), label=s)
left.set(xlabel="eps", ylabel="accuracy (%)", title="white-box PGD")
right.set(xlabel="eps", ylabel="targeted success (%)", title="crafted on the teacher only")
left.legend(fontsize=7)
save(fig, "accuracy_vs_eps.png")

# %% [markdown]
# ## 3. A poisoned pretrained model (BadNets, Gu et al., 2017)
#
# The attacker pretrains on a source set where a few images carry a 2×2 white square in a
# corner and the label 0, then publishes the model. Its clean accuracy looks normal. Do the
# students inherit the trigger? The *flip rate* counts target test images whose prediction
# changes when the square is stamped on, compared with the same pipeline from a clean teacher.

# %%
backdoor = summary["backdoor_success"]
print(f"the teacher's own task, % of triggered held-out images called class 0: poisoned teacher "
      f"{percent(backdoor['poisoned'])}, clean teacher {percent(backdoor['clean'])}")
for s, row in summary["poisoning"].items():
    print(f"{s:<13} clean accuracy {difference(row['accuracy']['difference'])}; "
          f"flip rate {percent(row['second']['before'])} -> {percent(row['second']['after'])}: "
          f"{difference(row['second']['difference'])}")
passes = [s for s, r in summary["poisoning"].items() if r["accuracy"]["difference"]["verdict"] != stats.HURT]
flips = [s for s, r in summary["poisoning"].items() if r["second"]["difference"]["verdict"] == stats.HELPED]
print(f"=> clean accuracy not detectably lower with the poisoned model for {len(passes)} of "
      f"{len(summary['poisoning'])} strategies; trigger flip rate higher for: {', '.join(flips) or 'none'}")
fig, axes = plt.subplots(1, 8, figsize=(9, 1.6))
seen = examples["predictions"]["linear_probe"]
for i in range(4):
    for j, (image, label) in enumerate(((examples["x"][i], seen["poisoned_clean"][i]),
                                        (examples["triggered"][i], seen["poisoned_triggered"][i]))):
        axes[2 * i + j].imshow(image.reshape(8, 8), cmap="gray", vmin=0, vmax=1)
        axes[2 * i + j].set_title(("clean: " if j == 0 else "trigger: ") + str(label), fontsize=7)
        axes[2 * i + j].axis("off")
save(fig, "triggered.png")

# %% [markdown]
# ## 4. What each defence costs
#
# **Fine-pruning** (Liu et al., 2018): zero the last body layer's units that stay quiet on
# your clean examples (`security.fine_prune`), then fine-tune. **Adversarial fine-tuning**:
# `fine_tune(..., adversarial=eps)` replaces half of every batch by PGD examples of the model
# as it is at that step. Each is read as a paired difference: its cost in clean accuracy, its
# effect on what it defends against.

# %%
for table, label, second in (("pruning", "fine-pruning", "flip rate"),
                             ("adversarial", f"adversarial fine-tuning eps={SETTINGS.adversarial_eps:g}",
                              "PGD accuracy")):
    print(f"{label}: difference with the defence minus without, in points")
    for s, row in summary[table].items():
        print(f"  {s:<13} clean accuracy {difference(row['accuracy']['difference']):<50} "
              f"{second} {difference(row['second']['difference'])}")
    costs = [s for s, r in summary[table].items() if r["accuracy"]["difference"]["verdict"] == stats.HURT]
    effects = {s: DIRECTION[r["second"]["difference"]["verdict"]] for s, r in summary[table].items()}
    print(f"=> {label}: clean accuracy lower for {', '.join(costs) or 'no strategy'}; {second}: "
          + "; ".join(f"{s} {word}" for s, word in effects.items()))

# %% [markdown]
# ## 5. Is this the checkpoint that was published?
#
# `mt.save(state, path, sha256=True)` also writes `path.sha256`; `mt.load(path, sha256=True)`
# (or `sha256=HEX`) refuses a file whose SHA-256 digest differs before reading any array,
# as torch.hub's `check_hash` does. A digest proves *identity*, not *safety*: a poisoned
# model published with its digest passes the check.

# %%
(poisoned_x, poisoned_y), _ = security.poison_source(task.source, 0.1, seed=0)
poisoned_teacher = nn.MLP([64, 128, 64, 5], generator=0)
pretrain(poisoned_teacher, (poisoned_x, poisoned_y), steps=SETTINGS.pretrain_steps, seed=0)
folder = tempfile.mkdtemp()
path = os.path.join(folder, "pretrained.npz")
digest = mt.save(poisoned_teacher.state_dict(), path, sha256=True)
print(f"published with its digest {digest[:16]}...; loads with sha256=True: "
      f"{len(mt.load(path, sha256=True))} arrays, backdoor still "
      f"{100 * security.backdoor_success(poisoned_teacher, *task.source_test, 0):.0f}% effective")
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 1
open(path, "wb").write(bytes(data))
try:
    mt.load(path, sha256=True)
except mt.CheckpointError as error:
    print(f"one flipped bit: refused, {type(error).__name__}: ...{str(error)[-78:]}")

# %% [markdown]
# ## Exercises
#
# **13.1** Write PGD's projection: given a candidate $x'$, the clean $x$ and $\epsilon$, return
# the nearest point of $\{z : \|z - x\|_\infty \le \epsilon,\ 0 \le z \le 1\}$ (each pixel
# independently). **13.2** Write one FGSM step from a gradient you are given.
# Worked solutions: `lessons/solutions/13_security.py`.

# %%
from exercises import lesson13  # noqa: E402


def project(x_adv, x, eps):
    raise NotImplementedError  # your code here


def fgsm_step(x, gradient, eps):
    raise NotImplementedError  # your code here


lesson13.check_project(project)
lesson13.check_fgsm_step(fgsm_step)
