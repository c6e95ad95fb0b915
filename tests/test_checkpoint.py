"""Checkpoints: .npz round trips, atomic saves, pickles refused, clear errors for bad files."""

import os
import pathlib
import pickle

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn


class Trap:
    """Unpickling this object creates a file: if the marker exists, something was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def test_round_trip_restores_keys_values_dtypes_and_logits(tmp_path):
    model = nn.MLP([4, 5, 3], generator=0)
    path = tmp_path / "model.npz"
    mt.save(model.state_dict(), path)
    state = mt.load(path)
    assert list(state) == ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert all(isinstance(v, mt.Tensor) and v.device == "cpu" for v in state.values())
    assert all(v.dtype == np.float32 for v in state.values())
    other = nn.MLP([4, 5, 3], generator=1)
    other.load_state_dict(state)
    x = mt.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_array_equal(other(x).detach().numpy(), model(x).detach().numpy())


def test_save_writes_exactly_at_the_path_and_keeps_numbers_and_dtypes(tmp_path):
    path = str(tmp_path / "checkpoint")  # no suffix is added
    mt.save({"epoch": 3, "weights": np.arange(4.0), "labels": mt.tensor([1, 2])}, path)
    assert os.listdir(tmp_path) == ["checkpoint"]
    state = mt.load(path)
    assert state["epoch"].item() == 3
    assert state["weights"].dtype == np.float64 and state["labels"].dtype == np.int64
    np.testing.assert_array_equal(state["weights"].numpy(), [0.0, 1.0, 2.0, 3.0])


def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = nn.MLP([3, 2], generator=0)
    mt.save(old.state_dict(), path)
    real_savez = np.savez

    def savez_then_crash(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half of an archive")  # some bytes reach the disk ...
        raise OSError("No space left on device")  # ... then the write fails

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="No space left"):
        mt.save(nn.MLP([3, 2], generator=1).state_dict(), path)
    monkeypatch.setattr(np, "savez", real_savez)
    restored = mt.load(path)
    np.testing.assert_array_equal(restored["head.weight"].numpy(), old.head.weight.detach().numpy())
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary file was removed


def test_ctrl_c_during_save_also_cleans_up(tmp_path, monkeypatch):
    def interrupted(file, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mt.save({"w": np.ones(2)}, tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def test_an_archive_holding_pickled_objects_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npz"
    np.savez(path, weights=np.ones(2), payload=np.array([Trap(marker)], dtype=object))
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"evil.npz' holds pickled Python objects \(in 'payload'\)"):
        mt.load(path)
    assert not marker.exists()


def test_a_pickle_file_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": Trap(marker)}))
    with pytest.raises(ValueError, match="model.pt' is a pickle file .* never unpickles"):
        mt.load(path)
    assert not marker.exists()


def test_object_arrays_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="'meta' has dtype object; only numeric arrays"):
        mt.save({"meta": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="'name' must be a Tensor, an array or a number, got str"):
        mt.save({"name": "mlp"}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="'file' cannot be used as a key"):
        mt.save({"file": np.ones(1)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_bad_paths_and_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.npz"
    mt.save({"w": np.arange(1000.0)}, good)
    data = good.read_bytes()
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match="no checkpoint file at .*missing.npz"):
        mt.load(missing)
    with pytest.raises(ValueError, match="is a folder, not a checkpoint file"):
        mt.load(tmp_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.npz' is a truncated or corrupt .npz archive"):
        mt.load(truncated)
    corrupt = tmp_path / "corrupt.npz"
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside the array bytes: the CRC no longer matches
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupt.npz' is a truncated or corrupt"):
        mt.load(corrupt)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match="single.npy' is a single .npy array"):
        mt.load(single)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt' is not an .npz checkpoint"):
        mt.load(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mt.save({"w": np.ones(1)}, tmp_path / "no" / "such" / "folder.npz")
    with pytest.raises(ValueError, match="is a folder; give a file path"):
        mt.save({"w": np.ones(1)}, tmp_path)
