"""Lesson 16's exercises: count what a training step costs, and when pretraining pays.

16.1 ``macs_per_example(sizes, trains)``: the multiply-adds of one training example (forward
     and backward) of an MLP with layer sizes ``sizes`` ([inputs, hidden..., outputs]), where
     ``trains[l]`` says whether layer l's weights train, counted as the engine computes them:
     forward Σ in·out; a weight gradient per trained layer; an input gradient for each layer
     with a trained layer below it (never for the first). Compared with
     ``pretraining.training_macs`` on networks with every layer, none of the body, only the
     body, and a frozen middle layer trained.
16.2 ``break_even_tasks(pretrain_macs, finetune_macs, scratch_macs)``: the smallest number N of
     target tasks for which one pretraining P plus N fine-tunings F costs less than N trainings
     from scratch S (P + N·F < N·S), or None when that never happens (F ≥ S, or F is None:
     fine-tuning never reached the accuracy). Compared with ``pretraining.break_even``.
"""

from exercises import attempted, grade
from minitransfer import nn, pretraining
from minitransfer.pretraining import break_even

__all__ = ["check_macs_per_example", "check_break_even_tasks"]

_NETWORKS = [([4, 3, 2], [True, True]), ([4, 3, 2], [False, True]),
             ([64, 128, 64, 5], [True, True, True]), ([64, 128, 64, 5], [False, False, True]),
             ([64, 128, 64, 5], [True, True, False]), ([64, 128, 64, 5], [True, False, True]),
             ([10, 7, 6, 5, 4], [False, True, False, True])]


def check_macs_per_example(macs_per_example):
    """Exercise 16.1: forward + backward multiply-adds per example, as the engine counts them."""

    def check(answer):
        for sizes, trains in _NETWORKS:
            yours = attempted(answer(list(sizes), list(trains)))
            right = pretraining.training_macs(nn.MLP(sizes, generator=0), trains)
            if yours != right:
                return (f"sizes {sizes}, trains {trains}: you give {yours}, the engine computes "
                        f"{right} multiply-adds per example")
        return None

    return grade("16.1", check, macs_per_example)


_BUDGETS = [(100, 2, 7), (100, 3, 7), (100, 7, 7), (100, 8, 7), (100, None, 7), (0, 1, 2),
            (2.68e9, 6.3e7, 1.5e8)]


def check_break_even_tasks(break_even_tasks):
    """Exercise 16.2: the first number of tasks from which pretraining once is cheaper."""

    def check(answer):
        for budget in _BUDGETS:
            yours = answer(*budget)
            if yours is Ellipsis:
                attempted(yours)
            right = break_even(*budget)
            if yours != right:
                tie = " (at N = 25 both cost the same: not yet cheaper)" if budget == (100, 3, 7) else ""
                return f"P, F, S = {budget}: you give {yours!r}, expected {right!r}{tie}"
        return None

    return grade("16.2", check, break_even_tasks)


# --- what tests/test_exercises.py runs: mistakes the check must catch ---

def _layers(sizes):
    return list(zip(sizes[:-1], sizes[1:]))


def _first_input_gradient_too(sizes, trains):
    """Wrong: a gradient for the input x as well (the engine never computes it)."""
    forward = sum(a * b for a, b in _layers(sizes))
    weights = sum(a * b for (a, b), t in zip(_layers(sizes), trains) if t)
    return forward + weights + forward


def _input_gradients_always(sizes, trains):
    """Wrong: an input gradient for every layer but the first, even above frozen layers only."""
    forward = sum(a * b for a, b in _layers(sizes))
    weights = sum(a * b for (a, b), t in zip(_layers(sizes), trains) if t)
    return forward + weights + forward - sizes[0] * sizes[1]


def _backward_only(sizes, trains):
    """Wrong: forgets the forward pass."""
    total, below = 0, False
    for (a, b), t in zip(_layers(sizes), trains):
        total += a * b * (int(t) + int(below))
        below = below or t
    return total


def _ceiling(p, f, s):
    """Wrong: ⌈P / (S − F)⌉ — at an exact tie both ways cost the same, so it is one task short."""
    import math

    return None if f is None or f >= s else math.ceil(p / (s - f))


def _ignores_fine_tuning(p, f, s):
    """Wrong: compares P with N·S only, as if a fine-tuning were free."""
    return None if f is None else int(p // s) + 1


SELF_TEST = [
    (check_macs_per_example, "16_what_pretraining_costs.py:macs_per_example",
     [_first_input_gradient_too, _input_gradients_always, _backward_only]),
    (check_break_even_tasks, "16_what_pretraining_costs.py:break_even_tasks",
     [_ceiling, _ignores_fine_tuning]),
]
