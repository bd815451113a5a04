"""Benchmark tinyio against asyncio, uvloop, trio, the published tinyio and a bare floor.

Run from the repository root with the project's interpreter::

    python benchmarks/run.py                  # full run, best of 5, N and 4N
    python benchmarks/run.py --smoke          # tiny sizes, one repeat: does everything run?
    python benchmarks/run.py --rounds 2       # the sweep twice, best kept (a shared machine)
    python benchmarks/run.py --only gather,event --frameworks ours,asyncio
    python benchmarks/run.py --markdown /tmp/report.md --plot /tmp/scaling.svg
    python benchmarks/run.py --instructions --no-timing --jobs 2   # callgrind counts only
    python benchmarks/run.py --instructions --no-timing --tree /tmp/main --frameworks ours,tree

Every framework x workload x size runs in a fresh subprocess (``child.py``), so frameworks never
share a process, an import or a heap. The published tinyio is pip-installed into
``benchmarks/.published`` on first use. The report gives, per workload, the best time in ms and
its ratio to asyncio, at N and at 4N, after a headline table of tinyio's ratios to asyncio and
uvloop; the growth ratio time(4N)/time(N) (4 is linear); and the cost of one tinyio step over
the floor (a bare round-robin of generators). ``--plot`` also draws time against N (log-log),
one panel per workload, one line per framework (``plot.py``). Progress (which cell, how many are
left, an estimate of the time left) is shown on stderr with rich.

With ``--instructions``, each cell also runs once under callgrind (``callgrind.py``), the
framework's start-up subtracted, and the report gives instructions per unit of work beside the
times: a measure that the machine's load does not change. ``--tree DIR`` adds a column for
another checkout's tinyio (its ``src/``, run with this checkout's workloads), to judge a change
of the core on a shared machine. A smoke run counts one tiny cell under callgrind if valgrind is
installed, to check that the path works.

Wall-clock times are reported, never asserted: the exit status is non-zero only if some workload
crashed or gave a wrong answer (with ``--smoke``, also if one hit the timeout, which tiny sizes
never legitimately do).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import callgrind
import registry
from callgrind import Count, valgrind_version
from registry import BASELINE, FRAMEWORKS, PUBLISHED_VERSION, WORKLOADS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHILD = HERE / "child.py"
PUBLISHED_DIR = HERE / ".published"
GROWTH_FACTOR = 4
GROWTH_TARGET = 4.5
STEP_TARGET = 3.0
HEADLINE_OTHERS = ("asyncio", "uvloop")  # the headline table compares tinyio with these
SMOKE_INSTRUCTIONS = ("switch", ("ours", "tree"))  # what a smoke run counts under callgrind
TIMES = "\N{MULTIPLICATION SIGN}"
MINUS = "\N{MINUS SIGN}"


@dataclass
class Cell:
    """The outcome of one framework x workload x size."""

    status: str  # "ok", "timeout", "crash", "wrong", "n/a"
    times: list[float] = field(default_factory=list)
    message: str = ""
    info: dict[str, object] = field(default_factory=dict)
    short_of_runs: bool = False  # its last round finished fewer runs than asked

    @property
    def best(self) -> float | None:
        return min(self.times) if self.times else None


# -- preparing the frameworks ------------------------------------------------------------------


def ensure_published() -> str | None:
    """Install the published tinyio into benchmarks/.published if missing; None if ready."""
    marker = PUBLISHED_DIR / f"tinyio-{PUBLISHED_VERSION}.dist-info"
    if marker.is_dir() and (PUBLISHED_DIR / "tinyio" / "__init__.py").is_file():
        return None
    print(f"installing tinyio=={PUBLISHED_VERSION} into {PUBLISHED_DIR} ...", file=sys.stderr)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--upgrade",
        "--target",
        str(PUBLISHED_DIR),
        f"tinyio=={PUBLISHED_VERSION}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0 or not marker.is_dir():
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return f"could not pip-install tinyio=={PUBLISHED_VERSION}: {last}"
    return None


def unavailable_reason(name: str, tree: Path | None = None) -> str | None:
    """Why this framework cannot run here (None if it can)."""
    framework = FRAMEWORKS[name]
    if name == "published":
        return ensure_published()
    if name == "tree":
        if tree is None:
            return "no other checkout given (--tree DIR)"
        if not (tree / "src" / "tinyio" / "__init__.py").is_file():
            return f"{tree} has no src/tinyio/__init__.py"
    if framework.needs is None:
        return None
    spec = importlib.util.find_spec(framework.needs)
    if spec is None:
        return f"`{framework.needs}` is not importable (pip install -e '.[bench]')"
    if name == "ours":
        origin = Path(spec.origin or "").resolve()
        if not origin.is_relative_to(REPO / "src"):
            return f"`import tinyio` finds {origin}, not this repo's src/ (pip install -e .)"
    return None


# -- running one cell ---------------------------------------------------------------------------


def run_cell(framework: str, workload: str, n: int, args: argparse.Namespace, gc: bool) -> Cell:
    command = [
        sys.executable,
        str(CHILD),
        framework,
        workload,
        str(n),
        "--repeats",
        str(args.repeats),
        "--budget",
        str(args.budget),
    ]
    if not gc:
        command.append("--no-gc")
    if framework == "tree":
        command += ["--source", str(args.tree / "src")]
    timed_out = False
    try:
        completed = subprocess.run(
            command, capture_output=True, cwd=REPO, timeout=args.timeout, check=False
        )
        stdout, stderr, returncode = completed.stdout, completed.stderr, completed.returncode
    except subprocess.TimeoutExpired as timeout:
        # subprocess.run has killed the child; what it printed so far is kept (on POSIX).
        timed_out = True
        stdout, stderr, returncode = timeout.stdout or b"", timeout.stderr or b"", None

    cell = Cell("ok")
    for line in _text(stdout).splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a stray print from a framework; not ours to judge
        if "info" in record:
            cell.info = record["info"]
        elif "seconds" in record:
            cell.times.append(record["seconds"])
        elif record.get("unsupported"):
            cell.status = "n/a"
    error = _text(stderr).strip()
    if timed_out:
        if not cell.times:
            cell.status = "timeout"
        cell.message = f"stopped after {args.timeout:g} s ({len(cell.times)} repeats done)"
    elif returncode == 2:
        cell.status = "wrong"
        cell.message = error.splitlines()[-1] if error else "wrong answer"
    elif returncode != 0:
        cell.status = "crash"
        cell.message = error.splitlines()[-1] if error else f"exit status {returncode}"
        if error:
            print(error, file=sys.stderr)
    return cell


def _text(data: bytes | str) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data


# -- describing the machine ---------------------------------------------------------------------


def machine_description() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return [
        f"CPU: {cpu}; {cores} logical cores ({usable} usable by this process)",
        f"OS: {platform.system()} {platform.release()}; Python: {python}",
    ]


def git_revision(repo: Path = REPO) -> str:
    try:
        revision = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"git {revision}" + (" + uncommitted changes in src/" if dirty else "")


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# -- formatting ---------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 10_000:
        return f"{seconds:.1f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def format_ratio(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:.0f}"
    if ratio >= 10:
        return f"{ratio:.1f}"
    return f"{ratio:.2f}"


def variants(workload: str, n: int | None) -> list[tuple[str, bool]]:
    """The rows of a workload: (label, whether its wall-clock floor is subtracted)."""
    rows = [(workload, False)]
    wall_floor = WORKLOADS[workload].wall_floor
    if wall_floor is not None:
        floor = "floor" if n is None else f"{wall_floor(n) * 1000:g} ms"
        rows.append((f"{workload} {MINUS} {floor}", True))
    return rows


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


@dataclass
class Results:
    frameworks: list[str]
    workloads: list[str]
    sizes: dict[str, list[int]]  # workload -> [N, 4N] (or just [N])
    cells: dict[tuple[str, int, str, bool], Cell]  # (workload, n, framework, gc on) -> cell
    gc_modes: list[bool]  # GC on (True) and/or off (False); the first is the one the times show
    timeout: float
    repeats: int
    marks: bool  # whether to mark tinyio's numbers against the targets (not for smoke runs)
    counts: dict[tuple[str, int, str], Count] = field(default_factory=dict)  # callgrind cells
    empties: dict[str, Count] = field(default_factory=dict)  # framework -> its empty run
    count_frameworks: list[str] = field(default_factory=list)
    count_sizes: dict[str, list[int]] = field(default_factory=dict)  # workload -> sizes counted

    # -- instructions (callgrind) -----------------------------------------------------------

    def per_unit(self, workload: str, n: int, framework: str) -> float | None:
        return callgrind.per_unit(
            self.counts.get((workload, n, framework)), self.empties.get(framework), n
        )

    def count_cell(self, workload: str, n: int, framework: str) -> str:
        cell = self.counts.get((workload, n, framework))
        if cell is None or cell.status == "n/a":
            return "—"
        if cell.status != "ok":
            return {"crash": "**crashed**", "wrong": "**wrong answer**"}.get(cell.status, "timeout")
        value = self.per_unit(workload, n, framework)
        if value is None:
            return "?"
        text = callgrind.format_count(value)
        baseline = self.per_unit(workload, n, BASELINE)
        if baseline is not None and baseline > 0 and framework != BASELINE:
            text += f" ({format_ratio(value / baseline)}{TIMES})"
        return text

    def count_rows(self, size_index: int) -> list[list[str]]:
        rows: list[list[str]] = []
        for workload, sizes in self.count_sizes.items():
            if size_index < len(sizes):
                n = sizes[size_index]
                cells = [self.count_cell(workload, n, f) for f in self.count_frameworks]
                rows.append([workload, f"{n:,}", *cells])
        return rows

    def marginal_rows(self) -> list[list[str]]:
        rows: list[list[str]] = []
        for workload, sizes in self.count_sizes.items():
            if len(sizes) < 2:
                continue
            row = [workload, " → ".join(f"{n:,}" for n in sizes)]
            for framework in self.count_frameworks:
                small, large = (self.counts.get((workload, n, framework)) for n in sizes)
                value = callgrind.marginal(small, large, sizes[0], sizes[1])
                row.append("—" if value is None else callgrind.format_count(value))
            rows.append(row)
        return rows

    def count_headline_rows(self, others: list[str]) -> list[list[str]]:
        """Per workload, tinyio's instructions per unit over each of `others`', at each size."""
        rows: list[list[str]] = []
        for workload, sizes in self.count_sizes.items():
            row = [workload]
            measured = False
            for other in others:
                ratios = []
                for n in sizes:
                    mine, theirs = (self.per_unit(workload, n, f) for f in ("ours", other))
                    ok = mine is not None and theirs is not None and theirs > 0
                    ratios.append(mine / theirs if ok else None)  # type: ignore[operator]
                measured = measured or any(r is not None for r in ratios)
                text = " / ".join("—" if r is None else format_ratio(r) for r in ratios)
                losing = other != "tree" and any(r is not None and r >= 1 for r in ratios)
                row.append(f"**{text}**" if losing else text)
            if measured:
                rows.append(row)
        return rows

    # -- time -------------------------------------------------------------------------------

    def time(
        self,
        workload: str,
        n: int,
        framework: str,
        minus_floor: bool = False,
        gc: bool | None = None,
    ) -> float | None:
        cell = self.cells.get((workload, n, framework, self.gc_modes[0] if gc is None else gc))
        if cell is None or cell.best is None:
            return None
        wall_floor = WORKLOADS[workload].wall_floor
        return cell.best - (wall_floor(n) if minus_floor and wall_floor else 0.0)

    def time_cell(self, workload: str, n: int, framework: str, minus_floor: bool) -> str:
        cell = self.cells.get((workload, n, framework, self.gc_modes[0]))
        if cell is None or cell.status == "n/a":
            return "—"
        if cell.status in ("crash", "wrong"):
            return "**crashed**" if cell.status == "crash" else "**wrong answer**"
        seconds = self.time(workload, n, framework, minus_floor)
        if seconds is None:
            return f"> {self.timeout:g} s"
        text = format_seconds(seconds)
        if len(cell.times) < self.repeats:
            text += "†"
        baseline = self.time(workload, n, BASELINE, minus_floor)
        if baseline is not None and baseline > 0 and framework != BASELINE:
            text += f" ({format_ratio(seconds / baseline)}{TIMES})"
        return text

    def time_rows(self, size_index: int) -> list[list[str]]:
        rows: list[list[str]] = []
        for workload in self.workloads:
            sizes = self.sizes[workload]
            if size_index >= len(sizes):
                continue
            n = sizes[size_index]
            for label, minus_floor in variants(workload, n):
                row = [label, f"{n:,}"]
                row += [self.time_cell(workload, n, f, minus_floor) for f in self.frameworks]
                rows.append(row)
        return rows

    def growth(self, workload: str, framework: str, minus_floor: bool, gc: bool) -> str:
        sizes = self.sizes[workload]
        if len(sizes) < 2:
            return "—"
        small, large = (self.cells.get((workload, n, framework, gc)) for n in sizes)
        if small is None or large is None or "n/a" in (small.status, large.status):
            return "—"
        before = self.time(workload, sizes[0], framework, minus_floor, gc)
        after = self.time(workload, sizes[1], framework, minus_floor, gc)
        if before is None or before <= 0:
            return "—"
        if after is None:
            if large.status == "timeout":
                return f"> {format_ratio(self.timeout / before)}"
            return "—"
        text = format_ratio(after / before)
        if framework == "ours" and self.marks:
            text += " ✓" if after / before <= GROWTH_TARGET else " ✗"
        return text

    def growth_rows(self) -> list[list[str]]:
        rows: list[list[str]] = []
        for workload in self.workloads:
            for label, minus_floor in variants(workload, None):
                sizes = self.sizes[workload]
                row = [label, " → ".join(f"{n:,}" for n in sizes)]
                for framework in self.frameworks:
                    ratios = [
                        self.growth(workload, framework, minus_floor, gc) for gc in self.gc_modes
                    ]
                    row.append(" / ".join(ratios))
                rows.append(row)
        return rows

    def ratio(self, workload: str, n: int, framework: str, other: str) -> float | None:
        """`framework`'s time over `other`'s at `n` (the floor subtracted where there is one)."""
        minus_floor = WORKLOADS[workload].wall_floor is not None
        mine = self.time(workload, n, framework, minus_floor)
        theirs = self.time(workload, n, other, minus_floor)
        if mine is None or theirs is None or theirs <= 0:
            return None
        return mine / theirs

    def headline_rows(self) -> list[list[str]]:
        """Per workload, tinyio's time over asyncio's and over uvloop's, at each size."""
        rows: list[list[str]] = []
        for workload in self.workloads:
            row = [variants(workload, None)[-1][0]]
            measured = False
            for other in HEADLINE_OTHERS:
                ratios = [self.ratio(workload, n, "ours", other) for n in self.sizes[workload]]
                measured = measured or any(r is not None for r in ratios)
                text = " / ".join("—" if r is None else format_ratio(r) for r in ratios)
                losing = any(r is not None and r >= 1 for r in ratios)
                row.append(f"**{text}**" if losing else text)
            if measured:
                rows.append(row)
        return rows

    def step_lines(self) -> list[str]:
        if "switch" not in self.workloads or "floor" not in self.frameworks:
            return []
        n = self.sizes["switch"][0]
        floor = self.time("switch", n, "floor")
        if floor is None:
            return []
        lines = [f"Floor: {floor / n * 1e9:.0f} ns per step (switch, N = {n:,}).", ""]
        for name in self.frameworks:
            seconds = self.time("switch", n, name)
            if name == "floor" or seconds is None:
                continue
            ratio = seconds / floor
            mark = ""
            if name == "ours" and self.marks:
                met = "met" if ratio <= STEP_TARGET else "missed"
                mark = f" (target ≤ {STEP_TARGET:g}{TIMES}: {met})"
            lines.append(
                f"- {FRAMEWORKS[name].label}: {seconds / n * 1e9:.0f} ns per step, "
                f"{format_ratio(ratio)}{TIMES} the floor{mark}"
            )
        return lines


