"""Checkpoints: save and load state dicts as ``.npz`` archives, never with pickle.

``minitransfer.save(model.state_dict(), "pretrained.npz")`` writes one array per key;
``model.load_state_dict(minitransfer.load("pretrained.npz"))`` reads them back.

Two safety rules:

* **No pickle.** A pickle can run arbitrary code when it is loaded. Files are read with
  ``allow_pickle=False``, and a file that holds pickled objects is refused with an error,
  never unpickled. Only numeric arrays are written.
* **Atomic writes.** The archive is written to a temporary file in the same folder and then
  renamed over the target with ``os.replace`` (atomic on one file system), so a save that is
  interrupted (a crash, a full disk, Ctrl-C) leaves the previous checkpoint intact.

Loaded arrays come back on the CPU as Tensors; ``model.to("cuda")`` moves a model after loading.
"""

import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

from minitransfer import backend
from minitransfer.tensor import Tensor

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip file with members, an empty zip file


def _host_array(key, value):
    """The value of one state-dict entry as a NumPy array, or a TypeError naming the key."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (bool, int, float)):
        value = np.asarray(value)
    if not backend.is_array(value):
        raise TypeError(f"save: the value of {key!r} must be a Tensor, an array or a number, got "
                        f"{type(value).__name__}")
    array = backend.to_numpy(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"save: the value of {key!r} has dtype {array.dtype}; only numeric arrays "
                        f"can be saved (objects would need pickle)")
    return array


def save(state_dict, path):
    """Write ``state_dict`` (a flat dict: str -> Tensor, array or number) to ``path`` as .npz.

    The file is written exactly at ``path`` (no suffix is added), through a temporary file in
    the same folder that is renamed over ``path`` only once it is complete.
    """
    if not hasattr(state_dict, "items"):
        raise TypeError(f"save: expected a dict of name -> Tensor, got {type(state_dict).__name__}")
    for key in state_dict:
        if not isinstance(key, str) or not key:
            raise TypeError(f"save: keys must be non-empty strings, got {key!r}")
        if key in ("file", "allow_pickle"):  # np.savez's own parameter names
            raise ValueError(f"save: {key!r} cannot be used as a key (numpy.savez reserves it)")
    arrays = {key: _host_array(key, value) for key, value in state_dict.items()}
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"save: {path!r} is a folder; give a file path such as "
                         f"{os.path.join(path, 'model.npz')!r}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} for {path!r} does not exist")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, allow_pickle=False, **arrays)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them live
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)  # an interrupted save leaves no half-written file behind
        raise


def _check_file(path):
    """Raise a clear error unless ``path`` is an existing file that starts like a zip archive."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"load: {path!r} is a folder, not a checkpoint file (.npz)")
    with open(path, "rb") as file:
        start = file.read(6)
    if start[:4] in _ZIP_SIGNATURES:
        return
    if start.startswith(b"\x93NUMPY"):
        raise ValueError(f"load: {path!r} is a single .npy array, not an .npz checkpoint "
                         f"(use numpy.load for it)")
    if start[:1] == b"\x80":  # the first byte of a pickle (protocol 2 and later)
        raise ValueError(f"load: {path!r} is a pickle file (perhaps made by torch.save or "
                         f"pickle.dump); minitransfer never unpickles files, since loading a "
                         f"pickle can run arbitrary code. Re-save it as .npz arrays")
    raise ValueError(f"load: {path!r} is not an .npz checkpoint (it does not start with the zip "
                     f"signature; got {len(start)} bytes starting {start!r})")


def load(path):
    """Read a checkpoint written by ``save``: an ordered dict of name -> Tensor, on the CPU.

    Raises FileNotFoundError for a missing file and ValueError, naming the path, for a folder,
    a file that is not an .npz archive, a truncated or corrupt archive, or an archive that
    holds pickled objects (which is refused, never unpickled).
    """
    path = os.fspath(path)
    _check_file(path)
    state, key = OrderedDict(), None
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                state[key] = Tensor(archive[key])
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise ValueError(f"load: {path!r} is not a valid .npz checkpoint ({error})") from error
        raise ValueError(f"load: {path!r} holds pickled Python objects (in {key!r}); "
                         f"minitransfer refuses to unpickle them, since loading a pickle can "
                         f"run arbitrary code. Save only numeric arrays.") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as error:
        raise ValueError(f"load: {path!r} is a truncated or corrupt .npz archive "
                         f"({type(error).__name__}: {error})") from error
    return state
