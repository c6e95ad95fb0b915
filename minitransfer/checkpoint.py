"""Checkpoints: save and load state dicts as ``.npz`` archives, never with pickle.

``minitransfer.save(model.state_dict(), "pretrained.npz")`` writes one array per key;
``model.load_state_dict(minitransfer.load("pretrained.npz"))`` reads them back.

Two safety rules:

* **No pickle.** A pickle can run arbitrary code when it is loaded. Only numeric arrays are
  written (``allow_pickle=False``), and ``load`` reads each ``.npy`` member itself: a header
  asking for Python objects is refused with an error before any byte is unpickled, and every
  array's size is checked against its header before it is read.
* **Atomic writes.** The archive is written to a temporary file in the same folder and then
  renamed over the target with ``os.replace`` (atomic on one file system), so a save that is
  interrupted (a crash, a full disk, Ctrl-C) leaves the previous checkpoint intact.

And one check of integrity, for a checkpoint that travels (a published pretrained model):
``save(state, path, sha256=True)`` also writes ``path.sha256``, the SHA-256 digest of the file
(``sha256sum -c`` reads it); ``load(path, sha256=HEX)`` refuses a file whose digest differs
from HEX before it reads any array, as torch.hub's ``check_hash`` does (``sha256=True`` takes
HEX from ``path.sha256``). A digest proves the file is the one whose digest you were given; it
says nothing about whether that model is safe (see ``minitransfer.security``).

Loaded arrays come back on the CPU as Tensors; ``model.to("cuda")`` moves a model after loading.
"""

import hashlib
import hmac
import io
import math
import os
import struct
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from minitransfer import backend
from minitransfer.fileio import atomic_open, atomic_write_bytes
from minitransfer.tensor import Tensor

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip file with members, an empty zip file


class CheckpointError(ValueError):
    """A checkpoint file that cannot be trusted or read: not an archive, truncated, corrupt, or
    holding something other than numeric arrays. A ``ValueError``, so ``except ValueError``
    catches it too; the message names the file and what was wrong."""


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


def check_save_path(path):
    """Raise, naming ``path``, when ``save`` could not write there: a folder, or a missing folder.

    Callers that train before saving (``minitransfer pretrain``) check first, so that a typo in
    the path does not cost the training run.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"save: {path!r} is a folder; give a file path such as "
                         f"{os.path.join(path, 'model.npz')!r}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} for {path!r} does not exist")


def save(state_dict, path, sha256=False):
    """Write ``state_dict`` (a flat dict: str -> Tensor, array or number) to ``path`` as .npz.

    The file is written exactly at ``path`` (no suffix is added), through a temporary file in
    the same folder that is renamed over ``path`` only once it is complete. ``sha256=True``
    then also writes ``path.sha256`` ("HEX  NAME", as ``sha256sum`` prints it) and returns HEX.
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
    check_save_path(path)
    with atomic_open(path, "wb") as file:  # a temporary file, renamed over ``path`` at the end
        np.savez(file, allow_pickle=False, **arrays)
        if sha256:
            file.flush()
            digest = _file_digest(file.name)  # the bytes that the rename is about to publish
    if not sha256:
        return None
    atomic_write_bytes(path + ".sha256", f"{digest}  {os.path.basename(path)}\n".encode())
    return digest


