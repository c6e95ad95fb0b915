"""Efficient pretraining (issue 19): compute counted as the engine computes, early stopping,
warm-up + cosine, coresets, distillation. Bad inputs are in test_errors_catalogue.py (M01-M05)."""

import copy
import math

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, pretraining
from minitransfer.gradcheck import gradcheck
from minitransfer.transfer import freeze, pretrain, workflow


# ---- compute -----------------------------------------------------------------------------------
def test_compute_formula_equals_a_hand_count_for_a_2_layer_mlp():
    model = nn.MLP([4, 3, 2], generator=0)  # layer 1: 4 -> 3 (12 weights), layer 2: 3 -> 2 (6)
    assert pretraining.forward_macs(model) == 12 + 6
    # every layer trains: weight gradients 12 + 6, input gradient of layer 2 only (x needs none)
    assert pretraining.backward_macs(model) == 12 + 6 + 6
    assert pretraining.training_macs(model) == 42
    assert pretraining.training_compute(model, steps=10, batch_size=8) == 10 * 8 * 42
    freeze(model.body)  # a linear probe: only the head's weight gradient, no gradient passed down
    assert pretraining.backward_macs(model) == 6
    assert pretraining.training_macs(model) == 24
    # the head frozen, the body trained: the gradient still flows through the head to the body
    assert pretraining.backward_macs(model, trains=[True, False]) == 12 + 6


def _count_matmul_macs(monkeypatch):
    """Patch NumPy's matmul and dot to add up the multiply-adds of every product they compute."""
    counted = {"macs": 0}
    matmul, dot = np.matmul, np.dot

    def counting(product):
        def wrapped(a, b, *args, **kwargs):
            out = product(a, b, *args, **kwargs)
            counted["macs"] += int(np.prod(np.shape(a))) * int(np.shape(b)[-1])
            return out
        return wrapped

    monkeypatch.setattr(np, "matmul", counting(matmul))
    monkeypatch.setattr(np, "dot", counting(dot))
    return counted


@pytest.mark.parametrize("frozen", [(), ("body.0",), ("body.0", "body.2"), ("head",)])
def test_compute_matches_the_products_the_engine_runs(monkeypatch, frozen):
    """The engine skips the first layer's input gradient and frozen layers' weight gradients."""
    model = nn.MLP([6, 5, 4, 3], generator=0)
    for name, module in model.named_modules():
        if name in frozen:
            freeze(module)
    x = mt.tensor(np.random.default_rng(0).standard_normal((7, 6)).astype(np.float32))
    y = mt.tensor(np.array([0, 1, 2, 0, 1, 2, 0]))
    counted = _count_matmul_macs(monkeypatch)
    nn.CrossEntropyLoss()(model(x), y).backward()
    monkeypatch.undo()
    assert counted["macs"] == 7 * pretraining.training_macs(model)


# ---- early stopping ----------------------------------------------------------------------------
def test_early_stopping_stops_at_the_patience_th_evaluation_after_the_best():
    stopper = pretraining.EarlyStopping(patience=2)
    curve = [(10, 5.0), (20, 4.0), (30, 3.0), (40, 3.2), (50, 3.0), (60, 1.0)]
    stops = [stopper.update(step, loss) for step, loss in curve[:5]]
    assert stops == [False, False, False, False, True]  # 3.0 again is no improvement
    assert (stopper.best_step, stopper.best_loss) == (30, 3.0)
    assert stopper.evaluations == curve[:5]


def test_pretrain_with_val_stops_early_and_restores_the_best_weights(monkeypatch):
    """A constructed validation loss curve, evaluated every 5 steps: best at step 15."""
    losses = iter([3.0, 2.0, 1.0, 1.5, 1.2, 1.1, 0.5, 0.4])
    monkeypatch.setattr(workflow, "empirical_risk", lambda model, loss_fn, data: next(losses))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    model = nn.MLP([4, 5, 3], generator=0)
    history = pretrain(model, (x, y), steps=100, seed=1, val=(x[:8], y[:8]), patience=3, eval_every=5)
    assert history.steps == 30  # evaluations at 5..30; 20, 25, 30 do not improve on step 15
    assert history.early_stopping.best_step == 15
    assert [s for s, _ in history.early_stopping.evaluations] == [5, 10, 15, 20, 25, 30]
    best = nn.MLP([4, 5, 3], generator=0)
    pretrain(best, (x, y), steps=15, seed=1)  # the same run, stopped at the best step
    for (name, p), (_, q) in zip(model.named_parameters(), best.named_parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)


def test_pretrain_without_val_has_no_early_stopping_record():
    x, y = np.ones((8, 4), np.float32), np.arange(8) % 3
    history = pretrain(nn.MLP([4, 5, 3], generator=0), (x, y), steps=3)
    assert history.steps == 3 and history.early_stopping is None


