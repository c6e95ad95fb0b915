"""Security of transfer learning: attacks that a public pretrained model hands to everyone who
fine-tunes it, and what the defences cost (the document's §5.4, "protect models from malicious
attacks"; OWASP's ML Top 10 lists the transfer learning attack).
"""

from minitransfer.attacks import AdversarialBatches, fgsm, pgd, predict, robust_accuracy
from minitransfer.security.experiment import Settings, run, run_seed
from minitransfer.security.poisoning import (
    backdoor_success,
    fine_prune,
    flip_rate,
    poison_source,
    stamp_trigger,
)
from minitransfer.security.teacher import attack_rates, attack_targets, attacker_images, feature_attack

__all__ = [
    "fgsm", "pgd", "robust_accuracy", "predict", "AdversarialBatches", "feature_attack",
    "attacker_images", "attack_targets", "attack_rates", "stamp_trigger", "poison_source",
    "backdoor_success", "flip_rate", "fine_prune", "Settings", "run", "run_seed",
]
