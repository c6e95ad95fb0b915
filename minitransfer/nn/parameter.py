"""Parameter: a Tensor that a Module registers as something to learn."""

from minitransfer.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires a gradient by default.

    Assigning a Parameter to an attribute of a ``Module`` (``self.weight = Parameter(...)``)
    registers it: it then shows up in ``parameters()``, ``named_parameters()`` and
    ``state_dict()``. A plain Tensor assigned the same way is just an attribute.
    """

    def __init__(self, data, requires_grad=True):
        super().__init__(data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
