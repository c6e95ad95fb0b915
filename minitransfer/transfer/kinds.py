"""The document's four kinds of transfer (§2.2), each run and measured against a baseline.

| kind                        | source pretraining          | target task and score               |
|-----------------------------|-----------------------------|-------------------------------------|
| supervised → supervised     | classifier, labelled source | new head, k labels/class: accuracy  |
| unsupervised → supervised   | denoising autoencoder       | its encoder + new head: accuracy    |
| supervised → unsupervised   | classifier, labelled source | k-means on its features: ARI / NMI  |
| unsupervised → unsupervised | denoising autoencoder       | fine-tuned on target: denoising MSE |

Baselines: the same network from scratch (accuracy, reconstruction error) or k-means on the raw
pixels (clustering). An autoencoder here is an ``nn.MLP([D, hidden, D])``: its body is the
encoder and its head the decoder, so ``replace_head`` turns it into a classifier.
"""

import copy

import numpy as np

from minitransfer import nn, stats
from minitransfer.clustering import adjusted_rand_index, kmeans, normalized_mutual_info
from minitransfer.data import k_per_class, transforms
from minitransfer.train import empirical_risk, evaluate
from minitransfer.transfer.features import features
from minitransfer.transfer.strategies import fine_tune
from minitransfer.transfer.workflow import pretrain, replace_head


def _cluster_scores(x, y, k, seed):
    labels, _ = kmeans(x, k, seed=seed)
    return adjusted_rand_index(y, labels), normalized_mutual_info(y, labels)


def _row(kind, metric, method, values, baseline_name, baseline_values, higher_is_better=True):
    values, baseline_values = np.asarray(values), np.asarray(baseline_values)
    gain = values - baseline_values if higher_is_better else baseline_values - values
    interval = stats.paired_interval(gain)  # paired by seed; NaN bounds with a single seed
    words = interval.verdict()
    return {"kind": kind, "metric": metric, "method": method, "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "baseline": baseline_name, "baseline_mean": float(baseline_values.mean()),
            "baseline_std": float(baseline_values.std(ddof=1)) if len(values) > 1 else 0.0,
            "values": values.tolist(), "baseline_values": baseline_values.tolist(),  # one per seed
            "gain": interval.estimate, "ci95": [interval.low, interval.high],
            "transfer_helped": bool(gain.mean() > 0),
            "significant": words.code in (stats.HELPED, stats.HURT),
            "verdict": words.code, "verdict_text": words.text}


