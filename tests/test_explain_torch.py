"""Saliency and integrated gradients equal Captum's definitions computed with PyTorch on the same
weights (skipped when torch is not installed; neither torch nor Captum is a dependency).

Captum's ``Saliency(model).attribute(x, target, abs=True)`` is |∂f/∂x|; its
``IntegratedGradients`` with ``method="riemann_middle"`` takes αₖ = linspace(1/2m, 1 − 1/2m, m)
and step sizes 1/m, with ``"gausslegendre"`` αₖ = (1 + tₖ)/2 and step sizes wₖ/2 from
``numpy.polynomial.legendre.leggauss``; attributions = (x − x′) ⊙ Σₖ stepₖ ∇f(x′ + αₖ(x − x′)).
Those definitions are written out below in torch, in float64.
"""

import numpy as np
import pytest

from minitransfer import explain, nn

torch = pytest.importorskip("torch")


def torch_twin(model):
    layers = []
    for module in list(model.body) + [model.head]:
        if isinstance(module, nn.Linear):
            linear = torch.nn.Linear(module.in_features, module.out_features).double()
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(module.weight.detach().numpy().astype(np.float64)))
                linear.bias.copy_(torch.from_numpy(module.bias.detach().numpy().astype(np.float64)))
            layers.append(linear)
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_gradient(net, x, target):
    x = x.clone().requires_grad_(True)
    picked = net(x).gather(1, target[:, None]).sum()
    return torch.autograd.grad(picked, x)[0]


def captum_style_ig(net, x, target, steps, method):
    if method == "riemann_middle":
        alphas, sizes = torch.linspace(1 / (2 * steps), 1 - 1 / (2 * steps), steps), [1 / steps] * steps
    else:
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        alphas, sizes = 0.5 * (1 + nodes), 0.5 * weights
    baseline = torch.zeros_like(x)
    total = sum(float(size) * torch_gradient(net, baseline + float(a) * (x - baseline), target)
                for a, size in zip(alphas, sizes))
    attributions = (x - baseline) * total
    with torch.no_grad():
        difference = (net(x) - net(baseline)).gather(1, target[:, None])[:, 0]
    return attributions, attributions.sum(1) - difference


@pytest.mark.parametrize("method", ["riemann_middle", "gausslegendre"])
def test_saliency_and_integrated_gradients_equal_captums_definitions(method):
    model = nn.MLP([10, 8, 6, 4], generator=0).double()
    net = torch_twin(model)
    x = np.random.default_rng(1).standard_normal((5, 10))
    target = np.array([0, 1, 2, 3, 1])
    x_t, target_t = torch.from_numpy(x), torch.from_numpy(target)
    np.testing.assert_allclose(explain.saliency(model, x, target),
                               torch_gradient(net, x_t, target_t).abs().numpy(), rtol=1e-10, atol=1e-12)
    ours = explain.integrated_gradients(model, x, target, steps=16, method=method)
    attributions, delta = captum_style_ig(net, x_t, target_t, 16, method)
    np.testing.assert_allclose(ours.attributions, attributions.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.delta, delta.numpy(), rtol=1e-7, atol=1e-10)
