"""Early stopping: stop pretraining when a held-out loss stops improving, keep the best weights.

Every evaluation compares the validation loss with the best so far. ``patience`` counts
evaluations: training stops at the ``patience``-th evaluation in a row without an improvement
of more than ``min_delta``, and the weights of the best evaluation are put back. The steps
after the best one are the price of finding out that it was the best.
"""

from minitransfer.optim.optimizer import copy_array


def check_patience(patience):
    """ValueError unless ``patience`` is a whole number of evaluations, at least 1."""
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience: expected a whole number of evaluations >= 1 (how many in a "
                         f"row may pass without improvement), got {patience!r}")
    return patience


class EarlyStopping:
    """Watch (step, validation loss) pairs; say when to stop; remember the best weights."""

    def __init__(self, patience, min_delta=0.0):
        self.patience = check_patience(patience)
        self.min_delta = float(min_delta)
        self.evaluations = []  # (step, loss) of every evaluation, in order
        self.best_step, self.best_loss, self.best_state = None, None, None
        self.waited = 0  # evaluations since the best one

    def update(self, step, loss, model=None):
        """Record one evaluation; return True when training should stop now."""
        loss = float(loss)
        self.evaluations.append((int(step), loss))
        if self.best_loss is None or loss < self.best_loss - self.min_delta:
            self.best_step, self.best_loss, self.waited = int(step), loss, 0
            if model is not None:
                self.best_state = {name: copy_array(p.data) for name, p in model.named_parameters()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    @property
    def stopped(self):
        """True when the last update asked to stop."""
        return self.waited >= self.patience

    def restore(self, model):
        """Put the best evaluation's weights back into ``model`` (in place)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return model
