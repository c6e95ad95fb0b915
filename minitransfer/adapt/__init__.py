"""Domain adaptation: when the target's images differ from the source's and have no labels.

The FAQ of the source document names *data mismatch* as a main limit of transfer learning.
When the target domain has images but no labels, unsupervised domain adaptation learns
features on which source and target look alike while the source labels stay predictable:

| what                              | function                                   |
|-----------------------------------|--------------------------------------------|
| identity forward, −λ·g backward   | ``GradientReversal`` (= ``nn.GradientReversal``) |
| domain-adversarial training       | ``dann`` / ``adapt(..., method="dann")``   |
| covariance alignment (Deep CORAL) | ``coral_loss``, ``adapt(..., "coral")``    |
| kernel mean alignment (MMD, DAN)  | ``mmd_loss``, ``adapt(..., "mmd")``        |
| how mismatched are the domains?   | ``proxy_a_distance``                       |
| the experiment of ``minitransfer adapt`` | ``make_shift_task``, ``compare_methods``, ``summarize`` |
"""

from minitransfer.adapt.compare import compare_methods, make_shift_task, summarize
from minitransfer.adapt.distance import proxy_a_distance
from minitransfer.adapt.losses import coral_loss, covariance, median_distance, mmd_loss
from minitransfer.adapt.training import (
    DEFAULT_WEIGHT,
    METHODS,
    AdaptResult,
    DomainClassifier,
    adapt,
    dann,
    dann_lambda,
)
from minitransfer.nn import GradientReversal

__all__ = [
    "GradientReversal", "adapt", "dann", "dann_lambda", "DomainClassifier", "AdaptResult",
    "METHODS", "DEFAULT_WEIGHT", "coral_loss", "covariance", "mmd_loss", "median_distance",
    "proxy_a_distance", "make_shift_task", "compare_methods", "summarize",
]
