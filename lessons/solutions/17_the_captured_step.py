"""Worked solution of lesson 17's exercise."""

import numpy as np


def sgd_update(param, grad, lr, work):
    """θ ← θ − lr·g in place on ``param``, with ``work`` holding lr·g; ``grad`` unchanged.

    ``np.multiply(grad, lr, out=work)`` writes lr·g into the preallocated array instead of a new
    one, and ``param -= work`` subtracts in place (``np.subtract(param, work, out=param)``).
    ``lr`` is cast to the arrays' dtype so that a float32 update stays float32.
    """
    np.multiply(grad, param.dtype.type(lr), out=work)
    param -= work
