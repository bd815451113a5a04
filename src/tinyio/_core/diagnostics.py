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

import types
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final, cast

from .messages import library_name
from .tasks import NO_GENERATOR, RUNNING, Gather, Gen, Task
from .tracebacks import is_library_code

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


def _subject_of(gen: Gen) -> object:
    """What a tinyio coroutine works on, for its report: the `job` (a thread or executor call)
    of the innermost frame of its `yield from` chain that has one, else its own `self` (a
    lock, a pool); None if neither."""
    subject: object = None
    inner: object = gen
    while type(inner) is types.GeneratorType:
        frame = inner.gi_frame  # pyright: ignore[reportUnknownMemberType]
        if frame is None:
            break
        local = frame.f_locals  # pyright: ignore[reportUnknownMemberType]
        if local.get("job") is not None:
            subject = local["job"]
        elif subject is None:
            subject = local.get("self")
        inner = cast(object, inner.gi_yieldfrom)  # pyright: ignore[reportUnknownMemberType]
    return subject


def _describe_task(task: Task, now: float) -> dict[str, Any] | None:
    """The fields of one coroutine's node, apart from its children (None: it has finished)."""
    gen = task.gen  # read once: from another thread, the task may finish meanwhile
    if gen is NO_GENERATOR:
        return None
    code = gen.gi_code
    frame = gen.gi_frame
    # The display name it may have been given (`tinyio.named`), else its function's.
    node: dict[str, Any] = {"name": gen.__qualname__, "file": None, "line": None}
    library = is_library_code(code.co_filename)
    if library:
        shown = _shown_for(gen)
        if shown is not gen:
            # A runner of tinyio's (of a `timeout`, a `race`, a `settle`) running something
            # with `yield from`: shown as what it runs, a coroutine of the user's or one of
            # tinyio's operations.
            gen = shown
            code = shown.gi_code
            frame = shown.gi_frame
            library = is_library_code(code.co_filename)
    if library:
        # A tinyio coroutine (Event.wait, run_in_thread, ...): say what it stands for.
        node["name"] = library_name(code)
        subject = _subject_of(gen)
        if subject is not None:
            node["on"] = _safe_repr(subject)
    else:
        node["name"] = gen.__qualname__
        node["file"] = code.co_filename
        node["line"] = frame.f_lineno if frame is not None else code.co_firstlineno
    waiting_on = task.waiting_on
    if waiting_on is None:
        node["state"] = "ready"
    elif isinstance(waiting_on, Gather):
        node["state"] = "waiting on all of"
        node["of"] = len(dict.fromkeys(waiting_on.tasks))
    elif isinstance(waiting_on, Task):
        node["state"] = "waiting on"
    else:  # a primitive `Wait`
        node["state"] = "waiting"
        if waiting_on.deadline is not None:
            node["seconds_left"] = max(0.0, waiting_on.deadline - now)
    return node


def _chain(gen: Gen) -> list[Gen]:
    """`gen` and the coroutines of its `yield from` chain, outer to inner, that still run."""
    chain: list[Gen] = []
    found: Gen | None = gen
    while found is not None and found.gi_frame is not None:
        chain.append(found)
        inner: object = found.gi_yieldfrom  # pyright: ignore[reportUnknownMemberType]
        found = cast(Gen, inner) if type(inner) is types.GeneratorType else None
    return chain


def _is_runner(code: types.CodeType) -> bool:
    """Whether `code` is one of tinyio's runners, which start what a `timeout`, `race` or
    `settle` runs (`watch`, `_outcome`): shown as what they run, never by their own names."""
    return "<locals>" in code.co_qualname or code.co_qualname == "_outcome"


def _shown_for(gen: Gen) -> Gen:
    """What a library coroutine `gen` is shown as: the outermost coroutine of the user's in
    its `yield from` chain, if any; else, for a runner, what it runs; else itself."""
    chain = _chain(gen)
    for found in chain[1:]:
        if not is_library_code(found.gi_code.co_filename):
            return found
    if _is_runner(gen.gi_code) and len(chain) > 1:
        return chain[1]
    return gen