def _file_digest(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def _expected_digest(path, sha256):
    """(the digest ``load`` must find, where it came from): HEX as given, or ``path.sha256``'s."""
    if sha256 is True:
        sidecar = path + ".sha256"
        if not os.path.isfile(sidecar):
            raise FileNotFoundError(f"load: sha256=True reads the expected digest from {sidecar!r}, "
                                    f"which does not exist (save(..., sha256=True) writes it)")
        with open(sidecar, encoding="ascii", errors="replace") as file:
            words = file.read(200).split()
        digest = words[0] if words else ""
        if not _is_hex_digest(digest):
            raise CheckpointError(f"load: {sidecar!r} does not start with a SHA-256 digest (64 "
                                  f"hexadecimal digits), got {digest[:80]!r}")
        return digest.lower(), sidecar
    if not _is_hex_digest(sha256):
        raise ValueError(f"load: sha256: expected 64 hexadecimal digits (a SHA-256 digest), True "
                         f"(read {os.path.basename(path)}.sha256) or None, got {sha256!r}")
    return sha256.strip().lower(), "the sha256 argument"


def _is_hex_digest(text):
    return (isinstance(text, str) and len(text.strip()) == 64
            and all(c in "0123456789abcdef" for c in text.strip().lower()))


def _check_file(path, start=None):
    """Raise a clear error unless ``path`` is an existing file that starts like a zip archive
    (``start``: its first bytes, when they were read already)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    if os.path.isdir(path):
        raise CheckpointError(f"load: {path!r} is a folder, not a checkpoint file (.npz)")
    if start is None:
        with open(path, "rb") as file:
            start = file.read(6)
    start = start[:6]
    if start[:4] in _ZIP_SIGNATURES:
        return
    if start.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"load: {path!r} is a single .npy array, not an .npz checkpoint "
                              f"(use numpy.load for it)")
    if start[:1] == b"\x80":  # the first byte of a pickle (protocol 2 and later)
        raise CheckpointError(f"load: {path!r} is a pickle file (perhaps made by torch.save or "
                              f"pickle.dump); minitransfer never unpickles files, since loading a "
                              f"pickle can run arbitrary code. Re-save it as .npz arrays")
    raise CheckpointError(f"load: {path!r} is not an .npz checkpoint (it does not start with the "
                          f"zip signature; got {len(start)} bytes starting {start!r})")


# Everything the zip and .npy parsers may raise on a damaged file. A mutated archive can claim
# an unknown compression method (NotImplementedError), encryption (RuntimeError), a broken
# deflate stream (zlib.error) or an impossible header (ValueError, struct.error, ...).
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, IndexError,
           NotImplementedError, RuntimeError, zlib.error, struct.error, ValueError, TypeError,
           OverflowError, SyntaxError)
_NPY_VERSIONS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _parse_npy(data, member, path):
    """The array stored in the bytes of one ``.npy`` member, checked before anything is allocated.

    A .npy file is a magic string, a version, a small header (a Python literal such as
    ``{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}``) and the raw values. The
    header is read as a literal (never executed) and a dtype that would need pickle is refused
    here, so no pickled object is ever handed to ``pickle``.
    """
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version not in _NPY_VERSIONS:
        raise CheckpointError(f"load: {path!r}: array {member!r} uses .npy format version "
                              f"{version[0]}.{version[1]}; expected 1.0 or 2.0 (as numpy.savez writes)")
    shape, fortran_order, dtype = _NPY_VERSIONS[version](stream)
    if dtype.hasobject:
        raise CheckpointError(f"load: {path!r} holds pickled Python objects (in {member!r}); "
                              f"minitransfer refuses to unpickle them, since loading a pickle can "
                              f"run arbitrary code. Save only numeric arrays.")
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"load: {path!r}: array {member!r} has dtype {dtype}; expected "
                              f"numbers (bool, int or float)")
    count = math.prod(shape)  # Python integers: a forged shape cannot overflow
    expected = stream.tell() + count * dtype.itemsize
    if len(data) != expected:
        raise CheckpointError(f"load: {path!r} is a truncated or corrupt .npz archive: array "
                              f"{member!r} promises shape {shape} of {dtype}, which needs "
                              f"{expected} bytes, but holds {len(data)}")
    values = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    values = values.reshape(shape, order="F" if fortran_order else "C")
    # A native-byte-order, C-ordered copy that owns its memory (not a view of the file's bytes).
    return np.ascontiguousarray(values.astype(dtype.newbyteorder("="), copy=True))


def load(path, sha256=None):
    """Read a checkpoint written by ``save``: an ordered dict of name -> Tensor, on the CPU.

    Raises FileNotFoundError for a missing file and ``CheckpointError`` (a ValueError), naming
    the path, for a folder, a file that is not an .npz archive, a truncated or corrupt archive,
    or an archive that holds pickled objects (refused, never unpickled) or anything else that
    is not a numeric array. Every array's size is checked against its header before it is read.

    ``sha256``: None (nothing checked), a hex digest, or True (the digest in ``path.sha256``).
    The file is read once into memory and its digest compared first: a file that differs by
    one byte is refused with ``CheckpointError`` before any array is parsed, and the bytes that
    were checked are the bytes that are parsed.
    """
    path = os.fspath(path)
    source = path
    if sha256 is not None and sha256 is not False:
        _check_file(path, start=b"PK\x03\x04")  # exists and is a file; the start is read below
        expected, where = _expected_digest(path, sha256)
        with open(path, "rb") as file:
            data = file.read()
        actual = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(actual, expected):
            raise CheckpointError(f"load: {path!r} has SHA-256 {actual}, expected {expected} (from "
                                  f"{where}): the file is not the one that was published (changed "
                                  f"or damaged); refusing to read it")
        source = io.BytesIO(data)
        _check_file(path, start=data)
    else:
        _check_file(path)
    state, member = OrderedDict(), None
    try:
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                member = info.filename
                if not member.endswith(".npy") or member == ".npy":
                    raise CheckpointError(f"load: {path!r} holds {member!r}, which is not a named "
                                          f".npy array; expected only arrays as numpy.savez writes")
                member = key = member[:-4]  # the state-dict key: 'head.weight' for head.weight.npy
                if key in state:
                    raise CheckpointError(f"load: {path!r} holds two arrays named {key!r}")
                # ``read`` checks the member's CRC-32, so flipped bits in the values are caught.
                state[key] = Tensor(_parse_npy(archive.read(info), key, path))
    except CheckpointError:
        raise
    except _DAMAGE as error:
        where = f" (in {member!r})" if member else ""
        raise CheckpointError(f"load: {path!r} is a truncated or corrupt .npz archive{where} "
                              f"({type(error).__name__}: {error})") from error
    return state
