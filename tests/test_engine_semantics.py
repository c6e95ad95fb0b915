"""PyTorch's semantics where the engine once gave a wrong answer without an error (issue 13).

Each test is named after the item of the issue it checks (``test_item2_...`` is item 2) and
starts from the issue's repro; each one failed on the code before the fix. The expected values
are worked out by hand in the comments, or are PyTorch 2.13's answers to the same calls.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import backend, nn, optim
from minitransfer import functions as F
from minitransfer.data import DataLoader, TensorDataset

INF = float("inf")


def grad_of(t):
    return t.grad.numpy()


# ---- 1. truth values, numbers, iteration ---------------------------------------------------
def test_item1_bool_of_one_element_is_its_value_and_of_more_is_ambiguous():
    with pytest.raises(RuntimeError, match=r"2 values \(shape \(2,\)\) is ambiguous"):
        bool(mt.tensor([0.0, 0.0]) == mt.tensor([1.0, 1.0]))  # was True
    assert bool(mt.tensor([0.0])) is False  # was True (a list of length 1)
    assert bool(mt.tensor(5.0) < 1.0) is False  # raised "len() of a 0-d tensor"
    assert bool(mt.tensor([[3.0]]) > 1.0) is True
    assert not (mt.tensor([0.0, 0.0]) == mt.tensor([1.0, 0.0])).all()
    assert (mt.tensor([0.0, 0.0]) == mt.tensor([1.0, 0.0])).any()
    with pytest.raises(RuntimeError, match="0 values"):
        bool(mt.zeros(0))


def test_item1_float_int_and_index_take_one_element():
    assert float(mt.tensor([2.5])) == 2.5 and int(mt.tensor(3.7)) == 3
    assert [10, 20, 30][mt.tensor(1)] == 20 and list(range(mt.tensor([3]))) == [0, 1, 2]
    with pytest.raises(ValueError, match="one-element"):
        float(mt.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][mt.tensor(0.0)]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][mt.tensor([0, 1])]


def test_item1_iteration_yields_rows_with_gradients_and_refuses_a_0d_tensor():
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(mt.tensor(5.0))  # was []
    x = mt.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(rows[2].detach().numpy(), [4.0, 5.0])
    (rows[0] + 2.0 * rows[2]).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[1, 1], [0, 0], [2, 2]])


# ---- 2. indexing with repeated indices --------------------------------------------------------
def _tensor_on(backend_name, values):
    if backend_name == "numpy":
        return mt.Tensor(np.asarray(values), requires_grad=True)
    import array_api_strict

    return mt.Tensor(array_api_strict.asarray(values), requires_grad=True)


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
def test_item2_repeated_indices_add_their_gradients(backend_name):
    x = _tensor_on(backend_name, np.arange(12.0).reshape(3, 4))
    x[np.array([0, 0]), np.array([1, 1])].sum().backward()  # gave 1 at (0, 1)
    expected = np.zeros((3, 4))
    expected[0, 1] = 2
    np.testing.assert_array_equal(backend.to_numpy(x.grad.data), expected)
    x.grad = None
    x[:, [2, 2, 2]].sum().backward()  # gave 1 in column 2
    expected = np.zeros((3, 4))
    expected[:, 2] = 3
    np.testing.assert_array_equal(backend.to_numpy(x.grad.data), expected)


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("key, counts", [
    (lambda t: (t[[2, 0, 2]],), {(2, j): 2 for j in range(4)} | {(0, j): 1 for j in range(4)}),
    (lambda t: (t[mt.tensor([1, 1]), 3],), {(1, 3): 2}),
    (lambda t: (t[np.array([True, False, True])],), {(i, j): 1 for i in (0, 2) for j in range(4)}),
    (lambda t: (t[..., None, [0, 0]],), {(i, 0): 2 for i in range(3)}),
    (lambda t: (t[1:, 1], t[2, 1:]), {(1, 1): 1, (2, 1): 2, (2, 2): 1, (2, 3): 1}),
], ids=["list", "tensor-and-int", "mask", "ellipsis-none-list", "two-basic-keys"])
def test_item2_every_key_gives_each_element_the_number_of_times_it_was_picked(backend_name, key, counts):
    x = _tensor_on(backend_name, np.zeros((3, 4)))
    sum(part.sum() for part in key(x)).backward()
    expected = np.zeros((3, 4))
    for where, count in counts.items():
        expected[where] = count
    np.testing.assert_array_equal(backend.to_numpy(x.grad.data), expected)


def test_item2_one_array_and_a_tuple_of_arrays_go_to_the_same_op():
    x = mt.tensor(np.zeros((3, 4)), requires_grad=True)
    assert type(x[[0, 1]].grad_fn) is F.GetItem  # was IndexSelect
    assert type(x[[0, 1], [1, 2]].grad_fn) is F.GetItem and type(x[1:].grad_fn) is F.GetItem


def test_item2_index_select_takes_0d_and_2d_index_arrays():
    x = mt.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    row = x.index_select(0, mt.tensor(1))  # 0-d: the axis goes away
    assert row.shape == (2,)
    row.sum().backward()  # backward raised for a 0-d index
    np.testing.assert_array_equal(grad_of(x), [[0, 0], [1, 1], [0, 0]])
    x.grad = None
    picked = x.index_select(0, [[0, 2], [0, 0]])  # 2-D: one axis becomes two
    assert picked.shape == (2, 2, 2)
    np.testing.assert_array_equal(picked.detach().numpy()[0, 1], [4.0, 5.0])
    picked.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[3, 3], [0, 0], [1, 1]])


# ---- 3. a leaf owns its gradient -------------------------------------------------------------
def test_item3_a_gradient_is_never_shared_with_another_tensor():
    a = mt.tensor([1.0, 2.0], requires_grad=True)
    b = mt.tensor([3.0, 4.0], requires_grad=True)
    ((a + b) * 2).sum().backward()
    a.grad.mul_(10)  # changed b.grad too: Add handed the same array to both
    np.testing.assert_array_equal(grad_of(a), [20.0, 20.0])
    np.testing.assert_array_equal(grad_of(b), [2.0, 2.0])
    upstream = np.array([1.0, -1.0], dtype=np.float32)
    a.grad = None
    (a + 0.0).backward(upstream)  # Add passes the caller's array on as it is
    a.grad.zero_()
    np.testing.assert_array_equal(upstream, [1.0, -1.0])


def test_item3_a_gradient_is_writeable():
    p = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    p.mean().backward()  # Mean's backward is a read-only broadcast view
    p.grad.zero_()  # raised "output array is read-only"
    np.testing.assert_array_equal(grad_of(p), np.zeros((2, 2)))


def test_item3_gradient_clipping_as_a_learner_writes_it():
    x = mt.tensor(np.ones((4, 3)))
    w = nn.Parameter(np.full((3, 2), 0.5, dtype=np.float32))
    b = nn.Parameter(np.zeros(2, dtype=np.float32))
    loss = (x @ w).mean() + b.sum()  # d/dw = 1/2 everywhere (4 rows / 8 outputs), d/db = 1
    loss.backward()
    norm = np.sqrt(sum(float((p.grad * p.grad).sum()) for p in (w, b)))  # sqrt(6/4 + 2)
    for p in (w, b):
        p.grad.mul_(1.0 / norm)  # b.grad was a read-only view: this raised
    np.testing.assert_allclose(grad_of(w), np.full((3, 2), 0.5 / np.sqrt(3.5)), rtol=1e-6)
    np.testing.assert_allclose(grad_of(b), np.full(2, 1.0 / np.sqrt(3.5)), rtol=1e-6)


def test_item3_later_gradients_add_in_place_without_changing_another_path():
    a = mt.tensor([1.0], requires_grad=True)
    b = mt.tensor([1.0], requires_grad=True)
    # Add hands one array to the leaf a and to b * 1 (still to be walked), and a gets 3 more later
    loss = ((a + b * 1.0) * 2.0).sum() + (a * 3.0).sum()
    loss.backward()
    assert grad_of(a).tolist() == [5.0] and grad_of(b).tolist() == [2.0]
    (a * 4.0).sum().backward()
    assert grad_of(a).tolist() == [9.0]


def test_item3_the_training_step_stores_its_gradients_without_a_copy(monkeypatch):
    copies = []
    real_copy = backend.copy
    monkeypatch.setattr(backend, "copy", lambda array: copies.append(array.shape) or real_copy(array))
    model = nn.MLP([4, 5, 3], generator=0)
    for batch in (1, 8):
        loss = nn.CrossEntropyLoss()(model(mt.from_numpy(np.ones((batch, 4), np.float32))),
                                     np.arange(batch) % 3)
        model.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
    assert copies == []  # the hot path keeps the fresh arrays of the ops


# ---- 4. dtype and device moves stay in the graph -----------------------------------------------
def test_item4_float_and_double_keep_the_graph():
    x = mt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.float()  # was a new leaf: x got no gradient
    assert y.dtype == np.float32 and type(y.grad_fn) is F.ToCopy
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(grad_of(x), [2.0, 4.0])
    z = mt.tensor([3.0], requires_grad=True)
    (z.double() * 2.0).sum().backward()
    assert z.grad.dtype == np.float32 and grad_of(z).tolist() == [2.0]
    w = mt.tensor([1.0], requires_grad=True)
    (w.to(dtype="float64") * w.to(copy=True)).sum().backward()  # d/dw w² = 2w
    assert grad_of(w).tolist() == [2.0]
    assert w.to(dtype="float32") is w and not w.to(dtype="int64").requires_grad


def test_item4_a_device_move_keeps_the_graph():
    # array_api_strict stands in for a second device: .to("cpu") makes it a NumPy array
    import array_api_strict as xps

    x = mt.Tensor(xps.asarray([1.0, 2.0], dtype=xps.float64), requires_grad=True)
    y = x.to("cpu")
    assert type(y.data) is np.ndarray
    (y * 3.0).sum().backward()
    assert type(x.grad.data) is type(x.data)
    np.testing.assert_array_equal(backend.to_numpy(x.grad.data), [3.0, 3.0])


@pytest.mark.skipif(not mt.gpu_available(), reason="no usable GPU")
def test_item4_cuda_and_back_keeps_the_graph():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x.cuda() * x.cuda()).sum().backward()
    assert x.grad.device == "cpu" and grad_of(x).tolist() == [2.0, 4.0]


# ---- 5. labels outside [0, C) -------------------------------------------------------------
@pytest.mark.parametrize("labels, words", [([0, 3], "from 0 to 3"), ([-1, 0], "from -1 to 0")])
def test_item5_both_cross_entropies_refuse_labels_outside_the_classes(labels, words):
    logits = mt.tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(ValueError) as functional_error:
        mt.cross_entropy(logits, labels)  # a label 3 added 0 to the loss
    with pytest.raises(ValueError) as module_error:
        nn.CrossEntropyLoss()(logits, np.array(labels))
    assert str(functional_error.value) == str(module_error.value)
    assert "labels must lie in [0, 3)" in str(functional_error.value) and words in str(
        functional_error.value)


# ---- 6. tensor() copies, from_numpy() shares, detach() shares the version ----------------------
def test_item6_tensor_copies_the_callers_array_and_from_numpy_shares_it():
    values = np.ones(3, dtype=np.float32)
    p = mt.tensor(values, requires_grad=True)
    (p * p).sum().backward()
    optim.SGD([p], lr=0.5).step()  # changed the caller's array too
    np.testing.assert_array_equal(values, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(p.detach().numpy(), [0.0, 0.0, 0.0])
    q = mt.tensor(p)  # a copy of a tensor, as torch.tensor(t)
    with mt.no_grad():
        p.add_(5.0)
    np.testing.assert_array_equal(q.numpy(), [0.0, 0.0, 0.0])
    shared = mt.from_numpy(values)
    shared.add_(1.0)
    np.testing.assert_array_equal(values, [2.0, 2.0, 2.0])
    assert mt.from_numpy(np.zeros(2)).dtype == np.float64
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        mt.from_numpy([1.0, 2.0])


def test_item6_a_change_through_detach_is_caught_at_backward():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    w.detach().add_(1.0)  # w's values changed under the saved Mul: backward gave 2 (w + 1)
    with pytest.raises(RuntimeError, match="Mul was modified in place"):
        loss.backward()
    d = w.detach()
    with mt.no_grad():
        w.add_(1.0)
    assert d._version == w._version == 2


# ---- 7. setitem, TensorDataset of tensors, mt.data without an import --------------------------------
def test_item7_setitem_writes_and_bumps_the_version():
    x = mt.zeros(4)
    x[1] = 5.0
    x[mt.tensor([0, 3])] = mt.tensor([1.0, 2.0])
    x[x > 4.0] = 7.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 7.0, 0.0, 2.0])
    assert x._version == 3
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    loss = (h * h).sum()
    with mt.no_grad():
        h[0] = 0.0
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_item7_setitem_that_the_graph_would_miss_is_refused():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 3.0
    h = w * 2.0
    with pytest.raises(RuntimeError, match="result of Mul that requires grad"):
        h[0] = 0.0  # PyTorch records this; here the gradient of h[0] would stay 2
    with pytest.raises(RuntimeError, match="result of Mul"):
        h.mul_(3.0)  # the same for every in-place method
    x = mt.zeros(2)
    with pytest.raises(RuntimeError, match="value requires grad"):
        x[0] = w[1]
    assert w.tolist() == [1.0, 2.0] and x.tolist() == [0.0, 0.0] and w._version == 0


def test_item7_tensor_dataset_takes_tensors():
    x, y = np.arange(12.0, dtype=np.float32).reshape(6, 2), np.arange(6) % 2
    data = TensorDataset(mt.tensor(x), mt.tensor(y))  # raised TypeError
    np.testing.assert_array_equal(data.arrays[0], x)
    xb, yb = next(iter(DataLoader(data, batch_size=4)))
    np.testing.assert_array_equal(xb.numpy(), x[:4])
    np.testing.assert_array_equal(yb.numpy(), y[:4])


def test_item7_modules_above_the_engine_load_on_first_use_and_import_needs_only_numpy():
    program = (
        "import sys\n"
        "import minitransfer as mt\n"
        "heavy = {'matplotlib', 'sklearn', 'scipy', 'torch', 'cupy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert 'minitransfer.train' not in sys.modules\n"
        "assert mt.data.DataLoader and mt.train.fit and mt.transfer.fine_tune\n"
        "assert mt.experiment.__name__ == 'minitransfer.experiment'\n"
        "try:\n"
        "    mt.datta\n"
        "except AttributeError as error:\n"
        "    assert \"no attribute 'datta'\" in str(error)\n"
        "else:\n"
        "    raise AssertionError('mt.datta should not exist')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ---- 8. edge values -------------------------------------------------------------------------------
def test_item8_logsumexp_of_infinities_is_that_infinity_without_warnings():
    x = mt.tensor(np.array([[-INF, -INF], [1.0, INF], [-INF, 0.0], [1.0, 2.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = x.logsumexp(axis=1).numpy()  # gave NaN for the first two rows
    np.testing.assert_array_equal(out[:3], [-INF, INF, 0.0])
    np.testing.assert_allclose(out[3], np.log(np.exp(1.0) + np.exp(2.0)))
    assert mt.logsumexp(mt.tensor([-INF, -INF, -INF]), dim=0).item() == -INF


def test_item8_the_gradient_of_x_to_the_power_0_is_0():
    x = mt.tensor([0.0, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x**0).sum().backward()  # gave NaN (0 · 0⁻¹) at x = 0
    assert grad_of(x).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("compute, dtype, values", [
    (lambda a: a / 2.5, "float32", [0.4, 0.8]),  # was float64
    (lambda a: a / 2, "float32", [0.5, 1.0]),
    (lambda a: a / a, "float32", [1.0, 1.0]),
    (lambda a: 2.0 / a, "float32", [2.0, 1.0]),
    (lambda a: a * 1.5, "float32", [1.5, 3.0]),
    (lambda a: a - 0.5, "float32", [0.5, 1.5]),
    (lambda a: a**0.5, "float32", [1.0, np.sqrt(2.0)]),
    (lambda a: a * mt.tensor([1.5, 1.5]), "float32", [1.5, 3.0]),
    (lambda a: a + mt.tensor(np.array([0.5, 0.5])), "float64", [1.5, 2.5]),
    (lambda a: a @ mt.tensor([1.5, 0.5]), "float32", 2.5),  # NumPy 2 would give float64
    (lambda a: a * 3, "int64", [3, 6]),
    (lambda a: (a > 1) + 2, "int64", [2, 3]),  # a bool tensor plus an int: was True + True
    (lambda a: (a > 1) * 1.5, "float32", [0.0, 1.5]),
], ids=["int/float", "int/int", "int/int-tensor", "float/int", "int*float", "int-float", "int**float",
        "int*float32-tensor", "int+float64-tensor", "int@float32", "int*int", "bool+int", "bool*float"])
def test_item8_integer_and_float_operands_promote_as_in_pytorch(compute, dtype, values):
    out = compute(mt.tensor([1, 2]))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.numpy(), values, rtol=1e-6)


# ---- 9. manual_seed reseeds the generator that objects already hold ------------------------------
def test_item9_manual_seed_reseeds_a_loader_made_before_it():
    loader = DataLoader(TensorDataset(np.arange(20)), batch_size=20, shuffle=True, seed=None)
    mt.manual_seed(0)
    first = next(iter(loader))[0].numpy()
    mt.manual_seed(0)
    second = next(iter(loader))[0].numpy()  # the loader kept the generator manual_seed replaced
    np.testing.assert_array_equal(first, second)
    assert sorted(first.tolist()) == list(range(20)) and first.tolist() != list(range(20))
    mt.manual_seed(0)
    np.testing.assert_array_equal(next(iter(loader))[0].numpy(), first)
