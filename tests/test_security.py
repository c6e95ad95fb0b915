"""minitransfer.security: the trigger, poisoning, fine-pruning, the teacher-crafted attack, the
summary's verdicts and ``minitransfer attack`` on a tiny configuration; checkpoint integrity."""

import argparse
import json

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn, security, stats
from minitransfer.transfer import features, fine_tune, replace_head


def test_stamp_trigger_sets_exactly_the_bottom_right_square():
    x = np.zeros((2, 16), np.float32)
    stamped = stamp = security.stamp_trigger(x, size=2)
    expected = np.zeros((4, 4))
    expected[2:, 2:] = 1
    np.testing.assert_array_equal(stamp[0].reshape(4, 4), expected)
    assert stamped is not x and x.sum() == 0  # a copy


def test_poison_source_adds_triggered_copies_labelled_with_the_target_class():
    x = np.random.default_rng(0).uniform(0, 0.5, size=(40, 16))
    y = np.arange(40) % 4
    (px, py), chosen = security.poison_source((x, y), fraction=0.25, target_class=0, size=2, seed=1)
    assert len(chosen) == 10 and np.all(y[chosen] != 0)  # only images of other classes are copied
    np.testing.assert_array_equal(px[:40], x)
    np.testing.assert_array_equal(py[40:], 0)
    np.testing.assert_array_equal(px[40:], security.stamp_trigger(x[chosen], 2))


def test_fine_prune_zeroes_the_least_active_units_and_they_stay_pruned():
    model = nn.MLP([4, 6, 5, 3], generator=0)
    x = np.random.default_rng(0).uniform(0, 1, size=(30, 4)).astype(np.float32)
    activity = features(model, x, layer=-1).mean(axis=0)
    pruned = security.fine_prune(model, x, fraction=0.4)
    np.testing.assert_array_equal(pruned, np.sort(np.argsort(activity, kind="stable")[:2]))
    fine_tune(model, (x, np.arange(30) % 3), "full", steps=10)
    assert np.all(features(model, x, layer=-1)[:, pruned] == 0)
    assert np.all(model.body[2].weight.detach().numpy()[pruned] == 0)


def test_feature_attack_moves_the_teachers_features_toward_the_guides_within_eps():
    teacher = nn.MLP([16, 12, 8, 4], generator=3)
    rng = np.random.default_rng(0)
    x, guides = rng.uniform(0, 1, size=(6, 16)), rng.uniform(0, 1, size=(6, 16))
    x, guides = x.astype(np.float32), guides.astype(np.float32)
    crafted = security.feature_attack(teacher, x, guides, eps=0.1, steps=10)
    assert np.all(np.abs(crafted - x) <= 0.1 + 1e-7) and crafted.min() >= 0 and crafted.max() <= 1

    def distance(images):
        return np.sum((features(teacher, images, layer=-1) - features(teacher, guides, layer=-1)) ** 2)

    assert distance(crafted) < 0.8 * distance(x)
    np.testing.assert_array_equal(security.feature_attack(teacher, x, guides, eps=0.0), x)


def test_attack_targets_are_always_another_class_and_the_rates_count_them():
    y = np.arange(100) % 5
    targets = security.attack_targets(y, 5, seed=0)
    assert np.all(targets != y) and set(targets) == set(range(5))
    model = nn.MLP([4, 3, 5], generator=0)
    x = np.full((100, 4), 0.5, np.float32)  # one prediction for all
    predicted = int(security.predict(model, x[:1])[0])
    targeted, untargeted = security.attack_rates(model, x, y, targets)
    assert targeted == np.mean(targets == predicted) and untargeted == np.mean(y != predicted)


def test_a_checkpoint_changed_and_saved_again_loads_without_a_digest_and_is_refused_with_it(tmp_path):
    path = tmp_path / "pretrained.npz"
    model = nn.MLP([4, 5, 3], generator=0)
    digest = mt.save(model.state_dict(), path, sha256=True)
    assert (tmp_path / "pretrained.npz.sha256").read_text() == f"{digest}  pretrained.npz\n"
    assert len(digest) == 64 and list(mt.load(path, sha256=digest)) == list(mt.load(path, sha256=True))
    state = mt.load(path)
    state["head.bias"] = state["head.bias"] + 5.0  # an edited weight: still a valid archive
    mt.save(state, path)
    assert mt.load(path)["head.bias"].numpy()[0] > 4  # nothing catches it without a digest
    with pytest.raises(mt.CheckpointError, match="expected " + digest):
        mt.load(path, sha256=True)


