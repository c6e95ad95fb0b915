"""The Tensor and its graph: chain rule, accumulation, no_grad, freeing, dtypes, errors."""

import gc
import weakref

import numpy as np
import pytest

import minitransfer as mt
from minitransfer.functions import unbroadcast


def test_chain_rule_by_hand():
    # z = (x * y + x) ** 2 at x = 3, y = -2: z = 9, dz/dx = 2 (xy + x)(y + 1) = 6, dz/dy = 2(xy+x) x = -18
    x = mt.tensor(3.0, requires_grad=True)
    y = mt.tensor(-2.0, requires_grad=True)
    z = (x * y + x) ** 2
    z.backward()
    assert z.item() == 9.0
    assert x.grad.item() == 6.0 and y.grad.item() == -18.0


def test_gradients_accumulate_across_backward_calls():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0 + 2.0, 3.0 + 4.0])
    y = (x * x).sum()
    x.grad = None
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_a_tensor_used_twice_gets_the_sum_of_both_paths():
    x = mt.tensor([2.0], requires_grad=True)
    h = x * x
    (h + h * 3.0).sum().backward()  # d/dx (4 x^2) = 8x
    assert x.grad.numpy().tolist() == [16.0]


def test_no_grad_records_nothing():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with mt.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf and mt.is_grad_enabled()

    @mt.no_grad()
    def doubled(t):
        return t * 2.0

    assert not doubled(x).requires_grad


def test_inputs_that_need_no_gradient_get_none():
    x = mt.tensor(np.ones((4, 3)))
    w = mt.tensor(np.ones((3, 2)), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), np.full((3, 2), 4.0))


def test_backward_frees_the_graph_and_intermediates():
    x = mt.tensor(np.ones(3), requires_grad=True)
    h = x * 2.0
    alive = weakref.ref(h)
    loss = (h * h).sum()
    del h
    gc.collect()
    assert alive() is not None  # the graph still holds the intermediate
    loss.backward()
    gc.collect()
    assert alive() is None  # freed: no reference to it survives backward
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_a_chain_of_ten_thousand_ops_does_not_hit_the_recursion_limit():
    x = mt.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**10_000, rtol=1e-3)


def test_log_softmax_is_stable_for_huge_logits():
    z = mt.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]), requires_grad=True)
    out = z.log_softmax(axis=1)
    np.testing.assert_allclose(out.detach().numpy()[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(out.detach().numpy()[1], [-np.log(3.0)] * 3)
    (out * mt.tensor(np.ones((2, 3)))).sum().backward()
    assert np.isfinite(z.grad.numpy()).all()
    np.testing.assert_allclose(z.logsumexp(axis=1).detach().numpy(), [1e4, -1e4 + np.log(3.0)])


def test_backward_on_a_vector_needs_an_explicit_gradient():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"single-number output.*shape \(2,\)"):
        (x * 2.0).backward()
    y = x * 2.0
    y.backward(mt.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward(mt.tensor([1.0, 2.0, 3.0]))


def test_matmul_with_mismatched_shapes_names_both_shapes():
    a, b = mt.zeros(2, 3), mt.zeros(4, 5)
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\).*3 columns.*4 rows"):
        a @ b


def test_in_place_change_of_a_parameter_outside_no_grad_is_refused():
    w = mt.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w.add_(1.0)
    with mt.no_grad():
        w.sub_(mt.tensor([0.5]), alpha=2.0)
    assert w.item() == 0.0


def test_dtypes_follow_pytorch():
    assert mt.tensor([1.0, 2.0]).dtype == np.float32  # Python floats -> float32
    assert mt.tensor(np.array([1.0])).dtype == np.float64  # NumPy arrays keep theirs
    assert mt.tensor([1, 2]).dtype == np.int64
    assert mt.tensor([1, 2], dtype="float64").dtype == np.float64
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 0.5, x + 1, 2.0 / x, x**2, (x - 3.0).exp(), x.mean(), -x):
        assert y.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        mt.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="numbers"):
        mt.tensor(["a", "b"])


def test_gradient_has_the_dtype_of_its_tensor_even_after_promotion():
    x32 = mt.tensor([1.0, 2.0], requires_grad=True)
    y64 = mt.tensor(np.array([3.0, 4.0]))
    (x32 * y64).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.numpy(), [3.0, 4.0])


def test_unbroadcast_sums_stretched_axes():
    g = np.arange(24.0).reshape(2, 4, 3)
    np.testing.assert_allclose(unbroadcast(g, (4, 3)), g.sum(axis=0))
    np.testing.assert_allclose(unbroadcast(g, (2, 1, 3)), g.sum(axis=1, keepdims=True))
    assert unbroadcast(g, ()).item() == g.sum() == 276.0
    assert unbroadcast(g, (2, 4, 3)) is g


def test_indexing_with_repeated_rows_adds_their_gradients():
    x = mt.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    x[[0, 2, 0]].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2, 2], [0, 0], [1, 1]])
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        x[[0, 3]]
    with pytest.raises(IndexError, match=r"\[-3, 3\)"):
        x.index_select(0, [0, 3])


def test_max_shares_the_gradient_between_ties():
    x = mt.tensor(np.array([1.0, 5.0, 5.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5])


def test_pytorch_style_dim_and_keepdim_are_accepted():
    x = mt.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.transpose(0, 1).shape == (3, 2) and x.T.shape == (3, 2)
    assert x.permute(1, 0).shape == (3, 2) and x.view(3, 2).shape == (3, 2)
    np.testing.assert_allclose(x.argmax(dim=1).numpy(), [2, 2])


def test_moving_to_a_gpu_without_one_says_what_is_missing():
    if mt.gpu_available():
        pytest.skip("a GPU is usable here")
    with pytest.raises(RuntimeError, match="CuPy|CUDA"):
        mt.tensor([1.0]).to("cuda")
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        mt.tensor([1.0]).to("tpu")


def test_mixing_backends_is_refused_with_both_names():
    import array_api_strict

    a = mt.tensor(np.ones(2))
    b = mt.tensor(array_api_strict.ones(2, dtype=array_api_strict.float64))
    with pytest.raises(ValueError, match="same device"):
        a + b


def test_random_creation_is_seeded():
    a = mt.randn(3, 4, generator=7)
    b = mt.randn(3, 4, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mt.manual_seed(3)
    c = mt.rand(5)
    mt.manual_seed(3)
    np.testing.assert_array_equal(c.numpy(), mt.rand(5).numpy())
    assert a.dtype == np.float32 and mt.zeros(2, 2).shape == (2, 2)


def test_item_numpy_and_repr():
    x = mt.tensor([[1.5]], requires_grad=True)
    assert x.item() == 1.5
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<Mul>" in repr(x * 2.0)


def test_grad_fn_names_the_op_and_its_inputs():
    x = mt.tensor([1.0], requires_grad=True)
    y = x * 2.0
    assert x.grad_fn is None and type(y.grad_fn).__name__ == "Mul"
    assert y.grad_fn.inputs[0] is x
