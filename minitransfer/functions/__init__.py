"""The primitive operations: one class each, forward and backward side by side.

Notation in the docstrings: the op computes z = f(x, ...) in ``forward``; ``backward`` receives
g = dL/dz (same shape as z) and returns dL/dx for each input, the vector-Jacobian product
g · ∂z/∂x, without ever forming the Jacobian. Binary ops broadcast, so their gradients pass
through ``unbroadcast`` to get back the input's shape.

``backward`` computes nothing for an input that does not require a gradient
(``self.needs_input_grad``): for the first Linear layer this skips a whole matrix product.

Where each op lives (``functions.Add`` and ``functions.elementwise.Add`` are the same class):

    function.py      Function (a node of the graph), unbroadcast
    elementwise.py   Add, Sub, Mul, Div, Neg, Pow, Exp, Log, ReLU, GradientReversal
    matmul.py        MatMul, and matmul_2d (the BLAS product the fused ops share)
    reductions.py    Sum, Mean, Max, LogSumExp, LogSoftmax, Softmax
    shape.py         Reshape, Transpose, GetItem, IndexSelect, ToCopy
    fused.py         Affine (nn.Linear) and CrossEntropy (nn.CrossEntropyLoss), one node each
"""

from minitransfer.functions.elementwise import Add, Div, Exp, GradientReversal, Log, Mul, Neg, Pow, ReLU, Sub
from minitransfer.functions.function import Function, unbroadcast
from minitransfer.functions.fused import Affine, CrossEntropy
from minitransfer.functions.matmul import MatMul, matmul_2d
from minitransfer.functions.reductions import LogSoftmax, LogSumExp, Max, Mean, Softmax, Sum
from minitransfer.functions.shape import GetItem, IndexSelect, Reshape, ToCopy, Transpose

__all__ = [
    "Function", "unbroadcast",
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "ReLU", "GradientReversal",
    "MatMul", "matmul_2d",
    "Sum", "Mean", "Max", "LogSumExp", "LogSoftmax", "Softmax",
    "Reshape", "Transpose", "GetItem", "IndexSelect", "ToCopy",
    "Affine", "CrossEntropy",
]
