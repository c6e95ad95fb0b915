"""The kernels of a captured step (``replay.capture``): one per op, forward and backward side by
side, each reading and writing the tape's preallocated arrays in place (``out=``).

A kernel mirrors one op class of ``functions`` (its docstring repeats the op's VJP), but where
the op allocates its result and its gradients afresh at every call, the kernel writes into arrays
allocated once, when the tape was recorded. ``make_kernel`` picks the kernel of an op; an op
without one makes the whole step uncapturable (``CaptureError``), never silently eager.
"""

import numpy as np

from minitransfer import aligned, backend
from minitransfer import functions as F

X, Y = 0, 1  # the slots of the step's inputs: the only ones whose arrays change between steps


class CaptureError(RuntimeError):
    """``capture`` cannot record this step faithfully; train it eagerly instead."""


class Kernel:
    """An op of the tape. ``forward`` reads ``values[ins]`` and writes ``values[out]`` in place;
    ``backward`` turns ``grads[out]`` into the gradients of the inputs that ``wants``."""

    in_place = False  # values[out] is values[ins[0]], and grads[out] is grads[ins[0]]

    def __init__(self, ctx, ins, out, tape):
        self.ins, self.out, self.values, self.grads = ins, out, tape.values, tape.grads
        self.xp = xp = backend.namespace(tape.values[out])
        # numpy.sum, .max and .min are Python wrappers (~1.5 µs a call) around the ufuncs' reduce
        self.sum, self.max, self.min = ((np.add.reduce, np.maximum.reduce, np.minimum.reduce)
                                        if xp is np else (xp.sum, xp.max, xp.min))
        self.setup(ctx, tape)

    def setup(self, ctx, tape):
        pass

    def grad_shape(self, i):
        """The shape of the input's gradient as the op computes it (before unbroadcasting)."""
        return self.values[self.out].shape

    def target(self, i):
        """Where to compute input i's gradient: its buffer itself, or a scratch array."""
        return self.grads[self.ins[i]] if self.direct[i] else self.scratch[i]

    def deliver(self, i):
        if not self.direct[i]:
            self.put(i, self.scratch[i])

    def put(self, i, value):
        """Input i's gradient += value (summed back over broadcast axes); = for the first part."""
        buffer = self.grads[self.ins[i]]
        value = F.unbroadcast(value, buffer.shape)
        if self.first[i]:
            buffer[...] = value
        else:
            buffer += value if value.dtype == buffer.dtype else self.xp.astype(value, buffer.dtype)


class AffineKernel(Kernel):
    """functions.Affine: z = x Wᵀ + b.   dx = g W,  dW = gᵀ x,  db = Σ_rows g."""

    def setup(self, ctx, tape):
        if ctx.x.ndim != 2:
            raise CaptureError(f"capture: Linear on inputs of shape {tuple(ctx.x.shape)}; the "
                               f"replay kernel takes (batch, features) only")
        # NumPy's matmul computes batch 1's outer product gᵀ x without BLAS; dot uses it.
        self.outer = np.dot if self.xp is np and ctx.x.shape[0] == 1 else self.xp.matmul

    def grad_shape(self, i):
        return self.values[self.ins[i]].shape

    def forward(self):
        v, ins = self.values, self.ins
        z = self.xp.matmul(v[ins[0]], v[ins[1]].T, out=v[self.out])
        if len(ins) == 3:
            z += v[ins[2]]

    def backward(self):
        v, ins, wants, g = self.values, self.ins, self.wants, self.grads[self.out]
        if wants[0]:
            self.xp.matmul(g, v[ins[1]], out=self.target(0))
            self.deliver(0)
        if wants[1]:
            self.outer(g.T, v[ins[0]], out=self.target(1))
            self.deliver(1)
        if len(ins) == 3 and wants[2]:
            self.sum(g, axis=0, out=self.target(2))
            self.deliver(2)


