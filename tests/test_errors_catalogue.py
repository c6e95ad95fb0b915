"""The catalogue of bad inputs (docs/errors.md): one test per entry.

Every entry asserts the exception type, the key words of its message (the argument or layer,
what was expected, what was received) and that nothing changed: parameters, gradients,
optimizer groups and files are compared with a snapshot taken before the bad call. The test
names carry the entry's number (``test_T01_...`` is entry T01 of docs/errors.md); the last
test checks that the document lists every entry tested here.
"""

import contextlib
import io
import json
import os
import pathlib
import pickle
import re
import sys
import zipfile

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import attacks, cli, nn, optim, stats
from minitransfer.data import DataLoader, TensorDataset
from minitransfer.interop import from_torch, to_torch
from minitransfer.train import NonFiniteLossError, evaluate, fit
from minitransfer.transfer import fine_tune, pretrain

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "errors.md"


# ---- helpers -----------------------------------------------------------------------------------
@contextlib.contextmanager
def raises(error, *words):
    """pytest.raises(error) that also checks that every word appears in the message."""
    with pytest.raises(error) as caught:
        yield caught
    message = str(caught.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message lacks {missing}: {message!r}"


def snapshot(model):
    """Copies of every parameter's values and gradient, keyed by name."""
    return {name: (p.detach().numpy().copy(), None if p.grad is None else p.grad.numpy().copy(),
                   p.requires_grad) for name, p in model.named_parameters()}


def assert_unchanged(model, before):
    after = snapshot(model)
    assert list(after) == list(before)
    for name, (value, grad, requires_grad) in before.items():
        np.testing.assert_array_equal(after[name][0], value, err_msg=name)
        assert (after[name][1] is None) == (grad is None), name
        if grad is not None:
            np.testing.assert_array_equal(after[name][1], grad, err_msg=name)
        assert after[name][2] == requires_grad, name


def files_of(folder):
    """{relative path: bytes} of every file below ``folder``."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def f32(*shape):
    return mt.tensor(np.zeros(shape, dtype=np.float32))


def small_model():
    return nn.MLP([4, 5, 3], generator=0)


def run_cli(argv, capsys):
    """Run the command line in this process: (exit code, stderr). A traceback would fail the test."""
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse's errors exit through SystemExit
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.err


def assert_usage_error(code, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minitransfer: error: "), err
    assert "Traceback" not in err
    missing = [w for w in words if w not in err]
    assert not missing, f"message lacks {missing}: {err!r}"




# ==== tensors and ops ===========================================================================
def test_T01_matmul_with_mismatched_shapes():
    a = mt.tensor(np.ones((2, 3)), requires_grad=True)
    b = mt.tensor(np.ones((4, 5)), requires_grad=True)
    with raises(ValueError, "matmul", "(2, 3) @ (4, 5)", "3 columns", "4 rows"):
        a @ b
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_T02_binary_ops_with_shapes_that_do_not_broadcast(op):
    a = mt.tensor(np.ones((2, 3)), requires_grad=True)
    b = mt.tensor(np.ones((4, 3)))
    with raises(ValueError, "(2, 3)", "(4, 3)", "broadcast") as caught:
        {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__}[op](b)
    name = {"+": "Add", "-": "Sub", "*": "Mul", "/": "Div"}[op]
    assert str(caught.value).startswith(name), caught.value


@pytest.mark.parametrize("make", [
    lambda: mt.tensor([1, 2], requires_grad=True),
    lambda: mt.tensor([True, False], requires_grad=True),
    lambda: mt.Tensor(np.arange(3, dtype=np.int32), requires_grad=True),
    lambda: mt.tensor(np.array([1, 0], dtype=np.uint8)).requires_grad_(),
    lambda: nn.Parameter(np.arange(3)),
], ids=["int64-list", "bool", "int32-Tensor", "uint8-requires_grad_", "int-Parameter"])
def test_T03_integer_or_boolean_tensors_cannot_require_grad(make):
    with raises(TypeError, "requires_grad", "floating-point", "got dtype"):
        make()


@pytest.mark.parametrize("data, received", [
    ("abc", "<U3"), (None, "object"), ([1.0, "a"], "<U32"), ({"w": 1}, "object"),
], ids=["str", "None", "mixed-list", "dict"])
def test_T04_non_numeric_data_is_refused(data, received):
    with raises(TypeError, "Tensor", "expected numbers", received):
        mt.tensor(data)


@pytest.mark.parametrize("array", [
    np.array([{}, 1.0], dtype=object), np.array(["a", "b"]), np.array([1j, 2.0]),
], ids=["object-array", "str-array", "complex-array"])
def test_T05_non_numeric_arrays_are_refused(array):
    with raises(TypeError, "Tensor", "expected numbers", str(array.dtype)):
        mt.tensor(array)


def test_T06_mixing_devices_is_refused():
    # array_api_strict stands in for a GPU library: the check compares the array types, so a
    # CuPy array meets the same test (and T06 runs with a real GPU below when there is one).
    import array_api_strict as xps

    w = mt.tensor(np.ones((2, 3)), requires_grad=True)
    other = mt.Tensor(xps.ones((2, 3), dtype=xps.float64))
    with raises(ValueError, "Add", "same device", "ndarray", "Array"):
        w + other
    with raises(ValueError, "MatMul", "same device", "ndarray", "Array"):
        other.T @ w
    assert w.grad is None


@pytest.mark.skipif(not mt.gpu_available(), reason="no usable GPU")
def test_T06_mixing_cpu_and_gpu_tensors_is_refused():
    a = mt.tensor(np.ones(3), requires_grad=True)
    with raises(ValueError, "same device", "cpu", "cuda"):
        a * a.to("cuda")
    model = small_model()
    before = snapshot(model)
    with raises(ValueError, "same device"):
        model(f32(2, 4).to("cuda"))
    assert_unchanged(model, before)


def test_T07_backward_from_a_non_scalar_needs_a_gradient():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with raises(RuntimeError, "backward()", "single-number output", "shape (2,)", "grad="):
        (x * 2.0).backward()
    with raises(ValueError, "backward()", "shape (2,)", "got (3,)"):
        (x * 2.0).backward(mt.tensor([1.0, 2.0, 3.0]))
    assert x.grad is None


def test_T08_backward_through_a_freed_graph():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    first = x.grad.numpy().copy()
    with raises(RuntimeError, "backward()", "second time", "freed", "retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)  # no second accumulation


def test_T09_data_changed_in_place_after_it_was_saved_for_backward():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    loss = (h * h).sum()
    with mt.no_grad():
        h.mul_(3.0)
    with raises(RuntimeError, "backward()", "Mul", "modified in place", "version 0 -> 1"):
        loss.backward()
    assert w.grad is None


def test_T10_a_version_error_accumulates_no_gradient_anywhere():
    a = mt.tensor([1.0, 2.0], requires_grad=True)
    b = mt.tensor([3.0], requires_grad=True)
    h = b * 1.0
    loss = (a * 2.0).sum() + (h * h).sum()  # a's branch is reached before h's stale Mul
    with mt.no_grad():
        h.mul_(2.0)
    with raises(RuntimeError, "modified in place"):
        loss.backward()
    assert a.grad is None and b.grad is None


def test_T11_a_parameter_changed_in_place_outside_no_grad():
    w = mt.tensor([1.0], requires_grad=True)
    with raises(RuntimeError, "leaf tensor that requires grad", "in place", "no_grad"):
        w.add_(1.0)
    assert w.item() == 1.0 and w._version == 0

def test_T12_the_truth_value_of_a_tensor_with_several_values():
    a = mt.tensor([0.0, 0.0], requires_grad=True)
    with raises(RuntimeError, "bool()", "2 values", "shape (2,)", "ambiguous", ".all()"):
        if a == mt.tensor([1.0, 1.0]):
            pass
    with raises(RuntimeError, "0 values", "ambiguous"):
        bool(mt.zeros(0))
    assert a.grad is None and a.tolist() == [0.0, 0.0]


def test_T13_iterating_a_0d_tensor_or_indexing_with_a_float_tensor():
    x = mt.tensor(5.0, requires_grad=True)
    with raises(TypeError, "iteration over a 0-d tensor"):
        list(x)
    with raises(TypeError, "index", "only integer tensors of a single element", "float32", "shape ()"):
        [1, 2][x]
    with raises(TypeError, "index", "only integer tensors of a single element", "int64", "shape (2,)"):
        [1, 2][mt.tensor([0, 1])]
    assert x.grad is None and x.item() == 5.0 and x._version == 0


def test_T14_an_in_place_change_that_the_graph_cannot_record():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2.0
    with raises(RuntimeError, "result of Mul that requires grad", "in place", "h = h * 2", "no_grad"):
        h.mul_(3.0)
    with raises(RuntimeError, "result of Mul that requires grad", "in place"):
        h[0] = 0.0
    x = mt.zeros(2)
    with raises(RuntimeError, "setitem", "value requires grad", "value.detach()"):
        x[0] = w[1]
    assert h.tolist() == [2.0, 4.0] and h._version == 0 and x.tolist() == [0.0, 0.0]
    assert x._version == 0 and w.grad is None


def test_T15_a_saved_tensor_changed_through_detach():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    w.detach().add_(1.0)  # the detached tensor shares w's data and version counter
    with raises(RuntimeError, "backward()", "Mul", "modified in place", "version 0 -> 1"):
        loss.backward()
    assert w.grad is None


def test_T16_a_saved_tensor_changed_by_setitem():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    loss = (h * h).sum()
    with mt.no_grad():
        h[0] = 5.0
    with raises(RuntimeError, "backward()", "Mul", "modified in place", "version 0 -> 1"):
        loss.backward()
    with raises(RuntimeError, "leaf tensor that requires grad", "in place", "no_grad"):
        w[0] = 3.0
    assert w.grad is None and w.tolist() == [1.0, 2.0] and w._version == 0


def test_T17_from_numpy_of_something_else():
    for data, received in (([1.0, 2.0], "list"), (mt.zeros(2), "Tensor")):
        with raises(TypeError, "from_numpy", "expected a numpy.ndarray", f"got {received}"):
            mt.from_numpy(data)


def test_T18_an_index_outside_the_axis_or_of_floats():
    x = mt.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    with raises(IndexError, "index 3 is out of bounds for axis 0 with size 3"):
        x[[0, 3]]
    with raises(IndexError, "index_select", "[-3, 3)", "axis 0 of size 3", "from 0 to 3"):
        x.index_select(0, [0, 3])
    with raises(TypeError, "index_select", "index must hold integers", "float64"):
        x.index_select(0, np.array([0.0, 1.0]))
    assert x.grad is None


# ==== layers and losses =========================================================================
@pytest.mark.parametrize("shape, received", [((32, 63), "(32, 63)"), ((2, 8, 8), "(2, 8, 8)")])
def test_L01_linear_with_the_wrong_input_width(shape, received):
    model = nn.MLP([64, 16, 10], generator=0)
    before = snapshot(model)
    with raises(ValueError, "Linear(in_features=64, out_features=16)", "64 features", received):
        model(f32(*shape))
    assert_unchanged(model, before)


def test_L02_linear_with_the_wrong_rank_type_or_dtype():
    layer = nn.Linear(4, 3)
    before = snapshot(layer)
    with raises(ValueError, "Linear(in_features=4, out_features=3)", "4 features", "shape ()"):
        layer(mt.tensor(np.float32(1.0)))
    with raises(TypeError, "Linear(in_features=4, out_features=3)", "expected a Tensor", "ndarray"):
        layer(np.zeros((2, 4), dtype=np.float32))
    with raises(TypeError, "Linear(in_features=4, out_features=3)", "dtype float32", "got float64"):
        layer(mt.tensor(np.zeros((2, 4))))
    assert_unchanged(layer, before)


def test_L03_linear_with_an_empty_batch():
    layer = nn.Linear(4, 3)
    with raises(ValueError, "Linear(in_features=4, out_features=3)", "at least one example",
                "(0, 4)"):
        layer(f32(0, 4))


@pytest.mark.filterwarnings("ignore")  # array_api_strict warns about the dtype comparison
def test_L12_linear_given_an_input_on_another_device():
    import array_api_strict as xps

    layer = nn.Linear(3, 2).double()
    before = snapshot(layer)
    with raises(ValueError, "Linear(in_features=3, out_features=2)", "device", "ndarray", "Array"):
        layer(mt.Tensor(xps.ones((2, 3), dtype=xps.float64)))
    assert_unchanged(layer, before)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 1)])
def test_L04_cross_entropy_logits_of_the_wrong_rank(shape):
    with raises(ValueError, "CrossEntropyLoss", "(N, C)", f"got shape {shape}"):
        nn.CrossEntropyLoss()(f32(*shape), np.zeros(shape[0], dtype=np.int64))


@pytest.mark.parametrize("labels, error, words", [
    (np.array([0.0, 1.0]), TypeError, ("integer class labels", "float64")),
    (np.array([-1, 0]), ValueError, ("[0, 3)", "from -1 to 0")),
    (np.array([0, 3]), ValueError, ("[0, 3)", "from 0 to 3")),
    (np.array([0, 1, 2]), ValueError, ("labels of shape (2,)", "(3,)")),
], ids=["float", "negative", "out-of-range", "wrong-length"])
def test_L05_bad_labels(labels, error, words):
    model = nn.MLP([4, 3], generator=0)
    before = snapshot(model)
    logits = model(f32(2, 4))
    with raises(error, "CrossEntropyLoss", *words):
        nn.CrossEntropyLoss()(logits, labels)
    assert_unchanged(model, before)


@pytest.mark.parametrize("labels, words", [(np.array([0, 3]), "from 0 to 3"), ([-1, 2], "from -1 to 2")])
def test_L13_labels_outside_the_classes_given_to_the_functional_cross_entropy(labels, words):
    model = nn.MLP([4, 3], generator=0)
    before = snapshot(model)
    logits = model(f32(2, 4))
    with raises(ValueError, "cross_entropy", "labels must lie in [0, 3)", "3 classes", words):
        mt.cross_entropy(logits, labels)
    assert_unchanged(model, before)


def test_L06_cross_entropy_with_an_empty_batch():
    with raises(ValueError, "CrossEntropyLoss", "N >= 1", "(0, 3)"):
        nn.CrossEntropyLoss()(f32(0, 3), np.zeros(0, dtype=np.int64))


@pytest.mark.filterwarnings("ignore")  # today: "Mean of empty slice"
def test_L07_mse_with_an_empty_batch():
    with raises(ValueError, "MSELoss", "at least one", "(0, 3)"):
        nn.MSELoss()(f32(0, 3), f32(0, 3))


def test_L08_an_empty_data_set_or_loader():
    with raises(ValueError, "DataLoader", "at least one example", "empty"):
        DataLoader(TensorDataset(np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
    model = small_model()
    before = snapshot(model)
    with raises(ValueError, "fit", "no batches"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), [], steps=1)
    with raises(ValueError, "empty data set"):
        evaluate(model, (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
    assert_unchanged(model, before)


def _data(bad=None):
    x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    if bad is not None:
        x[3, 2] = bad
    return x, np.arange(8) % 3


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_L09_non_finite_data_given_to_a_data_loader(bad):
    with raises(ValueError, "DataLoader", "array 0", "expected finite numbers", str(bad),
                "index (3, 2)"):
        DataLoader(TensorDataset(*_data(bad)), batch_size=4)


@pytest.mark.parametrize("how", ["changed-after-loader", "plain-iterable", "fit-eval_data", "pretrain",
                                 "fine_tune", "eval_data"])
def test_L10_non_finite_data_given_to_fit(how):
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = nn.CrossEntropyLoss()
    before = snapshot(model)
    if how == "changed-after-loader":  # the loader checked its data; the arrays are shared
        x, y = _data()
        loader = DataLoader(TensorDataset(x, y), batch_size=4)
        x[3, 2] = np.nan
        with raises(ValueError, "fit", "dataset array 0", "finite", "nan", "(3, 2)"):
            fit(model, loss, opt, loader, steps=2)
    elif how == "plain-iterable":  # a NaN input does not always make a NaN loss (ReLU drops it)
        x, y = _data(np.nan)
        batches = [(mt.tensor(x[:4]), mt.tensor(y[:4])), (mt.tensor(x[4:]), mt.tensor(y[4:]))]
        with raises(ValueError, "fit", "batch 1", "finite", "nan", "(3, 2)"):
            fit(model, loss, opt, batches, steps=2)
    elif how == "fit-eval_data":
        with raises(ValueError, "data x", "finite", "nan", "(3, 2)"):
            fit(model, loss, opt, DataLoader(TensorDataset(*_data()), batch_size=4), epochs=1,
                eval_data=_data(np.nan), progress=False)
    elif how == "pretrain":
        with raises(ValueError, "data x", "finite", "inf", "(3, 2)"):
            pretrain(model, _data(np.inf), steps=2)
    elif how == "fine_tune":
        with raises(ValueError, "data x", "finite", "nan"):
            fine_tune(model, _data(np.nan), "full", steps=2)
    else:
        with raises(ValueError, "data x", "finite", "nan"):
            fine_tune(model, _data(), "full", steps=2, eval_data=_data(np.nan))
    assert_unchanged(model, before)
    assert opt.state == {}


def test_L11_a_non_finite_loss_stops_before_the_update():
    model = small_model()
    with mt.no_grad():
        model.head.bias.copy_(np.array([np.inf, 0.0, 0.0], dtype=np.float32))  # logits inf - inf
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = snapshot(model)
    loader = DataLoader(TensorDataset(*_data()), batch_size=8)
    with np.errstate(all="ignore"), raises(NonFiniteLossError, "fit", "the loss became nan",
                                           "step 1", "learning rate 0.1", "not applied"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, steps=3, progress=False)
    assert_unchanged(model, before)  # NaN compares equal to NaN here: nothing moved
    assert opt.state == {}


# ==== optimizers ================================================================================
def _param(values=(1.0, 2.0)):
    p = nn.Parameter(np.array(values))
    p.grad = mt.tensor(np.ones(len(values)))
    return p


@pytest.mark.parametrize("make, words", [
    (lambda p: optim.SGD(p, lr=-0.1), ("SGD", "lr", "non-negative", "-0.1")),
    (lambda p: optim.Adam(p, lr=-1e-3), ("Adam", "lr", "non-negative", "-0.001")),
    (lambda p: optim.AdamW(p, lr=float("nan")), ("AdamW", "lr", "non-negative", "nan")),
    (lambda p: optim.SGD(p, lr="0.1"), ("SGD", "lr", "non-negative number", "'0.1'")),
], ids=["sgd", "adam", "adamw-nan", "string"])
def test_O01_negative_or_non_numeric_learning_rate(make, words):
    p = _param()
    with raises(ValueError, *words):
        make([p])
    np.testing.assert_array_equal(p.detach().numpy(), [1.0, 2.0])


@pytest.mark.parametrize("make, words", [
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-4), ("SGD", "weight_decay", "-0.0001")),
    (lambda p: optim.Adam(p, weight_decay=-1), ("Adam", "weight_decay", "-1")),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), ("AdamW", "weight_decay", "-0.01")),
], ids=["sgd", "adam", "adamw"])
def test_O02_negative_weight_decay(make, words):
    with raises(ValueError, *words, "non-negative"):
        make([_param()])


@pytest.mark.parametrize("momentum, words", [
    (1.0, ("[0, 1)", "got 1.0")), (1.5, ("[0, 1)", "got 1.5")),
    (-0.1, ("non-negative", "-0.1")), (float("nan"), ("non-negative", "nan")),
])
def test_O03_momentum_outside_zero_one(momentum, words):
    with raises(ValueError, "SGD", "momentum", *words):
        optim.SGD([_param()], lr=0.1, momentum=momentum)


def test_O04_no_parameters():
    model = small_model()
    generator = model.parameters()
    optim.SGD(generator, lr=0.1)  # uses the generator up
    for params in ([], generator, (p for p in model.parameters() if not p.requires_grad)):
        with raises(ValueError, "SGD", "empty parameter list"):
            optim.SGD(params, lr=0.1)
    with raises(ValueError, "Adam", "empty parameter list"):
        optim.Adam([{"params": []}])


def test_O05_a_parameter_in_two_groups():
    a, b = _param(), _param()
    with raises(ValueError, "SGD", "more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [b, a]}], lr=0.1)
    sgd = optim.SGD([a], lr=0.1, momentum=0.9)
    sgd.step()
    groups, state = [dict(g) for g in sgd.param_groups], {k: dict(v) for k, v in sgd.state.items()}
    with raises(ValueError, "SGD", "more than one parameter group"):
        sgd.add_param_group({"params": [b, a], "lr": 0.01})
    with raises(ValueError, "SGD", "the same parameter twice"):
        sgd.add_param_group({"params": [b, b]})
    assert [dict(g) for g in sgd.param_groups] == groups and list(sgd.state) == list(state)


# ==== checkpoints ===============================================================================
class Trap:
    """Unpickling this object creates a file: if the marker exists, something was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.fixture
def saved(tmp_path):
    """A valid checkpoint of small_model() and its bytes."""
    path = tmp_path / "model.npz"
    mt.save(small_model().state_dict(), path)
    return path, path.read_bytes()


def test_C01_a_missing_checkpoint(tmp_path):
    with raises(FileNotFoundError, "load", "no checkpoint file", "missing.npz"):
        mt.load(tmp_path / "missing.npz")


def test_C02_a_folder_instead_of_a_checkpoint(tmp_path):
    with raises(mt.CheckpointError, "load", "is a folder", "not a checkpoint file"):
        mt.load(tmp_path)
    with raises(ValueError, "save", "is a folder", "model.npz"):
        mt.save({"w": np.ones(1)}, tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("keep", ["all-but-one", "half", "tenth"])
def test_C03_a_truncated_checkpoint(saved, keep):
    path, data = saved
    path.write_bytes(data[: {"all-but-one": len(data) - 1, "half": len(data) // 2,
                             "tenth": len(data) // 10}[keep]])
    with raises(mt.CheckpointError, "load", "model.npz", "truncated or corrupt"):
        mt.load(path)


@pytest.mark.parametrize("where, words", [
    ("values", ("'head.weight'", "BadZipFile", "CRC")),
    ("npy-header", ("'body.0.bias'", "BadZipFile", "CRC")),
    ("local-header", ("'head.bias'", "BadZipFile")),
    ("directory", ("BadZipFile",)),
])
def test_C04_a_corrupted_checkpoint(saved, where, words):
    path, data = saved
    members = {info.filename[:-4]: info for info in zipfile.ZipFile(path).infolist()}
    start = {name: info.header_offset + 30 + len(info.filename) + len(info.extra)
             for name, info in members.items()}  # where each member's .npy bytes begin
    position = {"values": start["head.weight"] + 128 + 5, "npy-header": start["body.0.bias"] + 20,
                "local-header": members["head.bias"].header_offset + 1,
                "directory": data.rindex(b"PK\x01\x02") + 1}[where]
    flipped = bytearray(data)
    flipped[position] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with raises(mt.CheckpointError, "load", "model.npz", "truncated or corrupt", *words):
        mt.load(path)


@pytest.mark.parametrize("content, words", [
    (b"hello, world", ("notes.txt", "not an .npz checkpoint", "zip signature")),
    (b"", ("notes.txt", "not an .npz checkpoint", "0 bytes")),
    ("npy", ("notes.txt", "single .npy array")),
    ("pickle", ("notes.txt", "pickle file", "never unpickles")),
], ids=["text", "empty", "npy", "pickle"])
def test_C05_a_file_that_is_not_an_npz_archive(tmp_path, content, words):
    path = tmp_path / "notes.txt"
    marker = tmp_path / "unpickled"
    if content == "npy":
        with open(path, "wb") as file:
            np.save(file, np.ones(3))
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"weights": Trap(marker)}))
    else:
        path.write_bytes(content)
    with raises(mt.CheckpointError, "load", *words):
        mt.load(path)
    assert not marker.exists()


def test_C06_an_archive_holding_pickled_objects_is_refused_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npz"
    np.savez(path, weights=np.ones(2), payload=np.array([Trap(marker)], dtype=object))
    with raises(mt.CheckpointError, "evil.npz", "pickled Python objects", "'payload'", "refuses"):
        mt.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("member, content, words", [
    ("notes.txt", b"hello", ("'notes.txt'", "not a named .npy array")),
    ("names.npy", "strings", ("'names'", "dtype <U5", "expected numbers")),
    ("w.npy", "lying-header", ("'w'", "promises shape (1000000,)", "truncated or corrupt")),
], ids=["not-npy", "strings", "header-promises-more"])
def test_C07_an_archive_holding_something_other_than_numeric_arrays(tmp_path, member, content, words):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.npy", _npy_bytes(np.ones(2)))
        if content == "strings":
            content = _npy_bytes(np.array(["hello", "world"]))
        elif content == "lying-header":  # a header that asks for 8 MB, and 16 bytes that follow
            content = _npy_header({"descr": "<f8", "fortran_order": False, "shape": (1000000,)})
            content += np.ones(2).tobytes()
        archive.writestr(member, content)
    with raises(mt.CheckpointError, "load", "odd.npz", *words):
        mt.load(path)


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_header(header):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


@pytest.mark.parametrize("change, words", [
    (lambda s: s.pop("head.bias"), ("missing key: head.bias", "nothing was loaded")),
    (lambda s: s.update({"head.scale": mt.ones(3)}), ("unexpected key: head.scale",)),
    (lambda s: s.update({"body.0.weight": mt.zeros(5, 5)}),
     ("size mismatch for body.0.weight", "(5, 5)", "(5, 4)")),
    (lambda s: s.update({"head.weight": s["head.weight"].double()}),
     ("dtype mismatch for head.weight", "float64", "float32")),
], ids=["missing-key", "unexpected-key", "shape", "dtype"])
def test_C08_a_checkpoint_with_wrong_keys_or_shapes(saved, change, words):
    path, _ = saved
    state = mt.load(path)
    change(state)
    mt.save(state, path)
    model = nn.MLP([4, 5, 3], generator=1)
    before = snapshot(model)
    with raises(ValueError, "load_state_dict", "MLP", *words):
        model.load_state_dict(mt.load(path))
    assert_unchanged(model, before)


def test_C09_a_failed_save_leaves_the_previous_file_intact(saved, monkeypatch):
    path, data = saved

    def fail(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", fail)
    with raises(OSError, "No space left"):
        mt.save(nn.MLP([4, 5, 3], generator=9).state_dict(), path)
    assert path.read_bytes() == data and os.listdir(path.parent) == ["model.npz"]


def test_C10_save_refuses_what_would_need_pickle(tmp_path):
    with raises(TypeError, "save", "'meta'", "dtype object", "only numeric arrays"):
        mt.save({"meta": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    with raises(TypeError, "save", "'name'", "a Tensor, an array or a number", "got str"):
        mt.save({"name": "mlp"}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


# ==== fine-tuning ===============================================================================
@pytest.mark.parametrize("call", ["fine_tune", "replace_head", "layer_groups", "body_layers"])
def test_F01_a_model_without_a_body_and_a_head(call):
    from minitransfer.transfer import body_layers, layer_groups, replace_head

    model = nn.Sequential(nn.Linear(4, 3, generator=0))
    before = snapshot(model)
    x, y = np.zeros((6, 4), np.float32), np.arange(6) % 3
    calls = {"fine_tune": lambda: fine_tune(model, (x, y), "full", steps=2),
             "replace_head": lambda: replace_head(model, 2),
             "layer_groups": lambda: layer_groups(model, 1e-3), "body_layers": lambda: body_layers(model)}
    with raises(TypeError, call, "'body' module and a 'head' nn.Linear", "got Sequential"):
        calls[call]()
    assert_unchanged(model, before)


@pytest.mark.parametrize("strategy, steps, words", [
    ("magic", 10, ("strategy: expected one of scratch, linear_probe", "got 'magic'")),
    ("lp_ft", 0, ("fine_tune: steps must be a positive integer, got 0",)),
    ("full", 2.5, ("fine_tune: steps must be a positive integer, got 2.5",)),
])
def test_F02_an_unknown_strategy_or_steps_below_one(strategy, steps, words):
    model = small_model()
    before = snapshot(model)
    with raises(ValueError, *words):
        fine_tune(model, (np.zeros((6, 4), np.float32), np.arange(6) % 3), strategy, steps=steps)
    assert_unchanged(model, before)


# ==== statistics ================================================================================
@pytest.mark.parametrize("call, words", [
    (lambda: stats.paired_interval([1.0, 2.0], confidence=95), ("paired_interval", "confidence",
                                                                 "strictly between 0 and 1", "got 95")),
    (lambda: stats.bootstrap_interval(np.mean, np.ones(3), confidence=0.0),
     ("bootstrap_interval", "confidence", "got 0.0")),
    (lambda: stats.t_quantile(1.0, 3), ("t_quantile", "q", "probability strictly between", "got 1.0")),
    (lambda: stats.holm_verdicts([[1.0, 2.0]], alpha=5), ("holm_verdicts", "alpha", "got 5")),
], ids=["paired_interval", "bootstrap", "t_quantile", "holm_verdicts"])
def test_S01_a_confidence_level_or_probability_outside_zero_one(call, words):
    with raises(ValueError, *words):
        call()


@pytest.mark.parametrize("values, words", [
    ([], ("paired_interval", "differences", "at least 1 value", "got 0")),
    ([[1.0, 2.0]], ("differences", "1-D", "shape (1, 2)")),
    ([0.1, float("nan"), 0.2], ("differences", "finite numbers", "nan at index 1")),
    (["a", 1.0], ("differences", "sequence of numbers", "got list")),
], ids=["empty", "2-D", "nan", "strings"])
def test_S02_samples_that_are_empty_not_1d_or_not_finite(values, words):
    kept = list(values)
    with raises(ValueError, *words):
        stats.paired_interval(values)
    assert values == kept  # the input list is left as it was
    with raises(ValueError, "kendall_tau", "a", "at least 2 values"):
        stats.kendall_tau([1.0], [2.0])


def test_S03_paired_samples_of_different_lengths():
    with raises(ValueError, "kendall_tau", "same length", "got 3 and 4"):
        stats.kendall_tau([1, 2, 3], [1, 2, 3, 4])
    with raises(ValueError, "bootstrap_interval", "same number of rows", "[3, 4]"):
        stats.bootstrap_interval(lambda a, b: 0.0, np.ones(3), np.ones(4))


def test_S04_pca_of_too_few_points_or_too_many_components():
    x = np.arange(8.0).reshape(4, 2)
    before = x.copy()
    with raises(ValueError, "pca", "n_components", "from 1 to 2", "(4, 2)", "got 3"):
        stats.pca(x, 3)
    with raises(ValueError, "pca", "x", "2-D array of at least 2 rows", "shape (8,)"):
        stats.pca(x.ravel(), 1)
    np.testing.assert_array_equal(x, before)


def test_S05_bad_degrees_of_freedom_p_values_or_interval_bounds():
    with raises(ValueError, "t_quantile", "df", "positive degrees of freedom", "got 0"):
        stats.t_quantile(0.975, 0)
    with raises(ValueError, "holm", "p_values", "probabilities in [0, 1]", "1.5"):
        stats.holm([0.01, 1.5])
    with raises(ValueError, "verdict", "low <= high", "low=0.2, high=0.1"):
        stats.verdict(0.2, 0.1)


# ==== the command line ==========================================================================
@pytest.mark.parametrize("argv, words", [
    (["run", "--frobnicate"], ("unrecognized arguments: --frobnicate",)),
    (["fly"], ("invalid choice: 'fly'",)),
    (["run", "--strategies", "scratch,magic"], ("--strategies", "unknown strategy magic", "lp_ft")),
    (["run", "--target", "blur"], ("--target", "invalid choice: 'blur'", "jitter")),
    (["run", "--data", "mnist"], ("--data", "invalid choice: 'mnist'",)),
    (["run", "--ks", "0"], ("--ks", "positive integer or 'all'", "'0'")),
    (["run", "--seeds", "0,-1"], ("--seeds", "seeds >= 0", "'0,-1'")),
    (["run", "--target-accuracy", "80"], ("--target-accuracy", "between 0 and 1", "'80'")),
    (["run", "--pretrain-steps", "0"], ("--pretrain-steps must be a positive integer, got 0",)),
    (["run", "--device", "tpu"], ("--device", "'cpu' or 'cuda'", "'tpu'")),
    (["run", "--threads", "0"], ("--threads", "positive integer number of threads", "'0'")),
], ids=["option", "command", "strategy", "target", "data", "ks", "seeds", "target-accuracy",
        "steps", "device", "threads"])
def test_U01_unknown_options_strategies_targets_and_bad_values(tmp_path, capsys, argv, words):
    code, err = run_cli([*argv, "--out", str(tmp_path / "run")] if argv[0] == "run" and
                        "--frobnicate" not in argv else argv, capsys)
    assert_usage_error(code, err, *words)
    assert not (tmp_path / "run").exists()


def test_U02_k_larger_than_the_examples_available(tmp_path, capsys):
    code, err = run_cli(["run", "--ks", "5,500", "--out", str(tmp_path / "run")], capsys)
    assert_usage_error(code, err, "--ks", "k=500", "only", "smallest class")
    assert not (tmp_path / "run").exists()


def test_U03_a_missing_data_folder(tmp_path, capsys):
    code, err = run_cli(["run", "--data", "fashion", "--data-dir", str(tmp_path / "nowhere"),
                         "--out", str(tmp_path / "run")], capsys)
    assert_usage_error(code, err, "--data fashion", "root", "nowhere", "not a folder")
    assert not (tmp_path / "run").exists()


def test_U04_a_corrupt_data_file(tmp_path, capsys):
    folder = tmp_path / "fashion"
    folder.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (folder / stem).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02\x07")  # one byte short
    code, err = run_cli(["pretrain", "--data", "fashion", "--data-dir", str(folder),
                         "--out", str(tmp_path / "p.npz")], capsys)
    assert_usage_error(code, err, "--data fashion", "train-images-idx3-ubyte", "checksum")
    assert not (tmp_path / "p.npz").exists()


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "no-sizes", "wrong-sizes"])
def test_U05_finetune_from_a_missing_or_damaged_checkpoint(tmp_path, capsys, kind, saved):
    path, data = saved
    if kind == "missing":
        path.unlink()
    elif kind == "text":
        path.write_text("not a checkpoint")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "wrong-sizes":  # the weights of a 4-5-3 MLP, labelled 4-6-3
        mt.save({**mt.load(path), "meta.sizes": np.array([4, 6, 3])}, path)
    words = {"missing": ("no checkpoint file",), "text": ("not an .npz checkpoint",),
             "truncated": ("truncated or corrupt",), "no-sizes": ("meta.sizes",),
             "wrong-sizes": ("does not fit its own meta.sizes", "nothing was loaded: size mismatch "
                             "for body.0.weight", "; size mismatch for body.0.bias")}[kind]
    code, err = run_cli(["finetune", "--checkpoint", str(path), "--save", str(tmp_path / "f.npz")],
                        capsys)
    assert_usage_error(code, err, "--checkpoint", "model.npz", *words)
    assert not (tmp_path / "f.npz").exists()


def test_U06_checkpoint_and_run_folder_paths_that_cannot_be_used(tmp_path, capsys):
    code, err = run_cli(["pretrain", "--steps", "1", "--out", str(tmp_path)], capsys)
    assert_usage_error(code, err, "--out", "is a folder")
    code, err = run_cli(["pretrain", "--steps", "1", "--out", str(tmp_path / "no" / "p.npz")], capsys)
    assert_usage_error(code, err, "--out", "does not exist")
    (tmp_path / "file").write_text("x")
    code, err = run_cli(["run", "--quick", "--out", str(tmp_path / "file")], capsys)
    assert_usage_error(code, err, "--out", "is a file")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_U07_resume_with_a_different_configuration(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    config = {"task": "digits:jitter", "strategies": ["scratch"], "ks": [5], "seeds": [0], "hidden": 128,
              "pretrain_steps": 10, "finetune_steps": 10, "device": "cpu", "target_accuracy": None}
    (out / "config.json").write_text(json.dumps(config))
    (out / "results.jsonl").write_text('{"strategy": "scratch", "k": 5, "seed": 0}\n')
    before = files_of(out)
    code, err = run_cli(["run", "--strategies", "scratch", "--ks", "5", "--seeds", "2",
                         "--pretrain-steps", "10", "--finetune-steps", "10", "--out", str(out),
                         "--resume"], capsys)
    assert_usage_error(code, err, "--resume", "different configuration", "seeds")
    assert files_of(out) == before


def test_U08_the_command_line_in_a_real_process_prints_no_traceback(tmp_path):
    import subprocess

    done = subprocess.run([sys.executable, "-m", "minitransfer", "finetune", "--checkpoint",
                           str(tmp_path / "none.npz")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"minitransfer: error: --checkpoint: load: no checkpoint file at '{tmp_path / 'none.npz'}'"]


# ==== explain ===================================================================================
def digit_model():
    return nn.MLP([64, 6, 5, 3], generator=0)


def x64(n=2):
    return np.random.default_rng(0).random((n, 64)).astype(np.float32)


@pytest.mark.parametrize("x, words", [
    (np.zeros((2, 8, 8), np.float32), ("expected a batch of shape (n, 64)",
                                       "got ndarray of shape (2, 8, 8)")),
    (np.zeros((2, 63), np.float32), ("(n, 64)", "shape (2, 63)")),
    (np.zeros((0, 64), np.float32), ("n >= 1", "shape (0, 64)")),
    (np.array([["a"] * 64]), ("(n, 64)", "dtype <U1")),
    (np.where(np.eye(2, 64) > 0, np.nan, 0.0), ("finite numbers", "nan at index (0, 0)")),
], ids=["image-not-flattened", "wrong-width", "empty", "strings", "nan"])
@pytest.mark.parametrize("call", ["saliency", "integrated_gradients", "occlusion"])
def test_X01_a_batch_of_the_wrong_shape_or_not_finite(call, x, words):
    from minitransfer import explain

    model = digit_model()
    before = snapshot(model)
    with raises(ValueError, f"{call}: x:", *words):
        getattr(explain, call)(model, x)
    with raises(ValueError, "integrated_gradients: baseline:", "one row of shape (64,)",
                "a batch of shape (2, 64) like x", "got shape (63,)"):
        explain.integrated_gradients(model, x64(), baseline=np.zeros(63))
    with raises(ValueError, "integrated_gradients: baseline:", "got shape (3, 64)"):
        explain.integrated_gradients(model, x64(), baseline=np.zeros((3, 64)))
    assert_unchanged(model, before)


@pytest.mark.parametrize("target, words", [
    (3, ("[0, 3)", "got [3, 3]")), (-1, ("got [-1, -1]",)), ([0, 1, 2], ("2 class indices", "got [0, 1, 2]")),
    (1.0, ("integer", "dtype float64")),
], ids=["too-large", "negative", "wrong-count", "float"])
def test_X02_a_target_class_out_of_range_or_of_the_wrong_count(target, words):
    from minitransfer import explain

    model = digit_model()
    before = snapshot(model)
    for call in ("saliency", "integrated_gradients", "occlusion"):
        with raises(ValueError, f"{call}: target:", "one per row of x", *words):
            getattr(explain, call)(model, x64(), target=target)
    assert_unchanged(model, before)


@pytest.mark.parametrize("kwargs, words", [
    ({"steps": 0}, ("steps: expected a positive integer, got 0",)),
    ({"steps": 2.5}, ("steps: expected a positive integer, got 2.5",)),
    ({"method": "simpson"}, ("method: expected one of riemann_middle, gausslegendre, got 'simpson'",)),
], ids=["zero-steps", "float-steps", "unknown-rule"])
def test_X03_integrated_gradients_with_fewer_than_one_step_or_an_unknown_rule(kwargs, words):
    from minitransfer import explain

    with raises(ValueError, "integrated_gradients:", *words):
        explain.integrated_gradients(digit_model(), x64(), **kwargs)


@pytest.mark.parametrize("a, b, words", [
    (np.ones((5, 3)) * np.arange(5)[:, None], np.ones((4, 2)), ("same number of rows", "got 5 and 4")),
    (np.ones(5), np.ones((5, 2)), ("a: expected a 2-D array", "shape (5,)")),
    (np.ones((1, 3)), np.ones((1, 3)), ("at least 2 rows", "shape (1, 3)")),
    (np.arange(10.0).reshape(5, 2), np.ones((5, 2)), ("b: every row is the same", "undefined")),
    (np.arange(10.0).reshape(5, 2), np.full((5, 2), np.inf), ("b: expected finite numbers", "inf")),
], ids=["different-n", "1-D", "one-row", "constant", "inf"])
def test_X04_feature_matrices_of_different_lengths_or_without_variation(a, b, words):
    from minitransfer import explain

    with raises(ValueError, "linear_cka:", *words):
        explain.linear_cka(a, b)


@pytest.mark.parametrize("call", ["saliency", "integrated_gradients", "occlusion", "drift_per_layer",
                                  "forgetting", "layerwise_transferability"])
def test_X05_a_model_without_a_body_and_a_head(call):
    from minitransfer import explain

    model = nn.Sequential(nn.Linear(64, 3, generator=0))
    data = (x64(6), np.arange(6) % 3)
    before = snapshot(model)
    calls = {"saliency": lambda: explain.saliency(model, data[0]),
             "integrated_gradients": lambda: explain.integrated_gradients(model, data[0]),
             "occlusion": lambda: explain.occlusion(model, data[0]),
             "drift_per_layer": lambda: explain.drift_per_layer(model, model),
             "forgetting": lambda: explain.forgetting(model, digit_model(), data),
             "layerwise_transferability": lambda: explain.layerwise_transferability(
                 model, data, data, outputs=3)}
    with raises(TypeError, call, "'body' module and a 'head' nn.Linear", "got Sequential"):
        calls[call]()
    assert_unchanged(model, before)


def test_X06_drift_between_models_or_state_dicts_that_do_not_match():
    from minitransfer import explain

    with raises(ValueError, "layer_drift: before and after must have the same parameter names",
                "only in before: ['b']", "only in after: []"):
        explain.layer_drift({"a": np.ones(2), "b": np.ones(2)}, {"a": np.ones(2)})
    with raises(ValueError, "layer_drift: head.weight: before has shape (3, 5), after has (4, 5)"):
        explain.layer_drift(digit_model(), nn.MLP([64, 6, 5, 4], generator=0))
    with raises(TypeError, "layer_drift: after: expected a model (nn.Module) or a state dict", "got list"):
        explain.layer_drift({"a": np.ones(2)}, [np.ones(2)])


@pytest.mark.parametrize("kwargs, words", [
    ({"image_shape": (4, 4)}, ("image_shape: expected (height, width) with height * width = 64",
                               "got (4, 4)")),
    ({"patch": 0}, ("patch: expected an integer from 1 to 8 (the image is 8 x 8), got 0",)),
    ({"patch": 9}, ("patch: expected an integer from 1 to 8", "got 9")),
], ids=["wrong-image-shape", "zero-patch", "patch-too-large"])
def test_X07_occlusion_with_an_image_shape_or_patch_that_does_not_fit(kwargs, words):
    from minitransfer import explain

    with raises(ValueError, "occlusion:", *words):
        explain.occlusion(digit_model(), x64(), **kwargs)
    odd = nn.MLP([10, 4, 3], generator=0)
    with raises(ValueError, "occlusion: image_shape: 10 inputs are not a square image",
                "pass image_shape=(height, width) with height * width = 10"):
        explain.occlusion(odd, np.zeros((2, 10), np.float32))


@pytest.mark.parametrize("argv, words", [
    (["--ig-steps", "0"], ("--ig-steps: expected a positive integer, got 0",)),
    (["--finetune-steps", "0"], ("--finetune-steps must be a positive integer, got 0",)),
    (["--k", "500"], ("--k: k=500 labelled examples per class asked for",)),
    (["--strategies", "magic"], ("argument --strategies: unknown strategy magic",)),
], ids=["ig-steps", "finetune-steps", "k", "strategy"])
def test_X08_the_explain_command_given_bad_settings(tmp_path, capsys, argv, words):
    out = tmp_path / "explain"
    code, err = run_cli(["explain", "--quick", "--out", str(out), *argv], capsys)
    assert_usage_error(code, err, *words)
    assert not out.exists()
# ==== security: attacks and checkpoint integrity ================================================
def feature_attack(*args):
    from minitransfer.security import feature_attack

    return feature_attack(*args)


def attack_inputs():
    return small_model(), np.full((3, 4), 0.5, np.float32), np.array([0, 1, 2])


@pytest.mark.parametrize("call, words", [
    (lambda m, x, y: attacks.fgsm(m, x, y, -0.1), ("fgsm: eps", "finite number >= 0", "got -0.1")),
    (lambda m, x, y: attacks.pgd(m, x, y, float("nan"), 0.1, 3), ("pgd: eps", "got nan")),
    (lambda m, x, y: attacks.robust_accuracy(m, x, y, "pgd", eps=-1), ("robust_accuracy: eps", "got -1")),
    (lambda m, x, y: fine_tune(m, (x, y), "full", steps=2, adversarial=-1),
     ("fine_tune: adversarial", "finite number >= 0", "got -1")),
    (lambda m, x, y: feature_attack(m, x, x, float("inf")), ("feature_attack: eps", "got inf")),
], ids=["fgsm", "pgd", "robust_accuracy", "fine_tune", "feature_attack"])
def test_V01_a_negative_or_non_finite_eps(call, words):
    model, x, y = attack_inputs()
    before = snapshot(model)
    with raises(ValueError, *words):
        call(model, x, y)
    assert_unchanged(model, before)


@pytest.mark.parametrize("alpha", [0, -0.01, float("inf")])
def test_V02_a_pgd_step_size_that_is_not_positive(alpha):
    model, x, y = attack_inputs()
    with raises(ValueError, "pgd: alpha", "step size > 0", f"got {alpha}"):
        attacks.pgd(model, x, y, 0.1, alpha, 3)


@pytest.mark.parametrize("steps", [0, -2, 2.5])
def test_V03_fewer_than_one_pgd_step(steps):
    model, x, y = attack_inputs()
    with raises(ValueError, "pgd: steps", "positive integer", f"got {steps}"):
        attacks.pgd(model, x, y, 0.1, 0.01, steps)


@pytest.mark.parametrize("change, words", [
    (lambda x: x * 3, ("fgsm: x", "data range [0, 1]", "got 1.5 at index (0, 0)")),
    (lambda x: x - 1, ("fgsm: x", "data range [0, 1]", "got -0.5")),
    (lambda x: np.where(np.eye(3, 4) > 0, np.nan, x), ("fgsm: x", "data range", "got nan")),
    (lambda x: x.astype(int), ("fgsm: x", "floating-point array", "int64")),
], ids=["above-one", "below-zero", "nan", "integers"])
def test_V04_inputs_outside_the_data_range(change, words):
    model, x, y = attack_inputs()
    bad = change(x)
    kept = bad.copy()
    with raises(ValueError, *words):
        attacks.fgsm(model, bad, y, 0.1)
    np.testing.assert_array_equal(bad, kept)
    before = snapshot(model)
    with raises(ValueError, "fine_tune", "target x (with adversarial=)", "data range [0, 1]", "127.5"):
        fine_tune(model, (x * 255, y), "full", steps=2, adversarial=0.1)
    assert_unchanged(model, before)


@pytest.mark.parametrize("labels, words", [
    (np.array([0, 1, 3]), ("fgsm: y", "labels in [0, 3)", "3 outputs", "got 3")),
    (np.array([0, -1, 2]), ("fgsm: y", "labels in [0, 3)", "got -1")),
    (np.array([0.0, 1.0, 2.0]), ("fgsm: y", "3 integer class labels", "float64")),
    (np.array([0, 1]), ("fgsm: y", "3 integer class labels", "shape (2,)")),
], ids=["too-large", "negative", "floats", "too-few"])
def test_V05_labels_out_of_range_or_not_matching_x(labels, words):
    model, x, _ = attack_inputs()
    with raises(ValueError, *words):
        attacks.fgsm(model, x, labels, 0.1)
    from minitransfer.security import feature_attack

    with raises(ValueError, "feature_attack: guides", "one image per row of x", "(3, 4)", "(2, 4)"):
        feature_attack(model, x, x[:2], 0.1)


def test_V06_an_unknown_attack_name():
    model, x, y = attack_inputs()
    with raises(ValueError, "robust_accuracy: attack", "fgsm, pgd or a function", "got 'cw'"):
        attacks.robust_accuracy(model, x, y, "cw", 0.1)


@pytest.mark.parametrize("how", ["sidecar", "hex"])
def test_V07_a_tampered_checkpoint_is_refused_before_any_array_is_read(tmp_path, monkeypatch, how):
    from minitransfer import checkpoint

    path = tmp_path / "model.npz"
    digest = mt.save(nn.MLP([4, 5, 3], generator=9).state_dict(), path, sha256=True)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    path.write_bytes(bytes(data))
    model = small_model()
    before = snapshot(model)

    def parse(*args):
        raise AssertionError("an array was read from a file whose digest differs")

    monkeypatch.setattr(checkpoint, "_parse_npy", parse)
    with raises(mt.CheckpointError, "load", "model.npz", "has SHA-256", f"expected {digest}", "refusing"):
        model.load_state_dict(mt.load(path, sha256=True if how == "sidecar" else digest.upper()))
    assert_unchanged(model, before)


def test_V08_a_malformed_digest_or_a_missing_digest_file(tmp_path):
    path = tmp_path / "model.npz"
    mt.save(small_model().state_dict(), path)
    with raises(ValueError, "load: sha256", "64 hexadecimal digits", "got 'abc123'"):
        mt.load(path, sha256="abc123")
    with raises(FileNotFoundError, "sha256=True", "model.npz.sha256", "does not exist"):
        mt.load(path, sha256=True)
    (tmp_path / "model.npz.sha256").write_text("not a digest\n")
    with raises(mt.CheckpointError, "model.npz.sha256", "does not start with a SHA-256 digest", "'not'"):
        mt.load(path, sha256=True)


@pytest.mark.parametrize("call, words", [
    (lambda s: s.poison_source((np.zeros((4, 16)), np.arange(4)), fraction=1.5),
     ("poison_source: fraction", "strictly between 0 and 1", "1.5")),
    (lambda s: s.poison_source((np.zeros((4, 16)), np.arange(4)), target_class=7),
     ("poison_source: target_class", "[0, 4)", "got 7")),
    (lambda s: s.stamp_trigger(np.zeros((2, 16)), size=5), ("stamp_trigger: size", "1 to 4", "got 5")),
    (lambda s: s.stamp_trigger(np.zeros((2, 15))), ("stamp_trigger: x", "square images", "15 features")),
    (lambda s: s.fine_prune(small_model(), np.zeros((2, 4), np.float32), fraction=1.0),
     ("fine_prune: fraction", "[0, 1)", "got 1.0")),
], ids=["poison-fraction", "poison-class", "trigger-size", "not-square", "prune-fraction"])
def test_V09_poisoning_and_pruning_settings_out_of_range(call, words):
    from minitransfer import security

    with raises(ValueError, *words):
        call(security)


@pytest.mark.parametrize("argv, words", [
    (["attack", "--eps", "-0.1"], ("--eps", "numbers >= 0", "'-0.1'")),
    (["attack", "--adversarial-eps", "0"], ("--adversarial-eps", "number > 0", "'0'")),
    (["attack", "--k", "70"], ("--k", "k=70", "only 65", "validation set")),
    (["finetune", "--sha256", "abc"], ("--checkpoint", "64 hexadecimal digits", "'abc'")),
    (["finetune", "--sha256", "0" * 64], ("--checkpoint", "has SHA-256", "expected 000", "refusing")),
], ids=["eps", "adversarial-eps", "k", "bad-digest", "tampered"])
def test_V10_attack_options_and_checkpoint_digests_on_the_command_line(tmp_path, capsys, saved, argv, words):
    path, _ = saved
    argv = argv + (["--checkpoint", str(path), "--save", str(tmp_path / "f.npz")] if argv[0] == "finetune"
                   else ["--out", str(tmp_path / "attack")])
    code, err = run_cli(argv, capsys)
    assert_usage_error(code, err, *words)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


# ==== threads ===================================================================================
@pytest.mark.parametrize("n, error, received", [
    (0, ValueError, "got 0"), (-2, ValueError, "got -2"), (2.0, TypeError, "got 2.0 (float)"),
    ("2", TypeError, "got '2' (str)"), (True, TypeError, "got True (bool)"),
], ids=["zero", "negative", "float", "str", "bool"])
def test_P01_a_thread_count_that_is_not_a_positive_integer(n, error, received):
    before = mt.get_num_threads()
    with raises(error, "set_num_threads: n", "positive integer", received):
        mt.set_num_threads(n)
    assert mt.get_num_threads() == before


def test_P01_a_bad_MINITRANSFER_THREADS(monkeypatch, capsys):
    from minitransfer import threads

    monkeypatch.setenv("MINITRANSFER_THREADS", "many")
    with raises(ValueError, "MINITRANSFER_THREADS", "positive integer", "'many'"):
        threads.default_num_threads()
    code, err = run_cli(["lessons"], capsys)
    assert_usage_error(code, err, "MINITRANSFER_THREADS", "positive integer", "'many'")


# ==== PyTorch interop ===========================================================================
@pytest.mark.parametrize("convert", ["to_torch", "from_torch"])
def test_I01_interop_without_torch(monkeypatch, convert):
    from minitransfer import interop

    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without torch sees
    with raises(ImportError, f"{convert} needs PyTorch", "not installed", "pip install torch"):
        getattr(interop, convert)(small_model())


def _torch_layers(torch, *names):
    make = {"Linear": lambda: torch.nn.Linear(4, 4), "ReLU": torch.nn.ReLU, "Tanh": torch.nn.Tanh,
            "Dropout": torch.nn.Dropout, "NoBias": lambda: torch.nn.Linear(4, 4, bias=False)}
    return torch.nn.Sequential(*[make[name]() for name in names])


@pytest.mark.parametrize("layers, words", [
    (("Linear", "Tanh", "Linear"), ("found Tanh at 1, where ReLU belongs",)),
    (("Linear", "ReLU", "Dropout", "Linear"), ("found Dropout at 2, where Linear belongs",)),
    (("Linear", "Linear"), ("found Linear at 1, where ReLU belongs",)),
    (("Linear", "ReLU"), ("found ReLU at 1, where the Linear head belongs",)),
    (("NoBias",), ("every Linear needs a bias", "the Linear at 0 has none")),
    ("conv", ("found Conv2d (children: none)",)),
    ("ours", ("expected a torch.nn.Module, got MLP (to_torch converts that way)",)),
], ids=["tanh", "dropout", "no-relu", "relu-last", "no-bias", "conv", "minitransfer-model"])
def test_I02_from_torch_of_a_module_that_is_not_mlp_shaped(layers, words):
    torch = pytest.importorskip("torch")
    module = {"conv": lambda: torch.nn.Conv2d(1, 2, 3), "ours": small_model}.get(
        layers, lambda: _torch_layers(torch, *layers))()
    with raises(TypeError, "from_torch", *words):
        from_torch(module)


def test_I02_to_torch_of_a_model_that_is_not_mlp_shaped():
    pytest.importorskip("torch")
    with raises(TypeError, "to_torch", "'body'", "'head'", "found Sequential (children: 0)"):
        to_torch(nn.Sequential(nn.Linear(4, 3)))
    model = small_model()
    model.body.append(nn.Flatten())
    with raises(TypeError, "to_torch", "found Flatten at body.2, where Linear belongs"):
        to_torch(model)


class _Doubled(nn.MLP):
    def forward(self, x):
        return super().forward(x) * 2


def test_I03_sizes_that_do_not_chain_mixed_dtypes_or_another_forward():
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with raises(ValueError, "from_torch", "sizes do not chain", "the Linear at 0 gives 5 features",
                "the one at 2 expects 4"):
        from_torch(module)
    module = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2).double())
    with raises(ValueError, "from_torch", "float32, or every weight in float64", "found float32, float64"):
        from_torch(module)
    model = _Doubled([4, 5, 3], generator=0)
    before = snapshot(model)
    with raises(ValueError, "to_torch", "outputs differ", "forward is not head(body(x))"):
        to_torch(model)
    assert_unchanged(model, before)


# ==== transferability, LoRA and the advisor ====================================================
def _scores():
    from minitransfer import transferability

    return transferability


@pytest.mark.parametrize("labels, words", [
    (np.array([0, 0, 2, 2]), ("labels", "every class 0..2", "class 1 has none")),
    (np.array([0.0, 0.0, 1.0, 1.0]), ("labels", "integer class labels", "float64")),
    (np.array([0, 0, 1]), ("labels", "one label per example (4)", "got 3")),
    (np.array([-1, -1, 0, 0]), ("labels", "0..C-1", "got -1")),
], ids=["missing-class", "floats", "wrong-length", "negative"])
@pytest.mark.parametrize("score", ["logme", "hscore", "leep", "nce"])
def test_K01_labels_with_a_missing_class_not_integers_or_not_one_per_example(score, labels, words):
    t = _scores()
    inputs = {"logme": np.ones((4, 3)), "hscore": np.arange(12.0).reshape(4, 3),
              "leep": np.full((4, 2), 0.5), "nce": np.array([0, 1, 0, 1])}[score]
    with raises(ValueError, f"{score}:", *words):
        getattr(t, score)(inputs, labels)


@pytest.mark.parametrize("score", ["logme", "hscore", "leep", "nce"])
def test_K02_fewer_than_two_examples_of_a_class(score):
    t = _scores()
    inputs = {"logme": np.ones((5, 3)), "hscore": np.arange(15.0).reshape(5, 3),
              "leep": np.full((5, 2), 0.5), "nce": np.array([0, 1, 0, 1, 1])}[score]
    with raises(ValueError, f"{score}: labels", "at least 2 examples of each class", "class 2 has 1"):
        getattr(t, score)(inputs, np.array([0, 0, 1, 1, 2]))


@pytest.mark.parametrize("features, words", [
    (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0], [2.0, 0.0]]),
     ("expected finite numbers", "nan at index (1, 0)")),
    (np.array([[0.0, 1.0], [np.inf, 2.0], [1.0, 1.0], [2.0, 0.0]]),
     ("expected finite numbers", "inf at index (1, 0)")),
    (np.arange(4.0), ("2-D array", "got shape (4,)")),
    ([["a", "b"]] * 4, ("2-D array of numbers", "list")),
], ids=["nan", "inf", "1-D", "strings"])
@pytest.mark.parametrize("score", ["logme", "hscore", "max_evidence"])
def test_K03_features_that_are_not_a_2d_array_of_finite_numbers(score, features, words):
    t = _scores()
    second = np.eye(2)[[0, 0, 1, 1]] if score == "max_evidence" else np.array([0, 0, 1, 1])
    with raises(ValueError, f"{score}: features", *words):
        getattr(t, score)(features, second)


@pytest.mark.parametrize("make, error, words", [
    (lambda: {"lora": mt_lora().LoRAConfig(r=0)}, ValueError, ("add_lora: r", "from 1 to 4", "body.0",
                                                             "Linear(4, 6)", "got 0")),
    (lambda: {"lora": mt_lora().LoRAConfig(r=4)}, ValueError, ("add_lora: r", "from 1 to 3", "body.2",
                                                             "Linear(6, 3)", "got 4")),
    (lambda: {"lora": mt_lora().LoRAConfig(r=2.0)}, ValueError, ("add_lora: r", "got 2.0")),
    (lambda: {"lora": mt_lora().LoRAConfig(alpha=0.0)}, ValueError,
     ("add_lora: alpha", "positive", "got 0.0")),
    (lambda: {"lora": {"r": 8}}, TypeError, ("fine_tune: lora", "LoRAConfig", "got dict")),
], ids=["r=0", "r>min(in,out)", "float-r", "alpha=0", "dict"])
def test_K04_lora_rank_outside_one_to_min_in_out_or_a_bad_alpha(make, error, words):
    from minitransfer.transfer import fine_tune

    model = nn.MLP([4, 6, 3, 3], generator=0)  # r ≤ 4 for body.0, r ≤ 3 for body.2
    before = snapshot(model)
    x, y = np.ones((6, 4), dtype=np.float32), np.array([0, 1, 2, 0, 1, 2])
    with raises(error, *words):
        fine_tune(model, (x, y), "lora", steps=2, **make())
    assert_unchanged(model, before)
    assert [type(m).__name__ for m in model.body] == ["Linear", "ReLU", "Linear", "ReLU"]


def test_K04_lora_added_twice():
    lora = mt_lora()
    model = nn.MLP([4, 5, 3], generator=0)
    lora.add_lora(model)
    with raises(ValueError, "add_lora: body.0 already has LoRA factors", "merge_lora(model) first"):
        lora.add_lora(model)


def mt_lora():
    from minitransfer.transfer import lora

    return lora


@pytest.mark.parametrize("call, words", [
    (lambda t: t.leep(np.array([[0.5, 0.6]] * 4), np.array([0, 0, 1, 1])),
     ("leep: source_probs", "rows of probabilities", "row 0 with sum 1.1")),
    (lambda t: t.leep(np.array([[1.5, -0.5]] * 4), np.array([0, 0, 1, 1])),
     ("leep: source_probs", "non-negative", "minimum -0.5")),
    (lambda t: t.nce(np.array([0.2, 0.8, 0.1, 0.9]), np.array([0, 0, 1, 1])),
     ("nce: source_predictions", "integers >= 0", "float64")),
], ids=["sum", "negative", "soft-predictions"])
def test_K05_leep_without_probabilities_or_nce_without_hard_predictions(call, words):
    with raises(ValueError, *words):
        call(_scores())


def test_K06_an_unknown_score():
    t = _scores()
    with raises(ValueError, "score_model: method", "logme, hscore, leep, nce", "'logmee'"):
        t.score_model(small_model(), np.ones((4, 4), dtype=np.float32), np.array([0, 0, 1, 1]), "logmee")


def test_K07_advise_with_a_bad_checkpoint_or_k(tmp_path, capsys):
    code, err = run_cli(["advise", "--checkpoint", str(tmp_path / "none.npz")], capsys)
    assert_usage_error(code, err, "--checkpoint", "no checkpoint file")
    mt.save({"w": np.ones(3)}, tmp_path / "foreign.npz")
    code, err = run_cli(["advise", "--checkpoint", str(tmp_path / "foreign.npz")], capsys)
    assert_usage_error(code, err, "--checkpoint", "not written by 'minitransfer pretrain'")
    code, err = run_cli(["pretrain", "--steps", "1", "--hidden", "4", "--out", str(tmp_path / "p.npz")],
                        capsys)
    assert code == 0
    for k, words in [("1", ("--k", "from 2", "got 1")), ("500", ("--k", "to 65", "got 500"))]:
        code, err = run_cli(["advise", "--checkpoint", str(tmp_path / "p.npz"), "--k", k], capsys)
        assert_usage_error(code, err, *words)


@pytest.mark.parametrize("argv, words", [
    (["--targets", "jitter"], ("--targets", "at least 2 targets", "got jitter")),
    (["--targets", "jitter,blur"], ("--targets", "unknown target blur")),
    (["--ks", "1,10"], ("--ks", "at least 2 labelled examples per class", "k=1")),
    (["--ks", "500"], ("--ks", "k=500", "only 65 examples of its smallest class")),
    (["--budgets", "0,30"], ("--budgets", "positive integers", "'0,30'")),
    (["--finetune-steps", "0"], ("--finetune-steps", "positive integer", "'0'")),
], ids=["one-target", "unknown-target", "k=1", "k-too-large", "budget-0", "steps-0"])
def test_K08_transferability_with_bad_options_writes_nothing(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    code, err = run_cli(["transferability", "--out", str(out), *argv], capsys)
    assert_usage_error(code, err, *words)
    assert not out.exists()
# ==== captured steps (minitransfer.capture, fit(capture=True)) ==================================
def _capture_setup():
    model = small_model()
    x, y = _data()
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), mt.tensor(x[:8]), mt.tensor(y[:8])


def test_R01_an_op_without_a_replay_kernel():
    model, opt, x, y = _capture_setup()
    before = snapshot(model)

    def loss_fn(logits, labels):
        return nn.CrossEntropyLoss()(logits, labels) + logits.exp().mean()

    with raises(mt.CaptureError, "capture", "no replay kernel for Exp", "Affine, ReLU, CrossEntropy",
                "train this model eagerly"):
        mt.capture(model, loss_fn, opt, x, y)
    assert_unchanged(model, before)
    loader = DataLoader(TensorDataset(*_data()), batch_size=8)
    with pytest.warns(RuntimeWarning, match=r"fit\(capture=True\) trains eagerly: capture: no replay kernel"):
        history = fit(model, loss_fn, opt, loader, steps=2, progress=False, capture=True)
    assert history.steps == 2  # trained eagerly instead


def test_R02_a_model_or_loss_that_reads_values_outside_its_graph():
    model, opt, x, y = _capture_setup()
    before = snapshot(model)

    def loss_fn(logits, labels):  # a mask made from the data by NumPy, not by an op
        return nn.CrossEntropyLoss()(logits * mt.tensor((logits.data > 0).astype(np.float32)), labels)

    with raises(mt.CaptureError, "replayed step disagrees with an eager one",
                "reads something that is not in its graph", "train it eagerly"):
        mt.capture(model, loss_fn, opt, x, y)
    assert_unchanged(model, before)


def test_R03_cross_entropy_labels_that_are_not_the_steps_y():
    model, opt, x, y = _capture_setup()
    before = snapshot(model)
    with raises(mt.CaptureError, "CrossEntropy's labels must be the step's y itself"):
        mt.capture(model, lambda logits, labels: nn.CrossEntropyLoss()(logits, (labels.data + 1) % 3),
                   opt, x, y)
    assert_unchanged(model, before)


def test_R04_arrays_of_a_library_without_out():
    import array_api_strict as xps

    model = small_model()
    for p in model.parameters():
        p.data = xps.asarray(p.detach().numpy())
    x, y = mt.Tensor(xps.asarray(_data()[0][:4])), mt.Tensor(xps.asarray(_data()[1][:4]))
    with raises(mt.CaptureError, "needs NumPy or CuPy arrays", "out=", "got Array"):
        mt.capture(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y)


def test_R05_labels_out_of_range_in_a_captured_step():
    model, opt, x, y = _capture_setup()
    step = mt.capture(model, nn.CrossEntropyLoss(), opt, x, y)
    step(x, y)  # gradients and momentum exist now: they must survive the bad step too
    before = snapshot(model)
    buffers = {p: s["momentum_buffer"].copy() for p, s in opt.state.items()}
    bad = mt.tensor(np.where(np.arange(8) == 2, 3, y.data))
    with raises(ValueError, "CrossEntropyLoss", "labels must lie in [0, 3)", "to 3"):
        step(x, bad)
    assert_unchanged(model, before)
    for p, buffer in buffers.items():
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], buffer)


