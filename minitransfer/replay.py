"""A captured training step: record the graph once, then replay it. What a compiler does for a
static graph (CUDA graphs and ``torch.compile`` do it for PyTorch).

An eager step builds its graph anew every time: each op makes a ``Function`` object and fresh
arrays, ``backward()`` sorts the graph, checks versions and allocates gradients. Yet a training
step's graph is the same at every step of the same input shape; only the numbers change. So
``step = capture(model, loss_fn, optimizer, x, y)``

1. **records the tape**: one eager forward pass, loss_fn(model(x), y), with x (and a float y)
   marked as requiring a gradient so that every op on them is recorded too; the graph is
   walked in topological order (``autograd``'s walk). Each tensor gets a numbered *slot*,
   each op becomes a *kernel* (below) that reads its input slots and writes its output slot;
2. **allocates once** every array a step needs: each slot's value and gradient, each kernel's
   temporaries, each starting on a 64-byte boundary as PyTorch's allocator places them
   (``aligned``; what it saves: benchmarks/README.md). Kernels write into them with NumPy's and
   CuPy's ``out=`` argument. A ReLU whose input no other op reads runs in place, as
   ``nn.ReLU(inplace=True)`` in PyTorch: its value and gradient share its input's buffers
   (``replay_kernels.relus_in_place``);
3. **checks itself**: it replays the forward pass on x, y and on two made-up batches, and
   compares each with an eager forward pass. A model or loss that reads something its graph
   does not show (a value computed from x outside the ops, a random draw) fails here with
   ``CaptureError``, instead of training on a stale graph (a safety net, not a proof).

``step(x, y)`` then does what ``zero_grad(); loss = loss_fn(model(x), y); loss.backward();
optimizer.step()`` does: x and y go into their slots, the kernels run forward in tape order and
backward in reverse, each trainable leaf's ``.grad`` is set to its gradient array (the same
arrays at every step: overwritten, not accumulated), and ``optimizer.step()`` updates the
parameters with the same code as an eager step. One exception, SGD's plain rule θ −= η ∇θ:
its BLAS calls are prepared once for the tape's gradient arrays (``SGD._captured_update``;
it saved 12 µs of a 98 µs step at batch 1, 6–14 of ~345 at batch 64), the same arithmetic
bit for bit, with ``lr`` read at every step; once momentum or weight decay is set, or the
groups change, ``optimizer.step()`` makes the step again. ``step`` returns the loss as a 0-d
Tensor (a copy, ``.item()`` gives the number); ``step.output`` holds the model's output until
the next call.
A NaN or infinite loss skips the backward pass and the update, so the parameters keep the
values that produced it (``fit`` then raises ``NonFiniteLossError``, as for an eager step).

Guards, checked at every call, so that a graph is never replayed stale:

- x and y: array type, shape and dtype. Each new combination records its own tape on first
  use; the last four are kept (``fit``'s smaller last batch is recorded once, not per epoch).
- every leaf the tape reads (parameters, frozen or not, and constants): the same array
  (``model.to(...)`` replaces it) and the same ``requires_grad`` (freezing, unfreezing).
- the model's modules and parameters: ``nn.Module._structure_version`` counts every change of
  any module's parameters or children; when it moved, the lists are compared (a new head).

A failed guard records the tape again (``step.recordings`` counts the recordings). The
optimizer is read live: param groups, ``lr`` set by a scheduler, momentum, Adam's state.
What no guard sees (a plain Python attribute a forward pass reads) needs a new ``capture``.
"""

import math

import numpy as np

from minitransfer import aligned, backend
from minitransfer import replay_kernels as kernels
from minitransfer.autograd import enable_grad, no_grad, topological_order
from minitransfer.nn.module import Module
from minitransfer.replay_kernels import CaptureError, X, Y
from minitransfer.tensor import Tensor

KEPT_TAPES = 4


def capture(model, loss_fn, optimizer, x, y):
    """Record one training step of ``model`` on batches shaped like (x, y); return ``step(x, y)``."""
    return CapturedStep(model, loss_fn, optimizer, x, y)


class CapturedStep:
    """The callable that ``capture`` returns: ``loss = step(x, y)`` is one whole training step."""

    def __init__(self, model, loss_fn, optimizer, x, y):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.tapes, self.recordings, self.output = {}, 0, None
        self._tape(_array(x, "x"), _array(y, "y"))  # record now: problems show at capture

    def _tape(self, x, y):
        key = (type(x), x.shape, x.dtype, type(y), y.shape, y.dtype)
        tape = self.tapes.get(key)
        if tape is None or not tape.still_valid():
            if len(self.tapes) >= KEPT_TAPES and key not in self.tapes:
                del self.tapes[next(iter(self.tapes))]  # the oldest
            tape = self.tapes[key] = Tape(self.model, self.loss_fn, x, y)
            self.recordings += 1
        return tape

    def __call__(self, x, y):
        x, y = _array(x, "x"), _array(y, "y")
        tape = self._tape(x, y)  # a failed recording, like a bad label in forward, changes nothing
        loss = tape.forward(x, y)
        self.output = tape.output
        self.optimizer.zero_grad()
        if math.isfinite(loss.item()):
            tape.backward()
            if not tape.update(self.optimizer):
                self.optimizer.step()
        return Tensor._from_op(loss.copy(), None)  # a new leaf, as Tensor(...) makes, unchecked


