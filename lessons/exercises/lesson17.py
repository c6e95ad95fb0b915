"""Lesson 17's exercise: an SGD update that allocates nothing.

17.1 ``sgd_update(param, grad, lr, work)``: θ ← θ − lr·g in place on the NumPy array ``param``,
     the temporary lr·g written into the preallocated ``work``; ``grad`` left as it is. Checked
     on values, on ``param`` being updated in place (the same array object), on ``grad`` being
     unchanged, and on the number of new arrays of the parameter's size the function allocates
     (counted with ``tracemalloc``: none may be as large as the parameter).
"""

import tracemalloc

import numpy as np

from exercises import attempted, grade

__all__ = ["check_sgd_update"]


def check_sgd_update(sgd_update):
    """Exercise 17.1: in place, no temporary, the gradient untouched."""

    def check(answer):
        rng = np.random.default_rng(17)
        for shape, lr in (((64, 32), 0.1), ((1000,), 0.5)):
            param = rng.standard_normal(shape).astype(np.float32)
            grad = rng.standard_normal(shape).astype(np.float32)
            work = np.empty_like(param)
            expected = param - np.float32(lr) * grad
            param_before, grad_before, param_object = param.copy(), grad.copy(), param
            answer(param, grad, lr, work)  # warm-up call: NumPy may allocate once
            param[...], grad[...] = param_before, grad_before
            tracemalloc.start()
            result = answer(param, grad, lr, work)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            attempted(result if result is not None else param)
            if not np.array_equal(grad, grad_before):
                return f"shape {shape}: your update changed grad; it must stay as it was"
            if not np.allclose(param, expected, rtol=1e-6, atol=1e-6):
                worst = float(np.abs(param - expected).max())
                return (f"shape {shape}: param after the update differs from θ − lr·g by up to "
                        f"{worst:.3g} (was the update applied in place, to param itself?)")
            if param is not param_object or param.dtype != np.float32:
                return f"shape {shape}: param must stay the same float32 array"
            if peak >= param.nbytes:
                return (f"shape {shape}: your update allocated {peak:,} bytes, as much as a new "
                        f"array of the parameter's size ({param.nbytes:,} bytes); write lr·g "
                        f"into work with out=")
        return None

    return grade("17.1", check, sgd_update)


# --- what tests/test_exercises.py runs: mistakes the check must catch ---

def _new_array(param, grad, lr, work):
    """Wrong: θ − lr·g builds two new arrays, then copies them in."""
    param[...] = param - lr * grad


def _scales_grad(param, grad, lr, work):
    """Wrong: scales the gradient in place (no allocation, but p.grad is destroyed)."""
    grad *= lr
    param -= grad


def _rebinds(param, grad, lr, work):
    """Wrong: computes into work, then returns it instead of updating param."""
    np.multiply(grad, -lr, out=work)
    work += param
    return work


SELF_TEST = [(check_sgd_update, "17_the_captured_step.py:sgd_update",
              [_new_array, _scales_grad, _rebinds])]
