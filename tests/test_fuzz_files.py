"""Fuzzing the readers of untrusted files: the IDX reader and the checkpoint loader.

Random bytes and mutated valid files (bytes flipped or overwritten, cut short, spliced, grown)
must raise only the documented errors (docs/errors.md) and nothing else: no IndexError from a
short header, no NotImplementedError from a zip that claims an exotic compression, no
MemoryError from a header that promises a huge array, no unpickling. A file that does load
must hold what its header says.
"""

import gzip
import pickle
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitransfer as mt
from minitransfer import nn
from minitransfer.data import parse_idx, read_idx
from minitransfer.data.idx import IDX_DTYPES

FILES = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutated(draw, original):
    """``original`` changed in one to three ways: flips, overwrites, cuts, splices, growth."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "byte", "cut", "splice", "grow"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[:at]
        elif kind == "splice":
            data[at:at + draw(st.integers(0, 16))] = draw(st.binary(max_size=16))
        else:
            data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


# ---- IDX ---------------------------------------------------------------------------------------
def idx_bytes(array, type_code=0x08, dtype=">u1"):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + np.asarray(array).astype(dtype).tobytes()


IMAGES = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))
FLOATS = idx_bytes(np.linspace(-1, 1, 6).reshape(3, 2), 0x0D, ">f4")


def _check_idx_result(array, data):
    """A parsed array must be what its header promises."""
    rank = data[3]
    sizes = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    assert array.shape == sizes
    assert array.dtype == IDX_DTYPES[data[2]].newbyteorder("=")


@FILES
@given(data=st.binary(max_size=64) | st.builds(
    lambda code, rank, rest: bytes([0, 0, code, rank]) + rest,
    st.sampled_from([8, 9, 11, 12, 13, 14, 7]), st.integers(0, 255), st.binary(max_size=48)))
def test_random_bytes_make_parse_idx_raise_only_value_errors(data):
    try:
        array = parse_idx(data, source="fuzz")
    except ValueError as error:
        assert "IDX file fuzz" in str(error)
    else:
        _check_idx_result(array, data)


@FILES
@given(data=st.data(), original=st.sampled_from([IMAGES, FLOATS]), compress=st.booleans())
def test_mutated_idx_files_make_read_idx_raise_only_value_errors(tmp_path, data, original, compress):
    raw = gzip.compress(original, mtime=0) if compress else original
    content = data.draw(mutated(raw), label="content")
    path = tmp_path / "fuzz-idx1-ubyte"
    path.write_bytes(content)
    try:
        array = read_idx(path)
    except ValueError as error:
        assert str(path) in str(error)
    else:
        _check_idx_result(array, gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content)


def test_an_idx_header_whose_sizes_overflow_64_bits_is_refused():
    # 65536⁴ = 2⁶⁴ wraps to 0 in int64: the reader must not believe the file holds 0 values.
    data = bytes([0, 0, 8, 4]) + struct.pack(">4I", 65536, 65536, 65536, 65536)
    with pytest.raises(ValueError, match=r"truncated: .*\(65536, 65536, 65536, 65536\).*1\d{19} bytes"):
        parse_idx(data)


# ---- checkpoints -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    """The bytes of a real checkpoint (small MLP plus an int64 entry) and of a compressed one."""
    folder = tmp_path_factory.mktemp("ckpt")
    state = nn.MLP([4, 5, 3], generator=0).state_dict()
    state["meta.sizes"] = np.array([4, 5, 3])
    mt.save(state, folder / "model.npz")
    np.savez_compressed(folder / "compressed.npz", **{k: np.asarray(v.numpy() if isinstance(
        v, mt.Tensor) else v) for k, v in state.items()})
    return (folder / "model.npz").read_bytes(), (folder / "compressed.npz").read_bytes()


def _check_loaded(state):
    """What load() returns for a file it accepts: named numeric CPU Tensors."""
    for key, value in state.items():
        assert isinstance(key, str) and key
        assert isinstance(value, mt.Tensor) and value.device == "cpu"
        assert value.dtype.kind in "biuf"


def _load(path):
    try:
        state = mt.load(path)
    except mt.CheckpointError as error:
        assert str(path) in str(error)
        return None
    _check_loaded(state)
    return state


@FILES
@given(data=st.binary(max_size=200) | st.builds(lambda rest: b"PK\x03\x04" + rest, st.binary(max_size=200))
       | st.builds(lambda rest: b"PK\x05\x06" + rest, st.binary(max_size=40)))
def test_random_bytes_make_load_raise_only_checkpoint_errors(tmp_path, data):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    _load(path)


@FILES
@given(data=st.data(), which=st.sampled_from(["stored", "compressed"]))
def test_mutated_checkpoints_raise_only_checkpoint_errors_and_never_change_a_model(
        tmp_path, checkpoint_bytes, data, which):
    original = checkpoint_bytes[0 if which == "stored" else 1]
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data.draw(mutated(original), label="content"))
    state = _load(path)
    if state is None:
        return
    # It loaded (the mutation missed everything the CRC covers, or a file name changed): the
    # model then takes it whole or refuses it whole.
    model = nn.MLP([4, 5, 3], generator=1)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    state.pop("meta.sizes", None)
    try:
        model.load_state_dict(state)
    except ValueError:
        for p, old in zip(model.parameters(), before):
            np.testing.assert_array_equal(p.detach().numpy(), old)


def _explode():
    raise AssertionError("something was unpickled")


class _Trap:
    """Pickles fine; unpickling it calls _explode."""

    def __reduce__(self):
        return _explode, ()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_archives_with_pickles_are_never_unpickled(tmp_path, data):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _npy(np.ones(3)))
        archive.writestr("payload.npy", _npy_pickled())
    path.write_bytes(data.draw(mutated(path.read_bytes()), label="content"))
    _load(path)  # _explode raises if the pickle is ever loaded


def test_the_pickle_trap_would_go_off():
    with pytest.raises(AssertionError, match="unpickled"):
        pickle.loads(_npy_pickled()[128:])


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_pickled():
    """A .npy of dtype object, as numpy.save writes it: a header, then a pickle of the array."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    array = np.empty(1, dtype=object)
    array[0] = _Trap()
    return buffer.getvalue() + pickle.dumps(array)