def _array(t, name):
    data = t.data if isinstance(t, Tensor) else t
    if not backend.is_array(data):
        raise TypeError(f"captured step: {name} must be a Tensor or an array, got {type(t).__name__}")
    return data


def _structure(model, loss_fn):
    """The modules and parameters the tape relies on (compared by identity: ``==`` on tensors is
    elementwise)."""
    return [part for m in (model, loss_fn) if isinstance(m, Module)
            for part in (*m.modules(), *m.parameters())]


class Tape:
    """The recorded graph of one step for one input signature: slots, kernels and guards."""

    def __init__(self, model, loss_fn, x, y):
        self.model, self.loss_fn = model, loss_fn
        self.structure_version, self.structure = Module._structure_version, _structure(model, loss_fn)
        x_leaf, y_leaf = _input_leaf(x), _input_leaf(y)
        with enable_grad():
            out = model(x_leaf)
            loss = loss_fn(out, y_leaf)
        if not isinstance(loss, Tensor) or loss.numel() != 1 or loss.grad_fn is None:
            raise CaptureError("capture: loss_fn must return a single-number Tensor computed "
                               "from the model's output")
        nodes = topological_order(loss)  # op results, each after the tensors it was made from
        slot_of = self._number_slots(nodes, {id(x_leaf): X, id(y_leaf): Y}, [x, y],
                                     kernels.relus_in_place(nodes, keep=out))
        for array in self.values:
            if type(array) is not np.ndarray and backend.device_of(array) != "cuda":
                raise CaptureError(f"capture: needs NumPy or CuPy arrays (kernels write with out=, "
                                   f"which the array API standard lacks), got {type(array).__name__}")
        self.grads = [None] * len(self.values)
        self.kernels = [kernels.make_kernel(node.grad_fn, [slot_of[id(t)] for t in node.grad_fn.inputs],
                                slot_of[id(node)], self) for node in nodes]
        self.root, output_slot = slot_of[id(loss)], slot_of.get(id(out))
        if output_slot is None or output_slot <= Y:
            raise CaptureError("capture: the model's output must be computed by ops of the tape")
        self.output = Tensor(self.values[output_slot])  # the same array at every step
        eager_loss, eager_out = loss.data, out.data
        del nodes, out, loss, x_leaf, y_leaf  # the recorded graph: freed before the check runs
        self._verify(x, y, eager_loss, eager_out)  # before the gradients' buffers: a lower peak
        self._plan_backward()

    def _number_slots(self, nodes, slot_of, values, in_place):
        """Give each tensor of the graph a slot: the leaves keep their arrays (``self.leaves``,
        the guards), each op result gets a buffer of its own, except the ReLUs ``in_place``,
        whose result shares its input's buffer. Returns {id(tensor): slot}."""
        self.values = values
        self.leaves = []  # (tensor, its array, its requires_grad, its slot)
        for node in nodes:
            for t in node.grad_fn.inputs:
                if id(t) not in slot_of and t.grad_fn is None:  # a parameter or a constant
                    slot_of[id(t)] = len(values)
                    self.leaves.append((t, t.data, t.requires_grad, len(values)))
                    values.append(t.data)
            slot_of[id(node)] = len(values)
            if id(node) in in_place:
                values.append(values[slot_of[id(node.grad_fn.inputs[0])]])
            else:
                values.append(aligned.empty_like(node.data))
        return slot_of

    def _plan_backward(self):
        """Which slots need a gradient, their buffers, and how each kernel hands its parts over.

        A tensor used by several ops gets its gradient in parts; the first part is written into
        its buffer, the later ones are added. Where a part has the buffer's shape and dtype and
        comes first, the kernel computes it straight into the buffer (``direct``); otherwise into
        a scratch array of its own, summed back over broadcast axes when it is handed over.
        """
        needs = [False] * len(self.values)
        for _, _, requires_grad, slot in self.leaves:
            needs[slot] = requires_grad
        for k in self.kernels:
            k.wants = [needs[s] for s in k.ins]
            needs[k.out] = any(k.wants)
        if not needs[self.root]:
            raise CaptureError("capture: nothing to train (no parameter the loss depends on "
                               "requires grad)")
        shared = {k.ins[0]: k.out for k in self.kernels if k.in_place}
        for s, needed in reversed(list(enumerate(needs))):  # a ReLU's output before its input
            if needed:
                self.grads[s] = self.grads[shared[s]] if s in shared else aligned.empty_like(self.values[s])
        self.grads[self.root][...] = 1  # dL/dL
        self.backward_kernels = [k for k in reversed(self.kernels) if needs[k.out]]
        arrived = set()
        for k in self.backward_kernels:
            k.first, k.direct, k.scratch = [], [], []
            for i, s in enumerate(k.ins):
                first, shape, dtype = s not in arrived, k.grad_shape(i), self.values[k.out].dtype
                direct = (not k.wants[i] or first and shape == self.grads[s].shape
                          and dtype == self.grads[s].dtype)
                if k.wants[i]:
                    arrived.add(s)
                k.first.append(first)
                k.direct.append(direct)
                k.scratch.append(None if direct else aligned.empty(shape, dtype, self.values[s]))
        self.trainable = [(t, Tensor(self.grads[slot])) for t, _, requires_grad, slot in self.leaves
                          if requires_grad]
        self.prepared = None  # (optimizer, its prepared update): made at the first update

    def _verify(self, x, y, eager_loss, eager_out):
        """Replay the forward pass on (x, y) and on two made-up batches; each must agree with an
        eager pass, or the model or loss reads something the tape does not hold. (A safety net,
        not a proof: a dependence that the made-up batches happen not to show is not seen.)"""
        classes = min((k.classes for k in self.kernels if isinstance(k, kernels.CrossEntropyKernel)),
                      default=None)
        for seed in (None, 0, 1):  # one batch at a time: the made-up ones are as large as x
            if seed is None:
                batch, eager = (x, y), (eager_loss, eager_out)
            else:
                batch = _made_up(x, None, seed), _made_up(y, classes, seed)
                with no_grad(), np.errstate(all="ignore"):
                    out = self.model(Tensor(batch[0]))
                    eager = self.loss_fn(out, Tensor(batch[1])).data, out.data
            with np.errstate(all="ignore"):  # made-up data may overflow; both sides then agree on inf
                replayed = (self.forward(*batch), self.output.data)
            self.values[X], self.values[Y] = x, y  # keep no made-up batch alive
            if not all(_close(r, e) for r, e in zip(replayed, eager)):
                raise CaptureError("capture: the replayed step disagrees with an eager one on another "
                                   "batch: the model or the loss reads something that is not in its "
                                   "graph (a value computed from the data outside the ops, a random "
                                   "draw); train it eagerly")

    def still_valid(self):
        """The guards: the same leaves with the same flags, the same model structure."""
        for t, data, requires_grad, _ in self.leaves:
            if t.data is not data or t.requires_grad != requires_grad:
                return False
        if Module._structure_version != self.structure_version:
            now = _structure(self.model, self.loss_fn)
            if len(now) != len(self.structure) or any(a is not b for a, b in zip(now, self.structure)):
                return False
            self.structure_version = Module._structure_version  # another model changed
        return True

    def forward(self, x, y):
        self.values[X], self.values[Y] = x, y
        for k in self.kernels:
            k.forward()
        return self.values[self.root]

    def update(self, optimizer):
        """Make the optimizer's step through the update it prepared for this tape's gradient
        arrays (``_captured_update``: SGD's plain rule); False when it has none or it does not
        apply at this step."""
        if self.prepared is None or self.prepared[0] is not optimizer:
            prepare = getattr(optimizer, "_captured_update", None)  # None: not this package's
            update = None if prepare is None else prepare({t: g.data for t, g in self.trainable})
            self.prepared = optimizer, update
        return self.prepared[1] is not None and self.prepared[1]()

    def backward(self):
        for k in self.backward_kernels:
            k.backward()
        for t, grad in self.trainable:
            t.grad = grad


