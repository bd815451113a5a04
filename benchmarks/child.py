"""Run one workload of one framework, in a process of its own, and report the timings.

Started by ``run.py`` as ``python benchmarks/child.py FRAMEWORK WORKLOAD N [options]``; never
meant to be run by hand (though it can be, to profile one cell). It prints one JSON object per
line on stdout:

- ``{"info": {...}}`` first: which module was imported, from where, and its version;
- ``{"seconds": t}`` after each timed repeat whose answer was right (printed at once, so that a
  run cut short by the runner's timeout still reports the repeats it finished);
- ``{"unsupported": true}`` if the framework has no implementation of the workload.

A wrong answer exits with status 2 and the reason on stderr; a crash exits with the traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SOURCE_DIR = REPO / "src"
PUBLISHED_DIR = HERE / ".published"


def _emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def _import_framework(framework: str, source: Path | None) -> dict[str, object]:
    """Make the right ``tinyio`` importable, and say what was imported from where."""
    import registry

    if framework == "published":
        sys.path.insert(0, str(PUBLISHED_DIR))
    elif framework == "tree":
        if source is None:
            raise SystemExit("the `tree` framework needs --source DIR (another checkout's src)")
        sys.path.insert(0, str(source))
    spec = registry.FRAMEWORKS[framework]
    if spec.needs is None:
        return {"version": sys.version.split()[0], "file": None}
    module = importlib.import_module(spec.needs)
    file = Path(module.__file__ or "").resolve()
    if framework == "published":
        assert file.is_relative_to(PUBLISHED_DIR), f"published tinyio imported from {file}"
    elif framework == "ours":
        assert file.is_relative_to(SOURCE_DIR), f"this repo's tinyio imported from {file}"
    elif framework == "tree":
        assert source is not None
        assert file.is_relative_to(source), f"tinyio imported from {file}, not {source}"
    version = getattr(module, "__version__", None)
    if version is None:
        from importlib import metadata

        try:
            dists = metadata.distributions(name=spec.needs, path=[str(file.parent.parent)])
            version = next(iter(dists)).version
        except StopIteration:
            version = metadata.version(spec.needs)
    return {"version": version, "file": str(file)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("framework")
    parser.add_argument("workload")
    parser.add_argument("n", type=int)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="stop repeating once this many seconds have been spent (after at least one run)",
    )
    parser.add_argument("--no-gc", action="store_true", help="disable the GC while timing")
    parser.add_argument(
        "--source",
        type=Path,
        help="for the `tree` framework: the src/ directory of another checkout of tinyio, "
        "imported instead of this one's (the workloads are still this checkout's)",
    )
    args = parser.parse_args()

    import registry

    source = None if args.source is None else args.source.resolve()
    info = _import_framework(args.framework, source)
    _emit(info=info)
    implementation = importlib.import_module(registry.FRAMEWORKS[args.framework].module)
    configure = getattr(implementation, "configure", None)
    if configure is not None:
        configure(args.framework)
    run = getattr(implementation, args.workload, None)
    if run is None:
        _emit(unsupported=True)
        return 0
    workload = registry.WORKLOADS[args.workload]

    spent = 0.0
    for _ in range(args.repeats):
        # The same GC treatment for every framework: start each repeat from a collected heap,
        # then either leave the collector on (as users have it) or off (--no-gc).
        gc.collect()
        if args.no_gc:
            gc.disable()
        start = time.perf_counter()
        result = run(args.n)
        seconds = time.perf_counter() - start
        gc.enable()
        problem = workload.check(args.n, result)
        if problem is not None:
            print(f"{args.framework} {args.workload}(N={args.n}): {problem}", file=sys.stderr)
            return 2
        del result
        _emit(seconds=seconds)
        spent += seconds
        if spent >= args.budget:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
