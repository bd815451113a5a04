"""Instructions per unit of work, counted by callgrind: a timing that a busy machine cannot blur.

    python benchmarks/instructions.py [--tree DIR] [--only switch,chain] [--runs 1]

Each workload runs under ``valgrind --tool=callgrind`` at two sizes, N and 2N (N is the
workload's size in ``registry.py``), in a process of its own (``child.py ours``). The
difference of the two totals, divided by N, is the cost of one unit of work (one switch, one
coroutine of a chain, ...): Python's start-up and the workload's set-up cancel out. ``--tree``
measures another checkout (say ``git archive main | tar -x -C /tmp/main``): its ``src`` is put
first on ``PYTHONPATH`` and its ``benchmarks/child.py`` is run, so that two versions can be
compared on the same machine. Needs valgrind; each row takes about a minute.

``sleepers`` waits on the real clock, so how often the loop goes idle varies from run to run:
its count is noisier than the others' (use ``--runs`` and look at the spread).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import registry

HERE = Path(__file__).resolve().parent
DEFAULT_WORKLOADS = ("switch", "chain", "gather", "event", "queue", "sleepers", "lock")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def count(tree: Path, workload: str, n: int) -> int:
    """The instructions of one process running `workload` at size `n` from `tree`."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as scratch:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/callgrind.out",
                sys.executable,
                str(tree / "benchmarks" / "child.py"),
                "ours",
                workload,
                str(n),
                "--repeats",
                "1",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    found = _COLLECTED.search(completed.stderr)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"{workload} at N={n} failed:\n{completed.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", type=Path, default=HERE.parent, help="the checkout to measure")
    parser.add_argument("--only", default=",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--runs", type=int, default=1, help="measurements per workload")
    args = parser.parse_args()
    tree = args.tree.resolve()
    print(f"# instructions per unit of work, {tree}")
    for workload in args.only.split(","):
        n = registry.WORKLOADS[workload].size
        per_unit = [
            (count(tree, workload, 2 * n) - count(tree, workload, n)) / n for _ in range(args.runs)
        ]
        shown = "  ".join(f"{value:10.1f}" for value in per_unit)
        print(f"{workload:12} N={n:<7} {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
