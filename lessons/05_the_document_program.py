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
# # Lesson 5 — The document's §4 program, its bug, and the corrected transfer
#
# §4 of the document shows a PyTorch program: define `Net` (784-128-10), pretrain it with
# SGD ($\eta = 0.01$, 10 epochs) on a large data set, then define `NewTaskNet` and
# fine-tune it on the new task. Below it runs unchanged except for one rename,
# `torch` → `minitransfer` (`torch.relu` → `minitransfer.relu`, `nn` and `optim` are ours).
#
# Read the second half of the program closely: `new_task_net = NewTaskNet(...)` builds a
# **fresh, randomly initialised** network. Nothing ever copies `net`'s weights into it. The
# "fine-tuning" is training from scratch, and the pretraining is thrown away. This lesson
# proves it with numbers, then fixes it.
#
# The tasks: the "large data set" is a set of clean images (Fashion-MNIST, or the 8×8
# digits when Fashion-MNIST is not installed). The new task is other images of the same
# kinds seen through a noisy sensor, with only 10 labels per class.
#
# Run it: `python lessons/05_the_document_program.py` (figures go to `figures/05/`).

# %%
import os

import numpy as np
from _lesson import QUICK, figures, plt

import minitransfer
import minitransfer.nn as nn
import minitransfer.optim as optim
from minitransfer.data import (
    DataLoader,
    TensorDataset,
    k_per_class,
)
from minitransfer.experiment import make_noisy_task
from minitransfer.stats import HELPED, HURT, holm_verdicts
from minitransfer.train import evaluate

FIGURES, save = figures("05")


# %%
def load_data():
    """Clean source images, and noisy target images (pool and held-out test): Fashion or digits."""
    task = make_noisy_task(data_dir=os.environ.get("MINITRANSFER_FASHION_DIR"))
    return task.source, task.target_train, task.target_test


source, target_pool, target_test = load_data()
if QUICK:
    source = (source[0][:3000], source[1][:3000])
x_new, y_new = k_per_class(*target_pool, k=10, seed=0)
print(f"source: {len(source[1])} clean images; new task: {len(y_new)} labelled noisy images "
      f"(10 per class); held-out new-task test: {len(target_test[1])}")
train_loader = DataLoader(TensorDataset(*source), batch_size=64, shuffle=True, seed=0)
new_task_loader = DataLoader(TensorDataset(x_new, y_new), batch_size=10, shuffle=True, seed=0)
new_task_input_size = source[0].shape[1]
new_task_output_size = 10
EPOCHS = 2 if QUICK else 10  # the document's 10
# The digits' source set is about 13 times smaller than our Fashion-MNIST one: on it we pretrain
# for 10 times as many epochs, so that pretraining gets a comparable number of SGD steps (the
# counts are printed). The new task always gets the document's 10 epochs.
PRETRAIN_EPOCHS = EPOCHS * (10 if len(source[1]) < 2000 else 1)
print(f"pretraining: {PRETRAIN_EPOCHS} epochs x {len(train_loader)} batches of 64 = "
      f"{PRETRAIN_EPOCHS * len(train_loader):,} SGD steps; new task: {EPOCHS} epochs x "
      f"{len(new_task_loader)} batches of 10 = {EPOCHS * len(new_task_loader)} steps")

# %% [markdown]
# ## 1. The program, as the document wrote it
#
# Pretraining minimises the source risk $\frac1m\sum_{i\le m} L(y_i, f_\theta(x_i))$ (§3.3.1)
# by SGD, $\theta \leftarrow \theta - \eta\nabla_\theta$ (`optim.SGD`, lesson 4).

# %%
# 定义神经网络模型 (define the network)
class Net(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(Net, self).__init__()  # noqa: UP008 (the document's spelling)
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = minitransfer.relu(self.fc1(x))
        x = self.fc2(x)
        return x


minitransfer.manual_seed(0)
input_size = new_task_input_size  # 784 on Fashion-MNIST, as in the document; 64 on digits
hidden_size = 128
output_size = 10
net = Net(input_size, hidden_size, output_size)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.01)

for epoch in range(PRETRAIN_EPOCHS):  # noqa: B007 (the document's loop)
    for batch_idx, (data, target) in enumerate(train_loader):  # noqa: B007
        optimizer.zero_grad()
        output = net(data)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()
print(f"pretrained Net: source accuracy {evaluate(net, source)['accuracy']:.1%}")


