"""Transforms of batches of flattened square images, to build target tasks for transfer.

Every function takes ``x`` of shape (N, D), one flattened image of side H = W = sqrt(D) per
row (pass ``side=`` to say it, or let it be inferred), and returns a *new* array of the same
shape and dtype; ``x`` itself is never modified. Random transforms take a ``seed`` (an int or
a ``numpy.random.Generator``) and are deterministic under it::

    from minitransfer.data import transforms
    shifted = transforms.jitter(x, max_shift=2, seed=0)      # digits moved by up to 2 pixels
    noisy = transforms.add_noise(x, sigma=0.3, seed=0)       # Gaussian noise, clipped to [0, 1]

What each one does to a transfer experiment (measure it: ``minitransfer run --target NAME``): jitter and
noise keep the source's strokes, so a pretrained body helps; rotations, flips and pixel
permutations move every stroke to pixels the body never saw, and transfer turns negative.
"""

import math

import numpy as np

from minitransfer import backend


def _batch(x, function):
    """Check that ``x`` is a batch of flattened images: a 2-D floating-point NumPy array."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{function}: x: expected a NumPy array of flattened images (N, H*W), got "
                        f"{type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{function}: x: expected flattened images of shape (N, H*W), got shape "
                         f"{x.shape} (for a single image use x[None])")
    if x.dtype.kind != "f":
        raise TypeError(f"{function}: x: expected floating-point pixels, got dtype {x.dtype}")
    return x


def _images(x, side, function):
    """Check ``x`` (N, D) and return it as an (N, side, side) view, with ``side``."""
    d = _batch(x, function).shape[1]
    if side is None:
        side = math.isqrt(d)  # infer H = W = sqrt(D)
        if side * side != d:
            raise ValueError(f"{function}: x: expected square images (H*W with H = W), got {d} "
                             f"pixels per image, which is not a square number")
    elif isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side * side != d:
        raise ValueError(f"{function}: side: expected an int with side * side = {d} (the pixels "
                         f"per image), got {side!r}")
    return x.reshape(len(x), side, side), int(side)


def _flat(images):
    """(N, H, W) back to a contiguous (N, H*W) array."""
    return np.ascontiguousarray(images).reshape(len(images), -1)


def jitter(x, max_shift, seed, side=None, rows=None):
    """Translate each image by its own random integer shift, filling the uncovered border with 0.

    Row shift dy and column shift dx are drawn independently and uniformly from
    {-max_shift, ..., max_shift}; the output is out[r, c] = img[r - dy, c - dx] where that
    pixel exists and 0 elsewhere (what leaves the frame is lost). ``max_shift=0`` returns a
    copy of ``x``.

    How: pad every image with ``max_shift`` zeros on each side, then cut a window of the
    original size out of the padded image at offset (max_shift - dy, max_shift - dx).
    One fancy-indexing call cuts all N windows at once, with no loop over the images.

    ``rows`` (integer indices) returns only those rows of the result, ``jitter(x, m, seed)[rows]``,
    without shifting the others: every image's shift is still drawn, so each row gets the shift
    it gets in the full call (``make_task`` keeps 12,000 of 300,000 jittered Fashion-MNIST rows).
    """
    images, side = _images(x, side, "jitter")
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"jitter: max_shift: expected an int >= 0, got {max_shift!r}")
    m = int(max_shift)
    rng = backend.get_generator(seed)
    n = len(images)
    dy = rng.integers(-m, m + 1, size=n)
    dx = rng.integers(-m, m + 1, size=n)
    if rows is not None:  # every shift was drawn above; keep the chosen images and their shifts
        which = _row_indices(rows, n)
        images, dy, dx = images[which], dy[which], dx[which]
        if not len(which):
            return np.empty((0, side * side), images.dtype)
    padded = np.pad(images, ((0, 0), (m, m), (m, m)))
    out_rows = np.arange(side)[None, :] + (m - dy)[:, None]  # padded row of each output row r
    out_cols = np.arange(side)[None, :] + (m - dx)[:, None]  # padded column of each output column c
    shifted = padded[np.arange(len(images))[:, None, None], out_rows[:, :, None], out_cols[:, None, :]]
    return _flat(shifted)


def _row_indices(rows, n):
    """``rows`` as an int array of indices into n images, or a ValueError that names it."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ValueError(f"jitter: rows: expected a 1-D array of integer indices, got dtype "
                         f"{rows.dtype} and shape {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"jitter: rows: expected indices in [0, {n}), got values from "
                         f"{rows.min()} to {rows.max()}")
    return rows.astype(np.intp, copy=False)


def add_noise(x, sigma, seed):
    """x + sigma * N(0, 1) noise, independent for every pixel, clipped back into [0, 1]."""
    _batch(x, "add_noise")
    if isinstance(sigma, bool) or not (isinstance(sigma, (int, float, np.floating)) and sigma >= 0):
        raise ValueError(f"add_noise: sigma: expected a number >= 0, got {sigma!r}")
    rng = backend.get_generator(seed)
    # Draw the noise in the images' own dtype: float64 noise would promote float32 images.
    # (Generator.standard_normal draws float32 or float64 only; float16 goes through float64.)
    draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    noise = rng.standard_normal(x.shape, dtype=draw_dtype).astype(x.dtype, copy=False)
    return np.clip(x + x.dtype.type(sigma) * noise, 0, 1)


def invert(x):
    """1 - x: dark strokes on a light background (pixels are assumed to lie in [0, 1])."""
    _batch(x, "invert")
    return x.dtype.type(1) - x


def rotate90(x, k=1, side=None):
    """Rotate every image by k * 90 degrees counterclockwise (``np.rot90``/``torch.rot90``).

    For the 2x2 image [[1, 2], [3, 4]], k=1 gives [[2, 4], [1, 3]]; k=4 (and k=0) give the
    image back; negative k rotate clockwise.
    """
    images, _ = _images(x, side, "rotate90")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"rotate90: k: expected an int, got {type(k).__name__}")
    return _flat(np.rot90(images, int(k), axes=(1, 2)))


def hflip(x, side=None):
    """Mirror every image left-right (column c becomes column W - 1 - c)."""
    images, _ = _images(x, side, "hflip")
    return _flat(images[:, :, ::-1])


def pixel_permutation(num_pixels, seed):
    """The permutation of pixel positions that ``permute_pixels(x, seed)`` applies."""
    if isinstance(num_pixels, bool) or not isinstance(num_pixels, (int, np.integer)) or num_pixels < 1:
        raise ValueError(f"pixel_permutation: num_pixels: expected an int >= 1, got {num_pixels!r}")
    return backend.get_generator(seed).permutation(int(num_pixels))


def permute_pixels(x, seed):
    """Shuffle the pixel positions with one fixed permutation, the same for every image.

    out[:, j] = x[:, perm[j]] with perm = ``pixel_permutation(D, seed)``. The images keep
    their pixel values (only their places change), so a network that ignores neighbourhoods
    (an MLP trained from scratch) can still learn the task, while a body pretrained on real
    images sees noise. Use the same *int* seed for the training and the test images so that
    both get the same permutation (a Generator would give a new one at each call).
    """
    _batch(x, "permute_pixels")
    # Fancy indexing along axis 1 returns a column-major (Fortran-ordered) array; give back
    # row-major memory like every other transform, so one image is one contiguous row.
    return np.ascontiguousarray(x[:, pixel_permutation(x.shape[1], seed)])