def _input_leaf(array):
    """A fresh leaf holding the step's x or y; a float one requires grad, so that the eager
    recording keeps every op applied to it (otherwise they would look like constants)."""
    leaf = Tensor(array)
    if backend.is_floating(array):
        leaf.requires_grad_(True)
    return leaf


def _made_up(array, classes, seed):
    """Data shaped like ``array``: seed 0 reverses its rows (and adds 1 to every label), seed 1
    draws new values, normally distributed around the real ones' mid-range, wider than their
    range (and new labels)."""
    host = backend.to_numpy(array)
    rng = np.random.default_rng(seed)
    if seed == 0 and (host.dtype.kind == "f" or classes is None):
        return array[::-1]  # a view: no memory as large as x
    if host.dtype.kind == "f":
        low, high = float(host.min()), float(host.max())  # reductions: no temporary as large as x
        made = rng.standard_normal(host.shape, dtype=host.dtype if host.dtype == np.float32 else np.float64)
        made *= 1.5 * (high - low) + 1
        made += (low + high) / 2
    elif classes is not None:  # labels: every one changes, each stays in [0, C)
        made = (host + 1) % classes if seed == 0 else rng.integers(0, classes, host.shape)
    else:
        made = rng.permutation(host)  # integer inputs: the same values, rows shuffled
    return backend.asarray_like(made.astype(host.dtype, copy=False), array)


def _close(replayed, eager):
    replayed, eager = backend.to_numpy(replayed), backend.to_numpy(eager)
    tolerance = float(np.sqrt(np.finfo(eager.dtype).eps)) if eager.dtype.kind == "f" else 0.0
    scale = float(np.max(np.abs(eager[np.isfinite(eager)]), initial=0.0))
    return bool(np.allclose(replayed, eager, rtol=tolerance, atol=tolerance * scale, equal_nan=True))
