"""The contenders of the benchmarks, each a ``step()`` function closed over its state.

Import this module only after ``_common.set_threads``: it imports NumPy. minitransfer and
PyTorch are imported inside the functions that use them, so that the floor's process in
``bench_memory`` holds NumPy alone. All of them train the document's MLP on the same batch from
the same initial weights, with the same learning rate, so that they do the same arithmetic
(``tests/test_bench_contenders.py`` checks it); ``step.weights()`` returns a contender's
current W1, b1, W2, b2 as NumPy arrays.
"""

import _lean_engine
import numpy as np

SIZES = (784, 128, 10)
LR = 0.01


def make_batch(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=batch)
    return x, y


def initial_weights(seed=0, numpy_only=False):
    """W1, b1, W2, b2 as float32 arrays, drawn as ``nn.MLP`` draws them (PyTorch's init), or
    with ``numpy_only`` from the same uniform ranges without importing minitransfer."""
    if numpy_only:
        rng = np.random.default_rng(seed)
        weights = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
            bound = 1 / np.sqrt(n_in)
            weights += [rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                        rng.uniform(-bound, bound, n_out).astype(np.float32)]
        return weights
    return [p.data.copy() for p in _mlp(None, seed).parameters()]


def make_contenders(batch, with_torch=True):
    """Every contender by name, each on the same batch from the same initial weights: eager,
    captured, floor, kept (the floor updating as minitransfer's SGD does, g kept), ops (the
    eager step's NumPy calls alone), lean (the same calls under the leanest eager engine,
    ``_lean_engine``) and, when it is installed and ``with_torch``, torch."""
    x, y = make_batch(batch)
    weights = initial_weights()
    contenders = {"eager": make_minitransfer(x, y, weights),
                  "captured": make_captured(x, y, weights),
                  "floor": make_floor(x, y, weights),
                  "kept": make_floor(x, y, weights, keep_gradients=True),
                  "ops": make_eager_ops(x, y, weights),
                  "lean": _lean_engine.make_lean(x, y, weights)}
    torch_step = make_torch(x, y, weights) if with_torch else None
    if torch_step is not None:
        contenders["torch"] = torch_step
    return contenders


def _mlp(weights, seed=0):
    """The document's MLP holding ``weights``; without them, its own initial weights drawn from
    ``seed`` (those that ``initial_weights(seed)`` returns), drawn once: what a training program
    pays, no copy."""
    import minitransfer as mt

    if weights is None:
        return mt.nn.MLP(list(SIZES), generator=seed)
    model = mt.nn.MLP(list(SIZES))
    with mt.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(w)
    return model


def make_minitransfer(x, y, weights=None):
    """The engine as a training loop uses it: zero_grad, forward, loss, backward, step."""
    import minitransfer as mt

    model = _mlp(weights)
    loss_fn = mt.nn.CrossEntropyLoss()
    optimizer = mt.optim.SGD(model.parameters(), lr=LR)
    inputs, labels = mt.tensor(x), mt.tensor(y)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()

    step.weights = lambda: [p.data for p in model.parameters()]
    return step


def make_captured(x, y, weights=None):
    """The same training as ``make_minitransfer``, by the step that ``minitransfer.capture`` records
    once and replays (zero_grad, forward, loss, backward and step in one call)."""
    import minitransfer as mt

    model = _mlp(weights)
    optimizer = mt.optim.SGD(model.parameters(), lr=LR)
    inputs, labels = mt.tensor(x), mt.tensor(y)
    captured = mt.capture(model, mt.nn.CrossEntropyLoss(), optimizer, inputs, labels)

    def step():
        captured(inputs, labels)

    step.weights = lambda: [p.data for p in model.parameters()]
    return step


