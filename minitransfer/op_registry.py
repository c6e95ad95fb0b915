"""The registry of primitive ops that the gradient checks walk.

Each ``OpCase`` names an op class of ``functions``, a function that calls it through its
public spelling, the kind of input shapes it takes (the tests draw shapes of that kind with
hypothesis), a few example shapes for ``python -m minitransfer gradcheck``, and how to keep
inputs away from kinks. A test fails when an op class has no case here.
"""

from dataclasses import dataclass

import numpy as np

from minitransfer import functions as F
from minitransfer.functional import linear
from minitransfer.tensor import Tensor


@dataclass(frozen=True)
class OpCase:
    name: str
    op: type  # the Function subclass exercised
    fn: object  # fn(*tensors) -> tensor
    kind: str  # "unary", "binary", "matmul", "reduce", "rows", "logits", "affine", "affine_no_bias"
    examples: tuple  # tuples of input shapes
    values: str = "any"  # "any", "positive" (log, pow) or "distinct" (relu, max: no ties, no 0)
    # The function whose central differences the backward must match, when it is not ``fn``
    # itself: only GradientReversal, whose backward is −λ g although its forward is x.
    reference: object = None


def _labels(logits):
    """Fixed integer labels for a batch of logits: 0, 1, 2, ... wrapped at the class count."""
    n, c = logits.shape
    return np.arange(n) % c


def _cross_entropy(reduction):
    def fn(z):
        labels = np.asarray(_labels(z))
        if type(z.data) is not np.ndarray:
            from minitransfer import backend

            labels = backend.asarray_like(labels, z.data)
        return F.CrossEntropy.apply(z, labels=labels, reduction=reduction)

    return fn


# Indexing keys, many with repeated indices: an element picked k times must receive the sum of
# its k gradients. "rows" inputs have 2 to 4 rows and at least one element along other axes.
def _pick_rows(x):
    return x[[0, x.shape[0] - 1, 0]]  # a list; row 0 twice


def _pick_pairs(x):
    return x[np.array([0, 0]), np.array([0, 0])]  # two integer arrays: element (0, 0) twice


def _pick_columns(x):
    return x[:, [0, 0, 0]]  # a slice beside a list: column 0 three times


def _pick_by_mask(x):
    return x[np.arange(x.shape[0]) % 2 == 0]  # a boolean mask: rows 0, 2


def _pick_mixed(x):
    return x[1, ..., None, Tensor(np.array([0, 0]))]  # an int, ..., None and a Tensor of indices


def _select_2d(x):
    return x.index_select(0, [[0, 1], [1, 1]])  # a 2-D index array adds an axis


def _select_0d(x):
    return x.index_select(1, Tensor(np.array(0)))  # a 0-d index drops the axis


