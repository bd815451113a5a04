"""Instruction counts per unit of work, by callgrind: a measure that a busy machine cannot blur.

Used by ``run.py --instructions`` (and, on one tiny cell, by ``run.py --smoke``). Each cell
(framework x workload x size) runs once under ``valgrind --tool=callgrind`` in a process of its
own (``child.py ... --repeats 1``), GC on; so does an empty run of each framework
(``--repeats 0``: the interpreter's start-up, the framework's import and the workload module's,
no workload). A cell's instructions per unit of work are

    (instructions of the cell - instructions of its framework's empty run) / N

and, where a workload ran at N and 4N, the marginal cost of a unit is

    (instructions at 4N - instructions at N) / 3N

which also cancels what the first run pays once (a module imported on first use, the loop's
creation). Both include the check of the answer, which costs the same in every framework and is
small next to a unit of work. callgrind counts every thread and every C function (uvloop's
libuv too). Counts do not depend on the machine's load, so cells may run side by side
(``--jobs``); they do depend on the clock where a workload waits on it (``sleepers``: how often
the loop goes idle), and on thread scheduling (``threads``, ``thread_pool``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = HERE / "child.py"
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


@dataclass
class Count:
    """The outcome of one run under callgrind."""

    status: str  # "ok", "timeout", "crash", "wrong", "n/a"
    instructions: int | None = None
    message: str = ""
    version: str | None = None  # the framework's, as the child reported it


def valgrind_missing() -> str | None:
    """Why instructions cannot be counted here (None if they can)."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (apt-get install valgrind)"
    return None


def count(
    framework: str,
    workload: str,
    n: int,
    *,
    empty: bool = False,
    source: Path | None = None,
    timeout: float = 900.0,
    keep: Path | None = None,
) -> Count:
    """Run one cell under callgrind (`empty`: the framework's start-up only) and count.

    `keep`: where to write callgrind's output file (for ``callgrind_annotate``); by default it
    goes to a temporary directory and is deleted."""
    with tempfile.TemporaryDirectory() as scratch:
        out = keep if keep is not None else Path(scratch) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(CHILD),
            framework,
            workload,
            str(n),
            "--repeats",
            "0" if empty else "1",
            "--budget",
            "1e9",
        ]
        if source is not None:
            command += ["--source", str(source)]
        env = dict(os.environ, PYTHONHASHSEED="0")
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                cwd=HERE.parent,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Count("timeout", message=f"stopped after {timeout:g} s under callgrind")
    records = []
    for line in completed.stdout.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    version = next((str(r["info"].get("version")) for r in records if "info" in r), None)
    if any(record.get("unsupported") for record in records):
        return Count("n/a", version=version)
    # valgrind's own lines start with ==pid==; the child's error is the last other line.
    own = [line for line in completed.stderr.splitlines() if not line.startswith("==")]
    if completed.returncode == 2:
        return Count("wrong", message=own[-1] if own else "wrong answer")
    found = _COLLECTED.search(completed.stderr)
    if completed.returncode != 0 or found is None:
        last = own[-1] if own else f"exit status {completed.returncode}"
        return Count("crash", message=last)
    if not empty and not any("seconds" in record for record in records):
        return Count("crash", message="the child reported no finished run")
    return Count("ok", int(found.group(1)), version=version)


def valgrind_version() -> str:
    try:
        return subprocess.run(
            ["valgrind", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "valgrind"


def per_unit(cell: Count | None, empty: Count | None, n: int) -> float | None:
    """Instructions per unit of work: the cell's count less its framework's start-up, over N."""
    if cell is None or empty is None or cell.instructions is None or empty.instructions is None:
        return None
    return (cell.instructions - empty.instructions) / n


def marginal(small: Count | None, large: Count | None, n: int, m: int) -> float | None:
    """Instructions per unit of work between sizes n and m: (C(m) - C(n)) / (m - n)."""
    if small is None or large is None or small.instructions is None:
        return None
    if large.instructions is None or m <= n:
        return None
    return (large.instructions - small.instructions) / (m - n)


def format_count(value: float) -> str:
    """A count per unit, readably: 1234 -> '1,234', 1234567 -> '1.23 M'."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f} M"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"
