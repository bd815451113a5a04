"""Where one cell's work goes: Python functions by cProfile, C functions by callgrind.

    python benchmarks/hotspots.py WORKLOAD [N] [--framework ours] [--top 12] [--callgrind]

Runs the workload once at N (default: its size in ``registry.py``) in this process under
cProfile and prints the functions with the most time of their own, each with its calls per unit
of work (calls / N) and its share of the profiled time. cProfile slows every Python call down,
so read the calls per unit and the order, not the times. With ``--callgrind``, it also runs the
cell under callgrind (``child.py``, as ``run.py --instructions`` does) and prints the C functions
with the most inclusive instructions per unit (``callgrind_annotate --inclusive=yes``), start-up
included: compare a function's count with the cell's total over N.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import callgrind
import registry

HERE = Path(__file__).resolve().parent
# A line of callgrind_annotate: "1,234,567 (12.34%)  file:function [object]".
_ANNOTATED = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*)$")


def python_profile(framework: str, workload: str, n: int, top: int) -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    implementation = importlib.import_module(registry.FRAMEWORKS[framework].module)
    configure = getattr(implementation, "configure", None)
    if configure is not None:
        configure(framework)
    run = getattr(implementation, workload)
    profiler = cProfile.Profile()
    profiler.enable()
    result = run(n)
    profiler.disable()
    problem = registry.WORKLOADS[workload].check(n, result)
    if problem is not None:
        raise SystemExit(problem)
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(own for (_, _, own, _, _) in entries.values()) or 1.0
    rows = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    print(f"## {framework} {workload} N={n:,}: Python functions by own time (cProfile)")
    print(f"{'calls/N':>9} {'own %':>6}  function")
    for (file, line, name), (_, calls, own, _, _) in rows:
        where = f"{Path(file).name}:{line}" if line else file
        print(f"{calls / n:9.2f} {100 * own / total:6.1f}  {name} ({where})")


# C functions whose inclusive count says where a unit's work goes, whoever calls them.
WATCHED = (
    "gc_collect_main",  # the cyclic GC's collections
    "_PyObject_Malloc",
    "_PyObject_Free",
    "gen_send_ex2",  # resuming a generator
    "gen_dealloc",
    "context_run",  # Context.run
    "_PyFrame_Clear",
    "insertdict",
    "lock_PyThread_acquire_lock",
    "PyThread_acquire_lock_timed",
    "uv_run",  # uvloop's libuv loop
)


def _annotate(out: Path, inclusive: bool) -> list[tuple[int, str]]:
    command = [
        "callgrind_annotate",
        "--threshold=100",
        f"--inclusive={'yes' if inclusive else 'no'}",
    ]
    text = subprocess.run([*command, str(out)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        found = _ANNOTATED.match(line)
        if found is None or "PROGRAM TOTALS" in line:
            continue
        where = found.group(2).split(" [")[0]
        name = where.rsplit(":", 1)[-1].split("'")[0]  # 'N marks a recursion depth
        rows.append((int(found.group(1).replace(",", "")), name))
    return rows


def _functions(framework: str, workload: str, n: int, empty: bool) -> tuple[int, dict, dict]:
    """One run under callgrind: its total, and each C function's own and inclusive counts."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        cell = callgrind.count(framework, workload, n, empty=empty, keep=out)
        if cell.instructions is None:
            raise SystemExit(f"under callgrind: {cell.status}: {cell.message}")
        own: dict[str, int] = {}
        for value, name in _annotate(out, inclusive=False):
            own[name] = own.get(name, 0) + value
        inclusive: dict[str, int] = {}
        for value, name in _annotate(out, inclusive=True):
            inclusive[name] = max(value, inclusive.get(name, 0))
    return cell.instructions, own, inclusive


def c_profile(framework: str, workload: str, n: int, top: int) -> None:
    total, own, inclusive = _functions(framework, workload, n, empty=False)
    # The framework's empty run (start-up and imports), subtracted function by function.
    start, own_start, inclusive_start = _functions(framework, workload, n, empty=True)
    print()
    print(
        f"## {framework} {workload} N={n:,}: C functions (callgrind, start-up subtracted; "
        f"{(total - start) / n:,.0f} instructions per unit in all)"
    )
    print(f"{'own/N':>9}  function (by the instructions of their own)")
    own = {name: value - own_start.get(name, 0) for name, value in own.items()}
    for name, value in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"{value / n:9,.0f}  {name}")
    print(f"{'incl/N':>9}  function (inclusive: with all they call)")
    for name in WATCHED:
        if name in inclusive:
            print(f"{(inclusive[name] - inclusive_start.get(name, 0)) / n:9,.0f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workload", choices=list(registry.WORKLOADS))
    parser.add_argument("n", type=int, nargs="?")
    parser.add_argument("--framework", default="ours", choices=["ours", "asyncio", "uvloop"])
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--callgrind", action="store_true", help="also count C functions")
    args = parser.parse_args()
    n = args.n or registry.WORKLOADS[args.workload].size
    python_profile(args.framework, args.workload, n, args.top)
    if args.callgrind:
        c_profile(args.framework, args.workload, n, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
