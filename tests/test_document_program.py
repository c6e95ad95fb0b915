"""The source document's §4 PyTorch program, run with ``torch`` renamed to ``minitransfer``.

The program's lines are kept as the document wrote them (same class definitions, nn.Linear,
relu, nn.CrossEntropyLoss, optim.SGD(net.parameters(), lr=0.01), zero_grad, backward, step);
only the imports change, ``torch.relu`` becomes ``minitransfer.relu``, and the data loaders,
which the document never defines, are tiny synthetic lists of (inputs, labels) batches.

The document then builds ``new_task_net = NewTaskNet(...)`` and fine-tunes it, but nothing
copies the pretrained weights into it: the "fine-tuned" network silently starts from scratch.
The first test shows that; the second carries the pretrained body over, as transfer learning
intends (load the pretrained state dict without the head, keep the new head).
"""

import numpy as np

import minitransfer
import minitransfer.nn as nn
import minitransfer.optim as optim


def make_loader(num_classes, batches, seed, input_size=784, batch_size=16):
    """A list of (data, target) batches: class c is a noisy copy of its own random prototype."""
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((num_classes, input_size)).astype(np.float32)
    loader = []
    for _ in range(batches):
        target = rng.integers(0, num_classes, size=batch_size)
        data = prototypes[target] + rng.standard_normal((batch_size, input_size)).astype(np.float32)
        loader.append((minitransfer.tensor(data), minitransfer.tensor(target)))
    return loader


train_loader = make_loader(num_classes=10, batches=4, seed=0)
new_task_loader = make_loader(num_classes=5, batches=3, seed=1)
new_task_input_size = 784
new_task_output_size = 5


# ---- the document's definitions, verbatim but for torch.relu -> minitransfer.relu -------------
class Net(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(Net, self).__init__()  # noqa: UP008 (the document's spelling)
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = minitransfer.relu(self.fc1(x))
        x = self.fc2(x)
        return x


class NewTaskNet(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(NewTaskNet, self).__init__()  # noqa: UP008 (the document's spelling)
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        x = minitransfer.relu(self.fc1(x))
        x = self.fc2(x)
        return x


def pretrain():
    """The document's pretraining part, returning the network and its first/last epoch loss."""
    minitransfer.manual_seed(0)
    input_size = 784
    hidden_size = 128
    output_size = 10
    net = Net(input_size, hidden_size, output_size)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01)

    epoch_losses = []
    for epoch in range(10):  # noqa: B007 (the document's loop)
        total = 0.0
        for batch_idx, (data, target) in enumerate(train_loader):  # noqa: B007
            optimizer.zero_grad()
            output = net(data)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            total += loss.item()
        epoch_losses.append(total / len(train_loader))
    return net, hidden_size, epoch_losses


def fine_tune(new_task_net):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(new_task_net.parameters(), lr=0.01)
    losses = []
    for epoch in range(10):  # noqa: B007 (the document's loop)
        for batch_idx, (data, target) in enumerate(new_task_loader):  # noqa: B007
            optimizer.zero_grad()
            output = new_task_net(data)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def weights(layer):
    return layer.weight.detach().numpy().copy()


def test_the_documents_program_runs_but_starts_the_new_network_from_scratch():
    net, hidden_size, epoch_losses = pretrain()
    assert epoch_losses[-1] < 0.5 * epoch_losses[0]  # pretraining does learn

    # The document's step 2, as written: a brand-new network with fresh random weights.
    new_task_net = NewTaskNet(new_task_input_size, hidden_size, new_task_output_size)
    # BUG in the document: nothing copies net's weights into new_task_net, so this is training
    # from scratch, not transfer learning. Its fc1 is not the pretrained fc1:
    assert not np.array_equal(weights(new_task_net.fc1), weights(net.fc1))
    assert np.abs(weights(new_task_net.fc1) - weights(net.fc1)).max() > 1e-2
    losses = fine_tune(new_task_net)
    assert losses[-1] < losses[0]


def test_the_corrected_program_carries_the_pretrained_weights_over(tmp_path):
    net, hidden_size, _ = pretrain()
    minitransfer.save(net.state_dict(), tmp_path / "pretrained.npz")

    # The fix: the new network gets a new head (fc2 with 5 outputs, freshly initialised) and
    # every other pretrained weight, loaded from the checkpoint without the old head's keys.
    new_task_net = NewTaskNet(new_task_input_size, hidden_size, new_task_output_size)
    pretrained = minitransfer.load(tmp_path / "pretrained.npz")
    body_only = {k: v for k, v in pretrained.items() if not k.startswith("fc2.")}
    result = new_task_net.load_state_dict(body_only, strict=False)
    assert result.missing_keys == ["fc2.weight", "fc2.bias"] and result.unexpected_keys == []

    np.testing.assert_array_equal(weights(new_task_net.fc1), weights(net.fc1))
    np.testing.assert_array_equal(new_task_net.fc1.bias.detach().numpy(),
                                  net.fc1.bias.detach().numpy())
    assert new_task_net.fc2.weight.shape == (5, 128) and net.fc2.weight.shape == (10, 128)
    losses = fine_tune(new_task_net)
    assert losses[-1] < losses[0]