def four_kinds(task, seeds=(0, 1, 2), k=5, hidden=128, pretrain_steps=1500, finetune_steps=300,
               cluster_points=500, noise=0.3, log=print):
    """Run the four kinds on one ``experiment.Task``; return one record per measured row.

    Gains are "higher is better": for reconstruction error the gain is baseline − transfer.
    Each row keeps its per-seed ``values`` and ``baseline_values`` (in the order of ``seeds``),
    so that rows can be compared with each other, paired by seed.
    """
    x_source, y_source = task.source
    x_train, y_train = task.target_train
    x_test, y_test = task.target_test
    dim = x_source.shape[1]
    acc = {name: [] for name in ("sup_scratch", "sup_transfer", "ae_transfer")}
    clusters = {name: [] for name in ("pixels", "sup_features", "ae_features")}
    recon = {name: [] for name in ("scratch", "transfer")}
    for seed in seeds:
        classifier = nn.MLP([dim, hidden, task.source_classes], generator=seed)
        pretrain(classifier, task.source, steps=pretrain_steps, seed=seed)
        # A denoising autoencoder: with as many hidden units as pixels, a plain one could learn
        # the identity; reconstructing clean images from noisy ones forces it to learn strokes.
        autoencoder = nn.MLP([dim, hidden, dim], generator=seed)
        noisy = transforms.add_noise(x_source, sigma=noise, seed=seed)
        pretrain(autoencoder, (noisy, x_source), loss_fn=nn.MSELoss(), steps=pretrain_steps, seed=seed)
        x_k, y_k = k_per_class(x_train, y_train, k, seed=seed)

        # 1. supervised -> supervised, with scratch (the same net from random weights) beside it
        # 2. unsupervised -> supervised: the autoencoder's encoder under a new classifier head
        runs = (("sup_transfer", "lp_ft", classifier), ("sup_scratch", "scratch", classifier),
                ("ae_transfer", "lp_ft", autoencoder))
        for name, strategy, base in runs:
            net = copy.deepcopy(base)
            replace_head(net, task.target_classes, generator=seed + 1)
            fine_tune(net, (x_k, y_k), strategy, steps=finetune_steps, seed=seed)
            acc[name].append(evaluate(net, (x_test, y_test))["accuracy"])

        # 3. supervised -> unsupervised: cluster unlabelled target images in feature space
        pick = np.random.default_rng(seed).permutation(len(x_test))[:cluster_points]
        x_c, y_c = x_test[pick], y_test[pick]
        n_clusters = task.target_classes
        clusters["pixels"].append(_cluster_scores(x_c, y_c, n_clusters, seed))
        for name, model in (("sup_features", classifier), ("ae_features", autoencoder)):
            codes = features(model, x_c, layer=-1)  # the body's output: what it "sees"
            clusters[name].append(_cluster_scores(codes, y_c, n_clusters, seed))

        # 4. unsupervised -> unsupervised: reconstruct target images, pretrained vs scratch
        for name in ("transfer", "scratch"):
            if name == "transfer":
                net = copy.deepcopy(autoencoder)
            else:
                net = nn.MLP([dim, hidden, dim], generator=seed + 7)
            noisy_train = transforms.add_noise(x_train, sigma=noise, seed=seed + 1)
            pretrain(net, (noisy_train, x_train), loss_fn=nn.MSELoss(), steps=finetune_steps, seed=seed)
            noisy_test = transforms.add_noise(x_test, sigma=noise, seed=seed + 2)
            recon[name].append(empirical_risk(net, nn.MSELoss(), (noisy_test, x_test)))
        log(f"seed {seed}: accuracy scratch {acc['sup_scratch'][-1]:.3f}, "
            f"sup->sup {acc['sup_transfer'][-1]:.3f}, unsup->sup {acc['ae_transfer'][-1]:.3f}; "
            f"ARI pixels {clusters['pixels'][-1][0]:.3f}, "
            f"sup features {clusters['sup_features'][-1][0]:.3f}; reconstruction MSE scratch "
            f"{recon['scratch'][-1]:.4f}, pretrained {recon['transfer'][-1]:.4f}")
    ari = {name: [a for a, _ in rows] for name, rows in clusters.items()}
    nmi = {name: [b for _, b in rows] for name, rows in clusters.items()}
    return [
        _row("supervised -> supervised", f"accuracy (k={k})", "classifier body, LP-FT",
             acc["sup_transfer"], "scratch", acc["sup_scratch"]),
        _row("unsupervised -> supervised", f"accuracy (k={k})", "autoencoder encoder, LP-FT",
             acc["ae_transfer"], "scratch", acc["sup_scratch"]),
        _row("supervised -> unsupervised", "ARI", "k-means on classifier features",
             ari["sup_features"], "k-means on pixels", ari["pixels"]),
        _row("supervised -> unsupervised", "NMI", "k-means on classifier features",
             nmi["sup_features"], "k-means on pixels", nmi["pixels"]),
        _row("unsupervised -> unsupervised", "ARI", "k-means on autoencoder features",
             ari["ae_features"], "k-means on pixels", ari["pixels"]),
        _row("unsupervised -> unsupervised", "reconstruction MSE", "autoencoder fine-tuned on target",
             recon["transfer"], "autoencoder from scratch", recon["scratch"], higher_is_better=False),
    ]


def format_kinds(rows):
    """The rows as a plain-text table."""
    lines = [f"{'kind':<29} {'metric':<19} {'transfer':>16} {'baseline':>10}  {'gain [95% CI]':>28}  "
             f"{'verdict':<43}  method (baseline)"]
    for r in rows:
        low, high = r["ci95"]
        gain = f"{r['gain']:+.4f} [{low:+.4f}, {high:+.4f}]"
        lines.append(f"{r['kind']:<29} {r['metric']:<19} {r['mean']:>9.4f} ± {r['std']:.3f} "
                     f"{r['baseline_mean']:>10.4f}  {gain:>28}  "
                     f"{r['verdict_text']:<43}  {r['method']} ({r['baseline']})")
    return "\n".join(lines)
