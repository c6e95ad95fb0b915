"""Worked solution to lesson 09's exercise (checked by lessons/exercises/lesson09.py)."""


def permute_first_layer(weight, permutation):
    """09.1: W'[:, j] = W[:, π(j)].

    The permuted image has x'_j = x_{π(j)}, so W' x' = Σ_j W'[:, j] x_{π(j)}; choosing
    W'[:, j] = W[:, π(j)] makes it Σ_j W[:, π(j)] x_{π(j)} = Σ_i W[:, i] x_i = W x.
    """
    return weight[:, permutation]
