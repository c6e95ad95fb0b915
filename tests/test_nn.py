"""nn: Module bookkeeping, Linear (init, forward, errors), Sequential, MLP, initialisers."""

import copy
import math
from collections import OrderedDict

import array_api_strict
import numpy as np
import pytest

import minitransfer as mt
from minitransfer import functions as F
from minitransfer import nn


class Net(nn.Module):
    """The document's two-layer network."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size, generator=0)
        self.fc2 = nn.Linear(hidden_size, output_size, generator=1)
        self.scale = mt.tensor([2.0])  # a plain Tensor attribute: not a parameter

    def forward(self, x):
        return self.fc2(mt.relu(self.fc1(x)))


# ---- Module bookkeeping ----------------------------------------------------------------------
def test_attributes_register_parameters_and_children_in_order():
    net = Net(4, 3, 2)
    assert [name for name, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert list(net.parameters())[0] is net.fc1.weight
    assert [name for name, _ in net.named_children()] == ["fc1", "fc2"]
    assert list(net.children()) == [net.fc1, net.fc2]
    assert [name for name, _ in net.named_modules()] == ["", "fc1", "fc2"]
    assert sum(p.numel() for p in net.parameters()) == 4 * 3 + 3 + 3 * 2 + 2


def test_replacing_and_deleting_a_child_updates_the_registry():
    net = Net(4, 3, 2)
    net.fc2 = nn.Linear(3, 5)
    assert net.fc2.out_features == 5 and net._modules["fc2"] is net.fc2
    del net.fc2
    assert [name for name, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias"]


def test_a_shared_module_or_parameter_is_listed_once():
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    net.add_module("again", net[0])
    assert len(list(net.parameters())) == 2
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_assigning_before_init_or_a_tensor_to_a_parameter_slot_fails():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgot()

    class LabelFirst(nn.Module):
        def __init__(self):
            self.label = "plain attributes may come first"  # as in PyTorch
            super().__init__()

    assert LabelFirst().label.startswith("plain")
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        layer.weight = mt.tensor(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="child module"):
        Net(2, 2, 2).fc1 = 3


def test_repr_reads_like_pytorch():
    model = nn.MLP([4, 5, 3, 2], generator=0)
    assert repr(model) == (
        "MLP(\n"
        "  (body): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=5, bias=True)\n"
        "    (1): ReLU()\n"
        "    (2): Linear(in_features=5, out_features=3, bias=True)\n"
        "    (3): ReLU()\n"
        "  )\n"
        "  (head): Linear(in_features=3, out_features=2, bias=True)\n"
        ")")
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss(reduction='sum')"
    assert repr(nn.Parameter(np.zeros(2))).startswith("Parameter containing:\ntensor(")


def test_train_eval_requires_grad_and_zero_grad_reach_every_layer():
    model = nn.MLP([3, 4, 2], generator=0)
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.body.requires_grad_(False)
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    model.requires_grad_()
    loss = model(mt.tensor(np.ones((2, 3), dtype=np.float32))).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    grad = model.head.weight.grad
    model.zero_grad(set_to_none=False)
    assert model.head.weight.grad is not grad and not model.head.weight.grad.numpy().any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_dtype_changes_parameters_in_place():
    model = nn.MLP([3, 4, 2], generator=0)
    params = list(model.parameters())
    before = [p.detach().numpy().copy() for p in params]
    assert model.double() is model
    assert list(model.parameters()) == params  # the same Parameter objects
    assert all(p.dtype == np.float64 for p in params)
    np.testing.assert_array_equal(params[0].detach().numpy(), before[0])
    model.to("float32")
    assert all(p.dtype == np.float32 for p in params)
    model.to(dtype=np.float64).float()
    assert all(p.dtype == np.float32 for p in params)
    with pytest.raises(TypeError, match="floating-point"):
        model.to(dtype="int64")
    with pytest.raises(ValueError, match="device"):
        model.to("tpu")


@pytest.mark.skipif(mt.gpu_available(), reason="checks the error on machines without a GPU")
def test_to_cuda_without_a_gpu_is_a_clear_error_and_moves_nothing():
    model = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="GPU"):
        model.to("cuda")
    assert model.weight.device == "cpu"


def test_apply_visits_every_module_and_deepcopy_copies_the_tree():
    model = nn.MLP([3, 4, 2], generator=0)
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Sequential", "Linear", "MLP"]
    twin = copy.deepcopy(model)
    assert twin.head.weight is not model.head.weight
    np.testing.assert_array_equal(twin.head.weight.detach().numpy(), model.head.weight.detach().numpy())
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in model.named_parameters()]


# ---- Linear ----------------------------------------------------------------------------------
def test_linear_has_pytorch_shapes_and_default_initialisation():
    layer = nn.Linear(4, 1000, generator=0)
    assert layer.weight.shape == (1000, 4) and layer.bias.shape == (1000,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    bound = 1 / math.sqrt(4)  # U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert values.min() >= -bound and values.max() <= bound
        assert values.min() < -0.48 and values.max() > 0.48  # the whole range is used


def test_linear_draws_weight_then_bias_from_the_generator():
    layer = nn.Linear(3, 2, generator=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    bound = 1 / math.sqrt(3)
    weight = rng.uniform(-bound, bound, size=(2, 3))
    bias = rng.uniform(-bound, bound, size=2)
    np.testing.assert_allclose(layer.weight.detach().numpy(), weight.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(layer.bias.detach().numpy(), bias.astype(np.float32), rtol=1e-6)


def test_linear_init_is_seeded_and_leaves_numpys_global_rng_alone():
    state = np.random.get_state()[1].copy()
    mt.manual_seed(5)
    first = nn.Linear(3, 2).weight.detach().numpy()
    mt.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(3, 2).weight.detach().numpy(), first)
    assert not np.array_equal(nn.Linear(3, 2, generator=6).weight.detach().numpy(), first)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    a = nn.MLP([3, 4, 2], generator=11)
    b = nn.MLP([3, 4, 2], generator=11)
    np.testing.assert_array_equal(a.head.weight.detach().numpy(), b.head.weight.detach().numpy())


def test_linear_forward_by_hand():
    layer = nn.Linear(2, 2)
    with mt.no_grad():
        layer.weight.copy_(np.array([[1.0, 2.0], [3.0, 4.0]]))
        layer.bias.copy_(np.array([0.5, -1.0]))
    out = layer(mt.tensor([[1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_allclose(out.detach().numpy(), [[3.5, 6.0], [4.5, 7.0]])
    assert layer(mt.tensor([1.0, 1.0])).shape == (2,)  # one row without a batch axis
    assert layer(mt.tensor(np.ones((5, 3, 2), dtype=np.float32))).shape == (5, 3, 2)
    no_bias = nn.Linear(2, 3, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    assert "bias=False" in repr(no_bias)


def test_affine_gradients_by_hand_and_no_input_gradient_when_not_needed():
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # does not require grad
    w = mt.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
    b = mt.tensor([0.0, 0.0, 0.0], requires_grad=True)
    g = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    mt.linear(x, w, b).backward(g)
    np.testing.assert_allclose(w.grad.numpy(), g.T @ x.numpy())  # dL/dW = gᵀ x
    np.testing.assert_allclose(b.grad.numpy(), [2.0, 2.0, 3.0])  # dL/db = column sums of g
    assert x.grad is None


def test_linear_errors_name_the_layer_and_what_was_expected():
    layer = nn.Linear(64, 10)
    with pytest.raises(ValueError) as error:
        layer(mt.tensor(np.zeros((32, 63), dtype=np.float32)))
    assert str(error.value) == ("Linear(in_features=64, out_features=10): expected input with 64 "
                                "features (last dimension), got shape (32, 63)")
    with pytest.raises(TypeError, match="expected input of dtype float32 .* got float64"):
        layer(mt.tensor(np.zeros((2, 64))))
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        layer(np.zeros((2, 64), dtype=np.float32))
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="at least the input and output sizes"):
        nn.MLP([5])


def test_affine_runs_on_the_array_api_standard():
    """The op uses only array-API names, so array_api_strict (a GPU stand-in) runs it too."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in ((4, 3), (2, 3), (2,))]
    g = rng.standard_normal((4, 2))
    strict = [mt.Tensor(array_api_strict.asarray(a), requires_grad=True) for a in arrays]
    plain = [mt.Tensor(a, requires_grad=True) for a in arrays]
    out_strict, out_plain = F.Affine.apply(*strict), F.Affine.apply(*plain)
    out_strict.backward(array_api_strict.asarray(g))
    out_plain.backward(g)
    np.testing.assert_allclose(np.asarray(out_strict.data), out_plain.data)
    for s, p in zip(strict, plain):
        np.testing.assert_allclose(np.asarray(s.grad.data), p.grad.data)


