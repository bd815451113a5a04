"""The package's layering holds (docs: devdocs/architecture.md): no module imports itself back
through others, the loop core (`tinyio/_core/`) imports none of the features built on it, the
features use the core only through its declared interface (`_core/__init__.py`), and the rooms
of the core do not import the scheduler they are parts of.

Read from the source with `ast`, so that an import hidden in a function body counts too, and so
does one under `if TYPE_CHECKING:`: an import made only for annotations still ties two modules
together for a reader, so it may not close a cycle either.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import tinyio

PACKAGE_DIR = Path(tinyio.__file__).parent
CORE = "_core"
INTERFACE = CORE  # the core's `__init__.py`
SCHEDULER = f"{CORE}.scheduler"
# The public `Loop`: the scheduler, with the driver that enters, steps and leaves it. It is the
# floor above the scheduler, so the one module of the core that imports it.
LOOP = f"{CORE}.loop"


def _module_names() -> dict[str, Path]:
    """Every module of the package, by dotted name below `tinyio` (`_event`, `_core.tasks`)."""
    names: dict[str, Path] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        names[".".join(parts)] = path
    return names


def _package_of(name: str, path: Path) -> list[str]:
    """The dotted parts of the package that `name`'s relative imports start from."""
    parts = name.split(".") if name != "__init__" else []
    return parts if path.name == "__init__.py" else parts[:-1]


def _imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's own modules that module `name` imports, anywhere in it."""
    package = _package_of(name, path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
            elif node.module is not None and node.module.split(".")[0] == "tinyio":
                base = ["tinyio"]
            else:
                continue
            parts = [*base, *(node.module or "").split(".")]
            module = ".".join(p for p in parts if p and p != "tinyio") or "__init__"
            for alias in node.names:
                # `from . import ctrl_c` imports the module `_core.ctrl_c`; `from ._core import
                # Loop` a name of the module `_core`.
                submodule = alias.name if module == "__init__" else f"{module}.{alias.name}"
                found.add(submodule if submodule in modules else module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "tinyio":
                    found.add(".".join(parts[1:]) or "__init__")
    return found & modules - {name}


def _import_graph() -> dict[str, set[str]]:
    files = _module_names()
    modules = set(files)
    return {name: _imported_modules(name, path, modules) for name, path in files.items()}


def _in_core(name: str) -> bool:
    return name == CORE or name.startswith(CORE + ".")


def test_the_graph_reader_sees_the_package_imports():
    graph = _import_graph()
    assert INTERFACE in graph["_event"]
    assert f"{CORE}.tasks" in graph[SCHEDULER]
    assert f"{CORE}.ctrl_c" in graph[SCHEDULER]  # `from . import ctrl_c`
    assert SCHEDULER in graph[LOOP]
    assert "_event" in graph["__init__"]


def test_no_module_of_the_package_imports_itself_back_through_others():
    graph = _import_graph()
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise AssertionError(f"import cycle: {cycle}") from None


def test_the_loop_core_imports_none_of_the_features():
    graph = _import_graph()
    outside = {
        name: sorted(i for i in imported if not _in_core(i)) for name, imported in graph.items()
    }
    assert {name: found for name, found in outside.items() if _in_core(name) and found} == {}


def test_features_use_the_core_only_through_its_declared_interface():
    graph = _import_graph()
    reaching_in = {
        name: sorted(i for i in imported if _in_core(i) and i != INTERFACE)
        for name, imported in graph.items()
        if not _in_core(name)
    }
    assert {name: found for name, found in reaching_in.items() if found} == {}


def test_no_room_of_the_core_imports_the_scheduler():
    graph = _import_graph()
    importers = {name for name, imported in graph.items() if SCHEDULER in imported}
    assert importers == {LOOP}
    # And the interface reaches the scheduler only through the public `Loop`.
    assert SCHEDULER not in graph[INTERFACE]