def _frame_values(gen: Gen) -> list[object]:
    """The values of the variables of every frame of `gen`'s `yield from` chain (a list's
    items too): where a library coroutine keeps the runners it started."""
    values: list[object] = []
    for found in _chain(gen):
        for value in list(found.gi_frame.f_locals.values()):  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType, reportOptionalMemberAccess]
            values.append(value)
            if type(value) is list:
                values.extend(cast(list[object], value))
    return values


def _started_by(live: list[Task]) -> dict[Task, Task]:
    """Which of the coroutines that nothing waits on a tinyio coroutine started in the
    background and keeps in a variable (the runners of a `timeout` or a `race`, in any frame
    of its `yield from` chain): each, by the one to show it under. Read off their frames, only
    when a report is made."""
    by_gen = {id(task.gen): task for task in live if not task.waiters}
    if not by_gen:
        return {}
    owners: dict[Task, Task] = {}
    for task in live:
        gen = task.gen
        if not is_library_code(gen.gi_code.co_filename):
            continue
        for item in _frame_values(gen):
            started = by_gen.get(id(item))
            if started is not None and started is not task and started.gen is item:
                owners.setdefault(started, task)
    return owners


def _without_own_waits(
    owner: Task, children: list[Task], node: dict[str, Any], now: float, hidden: set[Task]
) -> list[Task]:
    """`children` of `owner`, a tinyio coroutine that started others (a `timeout`), without
    its waits on objects of its own making (the event its runners set): those are how it
    works, not what it waits for (added to `hidden`). Their timer, if any, is `owner`'s
    (`node`)."""
    own = {id(value) for value in _frame_values(owner.gen)}
    kept: list[Task] = []
    for child in children:
        gen = child.gen
        subject = _subject_of(gen) if is_library_code(gen.gi_code.co_filename) else None
        if subject is not None and id(subject) in own:
            wait = child.waiting_on
            deadline = getattr(wait, "deadline", None)
            if isinstance(deadline, float):
                node["state"] = "waiting"
                node["seconds_left"] = max(0.0, deadline - now)
            hidden.add(child)
            continue
        kept.append(child)
    return kept


def _describe_pending(gen: types.GeneratorType[Any, Any, Any], number: int) -> dict[str, Any]:
    """The node of an operation that `starts_at_once` (always library code), yielded but not
    started yet."""
    return {
        "id": number,
        "name": library_name(gen.gi_code),
        "file": None,
        "line": None,
        "state": "starting",
        "children": [],
    }


def _children(task: Task, adopted: Mapping[Task, list[Task]]) -> list[Task]:
    waiting_on = task.waiting_on
    if isinstance(waiting_on, Task):
        children = [waiting_on] if waiting_on.state == RUNNING else []
    elif isinstance(waiting_on, Gather):
        children = [t for t in dict.fromkeys(waiting_on.tasks) if t.state == RUNNING]
    else:
        children = []
    return children + adopted.get(task, [])


def take_snapshot(tasks: Mapping[Any, Task], now: float) -> list[dict[str, Any]]:
    """Every live coroutine among a loop's `tasks`, as a forest: see `Loop.snapshot`."""
    for _ in range(3):  # taken from another thread, the loop may change under us: retry
        try:
            return _snapshot(tasks, now)
        except Exception:
            continue
    return []


