"""The scaling plot of a benchmark run: time against N, log-log, one panel per workload.

Called by ``run.py --plot PATH``. Each panel has one line per framework through its best times
at N and 4N (with the GC as the report's times show it); a line parallel to the dotted one
grows linearly, a steeper one superlinearly. Workloads that must wait a fixed time whatever the
loop (the sleepers) are drawn with that time subtracted, as in their report row, so the panel
shows the loop's own overhead.

matplotlib draws with its Agg/SVG backends, which need no display (CI has none). The output
format follows the file name's suffix (``.svg``, ``.png``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: never look for a display

import matplotlib.pyplot as plt

# One colour and marker per framework, the same in every panel; tinyio drawn thickest.
STYLES: dict[str, dict[str, object]] = {
    "ours": {"color": "#d62728", "marker": "o", "linewidth": 2.4},
    "published": {"color": "#9467bd", "marker": "v", "linewidth": 1.2},
    "asyncio": {"color": "#1f77b4", "marker": "s", "linewidth": 1.4},
    "uvloop": {"color": "#2ca02c", "marker": "D", "linewidth": 1.4},
    "trio": {"color": "#ff7f0e", "marker": "^", "linewidth": 1.2},
    "floor": {"color": "#7f7f7f", "marker": ".", "linewidth": 1.0, "linestyle": "--"},
}


def write_plot(
    path: Path,
    workloads: Sequence[str],
    frameworks: Sequence[str],
    labels: dict[str, str],
    sizes: dict[str, list[int]],
    seconds: Callable[[str, int, str], float | None],
    panel_title: Callable[[str], str],
    subtitle: str,
) -> None:
    """Draw the panels and save them to `path`.

    `seconds(workload, n, framework)` gives the time to draw (None: no point there), and
    `panel_title(workload)` the heading of the workload's panel.
    """
    shown = [w for w in workloads if any(seconds(w, n, f) for f in frameworks for n in sizes[w])]
    columns = min(4, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / columns))
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: a smaller, searchable SVG
    figure, axes_grid = plt.subplots(
        rows, columns, figsize=(3.6 * columns, 3.0 * rows + 0.6), squeeze=False
    )
    drawn: dict[str, object] = {}
    for index, workload in enumerate(shown):
        axes = axes_grid[index // columns][index % columns]
        ns = sizes[workload]
        lowest = math.inf
        for framework in frameworks:
            points = [(n, seconds(workload, n, framework)) for n in ns]
            points = [(n, t) for n, t in points if t is not None and t > 0]
            if not points:
                continue
            xs = [n for n, _ in points]
            ys = [t * 1000 for _, t in points]
            lowest = min(lowest, *ys)
            (line,) = axes.plot(xs, ys, label=labels[framework], **STYLES.get(framework, {}))  # pyright: ignore[reportArgumentType]
            drawn.setdefault(labels[framework], line)
        if len(ns) > 1 and math.isfinite(lowest):
            # A guide for linear growth, under the lowest line.
            guide = [lowest / 2 * n / ns[0] for n in ns]
            axes.plot(ns, guide, color="#bbbbbb", linestyle=":", linewidth=1)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(ns, [f"{n:,}" for n in ns])
        axes.minorticks_off()
        axes.set_title(panel_title(workload), fontsize=10)
        axes.set_xlabel("N", fontsize=8)
        axes.set_ylabel("ms", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(True, which="major", alpha=0.3)
    for index in range(len(shown), rows * columns):
        axes_grid[index // columns][index % columns].axis("off")
    figure.legend(
        list(drawn.values()),
        list(drawn.keys()),
        loc="upper center",
        ncol=len(drawn) + 1,
        fontsize=9,
        frameon=False,
    )
    subtitle += "; dotted grey: linear growth"
    figure.suptitle(subtitle, y=0.005, va="bottom", fontsize=8, color="#555555")
    figure.tight_layout(rect=(0, 0.03, 1, 1 - 0.32 / (3.0 * rows + 0.6)))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(figure)
