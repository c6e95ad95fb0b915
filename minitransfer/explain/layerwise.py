"""Layer-wise transferability (Yosinski, Clune, Bengio & Lipson, 2014): are lower layers general?

``layer_groups`` gives the layers near the input the smallest learning rates because they are
said to hold the most general features. This experiment measures it. For j = 0, 1, ..., L
(L body layers): copy the first j pretrained body layers into a network whose other layers are
freshly initialised, then train on the target

- **frozen** (Yosinski's "AnB"): the j copied layers stay fixed, the rest learn;
- **fine-tuned** ("AnB⁺"): every layer learns, the copied ones starting from pretraining.

j = 0 copies nothing: both are training from scratch, the baseline. If layer l's features are
general, copying it frozen costs nothing against scratch; if they are specific to the source
task, the frozen accuracy falls as j grows past l.
"""

import copy
from dataclasses import dataclass

import numpy as np

from minitransfer import nn
from minitransfer.train import evaluate, fit
from minitransfer.transfer.workflow import (
    body_layers,
    check_body_head,
    freeze,
    make_loader,
    make_optimizer,
    replace_head,
)


@dataclass(frozen=True)
class LayerRun:
    layers_copied: int  # j: the first j body layers come from pretraining
    frozen: bool  # the copied layers were kept fixed (AnB) or trained too (AnB⁺)
    accuracy: float  # on the target's test set


def fresh_network(pretrained, outputs, seed):
    """The pretrained network's shape, every layer re-drawn (PyTorch's init) from ``seed``.

    Drawn once per seed and shared by every j, so the layers that are not copied start from the
    same weights whatever j is: the runs differ only in what was copied.
    """
    fresh = copy.deepcopy(pretrained)
    generator = np.random.default_rng(seed + 20_000)
    for _, layer in body_layers(fresh):
        layer.reset_parameters(generator)
    replace_head(fresh, outputs, generator=generator)
    return fresh


def copy_first_layers(pretrained, network, j):
    """Copy the parameters of the first j body layers of ``pretrained`` into ``network``."""
    for (_, source), (_, layer) in list(zip(body_layers(pretrained), body_layers(network)))[:j]:
        layer.load_state_dict(source.state_dict())
    return [layer for _, layer in body_layers(network)[:j]]


def layerwise_transferability(pretrained, target_train, target_test, *, outputs, steps=300,
                              lr=1e-3, batch_size=32, seed=0):
    """Target accuracy for every j = 0..L, frozen and fine-tuned: a list of ``LayerRun``.

    ``pretrained``: a model with a body and a head; ``target_train`` the (x, y) examples to
    train on (k per class), ``target_test`` the held-out (x, y); ``outputs`` the target's
    number of classes. Every run trains ``steps`` Adam steps at ``lr`` on the same batches
    (``seed``). j = 0 runs once and is listed as both frozen and fine-tuned.
    """
    check_body_head(pretrained, "layerwise_transferability")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"layerwise_transferability: steps: expected a positive integer, got {steps!r}")
    fresh = fresh_network(pretrained, outputs, seed)
    runs = []
    for j in range(len(body_layers(pretrained)) + 1):
        for frozen in (True, False):
            if j == 0 and not frozen:
                runs.append(LayerRun(0, False, runs[-1].accuracy))  # the same run: nothing copied
                continue
            network = copy.deepcopy(fresh)
            copied = copy_first_layers(pretrained, network, j)
            if frozen:
                for layer in copied:
                    freeze(layer)
            trainable = [p for p in network.parameters() if p.requires_grad]
            fit(network, nn.CrossEntropyLoss(), make_optimizer(trainable, "adam", lr),
                make_loader(target_train, batch_size, seed), steps=steps, progress=False)
            runs.append(LayerRun(j, frozen, evaluate(network, target_test)["accuracy"]))
    return runs