# ---- Sequential, Identity, Flatten, MLP ----------------------------------------------------
def test_sequential_indexing_slicing_and_names():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    front = seq[:2]
    assert isinstance(front, nn.Sequential) and front[0] is seq[0]
    named = nn.Sequential(OrderedDict(features=nn.Linear(3, 4), act=nn.ReLU()))
    assert [n for n, _ in named.named_parameters()] == ["features.weight", "features.bias"]
    seq.append(nn.Identity())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    x = mt.tensor(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(seq(x).detach().numpy(), seq[2](seq[1](seq[0](x))).detach().numpy())
    assert nn.Flatten()(mt.tensor(np.ones((2, 3, 4)))).shape == (2, 12)


def test_mlp_has_body_and_head_with_pytorch_keys():
    model = nn.MLP([784, 128, 10], generator=0)
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        ("body.0.weight", (128, 784)), ("body.0.bias", (128,)),
        ("head.weight", (10, 128)), ("head.bias", (10,))]
    assert model(mt.tensor(np.zeros((3, 784), dtype=np.float32))).shape == (3, 10)
    assert len(nn.MLP([5, 2]).body) == 0  # no hidden layer: logistic regression


# ---- nn.init ---------------------------------------------------------------------------------
def test_initialisers_follow_their_formulas():
    w = mt.zeros(300, 200)
    nn.init.xavier_uniform_(w, generator=0)
    bound = math.sqrt(6 / (200 + 300))
    assert w.dtype == np.float32
    assert -bound <= w.numpy().min() < -0.98 * bound and 0.98 * bound < w.numpy().max() <= bound
    nn.init.kaiming_normal_(w, nonlinearity="relu", generator=0)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    nn.init.xavier_normal_(w, generator=0)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    nn.init.kaiming_uniform_(w, mode="fan_out", generator=0)  # a = 0: gain √2, bound √2·√(3/300)
    assert 0.99 * math.sqrt(0.02) < w.numpy().max() <= math.sqrt(0.02) * (1 + 1e-6)
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    nn.init.normal_(w, mean=3.0, std=0.5, generator=0)
    assert w.numpy().mean() == pytest.approx(3.0, abs=0.01)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(mt.zeros(3))
    p = nn.Parameter(np.zeros((2, 2), dtype=np.float32))
    nn.init.ones_(p)  # works on a Parameter that requires grad
    assert p.requires_grad and np.all(p.detach().numpy() == 1)
