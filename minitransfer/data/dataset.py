"""Data sets as plain NumPy arrays on the host: ``TensorDataset`` and ``ImageDataset``.

A data set here is nothing more than a few arrays that share their first axis: example ``i``
is ``(x[i], y[i])``. The arrays stay NumPy arrays on the host; only the ``DataLoader`` turns
batches into ``Tensor`` objects and moves them to a device, as PyTorch's loader does.

``TensorDataset(*arrays)`` keeps PyTorch's name (there its arrays are called ``.tensors``;
here they are ``.arrays`` because they are NumPy arrays). It takes Tensors too, as a PyTorch
user writes it (``TensorDataset(mt.tensor(X), mt.tensor(y))``), and keeps their values.
``ImageDataset`` is a ``TensorDataset`` of exactly two arrays, flattened images ``x``
(N, H*W) float32 in [0, 1] and labels ``y`` (N,) int64, that also remembers the image shape
(H, W), which the transforms need to undo the flattening, and the names of the classes.
"""

import numpy as np

from minitransfer import backend
from minitransfer.tensor import Tensor


def _as_host_array(array, argument):
    """A NumPy array of numbers (bool, int or float) with at least one axis, or a clear error.
    A Tensor gives its values (copied to the host when it lives on a GPU)."""
    array = backend.to_numpy(array.data) if isinstance(array, Tensor) else np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{argument}: expected an array of numbers, got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{argument}: expected an array with a first (example) axis, got a 0-d array")
    return array


class TensorDataset:
    """Arrays that share their first axis; ``dataset[i]`` is the tuple of their i-th rows.

    >>> data = TensorDataset(np.zeros((5, 3), np.float32), np.arange(5))
    >>> len(data), data[2][1]
    (5, np.int64(2))
    """

    def __init__(self, *arrays):
        if len(arrays) == 0:
            raise ValueError("TensorDataset: expected at least one array, got none")
        checked = tuple(_as_host_array(a, f"TensorDataset array {i}") for i, a in enumerate(arrays))
        lengths = [len(a) for a in checked]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: expected arrays with the same first dimension "
                             f"(number of examples), got lengths {lengths}")
        self.arrays = checked
        # Names used in error messages (the DataLoader's non-finite check names the array).
        self.names = tuple(f"array {i}" for i in range(len(checked)))

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        """The rows at ``index`` (an int, a slice or an array of indices) of every array."""
        return tuple(array[index] for array in self.arrays)

    def __repr__(self):
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"{type(self).__name__}({len(self)} examples: {shapes})"


class ImageDataset(TensorDataset):
    """Flattened images ``x`` (N, H*W) float32 and labels ``y`` (N,) int64.

    Images are kept flattened because the networks of this package (MLPs) take vectors;
    ``image_shape`` = (H, W) says how to fold them back, e.g. ``x.reshape(-1, *image_shape)``
    for plotting or for the transforms. ``class_names[c]`` names label ``c``.

    Floating-point images are stored as float32 and integer labels as int64 (PyTorch's
    defaults); anything else is refused before the object is built.
    """

    def __init__(self, x, y, image_shape, class_names=None, name="images"):
        x = _as_host_array(x, "ImageDataset x")
        y = _as_host_array(y, "ImageDataset y")
        if x.ndim != 2:
            raise ValueError(f"ImageDataset x: expected flattened images of shape (N, H*W), got "
                             f"shape {x.shape}")
        if x.dtype.kind != "f":
            raise TypeError(f"ImageDataset x: expected floating-point pixels in [0, 1], got "
                            f"dtype {x.dtype}")
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise TypeError(f"ImageDataset y: expected integer labels of shape (N,), got shape "
                            f"{y.shape} and dtype {y.dtype}")
        image_shape = tuple(int(n) for n in image_shape)
        if len(image_shape) != 2 or image_shape[0] * image_shape[1] != x.shape[1]:
            raise ValueError(f"ImageDataset image_shape: expected (H, W) with H*W = {x.shape[1]} "
                             f"(the length of a flattened image), got {image_shape}")
        if class_names is not None:
            class_names = tuple(str(c) for c in class_names)
            if len(y) and int(y.max()) >= len(class_names):
                raise ValueError(f"ImageDataset class_names: expected a name for every label "
                                 f"0..{int(y.max())}, got {len(class_names)} names")
        super().__init__(x.astype(np.float32, copy=False), y.astype(np.int64, copy=False))
        self.names = ("x", "y")
        self.image_shape = image_shape
        self.class_names = class_names
        self.name = str(name)

    @property
    def x(self):
        """The flattened images, (N, H*W) float32."""
        return self.arrays[0]

    @property
    def y(self):
        """The labels, (N,) int64."""
        return self.arrays[1]

    @property
    def num_classes(self):
        """The number of class names when known, else the largest label + 1."""
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.y.max()) + 1 if len(self.y) else 0

    def __repr__(self):
        return (f"ImageDataset('{self.name}': {len(self)} images of {self.image_shape[0]}x"
                f"{self.image_shape[1]}, {self.num_classes} classes)")
