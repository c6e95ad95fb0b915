"""to_torch / from_torch: the same network on both sides (skipped without torch; errors are in
tests/test_errors_catalogue.py, I01-I03).

"The same network" is checked on logits of random inputs, on the state-dict keys and values,
dtypes, frozen parameters and train/eval mode, and on the random generators neither side may
consume.
"""

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn
from minitransfer.interop import from_torch, to_torch

torch = pytest.importorskip("torch")

SIZES = [12, 10, 8, 4]
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}


def inputs(dtype, rows=16, seed=1):
    return np.random.default_rng(seed).standard_normal((rows, SIZES[0])).astype(dtype)


def our_logits(model, x):
    with mt.no_grad():
        return model(mt.tensor(x)).numpy()


def torch_logits(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_gives_the_same_logits_weights_and_dtype(dtype):
    model = nn.MLP(SIZES, generator=0, dtype=dtype)
    x = inputs(dtype)
    expected = our_logits(model, x)
    module = to_torch(model)
    assert type(module).__name__ == "TorchMLP"
    assert list(module.state_dict()) == list(model.state_dict())
    assert all(p.dtype == getattr(torch, dtype) for p in module.parameters())
    theirs = torch_logits(module, x)
    assert theirs.dtype == np.dtype(dtype)
    assert np.max(np.abs(theirs - expected)) <= TOLERANCE[dtype]
    back = from_torch(module)
    assert isinstance(back, nn.MLP) and back.sizes == SIZES
    for (name, a), (name_b, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert name == name_b and b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    np.testing.assert_array_equal(our_logits(back, x), expected)


def test_the_copies_share_no_memory():
    model = nn.MLP(SIZES, generator=0)
    module = to_torch(model)
    before = model.head.weight.detach().numpy().copy()
    with torch.no_grad():
        module.head.weight.add_(1.0)
    np.testing.assert_array_equal(model.head.weight.detach().numpy(), before)
    back = from_torch(module)
    with mt.no_grad():
        back.head.weight.add_(1.0)
    assert torch.equal(module.head.weight, torch.from_numpy(before + 1.0))


def test_a_plain_sequential_maps_its_last_layer_to_head_and_the_rest_to_body():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.ReLU(), torch.nn.Linear(10, 8),
                                 torch.nn.ReLU(), torch.nn.Linear(8, 4)).double()
    model = from_torch(module)
    assert model.sizes == SIZES
    assert list(model.state_dict()) == ["body.0.weight", "body.0.bias", "body.2.weight",
                                        "body.2.bias", "head.weight", "head.bias"]
    np.testing.assert_array_equal(model.head.bias.detach().numpy(), module[4].bias.detach().numpy())
    np.testing.assert_array_equal(model.body[2].weight.detach().numpy(),
                                  module[2].weight.detach().numpy())
    x = inputs("float64")
    assert np.max(np.abs(our_logits(model, x) - torch_logits(module, x))) <= 1e-12


def test_frozen_parameters_and_eval_mode_carry_over():
    model = nn.MLP(SIZES, generator=0)
    model.body.requires_grad_(False)
    model.eval()
    module = to_torch(model)
    assert [p.requires_grad for p in module.parameters()] == [False] * 4 + [True] * 2
    assert module.training is False
    module.train()
    module.head.requires_grad_(False)
    back = from_torch(module)
    assert [p.requires_grad for p in back.parameters()] == [False] * 6
    assert back.training is True


def test_neither_conversion_draws_from_either_library_s_random_generator():
    model = nn.MLP(SIZES, generator=0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 2))  # made before seeding: it draws
    torch.manual_seed(7)
    mt.manual_seed(7)
    to_torch(model)
    from_torch(module)
    after = torch.rand(3), mt.rand(3).numpy()
    torch.manual_seed(7)
    mt.manual_seed(7)
    assert torch.equal(after[0], torch.rand(3))
    np.testing.assert_array_equal(after[1], mt.rand(3).numpy())


def test_a_torch_training_step_on_the_converted_model_matches_ours():
    model = nn.MLP(SIZES, generator=0, dtype="float64")
    module = to_torch(model)
    x, y = inputs("float64"), np.arange(16) % SIZES[-1]
    ours = mt.optim.SGD(model.parameters(), lr=0.1)
    theirs = torch.optim.SGD(module.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()(model(mt.tensor(x)), mt.tensor(y))
    loss.backward()
    ours.step()
    torch_loss = torch.nn.functional.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y))
    torch_loss.backward()
    theirs.step()
    assert abs(loss.item() - torch_loss.item()) <= 1e-12
    for name, value in module.state_dict().items():
        np.testing.assert_allclose(value.numpy(), model.state_dict()[name].numpy(), rtol=0,
                                   atol=1e-12, err_msg=name)


def test_the_readme_round_trip_runs_as_printed():
    """README's "When you outgrow minitransfer" block prints what its comments say."""
    import pathlib
    import re
    import subprocess
    import sys

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## When you outgrow minitransfer"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python"))]
    expected = re.findall(r"# (True|\[.*?\])", code)
    assert len(expected) == 4, expected
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