# ---- warm-up + cosine --------------------------------------------------------------------------
def test_warmup_cosine_by_hand():
    f = pretraining.warmup_cosine(total_steps=12, warmup_steps=4)
    assert [f(t) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0 and math.isclose(f(8), 0.5) and f(11) < 0.05


def test_pretrain_steps_the_schedule_once_per_optimizer_step():
    x, y = np.ones((8, 4), np.float32), np.arange(8) % 3
    rates = []
    model = nn.MLP([4, 5, 3], generator=0)
    pretrain(model, (x, y), steps=6, lr=0.1, batch_size=8,
             lr_lambda=lambda t: rates.append(t) or 1.0)
    assert rates == [0, 1, 2, 3, 4, 5, 6]  # t = 0 when built, then after each of the 6 steps


# ---- coresets ----------------------------------------------------------------------------------
def test_coreset_is_deterministic_per_seed_and_class_balanced():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), [10, 20, 4])  # class 2 has only 4 examples
    x = rng.standard_normal((len(y), 5))
    for rule in pretraining.RULES:
        first = pretraining.select_coreset(x, y, 13, rule, seed=7)
        assert np.array_equal(first, pretraining.select_coreset(x, y, 13, rule, seed=7))
        assert not np.array_equal(first, pretraining.select_coreset(x, y, 13, rule, seed=8))
        assert sorted(np.bincount(y[first], minlength=3)) == [4, 4, 5]  # 13 = 4 + 4 + 5
        big = pretraining.select_coreset(x, y, 24, rule, seed=7)
        assert np.bincount(y[big]).tolist() == [10, 10, 4]  # class 2's shortfall goes to the others
        unbalanced = pretraining.select_coreset(x, y, 13, rule, seed=7, class_balanced=False)
        assert len(set(unbalanced.tolist())) == 13


class _StartAt:
    """A stand-in generator whose first k-center is a chosen index."""

    def __init__(self, index):
        self.index = index

    def integers(self, n):
        return self.index


def test_k_center_greedy_by_hand():
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [50.0]])
    # from 0: the farthest is 50; then 11 (11 from 0, 39 from 50); then 2 (2 from 0, while 10 is
    # 1 from 11 and 1 is 1 from 0)
    assert pretraining.k_center_greedy(x, 3, _StartAt(0)).tolist() == [0, 5, 4]
    assert pretraining.k_center_greedy(x, 4, _StartAt(0)).tolist() == [0, 5, 4, 2]


def test_source_images_bring_every_jittered_copy_of_a_chosen_image():
    x = np.arange(30, dtype=np.float32).reshape(30, 1)
    y = np.tile(np.arange(5).repeat(2), 3)  # 10 images (2 per class), 3 copies each
    ids = np.tile(np.arange(10), 3)
    sub_x, sub_y = pretraining.source_images((x, y), ids, 5, seed=0)
    assert len(sub_y) == 15 and sorted(np.bincount(sub_y).tolist()) == [3] * 5
    chosen = np.unique(ids[np.isin(x[:, 0], sub_x[:, 0])])
    assert len(chosen) == 5


# ---- distillation ------------------------------------------------------------------------------
def test_distillation_loss_gradient_passes_gradcheck():
    rng = np.random.default_rng(0)
    student = mt.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    teacher = rng.standard_normal((4, 3))
    gradcheck(lambda s: pretraining.distillation_loss(s, teacher, 2.5), student)


def test_distillation_loss_by_hand_with_t_squared_scaling():
    rng = np.random.default_rng(1)
    z_s, z_t, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), 3.0

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p, q = softmax(z_t / t), softmax(z_s / t)
    kl = np.sum(p * (np.log(p) - np.log(q))) / 5
    student = mt.tensor(z_s, requires_grad=True)
    loss = pretraining.distillation_loss(student, z_t, t)
    assert math.isclose(loss.item(), t * t * kl, rel_tol=1e-10)
    loss.backward()
    np.testing.assert_allclose(student.grad.numpy(), t * (q - p) / 5, rtol=1e-10, atol=1e-12)
    assert pretraining.distillation_loss(mt.tensor(z_t), z_t, t).item() == pytest.approx(0, abs=1e-12)


def test_distill_brings_the_student_closer_to_the_teacher():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    teacher = nn.MLP([6, 16, 3], generator=0)
    student = nn.MLP([6, 4, 3], generator=1)
    loss = pretraining.DistillationLoss(2.0)
    before = loss(student(mt.tensor(x)), pretraining.teacher_logits(teacher, x)).item()
    history = pretraining.distill(student, copy.deepcopy(teacher), x, temperature=2.0, steps=60, lr=1e-2)
    after = loss(student(mt.tensor(x)), pretraining.teacher_logits(teacher, x)).item()
    assert history.steps == 60 and after < 0.5 * before


def test_k_center_selection_compute_by_hand():
    # class 0: 2 images, 1 chosen; class 1: 3 images, 2 chosen; 4 pixels: one product per center
    assert pretraining.k_center_macs([0, 0, 1, 1, 1], [0, 1, 1], 4) == (1 * 2 + 2 * 3) * 4
    assert pretraining.k_center_macs([0, 0, 1, 1, 1], [0, 1, 1], 4, class_balanced=False) == 3 * 5 * 4
