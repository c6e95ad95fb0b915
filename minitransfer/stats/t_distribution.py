r"""Student's t distribution for any degrees of freedom: its CDF and quantiles, without SciPy.

A paired interval over s seeds needs t₀.₉₇₅ with ν = s − 1 degrees of freedom (4.303 for three
seeds, not the normal's 1.96). A table stops somewhere; this computes the exact value for every ν.

The t distribution's two-sided tail is a regularized incomplete beta function
(Numerical Recipes, 2nd ed., §6.4, eq. 6.4.9):

    P(|T| > t) = I_x(ν/2, 1/2),   x = ν / (ν + t²),

    I_x(a, b) = B(x; a, b) / B(a, b),   B(x; a, b) = ∫₀ˣ u^(a−1) (1 − u)^(b−1) du.

``betainc`` evaluates I_x(a, b) by its continued fraction (Abramowitz & Stegun 26.5.8),

    I_x(a, b) = xᵃ (1 − x)ᵇ / (a B(a, b)) · 1 / (1 + d₁ / (1 + d₂ / (1 + ...))),
    d₂ₘ₊₁ = −(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
    d₂ₘ   = m (b − m) x / ((a + 2m − 1)(a + 2m)),

summed by the modified Lentz method (Numerical Recipes §5.2). The fraction converges fast for
x < (a + 1)/(a + b + 2); above that, the symmetry I_x(a, b) = 1 − I₁₋ₓ(b, a) is used instead.
``t_quantile`` inverts the CDF by bisection: slow by a solver's standards, but a few hundred
microseconds, and plainly correct.
"""

import math

from minitransfer.stats.checks import check_df, check_probability

_TINY = 1e-300  # keeps Lentz's divisions away from zero
_EPS = 1e-15  # relative accuracy of the continued fraction
_MAX_TERMS = 100_000  # convergence takes about √max(a, b) terms: enough for ν up to ~10¹⁰


def _beta_continued_fraction(a, b, x):
    """The continued fraction 1 / (1 + d₁ / (1 + d₂ / ...)) of I_x(a, b), by Lentz's method."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    fraction = d
    for m in range(1, _MAX_TERMS + 1):
        for coefficient in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),        # d₂ₘ
                            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):  # d₂ₘ₊₁
            d = 1.0 + coefficient * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + coefficient / c
            c = c if abs(c) > _TINY else _TINY
            fraction *= c * d
        if abs(c * d - 1.0) < _EPS:
            return fraction
    raise ArithmeticError(f"betainc: the continued fraction did not converge for a={a}, b={b}, x={x}")


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 ≤ x ≤ 1."""
    if not (a > 0 and b > 0 and 0 <= x <= 1):
        raise ValueError(f"betainc: expected a > 0, b > 0 and 0 <= x <= 1, got a={a}, b={b}, x={x}")
    if x == 0 or x == 1:
        return float(x)
    # xᵃ (1 − x)ᵇ / B(a, b), in logarithms: B(a, b) = Γ(a) Γ(b) / Γ(a + b) overflows quickly.
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_two_sided_tail(t, df):
    """P(|T| > |t|) for Student's t with ``df`` degrees of freedom (the normal for df = inf)."""
    df = check_df(df, "t_two_sided_tail")
    t = abs(float(t))
    if math.isinf(df):
        return math.erfc(t / math.sqrt(2.0))
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t, df):
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom (any ν > 0; inf gives the normal)."""
    half_tail = t_two_sided_tail(t, df) / 2.0
    return 1.0 - half_tail if t >= 0 else half_tail


def t_quantile(q, df):
    """The t with P(T ≤ t) = q: ``t_quantile(0.975, 2)`` = 4.3027 (the 95% two-sided value).

    Found by bisection on the tail, which is monotone in t: bracket [0, hi] by doubling hi,
    then halve the bracket until it is as narrow as a double allows.
    """
    q = check_probability(q, "t_quantile", "q")
    df = check_df(df, "t_quantile")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    if q == 0.5:
        return 0.0
    tail = 2.0 * (1.0 - q)  # the two-sided tail P(|T| > t) that the answer must leave
    low, high = 0.0, 1.0
    while t_two_sided_tail(high, df) > tail:
        low, high = high, 2.0 * high
    while high - low > 4e-16 * high:
        middle = (low + high) / 2.0
        if t_two_sided_tail(middle, df) > tail:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0
