"""Fuzzing the engine: random short programs of ops on random shapes, checked by gradcheck.

The registry tests (test_engine_gradients.py) check each op alone. Here hypothesis chains 1-5
of them (unary maps, reductions, reshapes, broadcasting binary ops, matrix products, softmax,
indexing, the fused Linear op) into one function of up to three inputs, and checks the
gradient of the whole program against central differences in float64. Bugs that only show in
composition (a gradient that ignores a broadcast, an accumulation that overwrites, a view that
shares memory, a graph walked in the wrong order) show up here.

Values are kept where central differences are reliable: inputs are continuous random numbers
(ties and ReLU kinks have probability ~0), the ops are chosen so that values stay moderate, and
the allowed absolute error grows with the output's size, since the rounding error of a central
difference is about 1e-16 · Σ|u ⊙ f(x)| / ε.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minitransfer as mt
from minitransfer.functional import linear
from minitransfer.gradcheck import gradcheck


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _unary(name, c):
    """Apply the unary step ``name`` to the tensor c (a step that cannot apply scales instead)."""
    nd = c.ndim
    if name == "neg":
        return -c
    if name == "relu":
        return c.relu()
    if name == "gauss":  # exp(−c²): bounded, uses Mul, Neg and Exp
        return (-(c * c)).exp()
    if name == "log1psq":  # log(1 + c²): Log of a positive argument
        return (c * c + 1.0).log()
    if name == "sqrt1psq":  # (1 + c²)^0.5: Pow of a positive argument
        return (c * c + 1.0) ** 0.5
    if name == "sum_keep" and nd >= 1:
        return c.sum(axis=-1, keepdims=True)
    if name == "mean0" and nd >= 1:
        return c.mean(axis=0)
    if name == "max_last" and nd >= 1:
        return c.max(axis=-1)
    if name == "softmax" and nd >= 1:
        return c.softmax(axis=-1)
    if name == "log_softmax" and nd >= 1:
        return c.log_softmax(axis=-1)
    if name == "logsumexp_keep" and nd >= 1:
        return c.logsumexp(axis=-1, keepdims=True)
    if name == "transpose" and nd >= 2:
        return c.T
    if name == "flatten":
        return c.reshape(-1)
    if name == "gram" and nd in (1, 2):  # c cᵀ (a matrix) or c · c (a number)
        return c @ c.T if nd == 2 else c @ c
    if name == "rows" and nd >= 1:  # IndexSelect with a repeat and a negative index
        return c[[0, -1, 0]]
    if name == "slice" and nd >= 1 and c.shape[0] > 1:  # GetItem
        return c[1:]
    return c * 0.7 + 0.3


UNARY = ["neg", "relu", "gauss", "log1psq", "sqrt1psq", "sum_keep", "mean0", "max_last", "softmax",
         "log_softmax", "logsumexp_keep", "transpose", "flatten", "gram", "rows", "slice"]
BINARY = ["add", "sub", "mul", "div", "linear"]


def _binary(name, c, other, weight):
    """Combine c with an input (broadcasting) or, through nn.Linear's op, with the weight input."""
    if name == "linear":
        if c.ndim >= 1 and c.shape[-1] == weight.shape[1]:
            return linear(c, weight)
        name = "mul"
    if not _broadcasts(c.shape, other.shape):
        other = c  # e.g. after a reduction: combine c with itself
    if name == "add":
        return c + other
    if name == "sub":
        return c - other
    if name == "mul":
        return c * other
    return c / (other * other + 1.0)  # div by a positive number


@st.composite
def programs(draw):
    rank = draw(st.integers(0, 2))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    # the second input: the same shape, or one that broadcasts against it
    other = draw(st.sampled_from([shape, shape[1:], tuple(1 for _ in shape)] if shape else [shape, (2,)]))
    steps = draw(st.lists(st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 1)),
                          min_size=1, max_size=5))
    return shape, other, steps


@settings(max_examples=60, deadline=None)
@given(program=programs(), seed=st.integers(0, 2**16))
def test_random_programs_have_the_gradients_of_central_differences(program, seed):
    shape, other_shape, steps = program
    rng = np.random.default_rng(seed)
    last = shape[-1] if shape else 1
    inputs = [mt.tensor(rng.standard_normal(shape), requires_grad=True),
              mt.tensor(rng.standard_normal(other_shape), requires_grad=True),
              mt.tensor(rng.standard_normal((2, last)), requires_grad=True)]  # a Linear weight

    def program_fn(x, y, w):
        c = x
        for name, which in steps:
            c = _binary(name, c, (x, y)[which], w) if name in BINARY else _unary(name, c)
        return c

    out = program_fn(*inputs)
    assert out.dtype == np.float64
    values = out.detach().numpy()
    assert np.isfinite(values).all()
    # rounding in a central difference: ~1e-16 Σ|u f| / ε with ε = 1e-6, u ~ N(0, 1); 100x margin
    atol = 1e-6 + 1e-8 * float(np.abs(values).sum())
    result = gradcheck(program_fn, *inputs, atol=atol, seed=seed, name=str(steps))
    assert result.passed, result.message
    # every input that the output depends on received a gradient of its own shape and dtype
    for t in inputs:
        assert t.grad is None or (t.grad.shape == t.shape and t.grad.dtype == np.float64)


@settings(max_examples=30, deadline=None)
@given(program=programs(), seed=st.integers(0, 2**16))
def test_a_second_backward_accumulates_exactly_twice_the_gradient(program, seed):
    """backward() adds into .grad: two backward passes of fresh graphs give 2x the gradient."""
    shape, other_shape, steps = program
    rng = np.random.default_rng(seed)
    x = mt.tensor(rng.standard_normal(shape), requires_grad=True)
    y = mt.tensor(rng.standard_normal(other_shape), requires_grad=True)
    w = mt.tensor(rng.standard_normal((2, shape[-1] if shape else 1)), requires_grad=True)

    def run():
        c = x
        for name, which in steps:
            c = _binary(name, c, (x, y)[which], w) if name in BINARY else _unary(name, c)
        return c.sum()

    run().backward()
    once = [None if t.grad is None else t.grad.numpy().copy() for t in (x, y, w)]
    run().backward()
    for t, g in zip((x, y, w), once):
        if g is None:
            assert t.grad is None
        else:
            np.testing.assert_allclose(t.grad.numpy(), 2 * g, rtol=1e-12, atol=1e-12)