def describe(key: tuple[str, int, str, bool], args: argparse.Namespace) -> str:
    workload, n, framework, gc = key
    text = f"{framework} {workload} N={n:,}"
    return text + (f" ({gc_label(gc)})" if len(args.gc_modes) > 1 else "")


def gc_label(gc: bool) -> str:
    return "GC on" if gc else "GC off"


def count_headline(results: Results) -> list[str]:
    others = [f for f in (*HEADLINE_OTHERS, "tree") if f in results.count_frameworks]
    if "ours" not in results.count_frameworks or not others:
        return []
    rows = results.count_headline_rows(others)
    if not rows:
        return []
    most = max(map(len, results.count_sizes.values()))
    sizes = " / ".join(["N", f"{GROWTH_FACTOR}N"][:most])
    out = [
        f"## Headline: tinyio's instructions per unit of work over theirs (callgrind; {sizes}; "
        "below 1 is fewer)",
        "",
    ]
    out += table(["workload", *(f"vs {FRAMEWORKS[f].label}" for f in others)], rows)
    return [*out, "", "Bold: not ahead at some size.", ""]


def count_sections(results: Results) -> list[str]:
    if not results.counts:
        return []
    columns = ["workload", "N"] + [FRAMEWORKS[f].label for f in results.count_frameworks]
    out = [
        "",
        "## Instructions per unit of work at N (callgrind, start-up subtracted; ratio to asyncio)",
        "",
    ]
    out += table(columns, results.count_rows(0))
    if any(len(s) > 1 for s in results.count_sizes.values()):
        out += ["", f"## Instructions per unit of work at {GROWTH_FACTOR}N", ""]
        out += table(columns, results.count_rows(1))
        out += [
            "",
            f"## Marginal instructions per unit: (C({GROWTH_FACTOR}N) {MINUS} C(N)) / "
            f"{GROWTH_FACTOR - 1}N",
            "",
            "What one more unit of work costs, one-off costs (imports on first use, the loop's "
            "creation) cancelled; the same at N and 4N is linear.",
            "",
        ]
        out += table(["workload", "sizes", *columns[2:]], results.marginal_rows())
    empties = [
        f"{FRAMEWORKS[f].label} {callgrind.format_count(c.instructions)}"
        for f, c in results.empties.items()
        if c.instructions is not None
    ]
    if empties:
        out += ["", "Start-up subtracted (an empty run of each framework): " + "; ".join(empties)]
    return out


