"""Explainability (the document's §5.3 and FAQ): why the model answers as it does, what transfer
keeps of the pretrained network, and what fine-tuning changes.

| question                                          | function                                     |
|---------------------------------------------------|----------------------------------------------|
| which pixels move the target logit?               | ``saliency(model, x, target=None)``          |
| how much does each pixel add to the logit?        | ``integrated_gradients(model, x, ...)``      |
| how exact is that sum, as the points grow?        | ``completeness_gaps(model, x, steps=...)``   |
| the same without gradients                        | ``occlusion(model, x, target=None, patch=2)``|
| do two layers represent the inputs alike?         | ``linear_cka(a, b)``                         |
| how far did each parameter / body layer move?     | ``layer_drift``, ``drift_per_layer``         |
| how much of the source task was forgotten?        | ``forgetting(pretrained, fine_tuned, test)`` |
| are lower layers general? (Yosinski et al., 2014) | ``layerwise_transferability(...)``           |
| the pictures                                      | ``explain.pictures``                         |

Everything runs on the package's own autograd: an input gradient is one ``backward()`` away.
``minitransfer explain`` runs them all on a pretrained and fine-tuned model (lesson 12).
"""

from minitransfer.explain.attribution import (
    IntegratedGradients,
    completeness_gaps,
    integrated_gradients,
    occlusion,
    saliency,
)
from minitransfer.explain.layerwise import LayerRun, layerwise_transferability
from minitransfer.explain.representations import (
    Forgetting,
    drift_per_layer,
    forgetting,
    layer_drift,
    linear_cka,
)

__all__ = [
    "saliency", "integrated_gradients", "IntegratedGradients", "completeness_gaps", "occlusion", "linear_cka",
    "layer_drift", "drift_per_layer", "forgetting", "Forgetting", "layerwise_transferability",
    "LayerRun",
]
