"""``minitransfer explain``: what transfer keeps, what fine-tuning changes, and why the model answers.

Pretrain once per seed (``common.pretrain_per_seed``), fine-tune a copy with every strategy on
k labelled target examples per class, then measure with ``minitransfer.explain``: CKA of each
body layer against the pretrained one, how far each layer moved, how much of the source task
the fine-tuned body still solves (forgetting), integrated gradients' completeness gap and their
agreement with occlusion, and Yosinski's layer-wise table. Writes explain.json, explain.md and
the pictures into --out (DESIGN §11).
"""

import copy
import os
import time

import numpy as np

from minitransfer import stats
from minitransfer.commands import common
from minitransfer.commands.explain_report import layer_means, markdown, summarize
from minitransfer.commands.options import add_experiment_options

DEFAULT_STRATEGIES = ("linear_probe", "full", "lp_ft", "l2sp")
DEFAULT = {"seeds": [0, 1, 2, 3, 4], "pretrain_steps": 1500, "finetune_steps": 1000}
QUICK = {"seeds": [0, 1], "pretrain_steps": 300, "finetune_steps": 100}
EXPLAINED = 32  # target test images whose attributions are measured, per seed and strategy
CONVERGENCE_STEPS = (8, 16, 32, 64, 128, 256)  # IG's quadrature points, to see the gap shrink
PROBE = 1000  # at most this many target test images for CKA and PCA


def add_parser(subparsers):
    from minitransfer.transfer import STRATEGIES

    parser = subparsers.add_parser("explain", help="CKA, drift, forgetting, attributions and "
                                   "Yosinski's layer table for each strategy")
    add_experiment_options(parser, strategies=(STRATEGIES, DEFAULT_STRATEGIES), k=25,
                           seeds_default=len(DEFAULT["seeds"]))
    parser.set_defaults(seeds=None)  # resolved in run: 5 seeds, or 2 with --quick
    parser.add_argument("--pretrain-steps", type=int, default=None,
                        help=f"pretraining steps (default {DEFAULT['pretrain_steps']}, "
                             f"--quick {QUICK['pretrain_steps']})")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help=f"fine-tuning steps per run (default {DEFAULT['finetune_steps']}, "
                             f"--quick {QUICK['finetune_steps']})")
    parser.add_argument("--ig-steps", type=int, default=64,
                        help="integrated gradients' quadrature points (default 64)")
    parser.set_defaults(handler=run)
    return parser


def _resolve(args):
    """Fill the settings left at their defaults: the full run's, or --quick's."""
    chosen = QUICK if args.quick else DEFAULT
    for key, value in chosen.items():
        if getattr(args, key) is None:
            setattr(args, key, list(value) if isinstance(value, list) else value)
    for key in ("pretrain_steps", "finetune_steps", "ig_steps"):
        if getattr(args, key) < 1:
            raise common.UsageError(f"--{key.replace('_', '-')}: expected a positive integer, "
                                    f"got {getattr(args, key)}")


def explain_strategy(pretrained, model, task, probe, explained, ig_steps):
    """Every measurement of one fine-tuned ``model`` against its ``pretrained`` original."""
    from minitransfer import explain
    from minitransfer.train import evaluate
    from minitransfer.transfer import body_layers, features

    names = [name for name, _ in body_layers(model)]
    before, after = features(pretrained, probe), features(model, probe)
    ig = explain.integrated_gradients(model, explained, steps=ig_steps)
    relative_gap = np.abs(ig.delta) / np.maximum(np.abs(ig.difference), 1e-12)
    lost = explain.forgetting(pretrained, model, task.source_test)
    return {
        "target_accuracy": evaluate(model, task.target_test)["accuracy"],
        "cka": {name: explain.linear_cka(a, b) for name, a, b in zip(names, before, after)},
        "drift": explain.drift_per_layer(pretrained, model),
        "source_before": lost.before, "source_after": lost.after,
        "ig_median_gap": float(np.median(relative_gap)),
        "ig_share_above_5pct": float(np.mean(relative_gap > 0.05)),
        "ig_occlusion_tau": occlusion_agreement(model, explained, ig.attributions, ig.target),
    }


def occlusion_agreement(model, x, attributions, target, patch=2):
    """Mean Kendall τ, over images, between occlusion's drop per patch × patch square and the
    integrated gradients summed over the same square (both estimate what the square adds)."""
    from minitransfer import explain

    drops = explain.occlusion(model, x, target, patch=patch)
    side = int(round(np.sqrt(x.shape[1])))
    squares = [(r, c) for r in range(0, side, patch) for c in range(0, side, patch)]
    taus = []
    for a, o in zip(attributions.reshape(-1, side, side), drops.reshape(-1, side, side)):
        summed = [a[r:r + patch, c:c + patch].sum() for r, c in squares]
        taus.append(stats.kendall_tau(summed, [o[r, c] for r, c in squares]))
    return float(np.nanmean(taus))


def ig_convergence(kept, explained):
    """The completeness gap's distribution at 8 ... 256 points, both rules, on one model."""
    from minitransfer.explain import completeness_gaps

    strategy = "full" if "full" in kept else next(iter(kept))
    table = {"strategy": strategy}
    for method in ("riemann_middle", "gausslegendre"):
        gaps = completeness_gaps(kept[strategy], explained, CONVERGENCE_STEPS, method)
        table[method] = [{"steps": m, "median": float(np.median(g)), "p90": float(np.quantile(g, 0.9)),
                          "max": float(g.max()), "share_above_5pct": float(np.mean(g > 0.05))}
                         for m, g in gaps.items()]
    return table