def report(results: Results, header_lines: list[str], notes: list[str]) -> str:
    columns = ["workload", "N"] + [FRAMEWORKS[f].label for f in results.frameworks]
    shown = gc_label(results.gc_modes[0])
    out = ["# tinyio benchmarks", ""]
    others = [f for f in HEADLINE_OTHERS if f in results.frameworks]
    headline = results.headline_rows() if "ours" in results.frameworks and others else []
    if headline:
        sizes = " / ".join(["N", f"{GROWTH_FACTOR}N"][: max(map(len, results.sizes.values()))])
        out += [
            f"## Headline: tinyio's time over theirs ({sizes}; {shown}; below 1 is faster)",
            "",
        ]
        out += table(
            ["workload", *(f"vs {FRAMEWORKS[f].label}" for f in HEADLINE_OTHERS)], headline
        )
        out += [
            "",
            f"Bold: not ahead at some size. Rows with {MINUS} subtract the time the workload must "
            "wait whatever the loop.",
            "",
        ]
    out += count_headline(results)
    out += [f"- {line}" for line in header_lines]
    if results.frameworks and results.workloads:
        out += ["", f"## Time at N (best of {results.repeats}, {shown}; ratio to asyncio)", ""]
        out += table(columns, results.time_rows(0))
    if results.frameworks and any(len(s) > 1 for s in results.sizes.values()):
        out += ["", f"## Time at {GROWTH_FACTOR}N ({shown})", ""]
        out += table(columns, results.time_rows(1))
        modes = " / ".join(gc_label(gc) for gc in results.gc_modes)
        out += [
            "",
            f"## Growth: time({GROWTH_FACTOR}N) / time(N) ({modes})",
            "",
            f"{GROWTH_FACTOR:g} is linear; more is superlinear."
            + (
                f" Target for tinyio (this repo): ≤ {GROWTH_TARGET:g} (✓ met, ✗ missed)."
                if results.marks
                else ""
            ),
            "",
        ]
        out += table(["workload", "sizes", *columns[2:]], results.growth_rows())
    steps = results.step_lines()
    if steps:
        out += ["", f"## One step vs the floor ({shown})", "", *steps]
    out += count_sections(results)
    if notes:
        out += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one repeat: check that all runs"
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="also draw time against N (log-log, a panel per workload) into PATH (.svg or "
        ".png); a smoke run draws one into a temporary file, to check that it can",
    )
    parser.add_argument(
        "--only", metavar="W[,W]", help=f"workloads to run (default all: {','.join(WORKLOADS)})"
    )
    parser.add_argument(
        "--frameworks",
        metavar="F[,F]",
        help=f"frameworks to run (default all: {','.join(FRAMEWORKS)})",
    )
    parser.add_argument(
        "--repeats", type=int, help="runs per cell and round, best kept (default 5; smoke 1)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the whole sweep this many times, keeping each cell's best (default 1); "
        "on a shared machine, 2 or 3 spread each cell's runs over time",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds before one framework x workload x size is stopped (default 60; smoke 30)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="stop repeating a cell once its runs took this many seconds (default 10)",
    )
    parser.add_argument(
        "--no-growth", action="store_true", help=f"run N only, not {GROWTH_FACTOR}N"
    )
    parser.add_argument(
        "--gc",
        choices=["on", "off", "both"],
        help="the garbage collector while timing: on (as users have it), off, or both "
        "(times shown with it on; growth shown for both); default both, smoke on",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also run each cell once under callgrind and report instructions per unit of work "
        "(start-up subtracted) beside the times; needs valgrind",
    )
    parser.add_argument(
        "--no-timing",
        action="store_true",
        help="with --instructions: count instructions only, no wall-clock cells",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        metavar="DIR",
        help="another checkout of tinyio (say `git worktree add /tmp/main main`): adds a column "
        "`tree` with its src/ under this checkout's workloads, to compare two versions",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        help="callgrind cells run side by side (counts do not depend on load; default 1, smoke 2)",
    )
    parser.add_argument(
        "--count-timeout",
        type=float,
        default=900.0,
        help="seconds before one cell under callgrind is stopped (default 900)",
    )
    args = parser.parse_args(argv)
    if args.no_timing and not args.instructions:
        parser.error("--no-timing needs --instructions (or there is nothing to measure)")
    if args.instructions and not args.smoke:
        missing = callgrind.valgrind_missing()
        if missing is not None:
            parser.error(f"--instructions: {missing}")
    if args.tree is not None:
        args.tree = args.tree.resolve()
    if args.jobs is None:
        args.jobs = 2 if args.smoke else 1
    if args.repeats is None:
        args.repeats = 1 if args.smoke else 5
    if args.timeout is None:
        args.timeout = 30.0 if args.smoke else 60.0
    if args.gc is None:
        args.gc = "on" if args.smoke or args.no_growth else "both"
    args.gc_modes = {"on": [True], "off": [False], "both": [True, False]}[args.gc]
    everyday = [name for name, f in FRAMEWORKS.items() if not f.on_request]
    if args.tree is not None:
        everyday.insert(everyday.index("ours") + 1, "tree")
    for option, known in (("only", WORKLOADS), ("frameworks", FRAMEWORKS)):
        value = getattr(args, option)
        default = everyday if option == "frameworks" else list(known)
        chosen = default if value is None else [v.strip() for v in value.split(",") if v]
        unknown = [v for v in chosen if v not in known]
        if unknown:
            parser.error(
                f"--{option}: unknown {', '.join(unknown)}; choose from {', '.join(known)}"
            )
        setattr(args, option, chosen)
    return args


