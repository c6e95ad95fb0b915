"""DataLoader: cut a data set into minibatches of Tensors, as PyTorch's loader does.

Minibatch gradient descent (``train.fit``) estimates the gradient of the empirical risk
(1/n) sum_i L(y_i, f(x_i)) on a small batch of examples at a time. The loader decides
*which* examples go together: in order, or in a fresh random order every epoch
(``shuffle=True``), so that each epoch visits every example exactly once.

The order comes from a seeded ``numpy.random.Generator`` (never NumPy's global random
state): two loaders built with the same seed give the same batches, epoch after epoch.
"""

import numpy as np

from minitransfer import backend
from minitransfer.data.dataset import TensorDataset
from minitransfer.tensor import Tensor


def _first_non_finite(dataset):
    """(array name, index) of the first NaN or infinity in the data set's float arrays, or None."""
    for name, array in zip(dataset.names, dataset.arrays):
        if array.dtype.kind != "f":
            continue  # integers and booleans are always finite
        finite = np.isfinite(array)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            return name, tuple(int(i) for i in bad)
    return None


class DataLoader:
    """Iterate over ``dataset`` in minibatches of ``batch_size`` examples.

    Each batch is a tuple with one ``Tensor`` per array of the data set (``for xb, yb in
    loader``), moved to ``device`` ('cpu' by default, or 'cuda'). The arrays keep their
    dtypes: float32 images stay float32, int64 labels stay int64.

    - ``shuffle=False``: examples in their stored order.
    - ``shuffle=True``: a new random order at the start of every epoch, drawn from the
      generator ``seed`` stands for: an int seed, a ``numpy.random.Generator``, or None for
      the package's default generator (reseeded by ``minitransfer.manual_seed``). Epoch e of
      a loader seeded with s is the same in every run.
    - ``drop_last=True`` drops the last, smaller batch (when N is not a multiple of the
      batch size), so that every step sees exactly ``batch_size`` examples.

    ``len(loader)`` is the number of batches per epoch. The data are checked once, here:
    an empty data set, a batch size below 1, or a NaN/infinity anywhere in the data raise
    ``ValueError`` before the loader is built.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, seed=None, drop_last=False, device=None):
        if not isinstance(dataset, TensorDataset):
            raise TypeError(f"DataLoader: dataset: expected a TensorDataset (or ImageDataset), got "
                            f"{type(dataset).__name__}; wrap arrays as TensorDataset(x, y)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size: expected an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size: expected an int >= 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: dataset: expected at least one example, got an empty data set")
        if drop_last and batch_size > len(dataset):
            raise ValueError(f"DataLoader: drop_last=True with batch_size={batch_size} larger than the "
                             f"{len(dataset)} examples would give no batch at all")
        bad = _first_non_finite(dataset)
        if bad is not None:
            name, index = bad
            raise ValueError(f"DataLoader: dataset {name}: expected finite numbers, got "
                             f"{dataset.arrays[dataset.names.index(name)][index]} at index {index}")
        device = backend.check_device("cpu" if device is None else device)
        generator = backend.get_generator(seed) if shuffle else None
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = device
        self.generator = generator

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)  # -(-n // b) is ceil(n / b)

    def epoch_order(self):
        """The order of the examples for the next epoch (advances the generator when shuffling)."""
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        order = self.epoch_order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start:start + self.batch_size]
            # Indexing with an array copies, so a batch never shares memory with the data set.
            yield tuple(Tensor(array[indices]).to(self.device) for array in self.dataset.arrays)

    def __repr__(self):
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device='{self.device}')")