def test_R06_inputs_that_are_not_tensors_or_arrays():
    model, opt, x, y = _capture_setup()
    step = mt.capture(model, nn.CrossEntropyLoss(), opt, x, y)
    before = snapshot(model)
    with raises(TypeError, "captured step", "x must be a Tensor or an array", "got list"):
        step(x.data.tolist(), y)
    assert_unchanged(model, before)


def test_R07_a_loss_without_a_number_to_minimise_or_nothing_to_train():
    model, opt, x, y = _capture_setup()
    before = snapshot(model)
    with raises(mt.CaptureError, "loss_fn must return a single-number Tensor"):
        mt.capture(model, nn.CrossEntropyLoss(reduction="none"), opt, x, y)
    freeze_all = model.requires_grad_(False)
    with raises(mt.CaptureError, "nothing to train"):
        mt.capture(freeze_all, nn.CrossEntropyLoss(), opt, x, y)
    model.requires_grad_(True)
    assert_unchanged(model, before)


# ==== domain adaptation =========================================================================
@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "1", True])
def test_A01_a_gradient_reversal_lambda_that_is_not_a_finite_number_at_least_zero(value):
    with raises(ValueError, "GradientReversal", "lambda_ must be a finite number >= 0", f"got {value!r}"):
        nn.GradientReversal(value)
    layer = nn.GradientReversal(1.0)
    layer.lambda_ = value  # a training loop's bad update is caught at the next forward
    with raises(ValueError, "GradientReversal", "lambda_"):
        layer(mt.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True))