REGISTRY = (
    OpCase("add", F.Add, lambda a, b: a + b, "binary", (((3, 4), (3, 4)), ((2, 1, 3), (4, 3)))),
    OpCase("sub", F.Sub, lambda a, b: a - b, "binary", (((3, 4), (4,)), ((), (2, 3)))),
    OpCase("mul", F.Mul, lambda a, b: a * b, "binary", (((3, 4), (3, 1)), ((2, 1, 3), (4, 3)))),
    OpCase("div", F.Div, lambda a, b: a / b, "binary", (((3, 4), (4,)), ((2, 3), ())), "positive"),
    OpCase("neg", F.Neg, lambda x: -x, "unary", (((3, 4),), ((),))),
    OpCase("pow", F.Pow, lambda x: x**2.5, "unary", (((3, 4),), ((5,),)), "positive"),
    OpCase("exp", F.Exp, lambda x: x.exp(), "unary", (((3, 4),), ((),))),
    OpCase("log", F.Log, lambda x: x.log(), "unary", (((3, 4),), ((2, 2, 2),)), "positive"),
    OpCase("relu", F.ReLU, lambda x: x.relu(), "unary", (((3, 4),), ((7,),)), "distinct"),
    OpCase("gradient_reversal", F.GradientReversal, lambda x: F.GradientReversal.apply(x, lambda_=0.7),
           "unary", (((3, 4),), ((),)), reference=lambda x: x * -0.7),
    OpCase("matmul", F.MatMul, lambda a, b: a @ b, "matmul",
           (((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)))),
    OpCase("sum", F.Sum, lambda x: x.sum(), "unary", (((3, 4),), ((),))),
    OpCase("sum_axis", F.Sum, lambda x: x.sum(axis=-1, keepdims=True), "reduce", (((3, 4),),)),
    OpCase("mean", F.Mean, lambda x: x.mean(axis=0), "reduce", (((3, 4),), ((2, 3, 2),))),
    OpCase("max", F.Max, lambda x: x.max(axis=-1), "reduce", (((3, 4),), ((2, 5),)), "distinct"),
    OpCase("max_all", F.Max, lambda x: x.max(), "unary", (((3, 4),),), "distinct"),
    OpCase("reshape", F.Reshape, lambda x: x.reshape(-1), "unary", (((3, 4),), ((2, 3, 2),))),
    OpCase("transpose", F.Transpose, lambda x: x.T, "unary", (((3, 4),), ((2, 3, 4),))),
    OpCase("getitem", F.GetItem, lambda x: x[1:, ..., :1], "rows", (((3, 4),), ((4, 2, 3),))),
    OpCase("getitem_rows", F.GetItem, _pick_rows, "rows", (((3, 4),), ((5,),))),
    OpCase("getitem_pairs", F.GetItem, _pick_pairs, "rows", (((3, 4),), ((2, 2, 3),))),
    OpCase("getitem_columns", F.GetItem, _pick_columns, "rows", (((3, 4),), ((2, 2, 3),))),
    OpCase("getitem_mask", F.GetItem, _pick_by_mask, "rows", (((3, 4),), ((5,),))),
    OpCase("getitem_mixed", F.GetItem, _pick_mixed, "rows", (((3, 4),), ((2, 2, 3),))),
    OpCase("index_select_2d", F.IndexSelect, _select_2d, "rows", (((3, 4),), ((2, 3, 2),))),
    OpCase("index_select_0d", F.IndexSelect, _select_0d, "rows", (((3, 4),), ((2, 3, 2),))),
    OpCase("to_copy", F.ToCopy, lambda x: x.to(copy=True), "unary", (((3, 4),), ((),))),
    OpCase("logsumexp", F.LogSumExp, lambda x: x.logsumexp(axis=-1), "reduce",
           (((3, 4),), ((2, 3, 5),))),
    OpCase("log_softmax", F.LogSoftmax, lambda x: x.log_softmax(axis=-1), "reduce",
           (((3, 4),), ((2, 3, 5),))),
    OpCase("softmax", F.Softmax, lambda x: x.softmax(axis=-1), "reduce", (((3, 4),), ((5,),))),
    OpCase("cross_entropy", F.CrossEntropy, _cross_entropy("mean"), "logits",
           (((4, 3),), ((1, 5),))),
    OpCase("cross_entropy_sum", F.CrossEntropy, _cross_entropy("sum"), "logits", (((4, 3),),)),
    OpCase("cross_entropy_none", F.CrossEntropy, _cross_entropy("none"), "logits", (((4, 3),),)),
    # "affine" inputs: x (..., in), weight (out, in), bias (out,); "affine_no_bias": no bias
    OpCase("linear", F.Affine, linear, "affine",
           (((4, 3), (2, 3), (2,)), ((3,), (2, 3), (2,)), ((2, 4, 3), (5, 3), (5,)))),
    OpCase("linear_no_bias", F.Affine, linear, "affine_no_bias", (((4, 3), (2, 3)), ((1, 5), (3, 5)))),
)


def make_values(shape, values, rng):
    """Random float64 values of ``shape`` that respect a case's constraint."""
    x = rng.standard_normal(shape)
    if values == "positive":
        return np.abs(x) + 0.5
    if values == "distinct":
        # A shuffled grid 0.3 apart, shifted so that no value lies within 0.075 of zero: no
        # ties for max and no ReLU kink for central differences to straddle.
        n = int(np.prod(shape, dtype=np.int64))
        grid = (np.arange(n) - (n - 1) / 2 + 0.25) * 0.3
        return rng.permutation(grid).reshape(shape)
    return x


def primitive_ops():
    """Every Function subclass defined in minitransfer (the ops that need a case here)."""
    found, stack = [], list(F.Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("minitransfer."):
            found.append(cls)
    return found