def make_eager_ops(x, y, weights):
    """The eager step's own NumPy calls, with no engine around them: the arrays that
    ``functions.Affine``, ``ReLU`` and ``CrossEntropy`` compute (fresh, as an eager step makes
    them) and SGD's update (one BLAS axpy pass, ``minitransfer.blas``, or where it cannot, two
    NumPy passes through a 64-byte-aligned work array, as the optimizer's), in the same order,
    without modules, graph, backward walk or checks. The eager step's time less this one's is
    the engine's Python.
    """
    from minitransfer import aligned, blas

    w1, b1, w2, b2 = (w.copy() for w in weights)
    n, classes = x.shape[0], SIZES[-1]
    class_ids = np.arange(classes)
    product = np.dot if n == 1 else np.matmul  # functions.matmul.matmul_2d's rule
    work = [aligned.empty_like(w) for w in (w1, b1, w2, b2)]

    def step():
        h = np.matmul(x, w1.T)                               # Affine.forward
        h += b1
        positive = (h > 0).astype(h.dtype)                   # ReLU.forward
        a = np.maximum(h, 0.0)
        z = np.matmul(a, w2.T)
        z += b2
        low, high = int(y.min()), int(y.max())               # CrossEntropy.forward
        assert 0 <= low and high < classes
        shifted = z - z.max(axis=1, keepdims=True)
        softmax = np.exp(shifted)
        total = softmax.sum(axis=1, keepdims=True)
        softmax /= total
        log_probs = shifted - np.log(total)
        one_hot = (y[:, None] == class_ids).astype(z.dtype)
        loss = -(log_probs * one_hot).sum() / n              # noqa: F841
        g = np.ones((), z.dtype)                             # backward() on the loss
        grad_z = softmax - one_hot                           # CrossEntropy.backward
        grad_z *= g / n
        grad_a = np.matmul(grad_z, w2)                       # Affine.backward
        grad_w2 = product(grad_z.T, a)
        grad_b2 = grad_z.sum(axis=0)
        grad_h = grad_a * positive                           # ReLU.backward
        grad_w1 = product(grad_h.T, x)
        grad_b1 = grad_h.sum(axis=0)
        for w, grad, scaled in zip((w1, b1, w2, b2), (grad_w1, grad_b1, grad_w2, grad_b2), work):
            if not blas.axpy(-LR, grad, w):                  # SGD: θ −= η g, g kept
                w -= np.multiply(grad, LR, out=scaled)

    step.weights = lambda: [w1, b1, w2, b2]
    return step


def make_floor(x, y, weights, keep_gradients=False):
    """The same step written by hand: what a NumPy engine can approach but not beat.

    Five matrix products (the input needs no gradient), each by the faster of ``np.dot`` and
    ``np.matmul`` on this shape (their results are identical): ``np.dot`` for all but the first
    weight gradient, which ``np.matmul`` computes faster beyond batch 1 (103 against 109 µs at
    batch 64, 368 against 376 µs at 256) and ~5× slower at batch 1, where it is an outer
    product that ``np.matmul`` runs without BLAS. The engine makes the same choice
    (``functions.matmul.matmul_2d``). The gradients are scaled in place (an engine must not:
    ``p.grad`` must survive the step), in NumPy's two passes, g *= η then θ −= g.
    ``keep_gradients=True`` updates as minitransfer's SGD does, leaving g as it is: θ −= η g
    in one BLAS pass (``minitransfer.blas.axpy``), or where BLAS cannot, in two through a work
    array allocated once (64-byte aligned, as the optimizers allocate theirs:
    ``minitransfer.aligned``). The plain floor's arrays are NumPy's, fresh at every step, as a
    hand-written step makes them.
    """
    w1, b1, w2, b2 = (w.copy() for w in weights)
    n = x.shape[0]
    rows = np.arange(n)
    lr = np.float32(LR)
    work = [None] * 4
    if keep_gradients:  # only here: the plain floor's process holds NumPy alone
        from minitransfer import aligned, blas

        work = [aligned.empty_like(w) for w in (w1, b1, w2, b2)]
    product = np.dot if n == 1 else np.matmul

    def step():
        h = np.dot(x, w1.T)                      # 1: (n, 784) · (784, 128)
        h += b1
        a = np.maximum(h, 0)
        z = np.dot(a, w2.T)                      # 2: (n, 128) · (128, 10)
        z += b2
        z -= z.max(axis=1, keepdims=True)        # stable softmax
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, y]).mean()        # noqa: F841 (computed, as a loss would be)
        p[rows, y] -= 1                          # dL/dz = (softmax − onehot) / n
        p /= n
        grad_w2 = np.dot(p.T, a)                 # 3: (10, n) · (n, 128)
        grad_b2 = p.sum(axis=0)
        grad_a = np.dot(p, w2)                   # 4: (n, 10) · (10, 128)
        grad_a *= h > 0                          # ReLU
        grad_w1 = product(grad_a.T, x)           # 5: (128, n) · (n, 784)
        grad_b1 = grad_a.sum(axis=0)
        for w, g, scaled in zip((w1, b1, w2, b2), (grad_w1, grad_b1, grad_w2, grad_b2), work):
            if not keep_gradients:
                g *= lr
                w -= g
            elif not blas.axpy(-LR, g, w):
                w -= np.multiply(g, lr, out=scaled)

    step.weights = lambda: [w1, b1, w2, b2]
    return step


def make_torch(x, y, weights, threads=None):
    """PyTorch CPU (with ``threads`` intra-op threads when given), or None when not installed."""
    try:
        import torch
    except ImportError:
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w))
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()

    step.weights = lambda: [p.detach().numpy() for p in model.parameters()]
    return step