# %%
# 将预训练模型应用到新的任务 (apply the pretrained model to the new task)
class NewTaskNet(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(NewTaskNet, self).__init__()  # noqa: UP008 (the document's spelling)
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = minitransfer.relu(self.fc1(x))
        x = self.fc2(x)
        return x


def fine_tune_new_task(new_task_net, epochs=EPOCHS):
    """The document's second training loop, on the new task's loader."""
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(new_task_net.parameters(), lr=0.01)
    for epoch in range(epochs):  # noqa: B007 (the document's loop)
        for batch_idx, (data, target) in enumerate(new_task_loader):  # noqa: B007
            optimizer.zero_grad()
            output = new_task_net(data)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
    return evaluate(new_task_net, target_test)["accuracy"]


new_task_net = NewTaskNet(new_task_input_size, hidden_size, new_task_output_size)
initial_fc1 = new_task_net.fc1.weight.detach().numpy().copy()
as_written = fine_tune_new_task(new_task_net)
print(f"the document's program: new-task test accuracy {as_written:.1%}")

# %% [markdown]
# ## 2. The bug, measured
#
# If `new_task_net` had inherited the pretrained layer, its `fc1.weight` would start equal
# to `net.fc1.weight`. We check, and measure the correlation of the two weight matrices,
# before and after fine-tuning: for two unrelated random draws of $n$ numbers it is about
# $\pm 1/\sqrt{n}$, so we compare it with $3/\sqrt{n}$.

# %%
def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


pretrained_fc1 = net.fc1.weight.detach().numpy()
print("new_task_net.fc1 started equal to net.fc1:", np.array_equal(initial_fc1, pretrained_fc1))
print(f"correlation of the starting fc1 with the pretrained fc1: "
      f"{correlation(initial_fc1, pretrained_fc1):+.3f}")
print(f"after fine-tuning, correlation with the pretrained fc1:   "
      f"{correlation(new_task_net.fc1.weight.detach().numpy(), pretrained_fc1):+.3f}")
chance = 3 / np.sqrt(pretrained_fc1.size)
unrelated = [abs(correlation(w, pretrained_fc1)) < chance
             for w in (initial_fc1, new_task_net.fc1.weight.detach().numpy())]
print(f"within 3/sqrt(n) = {chance:.3f} of 0 (n = {pretrained_fc1.size:,} weights): "
      f"at the start {unrelated[0]}, after fine-tuning {unrelated[1]}")
if not np.array_equal(initial_fc1, pretrained_fc1) and all(unrelated):
    print("so new_task_net's first layer started, and ended, as unrelated to the pretrained one as "
          "two random draws are: the pretraining did not reach it")

# %% [markdown]
# ## 3. The fix: carry the pretrained weights over
#
# §3.1 says what should happen: keep the pretrained network and replace only its last
# layer. In PyTorch (and here) that is one call, before the fine-tuning loop: load the
# pretrained state dict **without** the old output layer, with `strict=False` so that the
# missing `fc2.*` keys (the new head) are reported instead of refused.

# %%
def transferred_net(seed):
    minitransfer.manual_seed(seed)
    new_task_net = NewTaskNet(new_task_input_size, hidden_size, new_task_output_size)
    body = {k: v for k, v in net.state_dict().items() if not k.startswith("fc2.")}
    keys = new_task_net.load_state_dict(body, strict=False)  # the missing line
    return new_task_net, keys


fixed_net, keys = transferred_net(seed=1)
print("missing keys (the new head, freshly initialised):", keys.missing_keys)
print("new_task_net.fc1 now starts equal to net.fc1:",
      np.array_equal(fixed_net.fc1.weight.detach().numpy(), pretrained_fc1))
fixed = fine_tune_new_task(fixed_net)
print(f"corrected program: new-task test accuracy {fixed:.1%} (document as written: {as_written:.1%})")

# %% [markdown]
# ## 4. Over seeds, and with more compute
#
# One run proves little. For each of five seeds (three in quick mode), a fresh head (or a fresh
# network, for the program as written) drawn from that seed is trained on the same batches
# for the document's 10 epochs and for 5× longer. Paired by seed, we take the gain
# *corrected − as written* at each budget, and the change of that gain from the short to the
# long budget, each with its 95% interval (`stats.paired_interval`). The three are read
# together, so their verdicts use Holm's correction (`stats.holm_verdicts`): the chance that
# any of the three says "helped" or "hurt" by luck stays at most 5%. (For the third, "helped"
# means that the gain is larger at the short budget.) The sentences after the numbers are
# printed from those verdicts.

# %%
seeds = range(3) if QUICK else range(5)
budgets = (EPOCHS, 5 * EPOCHS)
rows = {}
for epochs in budgets:
    for name in ("as written (scratch)", "corrected (transfer)"):
        accs = []
        for seed in seeds:
            if name.startswith("as written"):
                minitransfer.manual_seed(100 + seed)
                model = NewTaskNet(new_task_input_size, hidden_size, new_task_output_size)
            else:
                model, _ = transferred_net(100 + seed)
            accs.append(fine_tune_new_task(model, epochs))
        rows[(name, epochs)] = accs
        print(f"{name:<22} {epochs:>3} epochs ({epochs * len(new_task_loader):>4} steps): "
              f"accuracy {np.mean(accs):.1%} ± {np.std(accs, ddof=1):.1%}")
def gain(epochs):
    """Points of accuracy, corrected − as written, one per seed (same seed, same head and batches)."""
    corrected, as_written = rows[("corrected (transfer)", epochs)], rows[("as written (scratch)", epochs)]
    return 100 * (np.array(corrected) - np.array(as_written))


def points(interval):
    return f"{interval.estimate:+.1f} [{interval.low:+.1f}, {interval.high:+.1f}]"


short, long = budgets
comparisons = holm_verdicts([gain(short), gain(long), gain(short) - gain(long)])
labels = [f"gain at {short} epochs", f"gain at {long} epochs", f"gain at {short} - gain at {long}"]
print(f"corrected - as written, paired by seed, in points [95% interval], {len(seeds)} seeds; "
      f"verdicts Holm-corrected over 3 comparisons:")
for label, comparison in zip(labels, comparisons):
    print(f"  {label:<26} {points(comparison.interval):<22} {comparison.verdict}")
at_short, at_long, change = (c.verdict.code for c in comparisons)
reading = {HELPED: "the transfer helped", HURT: "the transfer hurt"}
budget = f"{short} epochs" + (" (quick mode; the document's 10 in full)" if QUICK else ", the document's")
print(f"the missing line costs {comparisons[0].interval.estimate:.1f} points of accuracy at {budget}: "
      f"{reading.get(at_short, 'not distinguishable from 0')}")
if change == HELPED:
    still = (f"the transfer is still ahead at {long} epochs" if at_long == HELPED
             else f"at {long} epochs no gap is detectable")
    print(f"with 5x the steps the gap shrinks by {comparisons[2].interval.estimate:.1f} points: training "
          f"from scratch closes part of it; {still}")
elif change == HURT:
    print(f"with 5x the steps the gap grows by {-comparisons[2].interval.estimate:.1f} points")
else:
    print(f"no detectable change in the gap between {short} and {long} epochs with {len(seeds)} seeds")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for i, epochs in enumerate(budgets):
    for j, name in enumerate(("as written (scratch)", "corrected (transfer)")):
        accs = rows[(name, epochs)]
        ax.bar(i * 3 + j, 100 * np.mean(accs), yerr=100 * np.std(accs, ddof=1), color=f"C{j}",
               label=name if i == 0 else None)
ax.set_xticks([0.5, 3.5], [f"{epochs} epochs" for epochs in budgets])
ax.set_ylabel("new-task test accuracy (%)")
ax.set_title("The document's §4 program, as written and corrected")
ax.legend()
save(fig, "as_written_vs_corrected.png")

# %% [markdown]
# ## 5. The same with the package's tools
#
# The corrected program is what `transfer.replace_head` does for an `nn.MLP` (whose layers
# are named `body` and `head`): keep the body, swap in a new head, and report what was
# reused. Lesson 6 runs the whole workflow — pretrain, replace the head, fine-tune — and
# measures the document's claims.

# %%
from minitransfer.transfer import replace_head

mlp = nn.MLP([new_task_input_size, hidden_size, output_size], generator=0)
mlp.load_state_dict({"body.0.weight": net.fc1.weight, "body.0.bias": net.fc1.bias,
                     "head.weight": net.fc2.weight, "head.bias": net.fc2.bias})
print(replace_head(mlp, new_task_output_size, generator=1))

# %% [markdown]
# ## 6. Exercise: the missing line, for any network
#
# **05.1** Write `carry_over(pretrained, new_net, head)`: copy every parameter of `pretrained`
# into `new_net` except those of its output layer, the child module named `head` (which keeps
# the values `new_net` was initialised with), and return `new_net`. The copy must be a copy:
# fine-tuning `new_net` afterwards must leave `pretrained` as it was. The check runs your
# function on the document's two-layer `Net` (with a new head of the same size and of another
# size) and on a three-layer network whose head is called `out`. Worked solution:
# `lessons/solutions/05_the_document_program.py`.

# %%
from exercises import lesson05


def carry_over(pretrained, new_net, head):
    """new_net with every pretrained parameter except the head's copied into it."""
    raise NotImplementedError  # your code here


lesson05.check_carry_over(carry_over)
