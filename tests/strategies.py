"""Hypothesis strategies for the engine tests, in one place (as in minitorch).

Each op in the registry declares the *kind* of inputs it takes; ``shapes_for(kind)`` draws
input shapes of that kind, including 0-d tensors and broadcasting pairs such as
(2, 1, 3) with (4, 3).
"""

import numpy as np
from hypothesis import strategies as st

dims = st.integers(min_value=1, max_value=4)


@st.composite
def shape(draw, min_rank=0, max_rank=3):
    rank = draw(st.integers(min_value=min_rank, max_value=max_rank))
    return tuple(draw(dims) for _ in range(rank))


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast together: the second drops leading axes and sets some to 1."""
    full = draw(shape(min_rank=0, max_rank=3))
    keep = draw(st.integers(min_value=0, max_value=len(full)))
    other = tuple(1 if draw(st.booleans()) else n for n in full[len(full) - keep:])
    return (full, other) if draw(st.booleans()) else (other, full)


@st.composite
def matmul_pair(draw):
    n, k, m = draw(dims), draw(dims), draw(dims)
    a_shape = draw(st.sampled_from([(k,), (n, k), (2, n, k)]))
    b_shape = draw(st.sampled_from([(k,), (k, m), (1, k, m)]))
    return a_shape, b_shape


@st.composite
def affine_shapes(draw, bias=True):
    """x (..., in), weight (out, in) and, with ``bias``, b (out,): the inputs of nn.Linear's op."""
    n_in, n_out, rows = draw(dims), draw(dims), draw(dims)
    x_shape = draw(st.sampled_from([(n_in,), (rows, n_in), (2, rows, n_in)]))
    return (x_shape, (n_out, n_in), (n_out,)) if bias else (x_shape, (n_out, n_in))


def shapes_for(kind):
    """A strategy for the tuple of input shapes of an op of the given kind."""
    if kind == "unary":
        return shape().map(lambda s: (s,))
    if kind == "binary":
        return broadcast_pair()
    if kind == "matmul":
        return matmul_pair()
    if kind == "reduce":
        return shape(min_rank=1).map(lambda s: (s,))
    if kind == "rows":
        return st.tuples(st.integers(2, 4), dims, dims).map(lambda s: (s,))
    if kind == "logits":
        return st.tuples(dims, st.integers(2, 5)).map(lambda s: (s,))
    if kind == "affine":
        return affine_shapes(bias=True)
    if kind == "affine_no_bias":
        return affine_shapes(bias=False)
    raise ValueError(f"unknown kind {kind!r}")


def backend_array(values, backend_name):
    """Put a host float64 array into the named backend (numpy, array_api_strict or cupy)."""
    if backend_name == "numpy":
        return np.asarray(values)
    if backend_name == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(values)
    import cupy

    return cupy.asarray(values)
