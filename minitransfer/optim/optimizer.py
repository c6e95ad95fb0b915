"""Optimizer: the base class of SGD and Adam, with PyTorch's ``param_groups``.

An optimizer holds a list of *parameter groups*: dicts with a ``"params"`` list and the
group's own hyper-parameters (``lr``, ``momentum``, ...). Fine-tuning uses them to give the
pretrained body a smaller learning rate than the new head:

    optim.SGD([{"params": model.body.parameters(), "lr": 1e-3},
               {"params": model.head.parameters()}], lr=1e-2, momentum=0.9)

Hyper-parameters missing from a group are taken from the constructor's defaults. A
learning-rate scheduler changes ``group["lr"]`` between steps.

``step()`` skips parameters with ``requires_grad=False`` (frozen) or without a gradient. It
updates each parameter's array in place (``subtract_in_place``: no graph records an update, as
PyTorch runs its own under ``no_grad()``) and never writes into ``p.grad``: the gradient stays
readable after the step (for logging or checking), as in PyTorch.

Each update rule is written once, in place: the temporaries it needs (η g, λθ + g, ...) go
into work arrays of the parameter's shape that the optimizer allocates once and reuses at
every step (``_work``), aligned to 64 bytes (``aligned``: 21 against 26 µs for θ −= η g on
the 128×784 weight). SGD's last line, θ −= η g, needs none: BLAS's axpy makes it in one pass
(``subtract_scaled_in_place``, ``blas``: 11 against 21 µs). The eager ``step()`` and the
captured step of ``replay.capture`` call the same code, so they give the same numbers; for
SGD's plain rule the captured step calls the same BLAS function, prepared once
(``_captured_update``).
"""

import numbers

import numpy as np

