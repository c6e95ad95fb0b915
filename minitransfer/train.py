"""The training objective as code: empirical risk, its minimisation by minibatch SGD, evaluation.

The document's general objective (§3.3) is the empirical risk

    R̂(θ) = (1/n) Σᵢ₌₁ⁿ L(yᵢ, f_θ(xᵢ))

``empirical_risk`` computes it over a whole data set; ``fit`` minimises it by minibatch
gradient descent, θ ← θ − η ∇θ R̂_B(θ) on one batch B at a time (the optimizer's ``step``);
``evaluate`` reports accuracy and loss on held-out data.
"""

import math
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from minitransfer import backend, replay
from minitransfer.autograd import no_grad
from minitransfer.data.loader import DataLoader
from minitransfer.tensor import Tensor


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the failing step was not applied."""


@dataclass
class History:
    """What ``fit`` measured: the loss of every step, metrics per epoch, wall time."""

    losses: list = field(default_factory=list)  # training loss of every optimiser step
    epochs: list = field(default_factory=list)  # one dict per epoch: epoch, loss, accuracy, ...
    steps: int = 0
    seconds: float = 0.0

    def last(self, key):
        return self.epochs[-1][key] if self.epochs else None


def model_device(model):
    """The device of a model's first parameter ('cpu' for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return "cpu"