def _adapt_data(d=6, classes=3):
    return (np.zeros((10, d), np.float32), np.arange(10) % classes), np.zeros((5, d), np.float32)


def test_A02_source_and_target_features_of_different_sizes():
    from minitransfer.adapt import adapt, coral_loss, mmd_loss, proxy_a_distance

    for function in (coral_loss, mmd_loss, proxy_a_distance):
        with raises(ValueError, function.__name__, "must have the same size", "3 source features",
                    "4 target features", "take both from the same layer"):
            function(np.ones((8, 3)), np.ones((8, 4)))
    model = nn.MLP([6, 4, 3], generator=0)
    before = snapshot(model)
    source, _ = _adapt_data()
    with raises(ValueError, "adapt", "same number of features", "(10, 6)", "(5, 5)"):
        adapt(model, source, np.zeros((5, 5), np.float32), "coral")
    assert_unchanged(model, before)


def test_A03_a_shift_that_changes_the_classes():
    from minitransfer.adapt import adapt
    from minitransfer.adapt.compare import check_same_classes
    from minitransfer.experiment import Task

    x = np.zeros((10, 4), np.float32)
    task = Task("t", (x, np.arange(10) % 5), (x, np.arange(10)), (x, np.arange(10)), 5, 10)
    with raises(ValueError, "same classes in source and target", "5 source classes [0, 1, 2, 3, 4]",
                "10 target classes", "transfer.fine_tune"):
        check_same_classes(task)
    model = nn.MLP([6, 4, 2], generator=0)
    before = snapshot(model)
    source, target = _adapt_data()
    with raises(ValueError, "adapt", "source labels run from 0 to 2", "head has 2 outputs"):
        adapt(model, source, target, "dann")
    assert_unchanged(model, before)


