"""``minitransfer advise --checkpoint PRE.npz --target jitter [--k 25]``: which strategy, and why.

Reads the checkpoint ``minitransfer pretrain`` wrote, draws the k labelled target examples per
class that ``finetune`` would draw with the same seed, computes the four transferability scores
on them (the source head still on), and applies the rule shipped in ``advisor_rule.json``
(``minitransfer transferability --fit`` regenerates it). It does not fine-tune anything: it
prints the advice, the scores and threshold that drove it, and how the rule fared on pairs it
was not fitted on.
"""

import numpy as np

from minitransfer import advisor
from minitransfer.commands import options
from minitransfer.commands.common import UsageError, load_task


def add_parser(subparsers):
    parser = subparsers.add_parser("advise", help="advise a fine-tuning strategy for a pretrained "
                                   "checkpoint and a target, from transferability scores")
    options.add_checkpoint_options(parser, "a checkpoint written by 'minitransfer pretrain' (default "
                                           "pretrained.npz)")
    options.add_data_options(parser)
    parser.add_argument("--k", type=options.one_k, default=25,
                        help="labelled target examples per class the scores read (default 25)")
    parser.add_argument("--seeds", type=options.seeds, default=[0],
                        help="seeds of the k-example draws; the scores are averaged over them (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    options.add_thread_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args, log=print):
    """Print the advice for ``args.checkpoint`` on ``args.target``; return 0."""
    from minitransfer.data import k_per_class
    from minitransfer.experiment import split_target
    from minitransfer.main_job import load_pretrained
    from minitransfer.transferability import METHODS, all_scores

    task = load_task(args)
    model = load_pretrained(args.checkpoint, task, args.sha256)
    model.to(args.device)
    (pool_x, pool_y), _ = split_target(task)
    smallest = int(np.bincount(pool_y).min())
    k = smallest if args.k is None else args.k
    if not 2 <= k <= smallest:
        raise UsageError(f"--k: expected from 2 (the scores compare classes' spreads) to {smallest} "
                         f"(the smallest class of the {task.name} pool), got {k}")
    rule, document = advisor.load_rule()
    draws = [all_scores(model, *k_per_class(pool_x, pool_y, k, seed=seed)) for seed in args.seeds]
    scores = {m: float(np.mean([d[m] for d in draws])) for m in METHODS}
    strategy = rule.choose({**scores, "k": k})
    fitted = document.get("fitted_on", {})
    log(f"checkpoint {args.checkpoint}: MLP {model.sizes}, pretrained on a {model.sizes[-1]}-class source")
    log(f"target {task.name}: k = {k} labelled examples per class ({k * task.target_classes} examples), "
        f"seed{'s' if len(args.seeds) > 1 else ''} {', '.join(str(s) for s in args.seeds)}")
    log("scores before fine-tuning: " + ", ".join(f"{m} {scores[m]:+.4g}" for m in METHODS)
        + ("" if len(draws) == 1 else f" (mean over {len(draws)} draws)"))
    log(f"advice: {strategy}")
    log(f"why: {rule.explain({**scores, 'k': k})}")
    log(f"the rule: {rule}; fitted on {fitted.get('data', '?')} targets "
        f"{','.join(fitted.get('targets', []))}, checkpoints {', '.join(fitted.get('checkpoints', []))} "
        f"(hidden widths @ pretraining steps), {fitted.get('finetune_steps')} fine-tuning steps, "
        f"among {', '.join(document.get('candidates', []))}")
    log(advisor.held_out_sentence(document))
    body = "-".join(str(n) for n in model.sizes[1:-1])
    bodies = {label.split("@")[0] for label in fitted.get("checkpoints", [])}
    if body not in bodies or fitted.get("data") != args.data:
        log(f"note: the rule was measured on {fitted.get('data')} with bodies {', '.join(sorted(bodies))}; "
            f"this checkpoint ({args.data}, body {body}) is of another kind: the scores are read the "
            f"same way, but the record above does not cover it")
    log(f"next: minitransfer finetune --checkpoint {args.checkpoint} --data {args.data} --target "
        f"{args.target} --k {k} --strategy {strategy}")
    return 0
