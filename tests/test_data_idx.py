"""The IDX reader and mnist_family(): small hand-made files in tmp_path, and the real
Fashion-MNIST files when Debian's dataset-fashion-mnist package is installed."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from minitransfer.data import CHECKSUMS, mnist_family, parse_idx, read_idx
from minitransfer.data.datasets import DEFAULT_ROOTS


def idx_bytes(array, type_code=0x08, big_endian_dtype=">u1"):
    """The IDX encoding of ``array``, written by hand (independently of the reader)."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + np.asarray(array).astype(big_endian_dtype).tobytes()


def write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


IMAGES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_valid_file_round_trips(tmp_path, compress):
    path = write(tmp_path / "images-idx3-ubyte", idx_bytes(IMAGES), compress)
    array = read_idx(path)
    assert array.dtype == np.uint8 and array.shape == (2, 3, 4)
    np.testing.assert_array_equal(array, IMAGES)
    array[0, 0, 0] = 99  # the result is a writable copy, not a view of the file's bytes


@pytest.mark.parametrize("code, dtype", [(0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"),
                                         (0x0E, ">f8")])
def test_every_type_code_is_decoded_big_endian(code, dtype):
    values = np.array([[-3, 1, 2], [7, -100, 5]])
    array = parse_idx(idx_bytes(values, code, dtype))
    assert array.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(array, values)


def test_wrong_magic_number(tmp_path):
    path = write(tmp_path / "bad", b"\x12\x34" + idx_bytes(IMAGES)[2:])
    with pytest.raises(ValueError, match="magic number") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "expected" in message and "0x12 0x34" in message


def test_unknown_type_code():
    with pytest.raises(ValueError, match=r"type code.*received 0x07"):
        parse_idx(idx_bytes(IMAGES, type_code=0x07), source="f.idx")


def test_truncated_file(tmp_path):
    data = idx_bytes(IMAGES)
    path = write(tmp_path / "cut.gz", data[:-5], compress=True)
    with pytest.raises(ValueError, match="truncated") as info:
        read_idx(path)
    assert f"need {len(data)} bytes, received {len(data) - 5}" in str(info.value)
    assert str(path) in str(info.value)


def test_truncated_header():
    with pytest.raises(ValueError, match=r"truncated header.*16 header bytes, received 10"):
        parse_idx(idx_bytes(IMAGES)[:10])
    with pytest.raises(ValueError, match="at least 4 bytes"):
        parse_idx(b"\x00\x00")


def test_size_mismatch_extra_bytes():
    data = idx_bytes(IMAGES) + b"\x00\x00\x00"
    with pytest.raises(ValueError, match=r"size mismatch.*sizes \(2, 3, 4\).*received"):
        parse_idx(data, source="x")


def test_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(IMAGES))
    path = write(tmp_path / "half.gz", packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_wrong_checksum(tmp_path):
    data = idx_bytes(IMAGES)
    path = write(tmp_path / "images.gz", data, compress=True)
    right = hashlib.md5(data).hexdigest()
    assert read_idx(path, expected_md5=right).shape == (2, 3, 4)  # the content's MD5 passes
    with pytest.raises(ValueError, match="checksum") as info:
        read_idx(path, expected_md5="0" * 32)
    message = str(info.value)
    assert "0" * 32 in message and right in message and str(path) in message


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "nothing")


def write_family(root, n_images=3, n_labels=3, labels_max=9, compress=True):
    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 28, 28)).astype(np.uint8)
    labels = np.linspace(0, labels_max, n_labels).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write(root / f"train-images-idx3-ubyte{suffix}", idx_bytes(images), compress)
    write(root / f"train-labels-idx1-ubyte{suffix}", idx_bytes(labels), compress)
    return images, labels


def test_mnist_family_reads_own_files_without_verification(tmp_path):
    images, labels = write_family(tmp_path)
    data = mnist_family(tmp_path, name="mnist", split="train", verify=False)
    assert data.x.shape == (3, 784) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and data.image_shape == (28, 28)
    np.testing.assert_allclose(data.x, images.reshape(3, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y, labels)


def test_mnist_family_verifies_checksums(tmp_path):
    write_family(tmp_path)
    expected = CHECKSUMS["fashion"]["train-images-idx3-ubyte"][1]
    with pytest.raises(ValueError, match="checksum") as info:
        mnist_family(tmp_path, name="fashion", split="train")
    assert expected in str(info.value) and "train-images-idx3-ubyte" in str(info.value)


def test_mnist_family_size_mismatch_between_images_and_labels(tmp_path):
    write_family(tmp_path, n_images=3, n_labels=4, compress=False)
    with pytest.raises(ValueError, match=r"size mismatch.*\(3\), received 4 labels"):
        mnist_family(tmp_path, name="mnist", verify=False)


def test_mnist_family_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name"):
        mnist_family(tmp_path, name="kmnist")
    with pytest.raises(ValueError, match="split"):
        mnist_family(tmp_path, split="validation")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        mnist_family(tmp_path, name="mnist", split="test")
    with pytest.raises(FileNotFoundError, match="root="):
        mnist_family(None, name="mnist")


FASHION = DEFAULT_ROOTS["fashion"]
FASHION_INSTALLED = all((FASHION / stem).is_file() or (FASHION / f"{stem}.gz").is_file()
                        for stem in CHECKSUMS["fashion"])
needs_fashion = pytest.mark.skipif(
    not FASHION_INSTALLED,
    reason=f"Fashion-MNIST not installed in {FASHION} (apt-get install dataset-fashion-mnist)")


@needs_fashion
def test_real_fashion_mnist_test_split():
    data = mnist_family(name="fashion", split="test")  # checksums verified by default
    assert data.x.shape == (10000, 784) and data.x.dtype == np.float32
    assert data.y.shape == (10000,) and data.y.dtype == np.int64
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(data.y), [1000] * 10)  # the test set is balanced
    # The first labels of the official test file: ankle boot, pullover, trouser, trouser, shirt.
    np.testing.assert_array_equal(data.y[:5], [9, 2, 1, 1, 6])
    assert data.class_names[9] == "Ankle boot"


@needs_fashion
def test_real_fashion_mnist_train_split():
    data = mnist_family(Path(FASHION), name="fashion", split="train")
    assert data.x.shape == (60000, 784)
    np.testing.assert_array_equal(np.bincount(data.y), [6000] * 10)
