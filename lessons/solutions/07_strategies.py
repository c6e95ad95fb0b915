"""Worked solution to lesson 07's exercise (checked by lessons/exercises/lesson07.py)."""

from minitransfer.tensor import Tensor


def l2sp_penalty(model, reference, alpha, beta):
    """07.1: Ω(θ) = α/2 ‖θ_body − θ⁰_body‖² + β/2 ‖θ_head‖², built from Tensors.

    Each term is a Tensor expression of a parameter, so backward() gives
    ∂Ω/∂θ_body = α (θ_body − θ⁰_body) and ∂Ω/∂θ_head = β θ_head.
    """
    head = {id(p) for p in model.head.parameters()}  # the head, told apart by identity
    total = None
    for name, p in model.named_parameters():
        if id(p) in head:
            term = (p * p).sum() * (beta / 2)
        else:
            delta = p - Tensor(reference[name])  # θ⁰ is a constant: no gradient flows into it
            term = (delta * delta).sum() * (alpha / 2)
        total = term if total is None else total + term
    return total