@pytest.mark.parametrize("call, words", [
    (lambda a, m, s, t: a.adapt(m, s, t, "magic"), ("method must be one of", "'magic'")),
    (lambda a, m, s, t: a.adapt(m, s, t, "dann", steps=0), ("steps must be a positive integer", "got 0")),
    (lambda a, m, s, t: a.adapt(m, s, t, "mmd", weight=-1), ("weight must be a finite number >= 0",)),
    (lambda a, m, s, t: a.mmd_loss(np.ones((2, 3)), np.ones((2, 3)), bandwidths=(0, 1)),
     ("bandwidths must be positive numbers", "(0, 1)")),
    (lambda a, m, s, t: a.coral_loss(np.ones((1, 3)), np.ones((2, 3))),
     ("at least 2 examples from each domain", "got 1 source and 2 target")),
], ids=["method", "steps", "weight", "bandwidths", "too-few"])
def test_A04_bad_adaptation_arguments(call, words):
    from minitransfer import adapt

    model = nn.MLP([6, 4, 3], generator=0)
    before = snapshot(model)
    source, target = _adapt_data()
    with raises(ValueError, *words):
        call(adapt, model, source, target)
    assert_unchanged(model, before)


def test_A05_a_gradcheck_reference_of_another_shape():
    t = mt.tensor(np.ones((2, 3)), requires_grad=True)
    with raises(ValueError, "gradcheck", "reference must give an output of fn's shape (2, 3)", "got ()"):
        mt.gradcheck(lambda a: a * 2, t, reference=lambda a: a.sum())