from minitransfer import aligned, backend, blas
from minitransfer.autograd import enable_grad
from minitransfer.tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}  # per-parameter buffers (momentum, moments), keyed by the Parameter
        self.param_groups = []
        self._work_arrays = {}  # parameter -> [its array, scratch arrays] (not state: never saved)
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list (is every "
                             f"parameter frozen, or was a generator used up already?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check_hyperparameters(self, group):
        """Raise ValueError for a bad value in ``group`` (each optimizer checks its own)."""
        check_non_negative(group, "lr", type(self).__name__)

    def add_param_group(self, param_group):
        """Add a group (a dict with "params" and optional hyper-parameters) to optimize.

        Everything is checked before the group is added: each parameter must be a floating-point
        leaf Tensor that is in no other group, and the hyper-parameters must be valid.
        """
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"add_param_group: expected a dict with a 'params' entry, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        name = type(self).__name__
        if not group["params"]:
            raise ValueError(f"{name}: a parameter group has an empty parameter list")
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise TypeError(f"{name}: can only optimize leaf Tensors (parameters), got "
                                f"{type(p).__name__ if not isinstance(p, Tensor) else 'a non-leaf Tensor'}")
            if not backend.is_floating(p.data):
                raise TypeError(f"{name}: can only optimize floating-point Tensors, got dtype "
                                f"{backend.dtype_name(p.dtype)}")
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: a parameter group lists the same parameter twice")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient (``backward()`` adds to ``.grad``, it does not
        overwrite it). Setting ``.grad = None`` is cheaper than filling it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:  # a fresh zero array, so a reference kept to the old gradient keeps its values
                    p.grad = Tensor(backend.namespace(p.grad.data).zeros_like(p.grad.data))

    def step(self, closure=None):
        """Update the parameters once. ``closure``, if given, re-evaluates the model and
        returns the loss (as in PyTorch; the optimizers here need it only for convenience)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._update()
        return loss

    def _update(self):
        raise NotImplementedError

    def _captured_update(self, grads):
        """A faster ``step()`` that a captured step prepares once (``replay``), for gradients that
        are the same arrays at every step (``grads``: {parameter: its gradient array}); None
        when this optimizer has none (SGD has one, for its plain rule)."""
        return None

    @staticmethod
    def _parameters_to_update(group):
        """The parameters of ``group`` that get an update: trainable and with a gradient."""
        return [p for p in group["params"] if p.requires_grad and p.grad is not None]

    def _work(self, p, count):
        """``count`` scratch arrays of p's shape, dtype and device, allocated once (64-byte aligned)
        and reused.

        An update must not write into ``p.grad`` (the caller may still read it), so a term such
        as η g needs an array of its own; allocating it afresh at every step costs as much as
        the arithmetic on small layers. Allocated again when ``p.data`` is another array
        (``model.to(...)`` replaces it).
        """
        data, arrays = p.data, self._work_arrays.get(p)
        if arrays is None or arrays[0] is not data:
            arrays = self._work_arrays[p] = [data]
        while len(arrays) <= count:
            arrays.append(aligned.empty_like(data))
        return arrays[1:count + 1]

    # ---- saving and restoring -------------------------------------------------------------
    def state_dict(self):
        """PyTorch's layout: {"state": {index: {name: array or number}}, "param_groups":
        [{hyper-parameters..., "params": [indices]}]}; parameters are numbered in group order.
        Arrays are copies, so later steps do not change a saved state dict."""
        index_of, groups, index = {}, [], 0
        for group in self.param_groups:
            indices = list(range(index, index + len(group["params"])))
            index_of.update({id(p): i for p, i in zip(group["params"], indices)})
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
            index += len(indices)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index_of[id(p)]] = {k: copy_array(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and buffers saved by ``state_dict()``. The groups must have
        the same sizes; nothing is changed when they do not."""
        saved_groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g["params"]) for g in saved_groups]
        if sizes != saved_sizes:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the optimizer has parameter "
                             f"groups of sizes {sizes}, the state dict has {saved_sizes}")
        params = {}
        for group, saved in zip(self.param_groups, saved_groups):
            params.update(zip(saved["params"], group["params"]))
        new_state = {}
        for index, buffers in state_dict["state"].items():
            p = params[int(index)]
            for name, value in buffers.items():
                if backend.is_array(value) and tuple(value.shape) != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: buffer {name!r} of "
                                     f"parameter {index} has shape {tuple(value.shape)}, the "
                                     f"parameter has shape {p.shape}")
            new_state[p] = {name: _moved_like(value, p) for name, value in buffers.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def subtract_in_place(p, step):
    """θ −= step, written into the parameter's array: the last line of every update rule.

    What ``with no_grad(): p.sub_(step)`` does, less the grad-mode switch and the Tensor method:
    an update is no operation of any graph, so it goes straight to the array, and the version
    bump tells a graph that saved θ before the step that θ has changed (its backward then
    refuses, as after ``sub_``). Measured against ``sub_`` under ``no_grad`` (41 paired rounds,
    the 784-128-10 MLP with SGD), a step took a median 2.0 and 5.4 µs less captured, at batch 1
    and 64 (of ~110 and ~360), and 11.9 and 2.0 µs less eager (of ~170 and ~440).
    """
    p._version_counter[0] += 1
    p.data -= step


def subtract_scaled_in_place(p, lr, g, work):
    """θ −= η g, leaving g as it is (``p.grad`` or a momentum buffer): SGD's last line.

    One pass through BLAS's axpy where it can (``blas.axpy``: 11 against 21 µs on the 128×784
    float32 weight), else NumPy's two: η g into ``work()`` (a function that returns the work
    array, so that it is allocated only when it is needed), then θ −= η g. The version bump is
    ``subtract_in_place``'s.
    """
    p._version_counter[0] += 1
    if not blas.axpy(-lr, g, p.data):
        p.data -= write_into(work(), backend.namespace(g).multiply, g, lr)


def scale_in_place(p, factor):
    """θ ← factor · θ, in the parameter's array, counted as an in-place change (AdamW's decay)."""
    p._version_counter[0] += 1
    p.data *= factor


def write_into(out, function, *args):
    """out ← function(*args), written straight into ``out`` when the library allows it.

    NumPy and CuPy functions take ``out=`` and so make no temporary; the array API standard has
    no ``out=``, so other libraries (array_api_strict in the tests) compute the result and copy
    it in. ``function`` is a standard name such as ``xp.multiply``.
    """
    if type(out) is np.ndarray or backend.device_of(out) == "cuda":
        return function(*args, out=out)
    out[...] = function(*args)
    return out


def check_non_negative(group, key, name):
    """Raise ValueError unless ``group[key]`` is a real number >= 0 (not NaN, not a bool);
    ``name`` (the optimizer's) starts the message."""
    value = group[key]
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name}: {key} must be a non-negative number, got {value!r}")


def copy_array(value):
    """A fresh copy of an array (numbers are returned as they are)."""
    if backend.is_array(value):
        return backend.namespace(value).astype(value, value.dtype, copy=True)
    return value


def _moved_like(value, param):
    """A saved buffer as a fresh array on the parameter's device, in its dtype."""
    if not backend.is_array(value):
        return value
    host = backend.to_numpy(value).astype(backend.dtype_name(param.dtype), copy=True)
    return backend.asarray_like(host, param.data)
