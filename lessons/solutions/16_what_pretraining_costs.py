"""Worked solutions to lesson 16's exercises (try them yourself first).

16.1 Walk the layers from the input. Every layer costs in·out in the forward pass. Backward, a
layer whose weights train needs dL/dW = gᵀ h (in·out), and a layer needs dL/dh = g W (in·out)
only when some layer *below* it trains: otherwise nobody uses that gradient, and the engine
(``functions.Affine``) does not compute it. So the first layer never pays for an input
gradient, and a linear probe pays only for its head's weight gradient.

16.2 P + N·F < N·S  ⟺  N (S − F) > P  ⟺  N > P / (S − F), when S > F. The smallest such whole
N is ⌊P / (S − F)⌋ + 1 (at N = P / (S − F) exactly, both ways cost the same). With F ≥ S the
inequality never holds, and without F (fine-tuning never reached the accuracy) there is
nothing to compare.
"""


def macs_per_example(sizes, trains):
    total, below_trains = 0, False
    for (n_in, n_out), train in zip(zip(sizes[:-1], sizes[1:]), trains):
        total += n_in * n_out  # forward: z = h Wᵀ + b
        total += n_in * n_out if train else 0  # dL/dW = gᵀ h
        total += n_in * n_out if below_trains else 0  # dL/dh = g W, for a trained layer below
        below_trains = below_trains or train
    return total


def break_even_tasks(pretrain_macs, finetune_macs, scratch_macs):
    if finetune_macs is None or finetune_macs >= scratch_macs:
        return None
    return int(pretrain_macs // (scratch_macs - finetune_macs)) + 1