@pytest.mark.parametrize("argv, words", [
    (["--target", "noise", "--targets", "invert"], ("--target and --targets: give one of them",)),
    (["--methods", "dann,mmd"], ("--methods: source_only is the baseline", "got dann,mmd")),
], ids=["target-and-targets", "no-baseline"])
def test_A06_adapt_command_with_both_target_flags_or_without_the_baseline(tmp_path, capsys, argv, words):
    code, err = run_cli(["adapt", "--out", str(tmp_path / "out"), *argv], capsys)
    assert_usage_error(code, err, *words)
    assert not (tmp_path / "out").exists()


# ==== pretraining (issue 19) ====================================================================
def _jittered_source():
    x = np.arange(60, dtype=np.float32).reshape(30, 2)
    y = np.tile(np.arange(5).repeat(2), 3)  # 10 images (2 per class), 3 jittered copies each
    return (x, y), np.tile(np.arange(10), 3)


def test_M01_more_images_than_the_source_holds():
    from minitransfer import pretraining

    source, ids = _jittered_source()
    with raises(ValueError, "m: expected at most 10", "the source holds 10 distinct images", "got 11"):
        pretraining.source_images(source, ids, 11)
    with raises(ValueError, "size: expected at most 30", "got 31"):
        pretraining.select_coreset(source[0], source[1], 31, "k_center")


