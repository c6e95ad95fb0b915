"""Worked solutions to lesson 02's exercises (try them yourself first).

02.1 Nudge one element at a time, up and down by ε, on the array itself (no copy per element),
and put it back exactly before moving on: the next element's differences must be taken at the
original point. The difference of the two values over 2ε is the slope; its ε¹ error terms
cancel, leaving ε² (lesson 2, section 2). ``minitransfer.gradcheck`` does the same with a
random upstream u, on s = Σ u ⊙ f(x).

02.2 Broadcasting lines shapes up from the right. The axes of ``grad`` that ``shape`` lacks
(the leading ``grad.ndim - len(shape)`` ones) were created, and an axis where ``shape`` has 1
but ``grad`` has more was stretched: every copy's gradient adds into the one original, so sum
over all those axes, then reshape to ``shape`` to keep its axes of length 1.
"""

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    gradient = np.empty_like(x)
    for j in np.ndindex(x.shape):
        original = x[j]
        x[j] = original + eps
        plus = f(x)
        x[j] = original - eps
        minus = f(x)
        x[j] = original  # back to the point itself before the next element
        gradient[j] = (plus - minus) / (2 * eps)
    return gradient


def unbroadcast(grad, shape):
    shape = tuple(shape)
    lead = grad.ndim - len(shape)  # axes that broadcasting added in front
    stretched = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
    summed = grad.sum(axis=tuple(range(lead)) + tuple(stretched))
    return summed.reshape(shape)