def draw(results: Results, path: Path, header_lines: list[str]) -> None:
    from plot import write_plot  # matplotlib takes a while to import: only when asked

    def seconds(workload: str, n: int, framework: str) -> float | None:
        return results.time(workload, n, framework, WORKLOADS[workload].wall_floor is not None)

    write_plot(
        path,
        results.workloads,
        results.frameworks,
        {name: FRAMEWORKS[name].label for name in results.frameworks},
        results.sizes,
        seconds,
        lambda workload: variants(workload, None)[-1][0],
        f"best of {results.repeats}, {gc_label(results.gc_modes[0])}; {header_lines[0]}",
    )


def run_one(
    key: tuple[str, int, str, bool],
    round_index: int,
    cells: dict[tuple[str, int, str, bool], Cell],
    versions: dict[str, str],
    args: argparse.Namespace,
    progress: Progress,
    bar: TaskID,
) -> None:
    """Run one cell (one round of it), unless earlier results make it pointless."""
    workload, n, framework, gc = key
    primary_gc = args.gc_modes[0]
    previous = cells.get(key)
    if previous is not None and (previous.status != "ok" or previous.short_of_runs):
        # n/a, failed, or so slow that a round could not fit its repeats in the time budget
        # (or the timeout): another round would only spend more time.
        return
    primary = cells.get((workload, n, framework, primary_gc))
    if gc != primary_gc and primary is not None and primary.status in ("timeout", "n/a"):
        # Already too slow (or absent) with the GC on: not worth another timeout.
        cells[key] = primary
        return
    where = describe(key, args)
    if args.rounds > 1:
        where = f"[{round_index + 1}/{args.rounds}] {where}"
    progress.update(bar, description=where)
    cell = run_cell(framework, workload, n, args, gc)
    if cell.info.get("version"):
        versions.setdefault(framework, str(cell.info["version"]))
    best = "" if cell.best is None else format_seconds(cell.best)
    progress.console.print(f"{where:<46} {cell.status:<7} {best} {cell.message}")
    cell.short_of_runs = len(cell.times) < args.repeats
    if previous is None:
        cells[key] = cell
    else:
        previous.short_of_runs = cell.short_of_runs
        previous.times += cell.times
        if cell.status in ("crash", "wrong") or not previous.times:
            previous.status = cell.status
        if cell.message:
            previous.message = cell.message