def test_M02_fewer_images_than_classes_or_an_unknown_rule():
    from minitransfer import pretraining

    source, ids = _jittered_source()
    with raises(ValueError, "m: expected at least 5", "one example of each of the source's 5 classes",
                "got 3"):
        pretraining.source_images(source, ids, 3)
    with raises(ValueError, "rule: expected one of random, k_center", "'herding'"):
        pretraining.select_coreset(source[0], source[1], 5, rule="herding")


@pytest.mark.parametrize("patience", [0, -1, 2.5, True])
def test_M03_patience_below_one(patience):
    model = small_model()
    before = snapshot(model)
    data = (np.ones((6, 4), np.float32), np.arange(6) % 3)
    with raises(ValueError, "patience: expected a whole number of evaluations >= 1", repr(patience)):
        pretrain(model, data, steps=5, val=data, patience=patience)
    assert_unchanged(model, before)
    with raises(ValueError, "pretrain: early stopping needs both val", "patience=2"):
        pretrain(model, data, steps=5, patience=2)
    assert_unchanged(model, before)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), "4"])
def test_M04_temperature_not_above_zero(temperature):
    from minitransfer import pretraining

    words = ("temperature: expected a number T > 0", repr(temperature))
    with raises(ValueError, *words):
        pretraining.distillation_loss(mt.tensor(np.zeros((2, 3))), np.zeros((2, 3)), temperature)
    with raises(ValueError, *words):
        pretraining.DistillationLoss(temperature)
    student = small_model()
    before = snapshot(student)
    with raises(ValueError, *words):
        pretraining.distill(student, small_model(), np.ones((4, 4), np.float32), temperature=temperature)
    assert_unchanged(student, before)


