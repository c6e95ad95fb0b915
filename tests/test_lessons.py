"""The lessons run top to bottom, print the numbers they promise and save their figures.

Each lesson is run as a learner would run it, ``python lessons/NN_name.py``, in a subprocess
whose working directory is a fresh temporary folder, in quick mode (``MINITRANSFER_QUICK=1``:
fewer steps, seeds and k, the same logic) with ``MPLBACKEND=Agg``. Figures go to
``figures/NN/`` under the working directory (or under ``$MINITRANSFER_FIGURES/NN/``).

The expected phrases hold on Fashion-MNIST and on the digits fallback alike, so the tests pass
on machines with and without ``/usr/share/datasets/fashion-mnist``; one test forces the
fallback by pointing ``MINITRANSFER_FASHION_DIR`` at a missing folder.

BLAS threads are limited to one: the lessons' matrices are small, and several multi-threaded
BLAS processes on two cores slow each other down many times over.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# lesson -> (regular expressions its output must match, figures it must write)
EXPECTED = {
    "01_tensors_and_graph": (
        [r"chain rule by hand == backward\(\): True", r"x\.grad after two backwards: 12\.0",
         r"a third backward fails: backward\(\): trying to backward through a graph a second time",
         r"d out/dx = 2\.71\d+", r"dL/dw = \[18\.0, -4\.0, 16\.0\]",
         r"def run_backward\(root, grad", r"\[exercise 01\.1\] not attempted yet",
         r"\[exercise 01\.2\] not attempted yet"],
        ["graph.png", "graph.dot"]),
    "02_broadcasting_and_gradcheck": (
        [r"equals g\.sum\(axis=0\): True", r"float64: smallest error \d\.\de-1\d",
         r"caught: gradcheck failed for WrongMul",
         r"with upstream ones, the wrong backward looks right: True",
         r"with a random upstream, gradcheck says passed = False",
         r"MLP \[784, 128, 10\]: 101,770 weights, directional check passed=True",
         r"at gradcheck's eps = 1e-6: float64 error \d\.\de-1\d", r"truncation.*slope .* \+(1\.9|2\.0)\d",
         r"rounding.*slope .* -(0\.[89]|1\.[01])\d", r"full check of 1,290 weights .*passed=True, \d+\.\d s",
         r"\[exercise 02\.1\] not attempted yet", r"\[exercise 02\.2\] not attempted yet"],
        ["central_difference_error.png"]),
    "03_linear_relu_cross_entropy": (
        [r"dL/dW: backward vs g\.T @ x\s+max diff \d", r"gradcheck\(linear\): passed=True",
         r"central difference at the kink x = 0: 0\.500", r"gradcheck\(cross_entropy\): passed = True",
         r"ten equal logits give L = ln 10 = 2\.3026", r"nn\.CrossEntropyLoss: 1000\.0",
         r"grad = self\.softmax - self\.one_hot", r"\[exercise 03\.1\] not attempted yet",
         r"\[exercise 03\.2\] not attempted yet"],
        ["relu_and_cross_entropy.png"]),
    "04_training_an_mlp": (
        [r"initial risk 2\.3\d\d \(ln 10 = 2\.303\)", r"parameters: (101,770|9,610)",
         r"full gradient vs mean of \d+ batch gradients: max difference \d\.\de-\d\d",
         r"after 2 epochs: train risk \d\.\d+, test risk \d\.\d+, test accuracy \d+\.\d%",
         r"lr 2\.0: risk after 100 steps \d\.\d+, dead hidden units \d+ of 128",
         r"lowest risk after 100 steps: lr", r"\[exercise 04\.1\] not attempted yet"],
        ["samples.png", "training.png", "mistakes.png"]),
    "05_the_document_program": (
        [r"new_task_net\.fc1 started equal to net\.fc1: False",
         r"missing keys \(the new head, freshly initialised\): \['fc2\.weight', 'fc2\.bias'\]",
         r"new_task_net\.fc1 now starts equal to net\.fc1: True",
         r"as written \(scratch\)\s+2 epochs", r"the missing line costs -?\d+\.\d points",
         r"\d+,\d+ pretrained parameters reused", r"within 3/sqrt\(n\) = 0\.\d+ of 0",
         r"pretraining: \d+ epochs x \d+ batches of 64 = [\d,]+ SGD steps",
         r"gain at 2 - gain at 10\s+[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]",
         r"(gap shrinks|gap grows|no detectable change in the gap)", r"\[exercise 05\.1\] not attempted yet"],
        ["as_written_vs_corrected.png"]),
    "06_pretrain_and_fine_tune": (
        [r"source risk 2\.3\d\d -> \d\.\d+ in 300 steps", r"replace_head: 10 outputs -> 10 outputs",
         r"n = 50: fine-tuned \d+\.\d%, from scratch \d+\.\d%", r"gain vs scratch \[95% CI\]",
         r"three seeds: t\(0\.975, 2\) = 4\.30", r"intervals with t\(0\.975, 2\): 9\d\.\d% of 20,000",
         r"Holm by hand: p = \(0\.01, 0\.04, 0\.03, 0\.005\) -> \[0\.03 +0\.06 +0\.06 +0\.02\]",
         r"better performance\? full k=5: ", r"less data\? full", r"less compute\? k=5",
         r"conclusion: full vs scratch, read together \(Holm over \d+\)",
         r"\[exercise 06\.1\] not attempted yet"],
        ["learning_curves.png"]),
    "07_strategies": (
        [r"frozen body\.2 has a gradient: False \| body\.0 below it still gets one: True",
         r"group body\.0\s+lr 2\.50e-04", r"L2-SP gradient vs alpha\*\(theta - theta0\): max error",
         r"linear_probe\s+\d+\.\d ± \d+\.\d .* 0\.000\s+0\.000", r"gain over scratch: lp_ft k=5: ",
         r"drift of body\.0 at k=5, largest \(\w+\) minus runner-up",
         r"conclusion: validation picks at k=5: ",
         r"\[exercise 07\.1\] not attempted yet"],
        ["strategies.png"]),
    "08_four_kinds": (
        [r"reconstruction MSE after 200 steps", r"k-means on pixels\s+\(\s*\d+ dims\): ARI",
         r"supervised -> supervised\s+accuracy \(k=5\)", r"unsupervised -> unsupervised\s+reconstruction MSE",
         r"conclusion: supervised -> supervised, accuracy \(k=5\): ",
         r"\[exercise 08\.1\] not attempted yet"],
        ["denoising_autoencoder.png", "four_kinds.png"]),
    "09_when_transfer_fails": (
        [r"pixels permuted\s+ARI of k-means on pixels",
         r"label-free check, no change: ARI features minus pixels",
         r"label-free check, rotated 90° minus new classes",
         r"gain over scratch: rotated 90°, linear_probe, k=5",
         r"mismatch: pixels permuted minus new classes, linear_probe, k=5",
         r"conclusion: the label-free check (sees|does not see)",
         r"negative transfer detected in \d+ of 8 comparisons",
         r"\[exercise 09\.1\] not attempted yet"],
        ["targets.png", "gains.png"]),
    "10_faq_experiments": (
        [r"pretraining\s+0 steps -> fine-tuned accuracy", r"pretraining\s+300 steps",
         r"permuted pixels, same classes: scratch", r"seed 1: validation picks",
         r"reloaded weights identical: True", r"more pretraining: 300 minus 100 steps: ",
         r"answer 1: over-specialisation: ", r"\[exercise 10\.1\] not attempted yet"],
        ["first_layer_templates.png", "pretraining_budget.png"]),
    "11_gpu_with_cupy": (
        [r"(No usable GPU: .+|GPU found)", r"DEVICE = (cpu|cuda)", r"largest weight difference 0\.0",
         r"batch\s+CPU µs/step\s+GPU µs/step", r"target test accuracy \d+\.\d%",
         r"install|cupy-cuda|GPU found", r"\[exercise 11\.1\] not attempted yet"],
        ["step_time.png"]),
    "12_explainability": (
        [r"saliency == \|x\.grad\|: True",
         r"IG with  64 points: completeness gap \|delta\| / \|f\(x\) - f\(0\)\| median 0\.0\d+",
         r"IG summed per 2x2 square vs occlusion's drop: Kendall tau 0\.\d\d",
         r"linear_probe\s+1\.000\s+1\.000\s+0\.000\s+0\.000",
         r"full\s+drift layer 2 - layer 1: .*\(Holm p = [\d.e-]+\) -> ",
         r"linear_probe\s+source accuracy (\d+\.\d)% -> \1%",
         r"j = 2 frozen\s+: \d+\.\d%, gain, points: ",
         r"\[exercise 12\.1\] not attempted yet"],
        ["attributions.png", "cka_drift.png", "layerwise.png"]),
    "13_security": (
        [r"pixel\s+\d+: dL/dx by backward\(\) [+-]\d\.\d+, by central differences [+-]\d\.\d+",
         r"fgsm == clip\(x \+ eps\*sign\(grad\)\): True",
         r"=> attacks made on the teacher alone succeed more often than on scratch for \d of [24] strategies",
         r"=> clean accuracy not detectably lower with the poisoned model for \d of [24] strategies",
         r"=> adversarial fine-tuning eps=0\.1: clean accuracy lower for",
         r"loads with sha256=True: 6 arrays", r"one flipped bit: refused, CheckpointError",
         r"\[exercise 13\.1\] not attempted yet"],
        ["input_gradient.png", "accuracy_vs_eps.png", "triggered.png"]),
    "14_choosing_a_method": (
        [r"evidence by the iteration (-?\d+\.\d{6}), by the formula directly \1",
         r"logme\s+10 lp_ft\s+[+-]\d\.\d\d \[", r"H-score at its bound 4 on \d+ of \d+ pairs",
         r"advisor\s+mean regret\s+\d+\.\d pp", r"advisor vs always full: gain [+-]\d+\.\d pp .* -> ",
         r"lora\s+\d+\.\d%\s+trains\s+1,861 parameters", r"\[exercise 14\.1\] not attempted yet"],
        ["scores_vs_accuracy.png"]),
    "16_what_pretraining_costs": (
        [r"multiply-adds per example: forward 16,704, backward 25,216, a training step 41,920",
         r"the engine ran 1,341,440 multiply-adds, the formula says 1,341,440: True",
         r"the engine ran 544,768 multiply-adds, the formula says 544,768: True",
         r"gain vs m \(pretraining budget B = (200|1000) steps\)", r"At m=25 the gain over scratch is",
         r"- full: (pretraining once|never pays)", r"(The cheapest of them is|No efficient method)",
         r"\[exercise 16\.1\] not attempted yet", r"\[exercise 16\.2\] not attempted yet"],
        ["gain_vs_m_and_steps.png", "methods.png"]),
    "17_the_captured_step": (
        [r"slots \[0\] x, \[1\] y, \[2\] body\.0\.weight", r"\[4\] = Affine\(\[0\], \[2\], \[3\]\)",
         r"\[5\] = ReLU\(\[4\]\)   \(in place: in the arrays of \[4\]\)",
         r"captured vs eager over 10 steps: largest loss difference \d\.\de[+-]\d\d",
         r"batch\s+eager\s+lean\s+ops\s+captured\s+kept\s+floor",
         r"batch 64: captured takes \d+\.\d\dx the eager step's time; "
         r"eager - lean [+-]\d+ µs, lean - ops [+-]\d+ µs",
         r"identical losses at every step: True",
         r"θ −= η g on 128x784 float32: 64-byte aligned [\d.]+ µs, 16 bytes off [\d.]+ µs; off − aligned: "
         r"[+-][\d.]+ \[[+-][\d.e+-]+, [+-][\d.e+-]+\] µs over 3 rounds, (the aligned arrays are faster|"
         r"the arrays 16 bytes off are faster|no detectable difference) here, now",
         r"(θ −= η g on 128x784 float32: two passes [\d.]+ µs, axpy [\d.]+ µs; two − one: "
         r"[+-][\d.]+ \[[+-][\d.e+-]+, [+-][\d.e+-]+\] µs over 3 rounds, (one pass is faster|"
         r"two passes are faster|no detectable difference) here, now|NumPy's BLAS here is not OpenBLAS)",
         r"network's largest: 1 thread \d+ µs, 2 threads \d+ µs -> 2 threads take \d+\.\d\dx",
         r"digits network, batch 64: 1 thread \d+ µs, 2 threads \d+ µs -> 2 threads take \d+\.\d\dx"
         r" the time of 1; 2 threads - 1 thread: [+-][\d.]+ \[[+-][\d.e+-]+, [+-][\d.e+-]+\] µs, "
         r"(one thread is faster|two threads are faster|no detectable difference) here, now "
         r"\(Holm-adjusted p = [\d.e-]+, 4 comparisons\)",
         r"\[exercise 17\.1\] not attempted yet"],
        ["step_times.png"]),
    "15_data_mismatch": (
        [r"gradcheck against -0\.7 x: passed = True", r"caught: gradcheck failed for Unflipped",
         r"noise\s+raw pixels: proxy A-distance \d\.\d\d", r"invert\s+mmd\s+\d+\.\d",
         r"beats source-only after Holm's correction \(6 comparisons\)",
         r"\[exercise 15\.1\] not attempted yet"],
        ["features_pca.png"]),
}


def _lowest_risk_is_read_right(output):
    """Lesson 04 names the learning rate whose printed risk is lowest."""
    printed = re.findall(r"^lr ([\d.]+): risk after \d+ steps (\d\.\d+)", output, re.M)
    risks = {lr: float(risk) for lr, risk in printed}
    named = re.search(r"lowest risk after \d+ steps: lr ([\d.]+)", output).group(1)
    assert named == min(risks, key=risks.get), f"lesson 04 names lr {named}, the printed risks are {risks}"


def _gap_sentence_follows_its_verdict(output):
    """Lesson 05's sentences about the gap follow the Holm verdicts printed above them."""
    line = re.search(r"gain at \d+ - gain at \d+ .*", output).group(0)
    cost = re.search(r"^  gain at \d+ epochs .*", output, re.M).group(0)
    expected = {"helped": "gap shrinks", "hurt": "gap grows",
                "no detectable": "no detectable change in the gap"}
    for words, sentence in expected.items():
        assert (f"  {words}" in line) == (sentence in output), f"lesson 05: {line!r} but not {sentence!r}"
    assert ("helped (" in cost) == ("the transfer helped" in output), f"lesson 05: {cost!r}"


