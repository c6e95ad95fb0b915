"""The objective as code: empirical risk, fit (minibatch gradient descent), evaluate."""

import math
import time

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, optim
from minitransfer.data import DataLoader, TensorDataset, digits, train_test_split
from minitransfer.train import NonFiniteLossError, empirical_risk, evaluate, fit


def test_empirical_risk_is_the_mean_of_per_example_losses():
    model = nn.MLP([3, 4, 2], generator=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0, 0])
    by_hand = []
    for i in range(7):  # L(y_i, f(x_i)) = logsumexp(z) - z_y, one example at a time
        z = model(mt.tensor(x[i:i + 1])).detach().numpy()[0].astype(np.float64)
        by_hand.append(np.log(np.exp(z).sum()) - z[y[i]])
    risk = empirical_risk(model, nn.CrossEntropyLoss(), (x, y), batch_size=3)  # uneven batches
    assert risk == pytest.approx(np.mean(by_hand), rel=1e-5)


def test_fit_reaches_95_percent_on_digits_within_seconds():
    data = digits()
    x_train, x_test, y_train, y_test = train_test_split(data.x, data.y, test_fraction=0.25, seed=0)
    model = nn.MLP([64, 128, 10], generator=0)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0)
    started = time.perf_counter()
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), loader,
                  epochs=15, progress=False)
    seconds = time.perf_counter() - started
    result = evaluate(model, (x_test, y_test), nn.CrossEntropyLoss())
    print(f"digits 64-128-10: test accuracy {result['accuracy']:.4f} after {history.steps} steps "
          f"in {seconds:.2f}s")
    assert result["accuracy"] >= 0.95
    assert history.steps == 15 * len(loader) and len(history.epochs) == 15
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]


def test_fit_prints_one_line_per_epoch_and_can_be_silenced(capsys):
    model = nn.MLP([2, 3, 2], generator=0)
    loader = DataLoader(TensorDataset(np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])), batch_size=2)
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader, epochs=2, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2 loss=") and "accuracy=" in lines[0]
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader, steps=3, progress=False)
    assert capsys.readouterr().out == ""


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_a_non_finite_loss_stops_before_the_step_and_names_it():  # lr = 1e30 overflows on purpose
    model = nn.MLP([2, 3, 2], generator=0)
    loader = DataLoader(TensorDataset(np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])), batch_size=2)
    opt = optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(NonFiniteLossError, match=r"step \d+.*learning rate 1e\+30") as caught:
        fit(model, nn.CrossEntropyLoss(), opt, loader, steps=50, progress=False)
    assert "not applied" in str(caught.value)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    loss = nn.CrossEntropyLoss()(model(mt.tensor(np.ones((1, 2), np.float32))), mt.tensor([0]))
    assert not math.isfinite(loss.item())  # the weights that produced the bad loss are kept...
    assert all(np.array_equal(before[k], v.numpy()) for k, v in model.state_dict().items())


def test_fit_needs_exactly_one_of_epochs_and_steps():
    model = nn.MLP([2, 3, 2], generator=0)
    loader = DataLoader(TensorDataset(np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])), batch_size=2)
    with pytest.raises(ValueError, match="exactly one of epochs or steps"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader)
