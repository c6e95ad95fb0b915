"""minitransfer.aligned: buffers that start on a 64-byte boundary, and who uses them."""

import array_api_strict
import numpy as np
import pytest

import minitransfer as mt
from minitransfer import aligned, replay


def is_aligned(array):
    return array.ctypes.data % aligned.ALIGNMENT == 0


@pytest.mark.parametrize("shape", [(128, 784), (7,), (), (64, 1), (3, 5, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_empty_is_aligned_contiguous_and_writeable(shape, dtype):
    for _ in range(5):  # several allocations: malloc's addresses differ from one to the next
        array = aligned.empty(shape, dtype, np.zeros(1))
        assert array.shape == shape and array.dtype == dtype
        assert is_aligned(array) and array.flags.c_contiguous and array.flags.writeable


def test_empty_of_no_elements():
    array = aligned.empty((0, 5), np.float32, np.zeros(1))
    assert array.shape == (0, 5) and array.dtype == np.float32


def test_copy_and_zeros_like_hold_the_values_in_a_buffer_of_their_own():
    source = np.arange(12.0, dtype=np.float32).reshape(3, 4).T  # not contiguous
    copied = aligned.copy(source)
    np.testing.assert_array_equal(copied, source)
    copied[0, 0] = 100.0
    assert source[0, 0] == 0.0 and is_aligned(copied)
    zeros = aligned.zeros_like(source)
    assert zeros.shape == (4, 3) and zeros.dtype == np.float32 and not zeros.any() and is_aligned(zeros)


def test_other_array_libraries_get_their_own_allocation():
    source = array_api_strict.asarray([[1.0, 2.0], [3.0, 4.0]])
    assert type(aligned.empty_like(source)) is type(source)
    assert aligned.empty((3,), array_api_strict.float32, source).shape == (3,)
    assert array_api_strict.all(aligned.zeros_like(source) == 0)
    copied = aligned.copy(source)
    assert type(copied) is type(source) and array_api_strict.all(copied == source)


def small_model():
    model = mt.nn.MLP([6, 5, 3], generator=0)
    x = mt.randn(4, 6, generator=1)
    y = mt.tensor([0, 2, 1, 2])
    return model, x, y


@pytest.mark.parametrize("make", [lambda ps: mt.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
                                  lambda ps: mt.optim.Adam(ps, lr=0.01)])
def test_optimizer_work_arrays_and_state_are_aligned(make):
    model, x, y = small_model()
    optimizer = make(model.parameters())
    for _ in range(2):
        optimizer.zero_grad()
        mt.nn.CrossEntropyLoss()(model(x), y).backward()
        optimizer.step()
    for p in model.parameters():
        arrays = optimizer._work_arrays[p][1:] + [v for v in optimizer.state[p].values()
                                                  if isinstance(v, np.ndarray)]
        assert len(arrays) >= 2 and all(is_aligned(a) for a in arrays)


def test_a_captured_step_allocates_aligned_buffers_and_keeps_no_made_up_batch():
    model, x, y = small_model()
    optimizer = mt.optim.SGD(model.parameters(), lr=0.1)
    step = mt.capture(model, mt.nn.CrossEntropyLoss(), optimizer, x, y)
    tape = next(iter(step.tapes.values()))
    leaf_slots = {slot for *_, slot in tape.leaves} | {replay.X, replay.Y}
    owned = [v for s, v in enumerate(tape.values) if s not in leaf_slots]
    owned += [g for g in tape.grads if g is not None]
    assert len(owned) >= 8 and all(is_aligned(a) for a in owned)
    # the check at capture time replays made-up batches; none of them stays in the input slots
    assert tape.values[replay.X] is x.data and tape.values[replay.Y] is y.data
