"""Data: data sets as host NumPy arrays, transforms, splits, and the DataLoader.

    from minitransfer.data import DataLoader, digits, class_subset, k_per_class, transforms

    data = digits()                                    # ImageDataset: x (1797, 64), y (1797,)
    source = class_subset(data, [0, 1, 2, 3, 4])       # the source task, labels 0..4
    target = class_subset(data, [5, 6, 7, 8, 9])       # the target task, relabelled 0..4
    x, y = k_per_class(target.x, target.y, k=5, seed=0)
    x = transforms.jitter(x, max_shift=2, seed=0)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0):
        ...                                            # xb, yb are minitransfer Tensors

Arrays stay NumPy arrays on the host (float32 images in [0, 1], int64 labels); the
DataLoader makes Tensors of each batch and moves them to the device. scikit-learn (for
``digits``) is imported only when ``digits()`` is called.
"""

from minitransfer.data import transforms
from minitransfer.data.dataset import ImageDataset, TensorDataset
from minitransfer.data.datasets import CHECKSUMS, digits, mnist_family
from minitransfer.data.idx import parse_idx, read_idx
from minitransfer.data.loader import DataLoader
from minitransfer.data.splits import (
    class_subset,
    k_per_class,
    k_per_class_indices,
    stratified_split_indices,
    train_test_split,
)

__all__ = [
    "TensorDataset", "ImageDataset", "DataLoader", "digits", "mnist_family", "CHECKSUMS",
    "read_idx", "parse_idx", "transforms", "class_subset", "k_per_class", "k_per_class_indices",
    "train_test_split", "stratified_split_indices",
]