def run(args, log=print):
    from minitransfer.data import k_per_class
    from minitransfer.explain import layerwise_transferability
    from minitransfer.transfer import fine_tune, replace_head

    started = time.perf_counter()
    _resolve(args)
    task = common.load_task(args)
    common.check_k(task, args.k)
    hidden = common.hidden_sizes(args)
    if int(round(np.sqrt(task.source[0].shape[1]))) ** 2 != task.source[0].shape[1]:
        raise common.UsageError(f"--data {args.data}: explain needs square images, got "
                                f"{task.source[0].shape[1]} inputs")
    out = common.output_folder(args, "explain")
    pretrained, pretrain_seconds = common.pretrain_per_seed(
        task, hidden, args.seeds, args.pretrain_steps, args.device, log)
    probe, explained = task.target_test[0][:PROBE], task.target_test[0][:EXPLAINED]
    per_seed, layerwise, kept = {s: {} for s in args.strategies}, [], {}
    timings = {"pretrain": sum(pretrain_seconds.values())}
    for seed in args.seeds:
        tick = time.perf_counter()
        target_k = k_per_class(*task.target_train, args.k, seed=seed) if args.k else task.target_train
        for strategy in args.strategies:
            model = copy.deepcopy(pretrained[seed])
            replace_head(model, task.target_classes, generator=seed + 1)
            fine_tune(model, target_k, strategy, steps=args.finetune_steps, seed=seed)
            per_seed[strategy][seed] = explain_strategy(pretrained[seed], model, task, probe,
                                                        explained, args.ig_steps)
            if seed == args.seeds[0]:
                kept[strategy] = model
        timings[f"seed {seed}: strategies"] = time.perf_counter() - tick
        tick = time.perf_counter()
        for row in layerwise_transferability(pretrained[seed], target_k, task.target_test,
                                             outputs=task.target_classes,
                                             steps=args.finetune_steps, seed=seed):
            layerwise.append(dict(vars(row), seed=seed))
        timings[f"seed {seed}: layer-wise"] = time.perf_counter() - tick
        log(f"seed {seed}: {len(args.strategies)} strategies and the layer-wise table measured")
    payload = {"settings": common.settings_of(args, task=task.name, hidden=list(hidden),
                                              explained_images=EXPLAINED, probe_images=len(probe)),
               "per_seed": per_seed, "layerwise_runs": layerwise,
               "ig_convergence": ig_convergence(kept, explained),
               **summarize(per_seed, layerwise, args.seeds)}
    tick = time.perf_counter()
    seed = args.seeds[0]
    figures = draw_pictures(out, payload, common.make_model(task, hidden, seed, args.device),
                            pretrained[seed], kept, probe, task.target_test[1][:PROBE], args.ig_steps)
    timings["pictures"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    text = markdown(payload, [os.path.basename(f) for f in figures])
    json_path, md_path = common.write_outputs(out, "explain", payload, text, timings)
    log(text)
    log(f"wrote {json_path}, {md_path} and {len(figures)} pictures in {timings['total']:.1f}s")
    return 0


def draw_pictures(out, payload, init, pretrained, kept, probe, labels, ig_steps):
    """The PNGs (first seed): weights, attributions, CKA and drift, PCA, Yosinski's curve."""
    from minitransfer import explain
    from minitransfer.explain import pictures
    from minitransfer.report import save_figure
    from minitransfer.transfer import body_layers, features

    if common.new_figure()[0] is None:
        return []  # no matplotlib: the tables are still written
    side = int(round(np.sqrt(probe.shape[1])))
    shape = (side, side)
    def first_weights(model):
        return body_layers(model)[0][1].weight.detach().numpy()

    weights = {"random init": first_weights(init), "pretrained": first_weights(pretrained)}
    weights.update({f"fine-tuned:\n{s}": first_weights(m) for s, m in kept.items()})
    images = probe[:4]
    maps = {}
    for strategy, model in kept.items():
        maps[f"saliency\n{strategy}"] = explain.saliency(model, images)
        maps[f"IG\n{strategy}"] = explain.integrated_gradients(model, images, steps=ig_steps).attributions
    panels = {"pretrained": stats.pca(features(pretrained, probe, layer=-1)).coordinates}
    panels.update({s: stats.pca(features(m, probe, layer=-1)).coordinates for s, m in kept.items()})
    strategies = payload["strategies"]
    figures = {
        "first_layer_weights.png": pictures.first_layer_weights(weights, shape),
        "attributions.png": pictures.attribution_grid(
            images, maps, shape, "saliency |df/dx| and integrated gradients (red > 0 > blue) "
            "of the predicted class's logit"),
        "cka.png": pictures.per_layer_bars(layer_means(strategies, "cka"), "linear CKA",
                                           "each body layer vs the pretrained one"),
        "drift.png": pictures.per_layer_bars(layer_means(strategies, "drift"), "‖Δθ‖ / ‖θ‖",
                                             "how far each body layer moved"),
        "pca.png": pictures.pca_panels(panels, labels, "target class"),
        "layerwise.png": pictures.layerwise_curve(payload["layerwise"]),
    }
    return [save_figure(fig, os.path.join(out, name)) for name, fig in figures.items()]