@pytest.mark.parametrize("argv, words", [
    (["--ms", "1000"], ("--ms: expected at most 451", "the source holds 451 distinct images", "got 1000")),
    (["--ms", "3"], ("--ms: expected at least 5", "got 3")),
    (["--pretrain-steps", "0"], ("argument --pretrain-steps: expected positive step counts", "'0'")),
    (["--temperature", "0"], ("argument --temperature: expected a temperature T > 0", "'0'")),
], ids=["m-too-large", "m-below-classes", "steps", "temperature"])
def test_M05_scale_refuses_an_m_the_source_cannot_give(argv, words, capsys, tmp_path):
    out = tmp_path / "never"
    code, err = run_cli(["scale", *argv, "--out", str(out)], capsys)
    assert_usage_error(code, err, *words)
    assert not out.exists()


# ==== the document lists every entry ============================================================
def test_docs_errors_md_lists_every_catalogue_entry():
    tested = sorted({m.group(1) for name in globals() if (m := re.match(r"test_([A-Z]\d\d)_", name))})
    text = DOCS.read_text()
    listed = set(re.findall(r"^\| ([A-Z]\d\d) \|", text, flags=re.M))
    assert [e for e in tested if e not in listed] == []
    assert [e for e in sorted(listed) if e not in tested] == []
