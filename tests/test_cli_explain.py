"""``minitransfer explain`` with a tiny configuration: the files, their tables, and the same bytes
for the same seeds (apart from timings)."""

import json

import numpy as np

from minitransfer import cli
from minitransfer.commands import explain as explain_command
from minitransfer.commands.common import without_timings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["explain", "--hidden", "12,8", "--seeds", "2", "--pretrain-steps", "20", "--finetune-steps",
        "6", "--ig-steps", "4", "--k", "5", "--strategies", "linear_probe,full"]


def _run(out):
    args = cli.build_parser().parse_args(TINY + ["--out", str(out)])
    printed = []
    assert explain_command.run(args, log=printed.append) == 0
    return json.loads((out / "explain.json").read_text()), (out / "explain.md").read_text(), printed


def test_explain_writes_its_tables_and_pictures_and_repeats_exactly(tmp_path):
    first, text, printed = _run(tmp_path / "a")
    second, _, _ = _run(tmp_path / "b")
    assert without_timings(first) == without_timings(second)
    assert "total" in first["timings"] and first["settings"]["seeds"] == [0, 1]
    for name in ("first_layer_weights", "attributions", "cka", "drift", "pca", "layerwise"):
        assert (tmp_path / "a" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        assert f"![{name}.png]({name}.png)" in text
    probe, full = first["strategies"]["linear_probe"], first["strategies"]["full"]
    # the linear probe's body is the pretrained body: CKA 1, drift 0, nothing forgotten
    assert all(np.allclose(v["values"], 1.0, rtol=0, atol=1e-12) for v in probe["cka"].values())
    assert all(v["values"] == [0.0, 0.0] for v in probe["drift"].values())
    assert probe["forgetting"]["estimate"] == 0.0 and probe["forgetting"]["verdict"] == "identical"
    assert all(v["mean"] > 0 for v in full["drift"].values())
    assert [(r["layers_copied"], r["frozen"]) for r in first["layerwise"]] == [
        (0, True), (0, False), (1, True), (1, False), (2, True), (2, False)]
    for heading in ("## What fine-tuning changes", "## Forgetting", "## Attributions",
                    "## Layer-wise transferability", "riemann_middle | 256"):
        assert heading in text
    assert text in printed
    gaps = first["ig_convergence"]["riemann_middle"]
    assert [row["steps"] for row in gaps] == [8, 16, 32, 64, 128, 256]
    assert all(0 <= row["median"] <= row["p90"] <= row["max"] for row in gaps)
