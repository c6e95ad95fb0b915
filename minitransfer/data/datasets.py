"""The image data sets of the lessons: scikit-learn's 8x8 digits and the MNIST family.

Both return an ``ImageDataset``: flattened images ``x`` (N, H*W) float32 in [0, 1], labels
``y`` (N,) int64, and ``image_shape`` (H, W). Nothing is ever downloaded: ``digits()`` comes
with scikit-learn, and ``mnist_family()`` reads IDX files from a local folder, such as the one
Debian's ``dataset-fashion-mnist`` package installs (``apt-get install dataset-fashion-mnist``
puts the four ``.gz`` files in ``/usr/share/datasets/fashion-mnist``).
"""

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from minitransfer.data.dataset import ImageDataset
from minitransfer.data.idx import read_idx

DIGIT_NAMES = tuple(str(d) for d in range(10))
# Label names from the Fashion-MNIST README (github.com/zalandoresearch/fashion-mnist, "Labels").
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")

# Folders searched when ``root`` is not given.
DEFAULT_ROOTS = {"fashion": Path("/usr/share/datasets/fashion-mnist")}

# Checksums of the official files, per data set and file stem: (archive MD5, content MD5).
#
# * archive MD5 = the MD5 of the .gz file as its publisher prints it:
#     Fashion-MNIST: the "Get the Data" table of the README of
#       https://github.com/zalandoresearch/fashion-mnist (also in torchvision's FashionMNIST);
#     MNIST: LeCun's page prints no checksums; these are the ones torchvision verifies
#       (torchvision/datasets/mnist.py, ``MNIST.resources``, github.com/pytorch/vision).
# * content MD5 = the MD5 of the same file after gunzip (the raw IDX bytes). The publishers
#   do not print it; it is the MD5 of the decompressed published archives, listed that way in
#   many public download and build scripts next to the archive MD5s, and it matches the
#   decompressed files of Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1.
#
# We verify the content MD5, for raw and gzip files alike. An archive MD5 says nothing about
# a file that was compressed again: Debian's package ships .gz files whose bytes differ from
# the published archives (train-images-idx3-ubyte.gz has MD5 cf8536b0aa1a6ac5fa3f23001093305c,
# not 8d4fb7e6c68d591d4c3dfef9ec88bf0d) although the images inside are identical.
CHECKSUMS = {
    "fashion": {
        "train-images-idx3-ubyte": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    },
    "mnist": {
        "train-images-idx3-ubyte": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte": ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte": ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte": ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    },
}
FILE_PREFIX = {"train": "train", "test": "t10k"}  # the test files are called t10k-*


def digits():
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels, as an ``ImageDataset``.

    The original pixels are integers 0..16; they are divided by 16 so that ``x`` lies in
    [0, 1] like every other data set here. ``x`` is (1797, 64) float32, ``y`` (1797,) int64
    with labels 0..9, ``image_shape`` (8, 8). The data ship with scikit-learn, so this works
    offline (``import minitransfer`` needs only NumPy).
    """
    table = _digits_table()
    x = (table[:, :-1] / 16.0).astype(np.float32)
    return ImageDataset(x, table[:, -1].astype(np.int64), image_shape=(8, 8),
                        class_names=DIGIT_NAMES, name="digits")


def _digits_table():
    """The digits as scikit-learn stores them: a (1797, 65) table, 64 pixels then the label.

    Read straight from scikit-learn's file ``datasets/data/digits.csv.gz``, the one that
    ``sklearn.datasets.load_digits`` reads, found without importing scikit-learn: the import
    takes about 0.9 s here, 150 times the read (6 ms), and every command on the digits paid it.
    Where the file is not at that place (another layout of scikit-learn), ``load_digits`` finds it.
    """
    spec = importlib.util.find_spec("sklearn")  # where the package is; nothing is imported
    if spec is None or spec.origin is None:
        raise ImportError("digits() needs scikit-learn, which ships the 8x8 digits; install the "
                          "extra with: pip install minitransfer[data]")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as file:
            return np.loadtxt(file, delimiter=",")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.column_stack([bunch.data, bunch.target])


def _find_file(root, stem):
    """The raw or gzip file for ``stem`` in ``root`` (raw first: it reads faster)."""
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"mnist_family: expected {stem} or {stem}.gz in {root}, found neither")


def _resolve_root(root, name):
    if root is None:
        if name not in DEFAULT_ROOTS:
            raise FileNotFoundError(f"mnist_family(name='{name}'): no default folder is known; "
                                    f"pass root= the folder that holds the IDX files")
        root = DEFAULT_ROOTS[name]
        if not root.is_dir():
            raise FileNotFoundError(f"mnist_family(name='{name}'): the default folder {root} does "
                                    f"not exist; install Debian's package (apt-get install "
                                    f"dataset-fashion-mnist) or pass root= a folder with the "
                                    f"IDX files (nothing is ever downloaded)")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"mnist_family: root: expected a folder with the IDX files, got "
                                f"{root}, which is not a folder")
    return root


def mnist_family(root=None, name="fashion", split="train", verify=True):
    """MNIST or Fashion-MNIST from local IDX files, as an ``ImageDataset`` of 28x28 images.

    ``name`` is ``"mnist"`` or ``"fashion"``; ``split`` is ``"train"`` (60,000 images) or
    ``"test"`` (10,000). ``root`` is the folder holding ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``,
    raw or gzip (``.gz``); when ``root`` is None, Fashion-MNIST is looked for in Debian's
    folder ``/usr/share/datasets/fashion-mnist``. Nothing is ever downloaded.

    With ``verify=True`` (the default) the MD5 of each file's decompressed content must
    match the official release (see ``CHECKSUMS`` for the sources); pass ``verify=False`` to
    read IDX files of your own with the same layout.

    Returns ``x`` (N, 784) float32 in [0, 1] (pixel / 255), ``y`` (N,) int64 in 0..9.
    The ``"test"`` split is a held-out test set: evaluate on it only at the very end.
    """
    if name not in CHECKSUMS:
        raise ValueError(f"mnist_family: name: expected one of {sorted(CHECKSUMS)}, got {name!r}")
    if split not in FILE_PREFIX:
        raise ValueError(f"mnist_family: split: expected 'train' or 'test', got {split!r}")
    root = _resolve_root(root, name)
    stems = {kind: f"{FILE_PREFIX[split]}-{kind}-idx{rank}-ubyte"
             for kind, rank in (("images", 3), ("labels", 1))}
    arrays = {}
    for kind, stem in stems.items():
        expected_md5 = CHECKSUMS[name][stem][1] if verify else None
        arrays[kind] = read_idx(_find_file(root, stem), expected_md5=expected_md5)
    images, labels = arrays["images"], arrays["labels"]
    # The checksums already guarantee these for the official files; files read with
    # verify=False get the same guarantees from explicit checks.
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"mnist_family: {stems['images']} in {root}: expected uint8 images of "
                         f"shape (N, 28, 28), received {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"mnist_family: {stems['labels']} in {root}: expected uint8 labels of "
                         f"shape (N,), received {labels.dtype} of shape {labels.shape}")
    if len(labels) != len(images):
        raise ValueError(f"mnist_family: size mismatch in {root}: expected as many labels as "
                         f"images ({len(images)}), received {len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"mnist_family: {stems['labels']} in {root}: expected labels 0..9, "
                         f"received a label {int(labels.max())}")
    x = images.reshape(len(images), 28 * 28).astype(np.float32) / np.float32(255.0)
    class_names = FASHION_NAMES if name == "fashion" else DIGIT_NAMES
    return ImageDataset(x, labels.astype(np.int64), image_shape=(28, 28),
                        class_names=class_names, name=f"{name}-{split}")
