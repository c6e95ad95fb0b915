"""Every primitive op's backward against central differences, on hypothesis-drawn shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import backend_array, shapes_for

import minitransfer as mt
from minitransfer import functions as F
from minitransfer.gradcheck import GradcheckError, gradcheck
from minitransfer.op_registry import REGISTRY, make_values, primitive_ops

BACKENDS = [
    "numpy",
    "array_api_strict",
    pytest.param("cupy", marks=pytest.mark.skipif(not mt.gpu_available(), reason="no usable GPU")),
]


def test_every_primitive_op_has_a_gradient_check():
    covered = {case.op for case in REGISTRY}
    missing = sorted(cls.__name__ for cls in primitive_ops() if cls not in covered)
    assert missing == [], f"ops without a case in op_registry.REGISTRY: {missing}"


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", REGISTRY, ids=[c.name for c in REGISTRY])
@settings(max_examples=8)
@given(data=st.data())
def test_op_gradient_matches_central_differences(case, backend_name, data):
    shapes = data.draw(shapes_for(case.kind), label="shapes")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    inputs = [mt.Tensor(backend_array(make_values(s, case.values, rng), backend_name),
                        requires_grad=True) for s in shapes]
    result = gradcheck(case.fn, *inputs, seed=seed, name=case.name, reference=case.reference)
    assert result.passed and result.max_abs_error < 1e-6


@pytest.mark.parametrize("case", REGISTRY, ids=[c.name for c in REGISTRY])
def test_registry_examples_pass_in_directional_mode(case):
    rng = np.random.default_rng(1)
    for shapes in case.examples:
        inputs = [mt.Tensor(make_values(s, case.values, rng), requires_grad=True) for s in shapes]
        assert gradcheck(case.fn, *inputs, mode="directional", name=case.name,
                         reference=case.reference).passed


class _WrongMul(F.Mul):
    """Mul with a classic slip: the gradient for a uses a instead of b."""

    def backward(self, g):
        return g * self.a, g * self.a


def test_gradcheck_catches_a_wrong_backward_and_says_where():
    a = mt.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    b = mt.tensor(np.array([[0.5, -1.0], [2.0, 0.25]]), requires_grad=True)
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda x, y: _WrongMul.apply(x, y), a, b, name="wrong_mul")
    message = str(caught.value)
    assert "wrong_mul" in message and "input 0" in message and "index (" in message
    assert "backward gives" in message and "central differences give" in message
    # The directional check sees it too, with two forward passes per input.
    with pytest.raises(GradcheckError):
        gradcheck(lambda x, y: _WrongMul.apply(x, y), a, b, mode="directional")
    # ... and the right op passes on the same inputs.
    assert gradcheck(lambda x, y: x * y, a, b).passed


def test_gradcheck_refuses_float32_inputs():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * t, x)


def test_gradcheck_result_reports_errors_on_a_known_function():
    # d/dx sum(u * x^2) = 2 u x: the check must find an error near 1e-9, not exactly zero
    x = mt.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    result = gradcheck(lambda t: t * t, x)
    assert result.passed and 0 < result.max_abs_error < 1e-7


def test_directional_gradcheck_of_a_two_layer_network_is_fast_and_right():
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((16, 64)))
    w1 = mt.tensor(rng.standard_normal((64, 32)) * 0.1, requires_grad=True)
    w2 = mt.tensor(rng.standard_normal((32, 10)) * 0.1, requires_grad=True)
    labels = np.arange(16) % 10

    def loss(a, b):
        return mt.cross_entropy((x @ a).relu() @ b, labels)

    assert gradcheck(loss, w1, w2, mode="directional").passed