def as_xy(data):
    """Accept (x, y) arrays or tensors, or a data set with ``.x`` and ``.y``."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    elif hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    elif hasattr(data, "arrays") and len(data.arrays) == 2:  # a TensorDataset
        x, y = data.arrays
    else:
        raise TypeError(f"data: expected an (x, y) pair or a data set with x and y, got "
                        f"{type(data).__name__}")
    x = x.data if isinstance(x, Tensor) else x
    y = y.data if isinstance(y, Tensor) else y
    if len(x) != len(y):
        raise ValueError(f"data: x and y must hold the same number of examples, got {len(x)} "
                         f"and {len(y)}")
    _check_finite(x, "data x")
    _check_finite(y, "data y")
    return x, y


def _check_finite(array, argument):
    """Raise ValueError naming ``argument`` and the first NaN/infinity of a float array.

    A NaN in the inputs does not always give a NaN loss (ReLU maps it to 0 in the forward
    pass), but its gradient is NaN: one such batch silently fills the weights with NaN.
    """
    if not backend.is_array(array) or not backend.is_floating(array):
        return
    xp = backend.namespace(array)
    finite = xp.isfinite(array)
    if bool(xp.all(finite)):
        return
    host, bad = backend.to_numpy(array), np.argwhere(~backend.to_numpy(finite))[0]
    index = tuple(int(i) for i in bad)
    raise ValueError(f"{argument}: expected finite numbers, got {host[index]} at index {index}")


def _check_loader(loader):
    """Check once, before training, what the loader will yield: batches, and finite data.

    A DataLoader checked its data when it was built; the arrays are shared, not copied, so
    they are checked again here in case they were changed since (one pass over the data).
    """
    if len(loader) == 0:
        raise ValueError("fit: the loader yields no batches (empty data set, or drop_last "
                         "with fewer examples than batch_size)")
    dataset = getattr(loader, "dataset", None)
    for name, array in zip(getattr(dataset, "names", ()), getattr(dataset, "arrays", ())):
        _check_finite(array, f"fit: the loader's dataset {name}")


def _chunks(data, batch_size, device):
    """(x, y) tensors on ``device``, in order, ``batch_size`` examples at a time."""
    x, y = as_xy(data)
    for start in range(0, len(x), batch_size):
        yield (Tensor(x[start:start + batch_size]).to(device),
               Tensor(y[start:start + batch_size]).to(device))


def _correct(logits, labels):
    """How many rows of ``logits`` put their largest value on the right label."""
    if logits.ndim != 2 or backend.is_floating(labels.data):
        return None  # not a classification batch (e.g. an autoencoder's reconstruction)
    predicted = backend.to_numpy(backend.namespace(logits.data).argmax(logits.data, axis=1))
    return int(np.sum(predicted == backend.to_numpy(labels.data)))


def empirical_risk(model, loss_fn, data, batch_size=1024):
    """R̂(θ) = (1/n) Σᵢ L(yᵢ, f_θ(xᵢ)) over every example of ``data`` (no gradient recorded).

    ``loss_fn`` averages over a batch (reduction="mean"), so each batch's loss is weighted by
    its size: the result is the mean over all n examples, whatever the batch size.
    """
    total, n = 0.0, 0
    device = model_device(model)
    with no_grad():
        for x, y in _chunks(data, batch_size, device):
            total += loss_fn(model(x), y).item() * len(x)
            n += len(x)
    if n == 0:
        raise ValueError("data: empirical risk of an empty data set is undefined")
    return total / n


def evaluate(model, data, loss_fn=None, batch_size=1024):
    """Accuracy (and mean loss when ``loss_fn`` is given) of ``model`` on ``data``, in eval mode."""
    was_training = getattr(model, "training", False)
    model.eval()
    correct, total, n = 0, 0.0, 0
    device = model_device(model)
    try:
        with no_grad():
            for x, y in _chunks(data, batch_size, device):
                logits = model(x)
                correct += _correct(logits, y) or 0
                if loss_fn is not None:
                    total += loss_fn(logits, y).item() * len(x)
                n += len(x)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("data: cannot evaluate on an empty data set")
    result = {"accuracy": correct / n}
    if loss_fn is not None:
        result["loss"] = total / n
    return result


def _learning_rates(optimizer):
    return ", ".join(f"{group['lr']:g}" for group in optimizer.param_groups)


def fit(model, loss_fn, optimizer, loader, epochs=None, steps=None, eval_data=None,
        scheduler=None, progress=None, on_step=None, capture=False):
    """Minimise the empirical risk by minibatch gradient descent; return a ``History``.

    Each step takes one batch B and updates θ ← θ − η ∇θ R̂_B(θ), R̂_B(θ) = (1/|B|) Σ_{i∈B} L(yᵢ, f_θ(xᵢ))
    (plain SGD; the optimizer decides the exact rule: momentum, Adam, ...).

    Give ``epochs`` (passes over ``loader``) or ``steps`` (optimiser steps, cycling over the
    loader as often as needed). Each step: zero the gradients, forward, loss, ``backward()``,
    ``optimizer.step()``. ``eval_data`` (x, y) is evaluated after every epoch; ``scheduler``
    steps once per epoch; ``on_step(step, loss)`` is called after every step and may return
    True to stop early. ``progress``: None (a tqdm bar on a terminal when tqdm is installed,
    else one line per epoch), True (one line per epoch) or False (silent).

    ``capture=True`` records the step once (``replay.capture``) and replays it: the same
    losses and parameters, without rebuilding the graph at every step. A batch of another shape
    (the smaller last batch of an epoch) gets its own recording, made once and kept. A model or
    loss that ``capture`` cannot record (an op without a replay kernel, say) trains eagerly,
    with a ``RuntimeWarning`` that says why.

    Non-finite data (NaN or infinity in the loader's data set, or in a batch of a loader that
    is not a DataLoader) raise ``ValueError`` before any step. A NaN or infinite loss raises
    ``NonFiniteLossError`` naming the step, the loss and the
    learning rate, before that step's update: the model keeps the weights that produced it.
    """
    if (epochs is None) == (steps is None):
        raise ValueError(f"fit: give exactly one of epochs or steps, got epochs={epochs}, "
                         f"steps={steps}")
    limit = epochs if epochs is not None else steps
    if not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"fit: epochs/steps must be a positive integer, got {limit!r}")
    _check_loader(loader)
    if eval_data is not None:
        as_xy(eval_data)  # checked now, not after the first epoch has changed the model
    checked = isinstance(loader, DataLoader)  # other iterables get every batch checked
    n_epochs = epochs if epochs is not None else math.ceil(steps / len(loader))
    bar = _progress_bar(progress, n_epochs * len(loader) if steps is None else steps)
    history, started, stop = History(), time.perf_counter(), False
    model.train()
    captured = None  # the captured step, made at the first batch when capture=True
    for epoch in range(1, n_epochs + 1):
        epoch_loss, correct, seen = 0.0, 0, 0
        for x, y in loader:
            if not checked:
                _check_finite(x.data, f"fit: the inputs of batch {history.steps + 1}")
            if capture:  # the update is skipped when the loss is not finite
                captured, value = _captured_step(captured, model, loss_fn, optimizer, x, y)
                capture, logits = captured is not None, getattr(captured, "output", None)
            if not capture:
                optimizer.zero_grad()
                logits = model(x)
                loss = loss_fn(logits, y)
                value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLossError(f"fit: the loss became {value} at step {history.steps + 1} "
                                         f"(epoch {epoch}) with learning rate {_learning_rates(optimizer)}; "
                                         f"the step was not applied. Try a smaller learning rate.")
            if not capture:
                loss.backward()
                optimizer.step()
            history.steps += 1
            history.losses.append(value)
            epoch_loss += value * len(x)
            seen += len(x)
            correct += _correct(logits, y) or 0
            if bar is not None:
                bar.update(1)
            if on_step is not None and on_step(history.steps, value):
                stop = True
            if stop or (steps is not None and history.steps >= steps):
                break
        record = {"epoch": epoch, "loss": epoch_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}
        if eval_data is not None:
            record.update({f"eval_{k}": v for k, v in evaluate(model, eval_data, loss_fn).items()})
        history.epochs.append(record)
        if scheduler is not None:
            scheduler.step()
        _report_epoch(bar, progress, record, n_epochs)
        if stop or (steps is not None and history.steps >= steps):
            break
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - started
    return history


def _captured_step(captured, model, loss_fn, optimizer, x, y):
    """(the captured step, the loss of one step by it); it is made at the first batch.

    (None, None) with a warning where the step cannot be captured: a recording fails before
    it changes anything, so the caller can do this batch's step eagerly instead.
    """
    try:
        if captured is None:
            captured = replay.capture(model, loss_fn, optimizer, x, y)
        return captured, captured(x, y).item()
    except replay.CaptureError as error:
        warnings.warn(f"fit(capture=True) trains eagerly: {error}", RuntimeWarning, stacklevel=3)
        return None, None


def _progress_bar(progress, total):
    """A tqdm bar when asked for (None) and possible: tqdm installed, output is a terminal."""
    if progress is not None or not sys.stdout.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="step", leave=False)


def _report_epoch(bar, progress, record, n_epochs):
    text = " ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch")
    line = f"epoch {record['epoch']}/{n_epochs} {text}"
    if bar is not None:
        bar.set_postfix_str(text)
        bar.write(line)
    elif progress is None or progress:
        print(line)
