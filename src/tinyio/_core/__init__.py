"""The loop core, and what the features may use of it: this module, and nothing else of it.

The core (the modules of this package) knows how coroutines are scheduled. Everything else --
events, sleeping, timeouts, locks, queues, threads, the bridges to other event loops -- is
ordinary coroutine code built on the names below, imported from here. `tests/test_architecture.py`
checks that no feature imports the core's modules directly, so a name missing here is a change
to this interface, made on purpose. How the core is laid out: docs/devdocs/architecture.md.

What a feature's coroutine may yield, besides what any coroutine may (`None`, a coroutine,
a list or a set of them):

- `Wait`: the one primitive wait, woken by `Wait.wake()` from any thread, or by its timeout;
- `DescriptorWait(fd, READABLE or WRITABLE)`: a `Wait` woken also when a file descriptor is
  ready (the loop's selector); its yielder calls `withdraw()` when the `yield` ends, and raises
  `ClosedResourceError` if `closed` is set (`notify_closing` was called);
- `Interrupt(coro, error)`: throw `error` into a running coroutine where it is suspended;
- `CURRENT_LOOP`: the `Loop` running the yielder, sent back at once;

and `starts_at_once` marks a library generator function whose coroutines run as part of
their yielder, as with `yield from`. `WaitLine` is the FIFO line of waits that the features
which make coroutines queue (locks, queues, conditions, events) build on.

What a feature may ask of, or tell, a `Loop` it runs in (while it runs):

- `at_stop(loop, callback)`: call back once when the current run ends;
- `cancelling_everything(loop)`: whether the loop is cancelling all that is unfinished;
  then, before blocking on work outside the loop that must end first (a thread),
  `yield AFTER_THE_OTHERS` lets every other coroutine clean up at once;
- `failed_on_its_own(loop, error)`: an error raised while being cancelled that is not a
  response to the cancellation;
- `waiters_of(loop, coro)`, `has_run(loop, coro)`: what waits on a coroutine, whether it ran;
- `with waking_from_outside(loop): yield wait` around a wait that work outside the loop (a
  thread call) is to wake, so that a virtual clock does not jump meanwhile;
  `waits_on_outside(loop)` says whether any such wait is pending;
- `clock_of(loop)`: the `Clock` a loop was given (None: the system's), for a nested loop;
- `lend_selector(borrower, lender)`: a loop driven by a coroutine of `lender` (`isolate`) puts
  the descriptor waits of its next run in `lender`'s selector;
- `ctrl_c_presses(loop)`: how many Ctrl-Cs came during the run, and when the first did;
  `with hearing_ctrl_c(loop):` around a blocking wait for a cancelled call, so that Ctrl-C
  ends it even under a host that defers Ctrl-C, which a bridge declares with
  `host_defers_ctrl_c(loop)` before the run;
- `note_on_outcome(loop, note)`: a note for the error that the stopping run will raise.

And the shared vocabulary: `Coro`, `CancelledError`, `Loop`, `Idle` (what a driven loop yields
when it has nothing to do; `Idle.descriptor()` is the selector's descriptor to wait on too),
the I/O errors (`BusyResourceError`, `ClosedResourceError`, `BrokenResourceError`),
`notify_closing(fd)` and `descriptor_of(fd, caller)` (an int or `fileno()` object as a
number), `duration_problem` (what is wrong with a number of seconds a user
gave, for the public function to raise), `cancellation_warning` (the message of the warning
for a coroutine or thread that mishandled its cancellation), `without_library_frames` and
`is_library_code` (tinyio's own frames are left out of what a user reads), `STEPPERS` (the
code of the loop's functions that step a coroutine: a frame of one of them that frees an object
is the end of the step of its `task`).
"""

from .crash import AFTER_THE_OTHERS
from .ctrl_c import STEPPERS
from .hooks import (
    at_stop,
    cancelling_everything,
    clock_of,
    ctrl_c_presses,
    failed_on_its_own,
    has_run,
    hearing_ctrl_c,
    host_defers_ctrl_c,
    lend_selector,
    note_on_outcome,
    waiters_of,
    waits_on_outside,
    waking_from_outside,
)
from .loop import Loop
from .messages import cancellation_warning, duration_problem
from .selector import (
    READABLE,
    WRITABLE,
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    descriptor_of,
    notify_closing,
)
from .timers import Clock
from .tracebacks import is_library_code, without_library_frames
from .waitline import WaitLine
from .waits import (
    CURRENT_LOOP,
    CancelledError,
    Coro,
    DescriptorWait,
    Interrupt,
    Wait,
    starts_at_once,
)
from .wakeups import Idle

__all__ = [
    "AFTER_THE_OTHERS",
    "CURRENT_LOOP",
    "READABLE",
    "STEPPERS",
    "WRITABLE",
    "BrokenResourceError",
    "BusyResourceError",
    "CancelledError",
    "Clock",
    "ClosedResourceError",
    "Coro",
    "DescriptorWait",
    "Idle",
    "Interrupt",
    "Loop",
    "Wait",
    "WaitLine",
    "at_stop",
    "cancellation_warning",
    "cancelling_everything",
    "clock_of",
    "ctrl_c_presses",
    "descriptor_of",
    "duration_problem",
    "failed_on_its_own",
    "has_run",
    "hearing_ctrl_c",
    "host_defers_ctrl_c",
    "is_library_code",
    "lend_selector",
    "note_on_outcome",
    "notify_closing",
    "starts_at_once",
    "waiters_of",
    "waits_on_outside",
    "waking_from_outside",
    "without_library_frames",
]
