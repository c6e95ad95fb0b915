"""Splits: which classes, how many labelled examples, and which examples are held out.

A transfer experiment needs three kinds of cuts of the data:

- ``class_subset``: the source task (say digits 0-4) and the target task (digits 5-9) are
  different classes of one data set, relabelled 0..k-1 so that each task has its own head;
- ``k_per_class``: the target task has only a few labels, exactly k per class;
- ``train_test_split``: a stratified held-out set (every class in the same proportion).

**The held-out test set is touched once, at the very end.** Training never sees it, and
neither does *model selection*: choosing the learning rate, the number of epochs, the
strategy or the layers to freeze from test accuracy leaks the test set into the model and
makes the reported accuracy optimistic. Make those choices on a validation set cut from
the training part (``train_test_split`` of the training arrays), then report test accuracy.

Randomness comes only from ``seed`` (an int or a ``numpy.random.Generator``): the same
seed gives the same split. Every function works on host NumPy arrays ``x`` (N, ...) and
integer labels ``y`` (N,), and returns new arrays; the inputs are never modified.
"""

import numpy as np

from minitransfer import backend
from minitransfer.data.dataset import ImageDataset, TensorDataset


def _check_labels(y, function):
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise TypeError(f"{function}: y: expected integer labels of shape (N,), got shape {y.shape} "
                        f"and dtype {y.dtype}")
    return y


def _check_xy(x, y, function):
    x, y = np.asarray(x), _check_labels(y, function)
    if x.ndim == 0 or len(x) != len(y):
        raise ValueError(f"{function}: x: expected {len(y)} examples (one per label in y), got "
                         f"shape {x.shape}")
    return x, y


def class_subset(data, classes, relabel=True):
    """Keep only the examples whose label is in ``classes``; relabel them 0..k-1 in that order.

    ``data`` is an ``ImageDataset``, a ``TensorDataset`` (x, y) or a tuple ``(x, y)``; the
    result has the same kind. With ``relabel=True``, label ``classes[i]`` becomes ``i``:
    ``class_subset(d, [5, 6, 7, 8, 9])`` turns digits 5..9 into a 5-class task with labels
    0..4 (and an ImageDataset's ``class_names`` follow). Examples keep their order.
    """
    if isinstance(data, TensorDataset):
        if len(data.arrays) != 2:
            raise ValueError(f"class_subset: data: expected a data set of two arrays (x, y), got "
                             f"{len(data.arrays)} arrays")
        x, y = data.arrays
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise TypeError(f"class_subset: data: expected an ImageDataset, a TensorDataset (x, y) or a "
                        f"tuple (x, y), got {type(data).__name__}")
    x, y = _check_xy(x, y, "class_subset")
    classes = [int(c) for c in np.asarray(classes).reshape(-1)]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"class_subset: classes: expected a non-empty list of distinct labels, got "
                         f"{classes}")
    present = set(np.unique(y).tolist())
    for c in classes:
        if c not in present:
            raise ValueError(f"class_subset: classes: class {c} has no examples (the labels present "
                             f"are {sorted(present)})")
    keep = np.flatnonzero(np.isin(y, classes))
    old_y = y[keep].astype(np.int64)
    new_y = old_y
    if relabel:
        new_y = np.empty_like(old_y)
        for new_label, old_label in enumerate(classes):  # one pass per class, not per example
            new_y[old_y == old_label] = new_label
    new_x = x[keep]
    if isinstance(data, ImageDataset):
        names = data.class_names
        if names is not None and relabel:
            names = tuple(names[c] for c in classes)
        return ImageDataset(new_x, new_y, data.image_shape, class_names=names,
                            name=f"{data.name}[classes {','.join(map(str, classes))}]")
    if isinstance(data, TensorDataset):
        return TensorDataset(new_x, new_y)
    return new_x, new_y


def k_per_class_indices(y, k, seed):
    """Indices (sorted) of exactly ``k`` randomly chosen examples of every class present in ``y``.

    ``k=None`` means all examples. A class with fewer than k examples is an error, naming
    the class and its count: a silently smaller class would unbalance the experiment.
    """
    y = _check_labels(y, "k_per_class")
    if k is None:
        return np.arange(len(y))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k_per_class: k: expected an int >= 1 or None (all examples), got {k!r}")
    classes, counts = np.unique(y, return_counts=True)
    for c, count in zip(classes, counts):
        if count < k:
            raise ValueError(f"k_per_class: k={k} is larger than class {int(c)}, which has only "
                             f"{int(count)} examples (the smallest class allows k <= {int(counts.min())})")
    rng = backend.get_generator(seed)
    chosen = [rng.choice(np.flatnonzero(y == c), size=int(k), replace=False) for c in classes]
    return np.sort(np.concatenate(chosen))


def k_per_class(x, y, k, seed):
    """Exactly ``k`` labelled examples per class, drawn at random: returns ``(x_k, y_k)``.

    The few-label regime of transfer learning: with k = 1, 5, 25 labels per class, does a
    pretrained body beat training from scratch? See ``k_per_class_indices`` for the rules.
    """
    x, y = _check_xy(x, y, "k_per_class")
    indices = k_per_class_indices(y, k, seed)
    return x[indices], y[indices]


def stratified_split_indices(y, test_fraction, seed):
    """(train indices, test indices), both sorted, disjoint, together all of ``range(len(y))``.

    Every class c with n_c examples puts round(test_fraction * n_c) of them into the test
    part, at least 1 and at most n_c - 1, so that each class appears on both sides; the
    test part's size can therefore differ by a few examples from test_fraction * N.
    """
    y = _check_labels(y, "train_test_split")
    if not (isinstance(test_fraction, (float, int, np.floating)) and 0 < test_fraction < 1):
        raise ValueError(f"train_test_split: test_fraction: expected a number strictly between 0 and "
                         f"1, got {test_fraction!r}")
    classes, counts = np.unique(y, return_counts=True)
    for c, count in zip(classes, counts):
        if count < 2:
            raise ValueError(f"train_test_split: class {int(c)} has only {int(count)} example; a "
                             f"stratified split needs at least 2 per class (one on each side)")
    rng = backend.get_generator(seed)
    test = []
    for c, count in zip(classes, counts):
        n_test = min(max(int(round(test_fraction * count)), 1), int(count) - 1)
        test.append(rng.choice(np.flatnonzero(y == c), size=n_test, replace=False))
    is_test = np.zeros(len(y), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def train_test_split(x, y, test_fraction, seed):
    """Stratified split into ``(x_train, x_test, y_train, y_test)`` (scikit-learn's order).

    Use it once to hold out a test set, and again on the training part to cut a validation
    set for model selection; never choose anything by looking at the test set.
    """
    x, y = _check_xy(x, y, "train_test_split")
    train, test = stratified_split_indices(y, test_fraction, seed)
    return x[train], x[test], y[train], y[test]
