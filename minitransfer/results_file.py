"""The results file of ``experiment.compare``: one JSON line per finished run, so that a killed
run resumes where it stopped (``minitransfer run --resume``).

Each line is written and fsync'ed as its run ends (``append_result``). On a resume,
``load_results`` keeps the complete records and drops a line cut off by the kill, and
``rewrite_results`` rewrites the file atomically with exactly those records before anything is
appended, so that no later line is glued to a cut one.
"""

import json
import os

from minitransfer.fileio import atomic_write_bytes

# What every run record holds (``compare`` writes them; ``summarize`` and the report read them).
RECORD_FIELDS = ("strategy", "k", "seed", "accuracy", "train_examples", "steps", "seconds",
                 "final_loss", "curve")


def run_key(record):
    """Which run a record is: (strategy, k, seed)."""
    return (record["strategy"], record["k"], record["seed"])


def load_results(path):
    """Runs already finished, from a results file written by ``compare`` (one JSON per line).

    A line cut off by a kill in the middle of a write is ignored: that run is simply redone.
    So is any line that is not a run record, and a second record of the same run.
    """
    done, seen = [], set()
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    key = run_key(record)
                    if any(field not in record for field in RECORD_FIELDS):
                        continue
                except (json.JSONDecodeError, TypeError, KeyError):
                    continue
                if key not in seen:
                    seen.add(key)
                    done.append(record)
    return done


def rewrite_results(path, records):
    """Replace the results file by exactly ``records``, atomically, when it holds anything else.

    A kill in the middle of an append can leave a last line without its newline; the next
    append would then be glued to it, and both runs would be lost. Rewriting the file with the
    complete records first keeps every later append on a line of its own.
    """
    if not path or not os.path.exists(path):
        return
    text = "".join(json.dumps(record) + "\n" for record in records)
    with open(path, encoding="utf-8", errors="replace") as f:
        if f.read() == text:
            return
    atomic_write_bytes(path, text.encode())


def append_result(path, record):
    """Append one finished run as one line, flushed and fsync'ed before the next run starts."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
