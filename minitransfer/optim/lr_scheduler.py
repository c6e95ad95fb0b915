"""Learning-rate schedules: change each parameter group's ``lr`` as training goes on.

Use them as in PyTorch: build the scheduler after the optimizer, and call
``scheduler.step()`` once per epoch, *after* ``optimizer.step()``:

    scheduler = StepLR(optimizer, step_size=10, gamma=0.1)
    for epoch in range(30):
        train_one_epoch(...)        # calls optimizer.step() many times
        scheduler.step()

Each schedule is written in closed form, lr(t) for epoch t = ``last_epoch``, from each group's
initial learning rate lr₀ (remembered in ``group["initial_lr"]``).
"""

import math

from minitransfer.optim.optimizer import Optimizer


def _check_optimizer(optimizer, scheduler):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{scheduler}: expected an Optimizer, got {type(optimizer).__name__}")


class LRScheduler:
    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()  # as in PyTorch: sets the learning rates of epoch last_epoch + 1 (0 at first)

    def get_lr(self):
        """The learning rate of every group at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates set by the last ``step()``, one per group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer (saved on its own) and functions (not saveable)."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


def _check_positive_int(scheduler, name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{scheduler}: {name} must be a positive integer, got {value!r}")


class StepLR(LRScheduler):
    """lr(t) = lr₀ · γ^⌊t / step_size⌋: divide the rate by 1/γ every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_positive_int("StepLR", "step_size", step_size)
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr(t) = η_min + (lr₀ − η_min) · (1 + cos(π t / T_max)) / 2.

    Half a cosine wave from lr₀ at t = 0 down to η_min at t = T_max (the closed form that
    PyTorch documents for this schedule).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        self.T_max, self.eta_min = T_max, float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr(t) = lr₀ · f(t) for a function f of the epoch (one function, or one per group).

    Example, a linear warm-up over 5 epochs: ``LambdaLR(optimizer, lambda t: min(1, (t + 1) / 5))``.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer, "LambdaLR")
        groups = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups or not all(callable(f) for f in lambdas):
            raise ValueError(f"LambdaLR: expected a function or a list of {groups} functions (one "
                             f"per parameter group), got {lr_lambda!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * float(f(self.last_epoch)) for base, f in zip(self.base_lrs, self.lr_lambdas)]
