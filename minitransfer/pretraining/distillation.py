"""Knowledge distillation: a small student learns to match a large teacher's softened outputs.

Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network": soften both
networks' logits with a temperature T and train the student to match the teacher,

    p_i = softmax(z_i^teacher / T),   q_i = softmax(z_i^student / T)
    L   = T² · (1/N) Σ_i KL(p_i ‖ q_i) = T² · (1/N) Σ_i Σ_c p_ic (log p_ic − log q_ic)

    dL/dz_i^student = T (q_i − p_i) / N

A high T spreads the teacher's probability over the wrong classes too ("a 7 looks a bit like a
1"): that is the knowledge a hard label lacks. The gradient of the softened loss scales as 1/T²
(the paper's §2), so the loss is multiplied by T² to keep the gradient's size independent of T
(and comparable with a hard-label loss, should one be added).

Built from existing ops (``log_softmax``, ``exp``, products and a sum): no new primitive, and
its gradient passes ``gradcheck`` (tests/test_pretraining.py).
"""

import numbers

import numpy as np

from minitransfer import backend, optim
from minitransfer.autograd import no_grad
from minitransfer.data import DataLoader, TensorDataset
from minitransfer.functional import log_softmax
from minitransfer.nn.module import Module
from minitransfer.tensor import Tensor
from minitransfer.train import fit, model_device


def check_temperature(temperature):
    """ValueError unless T is a finite number > 0 (T = 1: the plain softmax)."""
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
            or not np.isfinite(temperature) or temperature <= 0):
        raise ValueError(f"temperature: expected a number T > 0 (T = 1 is the plain softmax, a "
                         f"larger T softens it), got {temperature!r}")
    return float(temperature)


def distillation_loss(student_logits, teacher_logits, temperature):
    """T² · (1/N) Σ_i KL(softmax(z_teacher/T) ‖ softmax(z_student/T)) (see the module).

    ``student_logits`` is an (N, C) Tensor; ``teacher_logits`` an (N, C) Tensor or array that
    gets no gradient (the teacher is fixed). Zero exactly when the two agree.
    """
    t = check_temperature(temperature)
    teacher = teacher_logits.data if isinstance(teacher_logits, Tensor) else teacher_logits
    if not isinstance(student_logits, Tensor) or tuple(student_logits.shape) != tuple(teacher.shape) \
            or student_logits.ndim != 2:
        raise ValueError(f"distillation_loss: expected student and teacher logits of the same shape "
                         f"(N, C), got {getattr(student_logits, 'shape', type(student_logits).__name__)} "
                         f"and {tuple(teacher.shape)}")
    with no_grad():  # the teacher's side is a constant
        log_p = log_softmax(Tensor(teacher, dtype=student_logits.dtype) * (1.0 / t), dim=1)
        p = log_p.exp()
    log_q = log_softmax(student_logits * (1.0 / t), dim=1)
    return (p * (log_p - log_q)).sum() * (t * t / student_logits.shape[0])


class DistillationLoss(Module):
    """``distillation_loss`` as a loss module: ``loss_fn(student_logits, teacher_logits)``."""

    def __init__(self, temperature=4.0):
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, student_logits, teacher_logits):
        return distillation_loss(student_logits, teacher_logits, self.temperature)

    def extra_repr(self):
        return f"temperature={self.temperature:g}"


def teacher_logits(teacher, x, batch_size=1024):
    """The teacher's logits for every row of ``x``, computed once (eval mode, no graph)."""
    was_training = teacher.training
    teacher.eval()
    device = model_device(teacher)
    chunks = []
    try:
        with no_grad():
            for start in range(0, len(x), batch_size):
                out = teacher(Tensor(x[start:start + batch_size]).to(device))
                chunks.append(backend.to_numpy(out.data))
    finally:
        teacher.train(was_training)
    return np.concatenate(chunks)


def distill(student, teacher, x, *, temperature=4.0, steps=1000, lr=1e-3, batch_size=64, seed=0,
            progress=False):
    """Pretrain ``student`` to match ``teacher``'s logits on inputs ``x`` (no labels needed).

    The teacher's logits are computed once for every row of ``x`` (one forward pass per row,
    ``len(x)`` in all), then the student trains for ``steps`` Adam steps on minibatches of
    (x, teacher logits) with ``DistillationLoss(temperature)``. Returns fit's History.
    """
    check_temperature(temperature)
    targets = teacher_logits(teacher, x)
    loader = DataLoader(TensorDataset(x, targets), batch_size=min(batch_size, len(x)), shuffle=True,
                        seed=seed, device=model_device(student))
    return fit(student, DistillationLoss(temperature), optim.Adam(student.parameters(), lr=lr),
               loader, steps=steps, progress=progress)  # eager: no replay kernel for LogSoftmax
