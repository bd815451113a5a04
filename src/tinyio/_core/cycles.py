"""Cycle detection: whether a coroutine about to wait on others would wait on itself.

A pure function on the graph of task records (see docs/devdocs/cycle-detection.md): the loop
calls it only when a coroutine waits on one that is already running (a new coroutine cannot be
part of a cycle), so it costs nothing while the loop is idle or for ordinary fan-out.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from .tasks import RUNNING, Gather, Task, task_of

__all__ = ["find_cycle"]


def find_cycle(task: Task, targets: list[Task]) -> list[Task] | None:
    """The cycle that `task` waiting on `targets` would close, or None.

    The cycle is given as a path from a target down to `task`, each waiting on the next. A
    cycle exists if a target (transitively) waits on `task`: we search down from the targets
    and up from `task` at the same time, a step each in turn, and stop as soon as either search
    ends. So the cost is at most twice the smaller of "what the targets wait on" and "what
    waits on `task`" -- small for the usual shapes, a wide gather under a shared coroutine or
    many waiters on one.
    """
    goals = set(targets)
    searches = [
        # Down from the targets to `task`; the path comes back from `task` up: reverse it.
        _search(targets, lambda t: t is task, _waited_on),
        # Up from `task` to a target; the path comes back from that target down.
        _search([task], goals.__contains__, _waiting),
    ]
    while True:
        for direction, search in enumerate(searches):
            try:
                next(search)
            except StopIteration as stop:
                path: list[Task] | None = stop.value
                if path is not None and direction == 0:
                    path.reverse()
                return path


def _waited_on(task: Task) -> Iterator[Task]:
    """The running coroutines `task` waits on."""
    waiting_on = task.waiting_on
    if type(waiting_on) is Task:
        below = [waiting_on]
    elif type(waiting_on) is Gather:
        below = waiting_on.tasks
    else:
        return iter(())
    return (t for t in below if t.state == RUNNING)


def _waiting(task: Task) -> Iterator[Task]:
    """The coroutines waiting on `task`."""
    return (task_of(w) for w in task.waiters or ())


def _search(
    starts: list[Task],
    is_goal: Callable[[Task], bool],
    neighbours: Callable[[Task], Iterator[Task]],
) -> Generator[None, None, list[Task] | None]:
    """Depth-first search, one edge per `next()`: the path from the goal back to a start.

    Neighbours are taken lazily, one per step, so that a node with 20,000 of them costs
    20,000 steps only if the other direction's search has not finished first.
    """
    came_from: dict[Task, Task | None] = dict.fromkeys(starts)
    for start in starts:
        if is_goal(start):
            return [start]
    stack = [(start, neighbours(start)) for start in starts]
    while stack:
        yield
        current, rest = stack[-1]
        neighbour = next(rest, None)
        if neighbour is None:
            stack.pop()
            continue
        if neighbour in came_from:
            continue
        came_from[neighbour] = current
        if is_goal(neighbour):
            path = [neighbour]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path
        stack.append((neighbour, neighbours(neighbour)))
    return None
