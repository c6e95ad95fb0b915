"""Input checks shared by the statistics: finite 1-D samples, confidence levels.

Each raises ValueError naming the function, the argument, what was expected and what came,
before anything is computed.
"""

import math
import numbers

import numpy as np


def finite_vector(values, function, argument, min_length=1):
    """``values`` as a 1-D float64 NumPy array of finite numbers, at least ``min_length`` long."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{function}: {argument}: expected a 1-D sequence of numbers, got "
                         f"{type(values).__name__}") from None
    if array.ndim != 1:
        raise ValueError(f"{function}: {argument}: expected a 1-D sequence of numbers, got shape "
                         f"{array.shape}")
    if len(array) < min_length:
        raise ValueError(f"{function}: {argument}: expected at least {min_length} value"
                         f"{'s' if min_length > 1 else ''}, got {len(array)}")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise ValueError(f"{function}: {argument}: expected finite numbers, got {array[bad[0]]} at "
                         f"index {int(bad[0])}")
    return array


def check_confidence(confidence, function):
    """A confidence level must be a number strictly between 0 and 1 (0.95, not 95)."""
    if (not isinstance(confidence, numbers.Real) or isinstance(confidence, bool)
            or not 0 < confidence < 1):
        raise ValueError(f"{function}: confidence: expected a number strictly between 0 and 1 "
                         f"(e.g. 0.95), got {confidence!r}")
    return float(confidence)


def check_probability(q, function, argument):
    """A probability for a quantile: strictly between 0 and 1."""
    if not isinstance(q, numbers.Real) or isinstance(q, bool) or not 0 < q < 1:
        raise ValueError(f"{function}: {argument}: expected a probability strictly between 0 and 1, "
                         f"got {q!r}")
    return float(q)


def check_df(df, function):
    """Degrees of freedom: a positive number (any real ν > 0, or math.inf for the normal)."""
    if not isinstance(df, numbers.Real) or isinstance(df, bool) or math.isnan(df) or not df > 0:
        raise ValueError(f"{function}: df: expected positive degrees of freedom, got {df!r}")
    return float(df)
