"""The package's layering holds (docs: devdocs/architecture.md): no module imports itself back
through others, the loop core imports none of the features built on it, and the features use the
core only through the names `_core.py` declares.

Read from the source with `ast`, so that an import hidden in a function body counts too. Imports
under `if TYPE_CHECKING:` do not: they are never executed, they only name types.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import tinyio

PACKAGE_DIR = Path(tinyio.__file__).parent

# The scheduling core and the modules it is made of: what `_loop` may import.
CORE = {"_loop", "_tasks", "_tracebacks", "_diagnostics", "_cycles", "_ctrl_c", "_selector"}


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _imported_modules(tree: ast.AST, package_modules: set[str]) -> set[str]:
    """The package's own modules that `tree` imports at run time."""
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:  # from . import _x
                found.update(alias.name for alias in node.names)
            elif node.level == 1 and node.module is not None:  # from ._x import y
                found.add(node.module.split(".")[0])
            elif node.level == 0 and node.module is not None and node.module.startswith("tinyio"):
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.add(parts[1])
                else:  # from tinyio import _x (or a public name, which is __init__)
                    found.update(
                        a.name if a.name in package_modules else "__init__" for a in node.names
                    )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "tinyio":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
        stack.extend(ast.iter_child_nodes(node))
    return found & package_modules


def _import_graph() -> dict[str, set[str]]:
    files = {path.stem: path for path in PACKAGE_DIR.glob("*.py")}
    modules = set(files)
    return {
        name: _imported_modules(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
        for name, path in files.items()
    }


def test_the_graph_reader_sees_the_package_imports():
    graph = _import_graph()
    assert "_core" in graph["_event"]
    assert "_tasks" in graph["_loop"]
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
    reached: set[str] = set()
    stack = ["_loop"]
    while stack:
        module = stack.pop()
        if module not in reached:
            reached.add(module)
            stack.extend(graph[module])
    assert reached <= CORE, f"the core imports features: {sorted(reached - CORE)}"


def test_features_use_the_core_only_through_its_declared_interface():
    graph = _import_graph()
    outside = {name: imported & CORE for name, imported in graph.items() if name not in CORE}
    outside.pop("_core")  # the interface itself
    assert {name: found for name, found in outside.items() if found} == {}
