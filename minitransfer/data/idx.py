"""A reader for the IDX format of MNIST, Fashion-MNIST and their relatives.

An IDX file is a tiny header followed by the raw numbers, all big-endian::

    bytes 0-1   0x00 0x00                 the magic number starts with two zero bytes
    byte  2     type code                 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                          0x0D float32, 0x0E float64
    byte  3     rank r                    the number of dimensions (3 for images, 1 for labels)
    4 * r       sizes                     each dimension as a big-endian uint32
    the rest    prod(sizes) numbers       row-major (C order), big-endian

so ``train-images-idx3-ubyte`` starts ``00 00 08 03  00 00 ea 60  00 00 00 1c  00 00 00 1c``:
uint8, rank 3, sizes 60000 x 28 x 28. The files are usually distributed gzip-compressed
(``.gz``); the reader recognises gzip by its own magic bytes (1f 8b), not by the file name.

Every check below compares what the header promises with what the file holds, and a failure
raises ``ValueError`` naming the file, the expected and the received value: a truncated
download or a wrong file must never turn silently into wrong images.
"""

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

# IDX type code -> big-endian NumPy dtype of the stored numbers.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path):
    """The content of ``path``, decompressed when the file is gzip (whatever its name)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path}: no such file")
    data = path.read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise ValueError(f"IDX file {path}: expected a complete gzip stream (the file starts "
                         f"with the gzip bytes 1f 8b), received one that fails to decompress "
                         f"({type(error).__name__}: {error}); the download is probably "
                         f"truncated") from error


def md5_hex(data):
    """The MD5 checksum of ``data`` (bytes) as 32 hexadecimal digits, as ``md5sum`` prints it.

    MD5 is used only because it is what the data sets' publishers print: it detects a
    corrupt or wrong file, it is no defence against a deliberately forged one.
    """
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_idx(data, source="<bytes>"):
    """Decode the bytes of an (uncompressed) IDX file into a NumPy array in native byte order.

    ``source`` names the file in error messages.
    """
    if len(data) < 4:
        raise ValueError(f"IDX file {source}: expected at least 4 bytes (the magic number), "
                         f"received {len(data)}")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"IDX file {source}: wrong magic number: expected the first two bytes "
                         f"to be 0x00 0x00, received 0x{data[0]:02x} 0x{data[1]:02x} (is this "
                         f"an IDX file?)")
    type_code, rank = data[2], data[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02x} ({dtype.name})" for code, dtype in IDX_DTYPES.items())
        raise ValueError(f"IDX file {source}: wrong magic number: expected a type code in "
                         f"{known}, received 0x{type_code:02x}")
    if rank < 1:
        raise ValueError(f"IDX file {source}: expected a rank (4th byte) of at least 1, "
                         f"received {rank}")
    header_length = 4 + 4 * rank
    if len(data) < header_length:
        raise ValueError(f"IDX file {source}: truncated header: rank {rank} needs "
                         f"{header_length} header bytes, received {len(data)}")
    sizes = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=rank, offset=4))
    dtype = IDX_DTYPES[type_code]
    count = math.prod(sizes)  # Python integers: sizes such as 65536^4 cannot wrap to 0
    expected_length = header_length + count * dtype.itemsize
    if len(data) != expected_length:
        problem = "truncated" if len(data) < expected_length else "size mismatch"
        raise ValueError(f"IDX file {source}: {problem}: the header promises sizes {sizes} of "
                         f"{dtype.name}, which need {expected_length} bytes, received "
                         f"{len(data)} bytes")
    values = np.frombuffer(data, dtype=dtype, count=count, offset=header_length)
    # astype copies into native byte order: a writable array independent of ``data``.
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(sizes)


def read_idx(path, expected_md5=None):
    """Read an IDX file (raw or gzip) into a NumPy array of its stored dtype and shape.

    With ``expected_md5``, the MD5 of the *decompressed* content is checked first, so that a
    raw file and any gzip version of it (compressed by anyone, with any settings) pass the
    same check; a mismatch raises ``ValueError`` with both checksums.
    """
    path = Path(path)
    data = read_bytes(path)
    if expected_md5 is not None:
        received = md5_hex(data)
        if received != expected_md5.lower():
            raise ValueError(f"IDX file {path}: wrong checksum: expected the MD5 of the "
                             f"decompressed content to be {expected_md5.lower()}, received "
                             f"{received}; the file is corrupt or not the expected release")
    return parse_idx(data, source=str(path))