class ReLUKernel(Kernel):
    """functions.ReLU: z = max(x, 0).   dx = g ⊙ [x > 0].

    In place (``relus_in_place``: nothing else reads x) z overwrites x, and dx
    overwrites g. The mask then comes from z: [z > 0] = [x > 0] (max(x, 0) is positive where x
    is, and NaN where x is NaN), kept as booleans, a quarter of a float32 array."""

    def setup(self, ctx, tape):
        z = tape.values[self.out]
        self.in_place = z is tape.values[self.ins[0]]
        self.mask = aligned.empty(z.shape, bool, z) if self.in_place else None

    def forward(self):
        self.xp.maximum(self.values[self.ins[0]], 0.0, out=self.values[self.out])

    def backward(self):
        if self.in_place:  # g and dx are one array (replay.Tape._plan_backward)
            self.xp.greater(self.values[self.out], 0.0, out=self.mask)
            self.xp.multiply(self.grads[self.out], self.mask, out=self.grads[self.out])
            return
        dx = self.target(0)  # the mask [x > 0] (1.0 or 0.0) is built in dx itself: no buffer of its own
        self.xp.greater(self.values[self.ins[0]], 0.0, out=dx)
        self.xp.multiply(self.grads[self.out], dx, out=dx)
        self.deliver(0)


def relus_in_place(nodes, keep):
    """The ReLUs whose result can overwrite their input, as ``nn.ReLU(inplace=True)`` does in
    PyTorch: the input is an op's result (not x, a parameter or a constant), no other op reads
    it, and it is not ``keep`` (the model's output). Their input's value is then dead once the
    ReLU has run, and so is their output's gradient once the ReLU's backward has run: one
    buffer each instead of two (``ReLUKernel``). This relies on no kernel's backward reading its
    own output (the input's producer would find it overwritten); a kernel that did, as an Exp
    kernel would (dx = g ⊙ z), must be excluded here. Returns the ids of these ReLU results."""
    readers = {}
    for node in nodes:
        for t in node.grad_fn.inputs:
            readers[id(t)] = readers.get(id(t), 0) + 1
    chosen = set()
    for node in nodes:
        if type(node.grad_fn) is F.ReLU:
            source = node.grad_fn.inputs[0]
            if source.grad_fn is not None and readers[id(source)] == 1 and source is not keep:
                chosen.add(id(node))
    return chosen


class CrossEntropyKernel(Kernel):
    """functions.CrossEntropy of the logits and the step's labels y, as the op computes it:
    ℓᵢ = log Σ_c exp(z_ic) − z_{i,yᵢ}.   dz = (softmax(z) − onehot(y)) · g / N for the mean."""

    def setup(self, ctx, tape):
        xp, logits, labels = self.xp, tape.values[self.ins[0]], tape.values[Y]
        n, self.classes = logits.shape
        self.reduction, self.n = ctx.reduction, n
        self.class_ids = xp.arange(self.classes)
        if labels.shape != (n,) or not bool(xp.all(ctx.one_hot == (labels[:, None] == self.class_ids))):
            raise CaptureError("capture: CrossEntropy's labels must be the step's y itself")
        self.shifted, self.softmax, self.one_hot = (aligned.empty_like(logits) for _ in range(3))
        self.row_max, self.total = (aligned.empty((n, 1), logits.dtype, logits) for _ in range(2))

    def grad_shape(self, i):
        return self.values[self.ins[0]].shape

    def forward(self):
        xp, logits, labels = self.xp, self.values[self.ins[0]], self.values[Y]
        xp.equal(labels[:, None], self.class_ids, out=self.one_hot)
        if self.sum(self.one_hot, axis=None) != self.n:  # a label outside [0, C) matches no class
            raise ValueError(f"CrossEntropyLoss: labels must lie in [0, {self.classes}) for logits "
                             f"with {self.classes} classes, got values from {int(self.min(labels))} "
                             f"to {int(self.max(labels))}")
        self.max(logits, axis=1, keepdims=True, out=self.row_max)
        shifted = xp.subtract(logits, self.row_max, out=self.shifted)  # no overflow in exp
        xp.exp(shifted, out=self.softmax)
        self.sum(self.softmax, axis=1, keepdims=True, out=self.total)
        self.softmax /= self.total
        shifted -= xp.log(self.total, out=self.total)  # log-probabilities, in place
        shifted *= self.one_hot
        loss = self.values[self.out]
        if self.reduction == "none":
            self.sum(shifted, axis=1, out=loss)
            xp.negative(loss, out=loss)
        else:  # −Σ, divided by N for the mean (−(s / N) and s / −N round alike)
            self.sum(shifted, axis=None, out=loss)
            xp.divide(loss, -self.n if self.reduction == "mean" else -1, out=loss)

    def backward(self):
        g, grad = self.grads[self.out], self.target(0)
        self.xp.subtract(self.softmax, self.one_hot, out=grad)
        if self.reduction == "none":
            grad *= self.xp.reshape(g, (-1, 1))
        else:
            grad *= g / self.n if self.reduction == "mean" else g
        self.deliver(0)


