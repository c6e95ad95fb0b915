"""Kendall's rank correlation τ_b: do two scores put the same items in the same order?

Over the n(n − 1)/2 pairs of items (i, j), a pair is *concordant* when both scores order it
the same way, sign(aᵢ − aⱼ) · sign(bᵢ − bⱼ) = +1, and *discordant* when they disagree (−1).
With n_c concordant and n_d discordant pairs, and n₁ (n₂) pairs tied in a (in b),

    τ_b = (n_c − n_d) / √((n₀ − n₁)(n₀ − n₂)),   n₀ = n(n − 1)/2        (Kendall, 1945)

τ_b = 1 for the same order, −1 for the reverse, about 0 for unrelated orders; ties count in
neither n_c nor n_d and shrink the denominator, so τ_b still reaches ±1 with ties.
"""

import math

import numpy as np

from minitransfer.stats.checks import finite_vector


def kendall_tau(a, b):
    """τ_b of two equally long sequences; NaN when either is constant (no order to compare).

    By hand, a = (1, 2, 3, 4), b = (1, 3, 2, 4): five pairs agree, one (2, 3) disagrees, so
    τ = (5 − 1) / 6 = 2/3. All pairs are formed at once: O(n²) memory, fine to a few thousand.
    """
    a = finite_vector(a, "kendall_tau", "a", min_length=2)
    b = finite_vector(b, "kendall_tau", "b", min_length=2)
    if len(a) != len(b):
        raise ValueError(f"kendall_tau: a and b must have the same length, got {len(a)} and {len(b)}")
    i, j = np.triu_indices(len(a), k=1)
    sign_a, sign_b = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    pairs = len(i)
    tied_a, tied_b = int(np.sum(sign_a == 0)), int(np.sum(sign_b == 0))
    if tied_a == pairs or tied_b == pairs:
        return math.nan
    return float(np.sum(sign_a * sign_b) / math.sqrt((pairs - tied_a) * (pairs - tied_b)))
