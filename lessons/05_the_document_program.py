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
# The digits' source set is 13 times smaller than our Fashion-MNIST one: on it we pretrain for
# 100 epochs, so that pretraining gets about as many SGD steps (1,400) as 10 epochs give on
# Fashion-MNIST (1,880). The new task always gets the document's 10 epochs.
PRETRAIN_EPOCHS = EPOCHS * (10 if len(source[1]) < 2000 else 1)

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
# to `net.fc1.weight`. It does not: the two are unrelated random draws (correlation ≈ 0).

# %%
def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


pretrained_fc1 = net.fc1.weight.detach().numpy()
print("new_task_net.fc1 started equal to net.fc1:", np.array_equal(initial_fc1, pretrained_fc1))
print(f"correlation of the starting fc1 with the pretrained fc1: "
      f"{correlation(initial_fc1, pretrained_fc1):+.3f}")
print(f"after fine-tuning, correlation with the pretrained fc1:   "
      f"{correlation(new_task_net.fc1.weight.detach().numpy(), pretrained_fc1):+.3f}")

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
# One run proves little. Five fresh heads (or fresh networks, for the program as written),
# trained for the document's 10 epochs and for 5× longer. Transfer's head start matters
# most when the compute is small; with more steps, training from scratch closes part of the gap.

# %%
seeds = range(2) if QUICK else range(5)
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
gain = np.mean(rows[("corrected (transfer)", EPOCHS)]) - np.mean(rows[("as written (scratch)", EPOCHS)])
print(f"the missing line costs {100 * gain:.1f} points of accuracy at the document's {EPOCHS} epochs")
print(f"corrected, {EPOCHS} epochs: {np.mean(rows[('corrected (transfer)', EPOCHS)]):.1%}; as written, "
      f"{EPOCHS} epochs: {np.mean(rows[('as written (scratch)', EPOCHS)]):.1%}, "
      f"{5 * EPOCHS} epochs: {np.mean(rows[('as written (scratch)', 5 * EPOCHS)]):.1%}")

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
