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
    """Indices of ``size`` rows of ``x`` chosen by k-center greedy, the first one at random."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    chosen = [int(rng.integers(len(x)))]
    nearest = np.sum((x - x[chosen[0]]) ** 2, axis=1)  # squared distance to the closest center
    for _ in range(size - 1):
        farthest = int(np.argmax(nearest))  # the lowest index among ties
        chosen.append(farthest)
        nearest = np.minimum(nearest, np.sum((x - x[farthest]) ** 2, axis=1))
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


def source_images(source, image_ids, m, rule="random", seed=0, class_balanced=True):
    """(x, y) of every source row made from ``m`` distinct source images chosen by ``rule``.

    ``image_ids[i]`` names the image that row i was made from (``Task.source_images``: a
    jittered source holds several shifted copies of each image); rules see one row per image
    (its first), and every copy of a chosen image comes along.
    """
    x, y = source
    image_ids = np.asarray(image_ids)
    if len(image_ids) != len(y):
        raise ValueError(f"image_ids: expected one id per source row ({len(y)}), got {len(image_ids)}")
    images, first = np.unique(image_ids, return_index=True)
    chosen = select_coreset(x[first], y[first], m, rule, seed, class_balanced, argument="m",
                            unit="distinct images")
    keep = np.isin(image_ids, images[chosen])
    return x[keep], y[keep]
