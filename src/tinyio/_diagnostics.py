"""Diagnostics: what every live coroutine of a loop is doing, as data and as a tree.

Nothing here runs while the loop works: the loop keeps no extra bookkeeping for it. A snapshot
is read off the loop's own structures when asked for (`Loop.snapshot`) or when the loop crashes
(the note added to the error). What a coroutine waits on is read from the loop (another
coroutine, a gather, a primitive wait and its timer); what a library coroutine such as
`Event.wait` stands for is read from its frame (`self`, or the thread job), only then.

It must never raise: a broken `__repr__` in user code, or a loop changing under a snapshot
taken from another thread, must not hide the error being reported.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from ._loop import is_library_code

if TYPE_CHECKING:
    from ._loop import Loop, _Task  # pyright: ignore[reportPrivateUsage]

__all__ = ["format_snapshot", "take_snapshot"]

_MAX_LINES: Final = 120  # a report longer than this is summarised
_SHOWN_PER_GATHER: Final = 8  # a gather of more than this many shows these, then a summary
_MAX_DEPTH: Final = 40  # a chain of coroutines deeper than this is cut


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except BaseException as error:
        return f"<{type(value).__name__} (repr failed: {type(error).__name__})>"
    return text if len(text) <= 200 else text[:197] + "..."


def _describe_task(task: _Task, now: float) -> dict[str, Any]:
    """The fields of one coroutine's node, apart from its children."""
    from ._loop import Wait, _Gather, _Task  # pyright: ignore[reportPrivateUsage]

    gen = task.gen
    code = gen.gi_code
    frame = gen.gi_frame
    node: dict[str, Any] = {"name": code.co_qualname, "file": None, "line": None}
    library = is_library_code(code.co_filename)
    if library:
        # A tinyio coroutine (Event.wait, run_in_thread, ...): say what it stands for.
        node["name"] = "tinyio." + code.co_qualname.replace("._", ".").lstrip("_")
        if frame is not None:
            subject = frame.f_locals.get("self", frame.f_locals.get("job"))
            if subject is not None:
                node["on"] = _safe_repr(subject)
    else:
        node["file"] = code.co_filename
        node["line"] = frame.f_lineno if frame is not None else code.co_firstlineno
    waiting_on = task.waiting_on
    if waiting_on is None:
        node["state"] = "ready"
    elif isinstance(waiting_on, Wait):
        node["state"] = "waiting"
        if waiting_on.deadline is not None:
            node["seconds_left"] = max(0.0, waiting_on.deadline - now)
    elif isinstance(waiting_on, _Gather):
        node["state"] = "waiting on all of"
    elif isinstance(waiting_on, _Task):  # pyright: ignore[reportUnnecessaryIsInstance]
        node["state"] = "waiting on"
    return node


def _children(task: _Task) -> list[_Task]:
    from ._loop import _RUNNING, _Gather, _Task  # pyright: ignore[reportPrivateUsage]

    waiting_on = task.waiting_on
    if isinstance(waiting_on, _Task):
        return [waiting_on]
    if isinstance(waiting_on, _Gather):
        return [t for t in dict.fromkeys(waiting_on.tasks) if t.state == _RUNNING]
    return []


def take_snapshot(loop: Loop) -> list[dict[str, Any]]:
    """Every live coroutine of `loop`, as a forest: see `Loop.snapshot`."""
    for _ in range(3):  # taken from another thread, the loop may change under us: retry
        try:
            return _snapshot(loop)
        except Exception:
            continue
    return []


def _snapshot(loop: Loop) -> list[dict[str, Any]]:
    from ._loop import _RUNNING  # pyright: ignore[reportPrivateUsage]

    now = time.monotonic()
    live = [t for t in list(loop._tasks.values()) if t.state == _RUNNING]  # pyright: ignore[reportPrivateUsage]
    ids: dict[_Task, int] = {}
    shown: set[_Task] = set()

    def build(task: _Task, depth: int) -> dict[str, Any]:
        if task in shown:
            return {"id": ids[task], "see": ids[task]}
        shown.add(task)
        node = {"id": ids.setdefault(task, len(ids) + 1), **_describe_task(task, now)}
        waiters = task.waiters or []
        if len(waiters) > 1:
            node["waited_on_by"] = len(waiters)
        children = _children(task)
        if depth >= _MAX_DEPTH and children:
            node["children"] = []
            node["deeper"] = True  # a very long chain: the rest is left out
        else:
            node["children"] = [build(child, depth + 1) for child in children]
        return node

    roots = [t for t in live if not t.waiters]
    forest = [build(t, 0) for t in roots]
    # Whatever is not reachable from a root waits in a cycle (or below a long chain).
    forest += [build(t, 0) for t in live if t not in shown]
    return forest


def format_snapshot(forest: list[dict[str, Any]], heading: str) -> str:
    """The snapshot as an indented tree, summarised to at most about 120 lines."""
    try:
        lines = [heading]
        for index, root in enumerate(forest):
            _format(root, "", index == len(forest) - 1, lines)
        if len(lines) > _MAX_LINES:
            hidden = len(lines) - _MAX_LINES
            lines = [*lines[:_MAX_LINES], f"... and {hidden} more lines"]
        return "\n".join(lines)
    except Exception as error:
        return f"{heading}\n(the report could not be made: {type(error).__name__}: {error})"


def _format(node: dict[str, Any], prefix: str, last: bool, lines: list[str]) -> None:
    branch = "└── " if last else "├── "
    lines.append(prefix + branch + _line(node))
    if len(lines) > _MAX_LINES + 1:
        return
    children: list[dict[str, Any]] = node.get("children", [])
    prefix += "    " if last else "│   "
    shown = children
    if len(children) > _SHOWN_PER_GATHER + 2:
        shown = children[:_SHOWN_PER_GATHER]
    for index, child in enumerate(shown):
        _format(child, prefix, index == len(shown) - 1 and shown is children, lines)
    if shown is not children:
        rest = Counter(child.get("name", "?") + "()" for child in children[len(shown) :])
        summary = ", ".join(f"{count} x {name}" for name, count in rest.most_common(5))
        if len(rest) > 5:
            summary += ", ..."
        lines.append(prefix + f"└── ... and {len(children) - len(shown)} more: {summary}")


def _line(node: dict[str, Any]) -> str:
    if "see" in node:
        return f"#{node['see']} (shown above)"
    text = f"#{node['id']} {node['name']}()"
    if node.get("file"):
        text += f"  {node['file']}:{node['line']}"
    if node.get("on"):
        text += f"  on {node['on']}"
    state = node.get("state")
    if state == "ready":
        text += "  [ready to run]"
    elif "seconds_left" in node:
        text += f"  [timer: {node['seconds_left']:.3f} s left]"
    elif state == "waiting on all of":
        text += f"  [waiting on all of {len(node.get('children', []))}]"
    if node.get("waited_on_by"):
        text += f"  (waited on by {node['waited_on_by']})"
    if node.get("deeper"):
        text += "  (and deeper: not shown)"
    return text
