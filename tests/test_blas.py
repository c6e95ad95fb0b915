"""minitransfer.blas: y ← αx + y in one BLAS pass, or False and y untouched where it cannot."""

import ctypes.util
import gc

import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from threadpoolctl import threadpool_info

from minitransfer import blas

OPENBLAS = any(lib.get("internal_api") == "openblas" for lib in threadpool_info())
needs_blas = pytest.mark.skipif(not blas.available(), reason="NumPy's BLAS is not OpenBLAS")


@pytest.mark.skipif(not OPENBLAS, reason="NumPy's BLAS is not OpenBLAS")
def test_numpys_openblas_is_found_with_both_precisions():
    assert blas.available()
    assert set(blas._FUNCTIONS) == {np.dtype(np.float32), np.dtype(np.float64)}


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_on_hand_computed_numbers(dtype):
    x = np.array([[1.0, 2.0], [3.0, -4.0]], dtype)
    y = np.full((2, 2), 10.0, dtype)
    assert blas.axpy(-0.5, x, y) is True
    np.testing.assert_array_equal(y, np.array([[9.5, 9.0], [8.5, 12.0]], dtype))
    np.testing.assert_array_equal(x, np.array([[1.0, 2.0], [3.0, -4.0]], dtype))  # x untouched
    assert y.dtype == dtype


@needs_blas
@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]),
       shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=40),
       alpha=st.floats(-10, 10, allow_nan=False).filter(lambda a: abs(a) > 1e-3),
       seed=st.integers(0, 2**16))
def test_axpy_agrees_with_numpys_two_passes_to_the_last_bit(dtype, shape, alpha, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    two_passes = y + np.multiply(x, alpha)  # NumPy: αx rounded, then the sum rounded
    assert blas.axpy(alpha, x, y)
    # A fused multiply-add rounds once, NumPy twice: each is within eps/2 of the exact sum
    # (and of the exact αx), so they differ by at most eps·(|sum| + |αx|).
    bound = np.finfo(dtype).eps * (np.abs(two_passes) + np.abs(np.multiply(x, alpha)))
    assert np.all(np.abs(y - two_passes) <= bound)


@needs_blas
def test_a_read_only_x_is_read_and_an_empty_pair_is_done():
    x = np.arange(4.0)
    x.flags.writeable = False
    y = np.ones(4)
    assert blas.axpy(2.0, x, y)
    np.testing.assert_array_equal(y, [1.0, 3.0, 5.0, 7.0])
    assert blas.axpy(2.0, np.empty((0, 3)), np.empty((0, 3)))


def refused_pairs():
    """(name, x, y) that BLAS must not take: each makes axpy return False."""
    buffer = np.arange(10.0)
    read_only = np.ones(5)
    read_only.flags.writeable = False
    return [
        ("float16", np.ones(5, np.float16), np.ones(5, np.float16)),
        ("int64", np.ones(5, np.int64), np.ones(5, np.int64)),
        ("dtypes differ", np.ones(5, np.float32), np.ones(5, np.float64)),
        ("shapes differ", np.ones((5, 1)), np.ones(5)),
        ("y not contiguous", np.ones(5), np.ones(10)[::2]),
        ("x transposed", np.ones((3, 4)).T, np.ones((4, 3))),
        ("y read-only", np.ones(5), read_only),
        ("overlapping views", buffer[1:], buffer[:-1]),
        ("the same array", buffer, buffer),
        ("a list", [1.0] * 5, np.ones(5)),
    ]


@pytest.mark.parametrize("name, x, y", refused_pairs(), ids=[p[0] for p in refused_pairs()])
def test_what_blas_cannot_take_is_refused_and_y_is_untouched(name, x, y):
    before = y.copy()
    assert blas.axpy(-0.5, x, y) is False
    np.testing.assert_array_equal(y, before)
    assert blas.prepare_axpy(x, y) is None


def test_arrays_of_another_library_are_refused():
    x, y = array_api_strict.ones(3), array_api_strict.ones(3)
    assert blas.axpy(2.0, x, y) is False
    assert blas.prepare_axpy(x, y) is None


def test_alpha_zero_is_left_to_numpy_so_that_a_nan_stays_a_nan():
    x, y = np.array([np.nan, 1.0]), np.array([1.0, 1.0])
    assert blas.axpy(0.0, x, y) is False  # OpenBLAS would skip y; y + 0·NaN is NaN
    np.testing.assert_array_equal(y, [1.0, 1.0])


@needs_blas
def test_a_prepared_axpy_keeps_its_arrays_and_gives_axpys_numbers():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 3)).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)
    expected = y.copy()
    assert blas.axpy(-0.25, x, expected)
    prepared = blas.prepare_axpy(x.copy(), y.copy())  # the only references are the prepared ones
    gc.collect()
    prepared(-0.25)
    np.testing.assert_array_equal(prepared.arrays[1], expected)


def test_without_openblas_every_call_falls_back(monkeypatch):
    monkeypatch.setattr(blas, "_FUNCTIONS", {})
    monkeypatch.setattr(blas, "_SEARCHED", True)
    y = np.ones(3)
    assert not blas.available()
    assert blas.axpy(2.0, np.ones(3), y) is False and blas.prepare_axpy(np.ones(3), y) is None
    np.testing.assert_array_equal(y, np.ones(3))


def test_a_library_that_is_not_openblas_gives_no_functions():
    assert blas._openblas_functions("/nonexistent/libopenblas.so") == {}
    libc = ctypes.util.find_library("c")
    if libc is not None:
        assert blas._openblas_functions(libc) == {}


def test_a_numpy_without_the_expected_core_falls_back_instead_of_failing(monkeypatch):
    monkeypatch.setattr(blas, "_FUNCTIONS", {})
    monkeypatch.setattr(blas, "_SEARCHED", False)
    monkeypatch.delattr(np._core, "_multiarray_umath")
    assert not blas.available()
    y = np.ones(3)
    assert blas.axpy(2.0, np.ones(3), y) is False
