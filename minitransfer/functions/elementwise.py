"""Elementwise ops: z has the shape of the (broadcast) inputs and zᵢ depends on xᵢ alone,
so each vector-Jacobian product is an elementwise product with g."""

from minitransfer import backend
from minitransfer.functions.function import Function, unbroadcast


def _broadcast_error(op, a, b):
    """A ValueError naming the op, both shapes and the first axis where they clash."""
    for i in range(1, min(a.ndim, b.ndim) + 1):
        n, m = a.shape[-i], b.shape[-i]
        if n != m and n != 1 and m != 1:
            where = f"axis {max(a.ndim, b.ndim) - i}: {n} vs {m}"
            break
    else:
        where = "no axis clashes"
    return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
                      f"together ({where}); sizes must match or be 1, counting from the right")


class Add(Function):
    """z = a + b.   dL/da = g,  dL/db = g   (each unbroadcast to its input's shape)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("Add", a, b) from None

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    """z = a − b.   dL/da = g,  dL/db = −g."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("Sub", a, b) from None

    def backward(self, g):
        grad_b = unbroadcast(-g, self.shapes[1]) if self.needs_input_grad[1] else None
        return unbroadcast(g, self.shapes[0]), grad_b


class Mul(Function):
    """z = a ⊙ b.   dL/da = g ⊙ b,  dL/db = g ⊙ a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("Mul", a, b) from None

    def backward(self, g):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g * self.b, self.a.shape) if need_a else None,
                unbroadcast(g * self.a, self.b.shape) if need_b else None)


class Div(Function):
    """z = a / b.   dL/da = g / b,  dL/db = −g ⊙ a / b²."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("Div", a, b) from None

    def backward(self, g):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(g / self.b, self.a.shape) if need_a else None,
                unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if need_b else None)


class Neg(Function):
    """z = −x.   dL/dx = −g."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """z = xᵖ for a constant number p.   dL/dx = g ⊙ p xᵖ⁻¹  (0 when p = 0, also at x = 0)."""

    def forward(self, x, exponent):
        self.x, self.exponent = x, exponent
        return x**exponent

    def backward(self, g):
        if self.exponent == 0:  # x⁰ = 1 is constant: 0 · 0⁻¹ would give NaN at x = 0
            return (backend.namespace(g).zeros_like(g),)
        return (g * self.exponent * self.x ** (self.exponent - 1),)


class Exp(Function):
    """z = eˣ.   dL/dx = g ⊙ eˣ = g ⊙ z."""

    def forward(self, x):
        self.z = backend.namespace(x).exp(x)
        return self.z

    def backward(self, g):
        return (g * self.z,)


class Log(Function):
    """z = ln x.   dL/dx = g / x."""

    def forward(self, x):
        self.x = x
        return backend.namespace(x).log(x)

    def backward(self, g):
        return (g / self.x,)


class ReLU(Function):
    """z = max(x, 0).   dL/dx = g ⊙ [x > 0]   (we take the derivative at 0 to be 0)."""

    def forward(self, x):
        xp = backend.namespace(x)
        # [x > 0] as 0.0/1.0 in x's dtype, so that backward is one product. (``xp.where`` would
        # do the same job but branches on every element: ~5× slower on a random sign pattern.)
        self.positive = xp.astype(x > 0, x.dtype)
        return xp.maximum(x, 0.0)  # a Python 0.0 keeps x's dtype

    def backward(self, g):
        return (g * self.positive,)


class GradientReversal(Function):
    """z = x, the identity; but dL/dx = −λ g: the gradient comes back with its sign flipped,
    scaled by the constant λ ≥ 0 (Ganin & Lempitsky 2015; Ganin et al., JMLR 2016).

    On purpose, the backward is *not* the derivative of the forward: it is the derivative of
    x ↦ −λx. Put between a feature extractor and a domain classifier, the classifier still
    minimises its loss, while the features below receive −λ times that loss's gradient and so
    move to *maximise* it: they learn to hide which domain an input came from (``adapt.dann``).
    The gradient check therefore compares this backward with central differences of −λx
    (``op_registry``: the case's ``reference``).
    """

    def forward(self, x, lambda_=1.0):
        self.lambda_ = float(lambda_)  # a Python float keeps g's dtype (float32 stays float32)
        return x

    def backward(self, g):
        return (-self.lambda_ * g,)
