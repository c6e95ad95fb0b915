"""The proxy A-distance: how well can a linear classifier tell the two domains apart?

Ben-David et al. (2007, 2010) bound the target error of a classifier by its source error plus
a divergence between the domains, the A-distance. Its proxy: label source features 0 and
target features 1, train a linear domain classifier on half of them, measure its error ε on
the other half, and report

    d_A = 2 (1 − 2ε)

2 when the domains are perfectly separable (ε = 0), 0 when the classifier does no better than
chance (ε = 0.5); noise can push it slightly below 0. Adaptation should lower it: features on
which the domains look alike. The classifier is a ``nn.Linear`` trained with ``optim.Adam`` by
``train.fit`` (DESIGN §11: the package shows it can), on standardised features.
"""

import numpy as np

from minitransfer import nn
from minitransfer.adapt.losses import check_features
from minitransfer.data import DataLoader, TensorDataset
from minitransfer.optim import Adam
from minitransfer.train import evaluate, fit


def proxy_a_distance(fs, ft, *, steps=300, lr=0.01, seed=0):
    """2 (1 − 2ε) of a linear domain classifier trained on half the features, scored on the rest.

    ``fs`` (n × d) and ``ft`` (m × d): features of source and target examples (arrays, e.g.
    from ``transfer.features``). The same number of examples, min(n, m), is drawn from each
    domain (so that chance is ε = 0.5), and each domain is split in halves: the first to train
    on, the second to score. Full-batch Adam for ``steps`` steps; deterministic under ``seed``.
    """
    fs, ft = check_features(fs, ft, "proxy_a_distance", min_rows=4)
    rng = np.random.default_rng(seed)
    n = min(fs.shape[0], ft.shape[0])
    half = n // 2
    picked = [np.asarray(f.detach().numpy(), dtype=np.float64)[rng.permutation(f.shape[0])[:n]]
              for f in (fs, ft)]
    train_x = np.concatenate([p[:half] for p in picked])
    test_x = np.concatenate([p[half:] for p in picked])
    train_y = np.repeat(np.array([0, 1]), half)
    test_y = np.repeat(np.array([0, 1]), n - half)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std[std == 0] = 1.0  # a feature that never varies (a dead ReLU) stays 0 after centring
    train_x, test_x = ((x - mean) / std for x in (train_x, test_x))
    classifier = nn.Linear(train_x.shape[1], 2, generator=seed, dtype=np.float64)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=len(train_y))
    fit(classifier, nn.CrossEntropyLoss(), Adam(classifier.parameters(), lr=lr), loader, steps=steps,
        progress=False)
    error = 1.0 - evaluate(classifier, (test_x, test_y))["accuracy"]
    return 2.0 * (1.0 - 2.0 * error)