def tiny_args(out, **changes):
    values = dict(data="digits", data_dir=None, target="none", strategies=["linear_probe"], k=5,
                  seeds=[0, 1], hidden=[12, 8], out=str(out), quick=False, device="cpu",
                  eps=[0.1], adversarial_eps=0.1, pretrain_steps=30, finetune_steps=8)
    values.update(changes)
    return argparse.Namespace(**values)


def test_the_attack_command_writes_its_files_and_repeats_exactly(tmp_path):
    from minitransfer.commands import attack
    from minitransfer.commands.common import _plain, load_task

    logs, args = [], tiny_args(tmp_path)
    attack.run(args, log=logs.append)
    for name in ("attack.json", "attack.md", "accuracy_vs_eps.png", "adversarial_examples.png",
                 "triggered_examples.png"):
        assert (tmp_path / name).is_file()
    written = json.loads((tmp_path / "attack.json").read_text())
    assert written["settings"]["strategies"] == ["scratch", "linear_probe"]  # scratch: the control
    assert written["settings"]["eps"] == [0.0, 0.1] and "seconds" in written["timings"]
    row = written["records"][0]["strategies"]["linear_probe"]
    assert set(row) >= {"clean", "fgsm", "pgd", "teacher_targeted", "poisoned", "pruned", "adversarial"}
    again, _, _ = security.run(load_task(args), attack.settings_from(args), log=lambda line: None)
    assert _plain(again) == written["records"]  # the same seeds give the same numbers
    text = (tmp_path / "attack.md").read_text()
    for table in ("White-box", "crafted on the public teacher", "poisoned pretrained", "Fine-pruning",
                  "Adversarial fine-tuning", "Conclusions"):
        assert table in text
    assert text in "\n".join(logs)


def test_the_conclusions_follow_the_verdicts_of_the_paired_differences():
    from minitransfer.security.summary import summarize

    settings = security.Settings(strategies=("scratch", "linear_probe"), seeds=(0, 1, 2), eps=(0.0, 0.1))

    def record(seed, flip_poisoned):
        row = {"clean": 0.9, "fgsm": [0.9, 0.5], "pgd": [0.9, 0.4], "flip": 0.1,
               "teacher_targeted": [0.01, 0.02], "teacher_untargeted": [0.1, 0.2],
               "adversarial": {"clean": 0.9, "pgd": 0.6 + 0.01 * seed, "pgd_plain": 0.4}}
        lp = dict(row, teacher_targeted=[0.05, 0.4 + 0.01 * seed],
                  poisoned={"clean": 0.9, "flip": flip_poisoned + 0.01 * seed},
                  pruned={"clean": 0.9, "flip": flip_poisoned})
        return {"seed": seed, "strategies": {"scratch": row, "linear_probe": lp},
                "backdoor_success": {"clean": 0.0, "poisoned": 0.99}}

    summary = summarize([record(s, 0.7) for s in (0, 1, 2)], settings)
    assert summary["poisoning"]["linear_probe"]["second"]["difference"]["verdict"] == stats.HELPED
    assert summary["teacher"]["linear_probe"]["added_vs_scratch"]["verdict"] == stats.HELPED
    assert any("trigger flip rate: higher for linear_probe" in line for line in summary["conclusions"])
    same = summarize([record(s, 0.1 - 0.01 * s) for s in (0, 1, 2)], settings)  # flip unchanged
    assert same["poisoning"]["linear_probe"]["second"]["difference"]["verdict"] == stats.NO_DIFFERENCE
    assert any("trigger flip rate: no detectable difference for linear_probe" in line
               for line in same["conclusions"])


def test_replace_head_then_fine_prune_keeps_the_new_head_trainable():
    model = nn.MLP([4, 6, 3], generator=0)
    replace_head(model, 2, generator=1)
    security.fine_prune(model, np.random.default_rng(0).uniform(0, 1, (10, 4)).astype(np.float32), 0.5)
    assert all(p.requires_grad for p in model.parameters())