class AddKernel(Kernel):
    """functions.Add: z = a + b.   da = g,  db = g."""

    def forward(self):
        self.xp.add(self.values[self.ins[0]], self.values[self.ins[1]], out=self.values[self.out])

    def backward(self):
        for i in (0, 1):
            if self.wants[i]:
                self.put(i, self.grads[self.out])


class SubKernel(Kernel):
    """functions.Sub: z = a − b.   da = g,  db = −g."""

    def forward(self):
        self.xp.subtract(self.values[self.ins[0]], self.values[self.ins[1]], out=self.values[self.out])

    def backward(self):
        if self.wants[0]:
            self.put(0, self.grads[self.out])
        if self.wants[1]:
            self.xp.negative(self.grads[self.out], out=self.target(1))
            self.deliver(1)


class MulKernel(Kernel):
    """functions.Mul: z = a ⊙ b.   da = g ⊙ b,  db = g ⊙ a."""

    def forward(self):
        self.xp.multiply(self.values[self.ins[0]], self.values[self.ins[1]], out=self.values[self.out])

    def backward(self):
        for i, other in ((0, 1), (1, 0)):
            if self.wants[i]:
                self.xp.multiply(self.grads[self.out], self.values[self.ins[other]], out=self.target(i))
                self.deliver(i)


class SumKernel(Kernel):
    """functions.Sum and functions.Mean over ``axes``.   dx = g (÷ N for the mean) spread back."""

    def setup(self, ctx, tape):
        self.axes, self.keepdims, self.count = ctx.axes, ctx.keepdims, getattr(ctx, "count", None)
        self.reduce = self.sum if self.count is None else self.xp.mean

    def forward(self):
        self.reduce(self.values[self.ins[0]], axis=self.axes, keepdims=self.keepdims,
                    out=self.values[self.out])

    def backward(self):
        shape = self.values[self.ins[0]].shape
        g = self.grads[self.out]
        if not self.keepdims:
            g = self.xp.reshape(g, tuple(1 if i in self.axes else n for i, n in enumerate(shape)))
        self.put(0, self.xp.broadcast_to(g if self.count is None else g / self.count, shape))


KERNELS = {F.Affine: AffineKernel, F.ReLU: ReLUKernel, F.CrossEntropy: CrossEntropyKernel, F.Add: AddKernel,
           F.Sub: SubKernel, F.Mul: MulKernel, F.Sum: SumKernel, F.Mean: SumKernel}


def make_kernel(ctx, ins, out, tape):
    """The kernel of the op ``ctx`` (a Function of the recorded graph), or CaptureError."""
    kernel = KERNELS.get(type(ctx))
    if kernel is None:
        raise CaptureError(f"capture: no replay kernel for {type(ctx).__name__} (kernels exist for "
                           f"{', '.join(op.__name__ for op in KERNELS)}); train this model eagerly")
    return kernel(ctx, ins, out, tape)
