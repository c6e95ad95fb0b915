"""Coresets: pretrain on a subset of the source chosen by a simple rule.

Pretraining cost grows with the data (the document's §5.1). A coreset is a small subset that
stands in for the whole set; trained for the same number of passes over the data, a coreset of
a quarter of the source costs a quarter of the compute. Two rules, both deterministic for a
given seed:

- ``"random"``: a random subset. Class-balanced (the default), each class gets ⌊size/C⌋ or
  ⌈size/C⌉ examples (``class_quotas``), so no class is left out by chance.
- ``"k_center"``: k-center greedy (Sener & Savarese, 2018, "Active learning for convolutional
  neural networks: a core-set approach"): start from one random example, then repeatedly add
  the example farthest from every one chosen so far,

      c_{t+1} = argmax_i  min_{j ≤ t} ‖x_i − x_{c_j}‖²

  which covers the data with balls of the smallest radius it can find greedily. Here on raw
  pixels; class-balanced, it runs within each class with that class's quota.

Errors name the argument: a subset larger than the set, or smaller than the number of classes
(a pretraining that never sees a class cannot learn it), is refused.
"""

import numpy as np

RULES = ("random", "k_center")


def check_subset_size(size, available, classes, argument="size", unit="examples"):
    """ValueError unless classes <= size <= available (``size`` a whole number of ``unit``)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"{argument}: expected a whole number of examples, got {size!r}")
    if size > available:
        raise ValueError(f"{argument}: expected at most {available} (the source holds {available} "
                         f"{unit}), got {size}")
    if size < classes:
        raise ValueError(f"{argument}: expected at least {classes} (one example of each of the "
                         f"source's {classes} classes), got {size}")
    return int(size)


def class_quotas(counts, size, rng):
    """How many examples to take from each class: as equal as the counts allow, summing to ``size``.

    Each round shares what is left equally among the classes that still have examples; when
    fewer remain than such classes, ``rng`` picks which classes get one more.
    """
    counts = np.asarray(counts, dtype=np.int64)
    quotas, remaining = np.zeros_like(counts), int(size)
    while remaining > 0:
        open_classes = np.flatnonzero(quotas < counts)
        share = remaining // len(open_classes)
        if share == 0:
            lucky = rng.choice(open_classes, size=remaining, replace=False)
            quotas[lucky] += 1
            break
        added = np.minimum(share, counts[open_classes] - quotas[open_classes])
        quotas[open_classes] += added
        remaining -= int(added.sum())
    return quotas


def k_center_greedy(x, size, rng):
    """Indices of ``size`` rows of ``x`` chosen by k-center greedy, the first one at random.

    Squared distances to a new center c come from one matrix-vector product,
    ‖x_i − c‖² = ‖x_i‖² − 2 x_i·c + ‖c‖², instead of n × d subtractions.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    squared_norms = np.einsum("ij,ij->i", x, x)

    def squared_distances(center):
        return np.maximum(squared_norms - 2 * (x @ x[center]) + squared_norms[center], 0.0)

    chosen = [int(rng.integers(len(x)))]
    nearest = squared_distances(chosen[0])  # squared distance to the closest center so far
    for _ in range(size - 1):
        farthest = int(np.argmax(nearest))  # the lowest index among ties
        chosen.append(farthest)
        nearest = np.minimum(nearest, squared_distances(farthest))
    return np.array(chosen, dtype=np.int64)


def select_coreset(x, y, size, rule="random", seed=0, class_balanced=True, argument="size",
                   unit="examples"):
    """Sorted indices of a ``size``-example subset of (x, y) chosen by ``rule`` (see the module).

    The same seed gives the same subset; ``class_balanced`` gives each class ⌊size/C⌋ or
    ⌈size/C⌉ examples (fewer only where a class has fewer, the rest shared among the others).
    """
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {', '.join(RULES)}, got {rule!r}")
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    size = check_subset_size(size, len(y), len(classes), argument, unit)
    rng = np.random.default_rng(seed)
    if not class_balanced:
        picked = (rng.permutation(len(y))[:size] if rule == "random"
                  else k_center_greedy(x, size, rng))
        return np.sort(picked)
    picked = []
    for label, quota in zip(classes, class_quotas(counts, size, rng)):
        members = np.flatnonzero(y == label)
        if quota == 0:
            continue
        within = (rng.permutation(len(members))[:quota] if rule == "random"
                  else k_center_greedy(np.asarray(x)[members], quota, rng))
        picked.append(members[within])
    return np.sort(np.concatenate(picked))


def choose_images(source, image_ids, m, rule="random", seed=0, class_balanced=True):
    """The ids of ``m`` distinct source images chosen by ``rule`` (sorted).

    ``image_ids[i]`` names the image that row i was made from (``Task.source_images``: a
    jittered source holds several shifted copies of each image); the rules see one row per
    image, its first.
    """
    x, y = source
    image_ids = np.asarray(image_ids)
    if len(image_ids) != len(y):
        raise ValueError(f"image_ids: expected one id per source row ({len(y)}), got {len(image_ids)}")
    images, first = np.unique(image_ids, return_index=True)
    chosen = select_coreset(x[first], y[first], m, rule, seed, class_balanced, argument="m",
                            unit="distinct images")
    return images[chosen]


def rows_of(source, image_ids, images):
    """(x, y) of every source row made from one of ``images``: all copies of each come along."""
    keep = np.isin(np.asarray(image_ids), images)
    return source[0][keep], source[1][keep]


def source_images(source, image_ids, m, rule="random", seed=0, class_balanced=True):
    """(x, y) of every source row made from ``m`` distinct source images chosen by ``rule``
    (``choose_images``, then ``rows_of``)."""
    return rows_of(source, image_ids, choose_images(source, image_ids, m, rule, seed, class_balanced))


def k_center_macs(labels, chosen_labels, dim, class_balanced=True):
    """Multiply-adds of k-center greedy's distances: one n × d matrix-vector product per center,
    n the images it chooses among (its class's when class-balanced), d the pixels."""
    labels, chosen_labels = np.asarray(labels), np.asarray(chosen_labels)
    if not class_balanced:
        return len(chosen_labels) * len(labels) * dim
    return int(sum(np.sum(chosen_labels == c) * np.sum(labels == c) for c in np.unique(labels))) * dim