def _snapshot(tasks: Mapping[Any, Task], now: float) -> list[dict[str, Any]]:
    live = [t for t in list(tasks.values()) if t.state == RUNNING]
    ids: dict[object, int] = {}  # tasks, and operations about to start (see below)
    forest: list[dict[str, Any]] = []
    # Depth first, children in order, without recursion (chains may be very deep). The roots
    # are what nothing waits on; then whatever is left, which can only be waiting in a cycle.
    owners = _started_by(live)
    adopted: dict[Task, list[Task]] = {}
    for started, owner in owners.items():
        adopted.setdefault(owner, []).append(started)
    roots = [t for t in live if not t.waiters and t not in owners]
    hidden: set[Task] = set()  # tinyio's waits on its own objects, folded into their owner
    for group in (roots, live):
        stack = [(task, forest) for task in reversed(group)]
        while stack:
            task, siblings = stack.pop()
            if task in hidden:
                continue
            if task in ids:
                if group is roots:
                    siblings.append({"id": ids[task], "see": ids[task]})
                continue
            description = _describe_task(task, now)
            if description is None:
                continue
            if task in owners and "<locals>" in description["name"]:
                # A runner of tinyio's that waits on a coroutine already running elsewhere
                # (`timeout` of a started one): what it waits on takes its place.
                hidden.add(task)
                stack.extend((child, siblings) for child in reversed(_children(task, adopted)))
                continue
            ids[task] = len(ids) + 1
            node: dict[str, Any] = {"id": ids[task], **description, "children": []}
            if len(task.waiters or ()) > 1:
                node["waited_on_by"] = len(task.waiters or ())
            siblings.append(node)
            pending = task.instead  # a library operation it yielded, to start at its turn
            if isinstance(pending, types.GeneratorType):
                node["children"].append(_describe_pending(pending, len(ids) + 1))
                ids[pending] = len(ids) + 1
            children = _children(task, adopted)
            if task in adopted:
                children = _without_own_waits(task, children, node, now, hidden)
            stack.extend((child, node["children"]) for child in reversed(children))
    return forest


def _count(nodes: list[dict[str, Any]]) -> int:
    total = 0
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if "see" not in node:
            total += 1
            stack.extend(node.get("children", []))
    return total


def format_snapshot(forest: list[dict[str, Any]], heading: str) -> str:
    """The snapshot as an indented tree, summarised to at most about 120 lines."""
    try:
        lines = [heading]
        printed = _format_siblings(forest, "", 0, lines)
        left = _count(forest) - printed
        if len(lines) > _MAX_LINES and left > 0:
            lines = [*lines[:_MAX_LINES], f"... and {left} more coroutines: the report stops here"]
        return "\n".join(lines)
    except Exception as error:
        return f"{heading}\n(the report could not be made: {type(error).__name__}: {error})"


def _format_siblings(nodes: list[dict[str, Any]], prefix: str, depth: int, lines: list[str]) -> int:
    """Print nodes side by side, and what is below them; the number of coroutines printed.

    A long run of siblings shows a few, then a count of the rest by name; a very deep chain is
    cut, with a count of what is below.
    """
    printed = 0
    shown = nodes
    if len(nodes) > _SHOWN_PER_GATHER + 2:
        shown = nodes[:_SHOWN_PER_GATHER]
    for index, node in enumerate(shown):
        if len(lines) > _MAX_LINES:
            return printed
        last = index == len(shown) - 1 and shown is nodes
        children: list[dict[str, Any]] = node.get("children", [])
        text = _line(node)
        if depth >= _MAX_DEPTH and children:
            text += f"  (... and {_count(children)} more below, not shown)"
            children = []
        lines.append(prefix + ("└── " if last else "├── ") + text)
        printed += "see" not in node
        printed += _format_siblings(
            children, prefix + ("    " if last else "│   "), depth + 1, lines
        )
    if shown is not nodes:
        rest = Counter(node.get("name", "?") + "()" for node in nodes[len(shown) :])
        summary = ", ".join(f"{count} x {name}" for name, count in rest.most_common(5))
        if len(rest) > 5:
            summary += ", ..."
        lines.append(prefix + f"└── ... and {len(nodes) - len(shown)} more: {summary}")
    return printed


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
    elif state == "starting":
        text += "  [starts at the next turn of the coroutine above]"
    elif "seconds_left" in node:
        text += f"  [timer: {node['seconds_left']:.3f} s left]"
    elif state == "waiting on all of":
        text += f"  [waiting on {len(node.get('children', []))} of {node.get('of', '?')}]"
    if node.get("waited_on_by"):
        text += f"  (waited on by {node['waited_on_by']})"
    return text