def _gains_read_their_intervals(output):
    """Lesson 16's sentences about the ends of a curve read each printed interval rightly."""
    sentences = re.findall(r"([+-]\d+\.\d) \[([+-]\d+\.\d), ([+-]\d+\.\d)\] (?:points )?\(([a-z ]+)",
                           " ".join(re.findall(r"^At .*", output, re.M)))
    assert len(sentences) == 4, sentences
    for _, low, high, words in sentences:
        if float(low) == 0 or float(high) == 0:
            continue  # a bound printed as 0.0 may lie on either side of 0
        expected = ("helped" if float(low) > 0 else "hurt" if float(high) < 0
                    else "no detectable difference")
        assert words.startswith(expected), f"lesson 16 reads [{low}, {high}] as {words!r}"


# lesson -> functions that check a printed reading against the numbers printed with it
READINGS = {"04_training_an_mlp": [_lowest_risk_is_read_right],
            "05_the_document_program": [_gap_sentence_follows_its_verdict],
            "16_what_pretraining_costs": [_gains_read_their_intervals]}


def run_lesson(path, cwd, **extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINITRANSFER_")}
    env.update(MINITRANSFER_QUICK="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONIOENCODING="utf-8", **extra_env)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], cwd=cwd, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=170)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, f"{path.name} failed after {seconds:.1f}s:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout, seconds


# A result read in words, as lessons/_lesson.py's `reading` prints it:
#   LABEL: +2.8 [+2.1, +3.4] UNIT → helped (...)[: meaning] | Holm over 8: helped (adjusted p = 0.012)
READING = re.compile(
    r"^(?P<label>.+?): (?P<estimate>[+-]\d+\.\d+) \[(?P<low>[+-]\d+\.\d+), (?P<high>[+-]\d+\.\d+)\] [^→\n]*"
    r"→ (?P<verdict>helped|hurt|no detectable difference|undecided)[^|\n]*"
    r"(?:\| Holm over (?P<family>\d+): (?P<holm>helped|hurt|no detectable difference) "
    r"\(adjusted p = (?P<p>\d\.\d+)\))?$", re.MULTILINE)


def check_readings(output):
    """Every printed verdict agrees with the numbers printed beside it; returns {label: (verdict, holm)}.

    helped needs a lower bound >= 0 and hurt an upper bound <= 0 (as printed, rounded), no
    detectable difference an interval holding 0; a Holm verdict of helped or hurt needs an
    adjusted p <= 0.05 *and* the unadjusted interval on the same side of 0.
    """
    readings = {}
    for m in READING.finditer(output):
        low, high, where = float(m["low"]), float(m["high"]), m.group(0)
        assert low <= float(m["estimate"]) <= high, f"estimate outside its interval: {where}"
        expected = "helped" if low > 0 else "hurt" if high < 0 else "no detectable difference"
        if low == 0 or high == 0:  # a bound that rounds to 0 can be read either way
            either = "helped" if low == 0 else "hurt"
            assert m["verdict"] in (expected, "no detectable difference", either), where
        else:
            assert m["verdict"] == expected, f"the verdict contradicts the printed interval: {where}"
        if m["holm"]:
            p = float(m["p"])
            if m["holm"] == "no detectable difference":
                assert p >= 0.0495, f"Holm says no difference with adjusted p <= 0.05: {where}"
            else:
                assert p <= 0.0505 and m["holm"] == m["verdict"], f"Holm's verdict contradicts: {where}"
        assert m["label"] not in readings, f"two readings with one label: {m['label']}"
        readings[m["label"]] = (m["verdict"], m["holm"])
    return readings


def check_conclusions_06(output, readings):
    """The concluding sentences of lesson 6 list exactly the Holm verdicts of its table."""
    for strategy in ("linear_probe", "full"):
        sentence = re.search(rf"conclusion: {strategy} vs scratch, read together \(Holm over \d+\): (.+)",
                             output).group(1)
        listed = re.findall(r"(helped|hurt|no detectable difference) at k = ([\d, ]+)", sentence)
        stated = {k: words for words, ks in listed for k in ks.split(", ")}
        printed = {label.rsplit("k=", 1)[1]: holm for label, (_, holm) in readings.items()
                   if label.startswith(f"better performance? {strategy} k=")}
        assert printed and stated == printed, \
            f"lesson 6 concludes {stated} for {strategy}, its table says {printed}"
    last = re.search(r"catch up with full fine-tuning at the largest k = (\d+)\? ([^;]+);", output)
    holm = readings[f"better performance? full k={last[1]}"][1]
    expected = {"helped": "no, full fine-tuning is still ahead", "hurt": "scratch is ahead",
                "no detectable difference": "within noise: no detectable difference"}[holm]
    assert last[2] == expected, f"lesson 6 answers {last[2]!r}, its Holm verdict is {holm!r}"


def check_conclusions_07(output, readings):
    """Lesson 7 calls 'within noise' of the validation pick exactly the rivals Holm cannot separate."""
    pattern = (r"conclusion: validation picks at k=(\d+): ([\w =]+?) \(.*?"
               r"within noise of it \(Holm over \d+\): ([\w, ]+);")
    found = re.findall(pattern, output)
    assert found, "lesson 7 names no validation pick"
    for k, pick, stated in found:
        first = pick.split(" = ")[0]
        rivals = {label.rsplit(" minus ", 1)[1]: holm for label, (_, holm) in readings.items()
                  if label.startswith(f"validation k={k}: {first} minus ")}
        tied = sorted(s for s, holm in rivals.items() if holm != "helped")
        assert rivals and sorted(stated.split(", ")) == (tied or ["none"]), \
            f"lesson 7 says {stated} are within noise of {first} at k={k}; its readings say {tied}"


def check_conclusions_08(output, readings):
    """Each of lesson 8's conclusions repeats the Holm verdict of the row it names."""
    words = {"transfer helped": "helped", "transfer hurt": "hurt"}
    found = re.findall(r"conclusion: (.+?): (transfer helped|transfer hurt|no detectable difference) .*",
                       output)
    assert len(found) == 6, f"lesson 8 printed {len(found)} conclusions, expected one per row of its table"
    for row, said in found:
        holm = next(h for label, (_, h) in readings.items() if label.startswith(f"{row}, vs "))
        assert words.get(said, said) == holm, f"lesson 8 concludes {said!r} for {row}; Holm says {holm!r}"


def check_conclusions_09(output, readings):
    """Lesson 9's conclusions repeat the Holm verdicts of the gains and mismatches they name."""
    said = {"helped": "helped", "hurt (negative transfer)": "hurt",
            "no detectable difference": "no detectable difference"}
    targets = re.findall(r"^conclusion: (no change|new classes|rotated 90°|pixels permuted): (.+)$",
                         output, re.MULTILINE)
    assert len(targets) == 4, f"lesson 9 concludes on {len(targets)} targets, expected 4"
    for target, parts in targets:
        verdicts = re.findall(r"(\w+) k=(\d+) (helped|hurt \(negative transfer\)|no detectable difference)",
                              parts)
        assert verdicts, f"lesson 9's conclusion on {target} names no verdict: {parts}"
        for strategy, k, words in verdicts:
            holm = readings[f"gain over scratch: {target}, {strategy}, k={k}"][1]
            assert said[words] == holm, f"lesson 9 says {target} {strategy} k={k} {words}; Holm says {holm}"
    beyond = {"an extra loss": "hurt", "a smaller loss": "helped",
              "no detectable extra loss": "no detectable difference"}
    found = re.findall(r"conclusion: beyond the new classes, (.+?) \((\w+), k=(\d+)\): (.+)", output)
    assert found, "lesson 9 does not conclude on the mismatch beyond the new classes"
    for target, strategy, k, words in found:
        holm = readings[f"mismatch: {target} minus new classes, {strategy}, k={k}"][1]
        assert beyond[words] == holm, f"lesson 9 says {words} for {target}; Holm says {holm}"


def check_conclusions_10(output, readings):
    """Lesson 10's answers repeat the Holm verdicts of the comparisons they name."""
    answers = re.findall(r"^answer 2: (.+?): (\w+) (helped|hurt|no detectable difference); (\w+) "
                         r"(helped|hurt|no detectable difference)$", output, re.MULTILINE)
    assert len(answers) == 3, f"lesson 10 answers question 2 for {len(answers)} targets, expected 3"
    for target, first, said_first, second, said_second in answers:
        for strategy, said in ((first, said_first), (second, said_second)):
            holm = readings[f"{target}: {strategy} minus scratch"][1]
            assert said == holm, f"lesson 10 says {target} {strategy} {said}; Holm says {holm}"
    budgets = re.search(r"^answer 1: pretraining vs scratch \(Holm over the budgets\): (.+)$", output,
                        re.MULTILINE)
    for steps, said in re.findall(r"(\d+) steps (helped|hurt|no detectable difference)", budgets[1]):
        holm = readings[f"pretraining {steps} steps minus 0 steps"][1]
        assert said == holm, f"lesson 10 says {steps} steps {said}; Holm says {holm}"
    lowered = [label for label, (_, holm) in readings.items()
               if label.startswith("more pretraining") and holm == "hurt"]
    assert ("over-specialisation: not detected" in output) == (not lowered), \
        "lesson 10's over-specialisation answer contradicts its tests"


# lesson -> the check that its concluding sentences follow from the readings it printed
CONCLUSIONS = {"06_pretrain_and_fine_tune": check_conclusions_06, "07_strategies": check_conclusions_07,
               "08_four_kinds": check_conclusions_08, "09_when_transfer_fails": check_conclusions_09,
               "10_faq_experiments": check_conclusions_10}
# lessons that read results in words: each prints at least this many readings
READINGS_AT_LEAST = {"06_pretrain_and_fine_tune": 6, "07_strategies": 13, "08_four_kinds": 7,
                     "09_when_transfer_fails": 18, "10_faq_experiments": 9}


def check_figures(folder, names):
    for name in names:
        figure = folder / name
        assert figure.is_file(), f"missing figure {figure}; the folder holds {sorted(os.listdir(folder))}"
        if name.endswith(".png"):
            assert figure.read_bytes()[:8] == PNG_MAGIC, f"{figure} is not a PNG file"


def test_the_shared_lesson_helper_reads_both_settings():
    text = (LESSONS[0].parent / "_lesson.py").read_text(encoding="utf-8")
    assert "MINITRANSFER_QUICK" in text and "MINITRANSFER_FIGURES" in text


def test_every_lesson_has_expectations_and_an_index_entry():
    assert LESSONS, f"no lessons found in {LESSONS_DIR}"
    assert {p.stem for p in LESSONS} == set(EXPECTED)
    index = (LESSONS_DIR / "README.md").read_text(encoding="utf-8")
    for path in LESSONS:
        assert path.name in index, f"lessons/README.md does not list {path.name}"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_is_a_readable_jupytext_script(path):
    text = path.read_text(encoding="utf-8")
    assert "format_name: percent" in text or "formats: py:percent" in text
    assert text.count("# %% [markdown]") >= 3, "a lesson explains itself in markdown cells"
    assert "$" in text, "a lesson shows its equations in LaTeX"
    assert "from _lesson import" in text and "= figures(" in text  # quick mode and figure folder
    assert "plt.show()" not in text, "lessons save figures; plt.show() would block a script"
    assert len(text.splitlines()) <= 320, "keep each lesson readable in one sitting"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_in_quick_mode(path, tmp_path):
    output, seconds = run_lesson(path, tmp_path)
    patterns, figures = EXPECTED[path.stem]
    for pattern in patterns:
        assert re.search(pattern, output), f"{path.name}: expected /{pattern}/ in its output:\n{output}"
    for reading_agrees in READINGS.get(path.stem, []):
        reading_agrees(output)
    check_figures(tmp_path / "figures" / path.stem[:2], figures)
    readings = check_readings(output)
    enough = READINGS_AT_LEAST.get(path.stem, 0)
    assert len(readings) >= enough, f"{path.name} printed {len(readings)} readings, expected >= {enough}"
    if path.stem in CONCLUSIONS:
        CONCLUSIONS[path.stem](output, readings)
    assert seconds < 120, f"{path.name} took {seconds:.0f}s in quick mode"


def test_lessons_fall_back_to_digits_without_fashion_mnist(tmp_path):
    path = LESSONS_DIR / "04_training_an_mlp.py"
    output, _ = run_lesson(path, tmp_path, MINITRANSFER_FASHION_DIR=str(tmp_path / "no-such-folder"))
    assert "Fashion-MNIST not found" in output and "Falling back to the 8x8 digits" in output
    assert "parameters: 9,610" in output  # the 64-128-10 network
    check_figures(tmp_path / "figures" / "04", EXPECTED["04_training_an_mlp"][1])


def test_figures_folder_can_be_chosen(tmp_path):
    output, _ = run_lesson(LESSONS_DIR / "01_tensors_and_graph.py", tmp_path,
                           MINITRANSFER_FIGURES=str(tmp_path / "elsewhere"))
    check_figures(tmp_path / "elsewhere" / "01", EXPECTED["01_tensors_and_graph"][1])
    assert not (tmp_path / "figures").exists()