def count_all(
    frameworks: list[str],
    sizes: dict[str, list[int]],
    counts: dict[tuple[str, int, str], Count],
    empties: dict[str, Count],
    args: argparse.Namespace,
    progress: Progress,
) -> None:
    """Count every cell under callgrind, `args.jobs` at a time, and each framework's empty run."""
    first = next(iter(sizes))
    jobs: dict[tuple[str, int, str], tuple[str, str, int, bool]] = {}
    for framework in frameworks:
        jobs[("", 0, framework)] = (framework, first, sizes[first][0], True)
    for workload, ns in sizes.items():
        for framework in frameworks:
            for n in ns:
                jobs[(workload, n, framework)] = (framework, workload, n, False)
    bar = progress.add_task("callgrind", total=len(jobs))

    def one(job: tuple[str, str, int, bool]) -> Count:
        framework, workload, n, empty = job
        source = args.tree / "src" if framework == "tree" else None
        return callgrind.count(
            framework, workload, n, empty=empty, source=source, timeout=args.count_timeout
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(one, job): key for key, job in jobs.items()}
        for future in concurrent.futures.as_completed(futures):
            workload, n, framework = key = futures[future]
            result = future.result()
            if workload:
                counts[key] = result
                where = f"callgrind {framework} {workload} N={n:,}"
            else:
                empties[framework] = result
                where = f"callgrind {framework} (empty run)"
            shown = "" if result.instructions is None else f"{result.instructions:,}"
            progress.console.print(f"{where:<46} {result.status:<7} {shown} {result.message}")
            progress.advance(bar)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = load_average()

    notes: list[str] = []
    frameworks: list[str] = []
    for name in args.frameworks:
        reason = unavailable_reason(name, args.tree)
        if reason is None:
            frameworks.append(name)
        else:
            notes.append(f"{FRAMEWORKS[name].label} skipped: {reason}")
            print(f"skipping {name}: {reason}", file=sys.stderr)

    sizes: dict[str, list[int]] = {}
    for name in args.only:
        n = WORKLOADS[name].smoke_size if args.smoke else WORKLOADS[name].size
        sizes[name] = [n] if args.no_growth else [n, GROWTH_FACTOR * n]

    cells: dict[tuple[str, int, str, bool], Cell] = {}
    versions: dict[str, str] = {}
    # Within a workload, each framework's N and 4N, GC on and off, run back to back, so that a
    # change of machine load (the machine may be shared) skews a growth ratio as little as
    # possible; frameworks follow one another closely too. With --rounds, the whole sweep runs
    # again and each cell keeps its best time over all rounds.
    order = [
        (workload, n, framework, gc)
        for workload in args.only
        for framework in ([] if args.no_timing else frameworks)
        for n in sizes[workload]
        for gc in args.gc_modes
    ]
    primary_gc = args.gc_modes[0]
    console = Console(stderr=True, highlight=False)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("left ~"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("starting", total=len(order) * args.rounds)
        for round_index in range(args.rounds):
            for key in order:
                run_one(key, round_index, cells, versions, args, progress, bar)
                progress.advance(bar)
    load_after_timing = load_average()

    # Instructions: every cell with --instructions; one tiny cell in a smoke run, to check that
    # the path works (skipped with a note where valgrind is missing).
    count_sizes: dict[str, list[int]] = {}
    count_frameworks: list[str] = []
    if args.instructions:
        count_sizes, count_frameworks = sizes, frameworks
    elif args.smoke:
        workload, wanted = SMOKE_INSTRUCTIONS
        count_sizes = {workload: [WORKLOADS[workload].smoke_size]}
        count_frameworks = [f for f in frameworks if f in wanted]
    counts: dict[tuple[str, int, str], Count] = {}
    empties: dict[str, Count] = {}
    missing = callgrind.valgrind_missing() if count_frameworks else None
    if missing is not None:
        notes.append(f"instructions not counted: {missing}")
        print(f"instructions not counted: {missing}", file=sys.stderr)
        count_frameworks, count_sizes = [], {}
    elif count_frameworks:
        with Progress(*columns, console=console, transient=True) as progress:
            count_all(count_frameworks, count_sizes, counts, empties, args, progress)

    failures: list[str] = []
    for (workload, n, framework), count in counts.items():
        if count.status in ("crash", "wrong") or (args.smoke and count.status == "timeout"):
            failures.append(
                f"{framework} {workload} N={n:,} under callgrind: {count.status}: {count.message}"
            )
        elif count.status == "timeout":
            notes.append(f"{framework} {workload} N={n:,} under callgrind: {count.message}")
    for framework, count in empties.items():
        if count.status != "ok":
            failures.append(f"{framework}'s empty run under callgrind: {count.message}")
    runs = args.repeats * args.rounds
    for key, cell in cells.items():
        where = describe(key, args)
        if cell.status in ("crash", "wrong") or (args.smoke and cell.status == "timeout"):
            failures.append(f"{where}: {cell.status}: {cell.message}")
        elif key[3] != primary_gc:
            continue
        elif cell.times and len(cell.times) < runs:
            notes.append(
                f"† {where}: best of {len(cell.times)} run(s), not {runs}"
                + (f" ({cell.message})" if cell.message else " (time budget)")
            )
        elif cell.status == "timeout":
            notes.append(f"{where}: {cell.message}")

    header = machine_description()
    if args.no_timing:
        header.append(f"Load average (1/5/15 min): {load_before} before, {load_average()} after")
    elif counts:
        header.append(
            f"Load average (1/5/15 min): {load_before} before, {load_after_timing} after the "
            f"timing, {load_average()} after the instruction counts"
        )
    else:
        header.append(f"Load average (1/5/15 min): {load_before} before, {load_average()} after")
    version_texts = []
    for name, count in empties.items():
        if count.version:
            versions.setdefault(name, count.version)
    for name in frameworks:
        version = versions.get(name, "?")
        if name == "ours":
            version = f"{version}, {git_revision()}"
        elif name == "tree":
            version = f"{version}, {args.tree}, {git_revision(args.tree)}"
        elif name in ("asyncio", "floor"):
            version = f"Python {version}"
        version_texts.append(f"{FRAMEWORKS[name].label} ({version})")
    header.append("Frameworks: " + "; ".join(version_texts))
    gc_text = {
        "on": "GC enabled while timing",
        "off": "GC disabled while timing",
        "both": "every cell run with the GC enabled and again with it disabled while timing",
    }[args.gc]
    if counts:
        header.append(
            f"Instructions: {valgrind_version()} `--tool=callgrind`, one run per cell with the GC "
            "on, in a fresh process; an empty run of each framework (start-up and imports, no "
            "workload) subtracted; every thread and C function counted"
        )
    if not args.no_timing:
        header.append(
            f"Each cell: best of {runs} run(s) ({args.rounds} round(s) of {args.repeats}) "
            "in a fresh subprocess per framework x "
            f"workload x size; {gc_text}, collected before each run; "
            f"timeout {args.timeout:g} s per cell"
            + (" (smoke run: tiny sizes, times meaningless)" if args.smoke else "")
        )
    header.append(
        "Workloads: " + "; ".join(f"`{w}`: {registry.WORKLOADS[w].description}" for w in args.only)
    )
    header.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s")
    notes += [f"**failed** {failure}" for failure in failures]

    results = Results(
        [] if args.no_timing else frameworks,
        args.only,
        sizes,
        cells,
        args.gc_modes,
        args.timeout,
        runs,
        marks=not args.smoke,
        counts=counts,
        empties=empties,
        count_frameworks=count_frameworks,
        count_sizes=count_sizes,
    )
    text = report(results, header, notes)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if (args.plot or args.smoke) and not args.no_timing:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(args.plot) if args.plot else Path(scratch) / "scaling.svg"
            draw(results, path, header)
            print(f"plot written to {path}" if args.plot else "plot drawn", file=sys.stderr)
    if failures:
        print(f"{len(failures)} workload(s) crashed or gave a wrong answer:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
