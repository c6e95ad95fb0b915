"""Lesson 05's exercise: the line the document's program is missing, for any network.

05.1 ``carry_over(pretrained, new_net, head)``: copy every pretrained parameter into
     ``new_net`` except those of its output layer, the child module named ``head`` (its
     ``head.weight`` and ``head.bias`` stay as ``new_net`` initialised them), and return
     ``new_net``. The copy must be a copy: fine-tuning ``new_net`` afterwards must leave the
     pretrained network as it was. Checked on two-layer networks (the document's ``Net``)
     and a three-layer one, with a new head of the same size as the old one and of another size.
"""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade
from minitransfer import nn

__all__ = ["check_carry_over"]


class _TwoLayers(nn.Module):
    def __init__(self, n_in, hidden, n_out, seed):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden, generator=seed)
        self.fc2 = nn.Linear(hidden, n_out, generator=seed + 1)

    def forward(self, x):
        return self.fc2(mt.relu(self.fc1(x)))


class _ThreeLayers(nn.Module):
    def __init__(self, n_in, hidden, n_out, seed):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden, generator=seed)
        self.fc2 = nn.Linear(hidden, hidden, generator=seed + 1)
        self.out = nn.Linear(hidden, n_out, generator=seed + 2)

    def forward(self, x):
        return self.out(mt.relu(self.fc2(mt.relu(self.fc1(x)))))


# (network class, its head's name, outputs of the pretrained head, outputs of the new head)
_CASES = [(_TwoLayers, "fc2", 4, 4), (_TwoLayers, "fc2", 4, 3), (_ThreeLayers, "out", 5, 2)]


def _values(module):
    return {name: p.detach().numpy().copy() for name, p in module.named_parameters()}


def _problem(answer, network, head, old_outputs, new_outputs):
    pretrained = network(6, 5, old_outputs, seed=1)
    new_net = network(6, 5, new_outputs, seed=11)
    before, fresh = _values(pretrained), _values(new_net)
    where = f"{network.__name__[1:]} with head {head!r} ({old_outputs} -> {new_outputs} outputs)"
    returned = attempted(answer(pretrained, new_net, head))
    if returned is not new_net:
        return f"{where}: expected your function to return new_net, got {type(returned).__name__}"
    pretrained_params = dict(pretrained.named_parameters())
    for name, param in new_net.named_parameters():
        value = param.detach().numpy()
        if name.startswith(head + "."):
            if not np.array_equal(value, fresh[name]):
                return f"{where}: {name} changed; the new head must keep its fresh initial values"
        elif not np.array_equal(value, before[name]):
            return f"{where}: {name} does not hold the pretrained values"
        elif param is pretrained_params[name] or np.shares_memory(param.data, pretrained_params[name].data):
            return (f"{where}: {name} is the pretrained network's own array, not a copy: fine-tuning "
                    f"new_net would change the pretrained network too")
    if any(not np.array_equal(p.detach().numpy(), before[name]) for name, p in pretrained.named_parameters()):
        return f"{where}: your function changed the pretrained network"
    return None


def check_carry_over(carry_over):
    """Exercise 05.1: the pretrained body copied into new_net, its new head left as initialised."""

    def check(answer):
        for case in _CASES:
            problem = _problem(answer, *case)
            if problem:
                return problem
        return None

    return grade("05.1", check, carry_over)


# --- what tests/test_exercises.py runs: mistakes the check must catch ---

def _as_written(pretrained, new_net, head):
    """Wrong: the document's program, which copies nothing."""
    return new_net


def _head_too(pretrained, new_net, head):
    """Wrong: loads the whole state dict, the old head included (or fails when sizes differ)."""
    new_net.load_state_dict(pretrained.state_dict())
    return new_net


def _shared_layers(pretrained, new_net, head):
    """Wrong: hands the pretrained layers themselves to new_net instead of copying their values."""
    for name, module in pretrained.named_children():
        if name != head:
            setattr(new_net, name, module)
    return new_net


def _weights_only(pretrained, new_net, head):
    """Wrong: copies the weight matrices and forgets the biases."""
    weights = {k: v for k, v in pretrained.state_dict().items()
               if k.endswith(".weight") and not k.startswith(head + ".")}
    new_net.load_state_dict(weights, strict=False)
    return new_net


SELF_TEST = [
    (check_carry_over, "05_the_document_program.py:carry_over",
     [_as_written, _head_too, _shared_layers, _weights_only]),
]
