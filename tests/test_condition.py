"""`tinyio.Condition`: wait until notified, sharing a lock (docs: synchronisation.md)."""

import pytest

import tinyio


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


def waiter(condition, name, log, arrive_after=0):
    yield from steps(arrive_after)
    with (yield condition()):
        log.append(f"{name} waits")
        yield condition.wait()
        log.append(f"{name} woke")


# --- notify and notify_all --------------------------------------------------------------


def test_the_docstring_example_a_consumer_waits_for_the_producer():
    condition = tinyio.Condition()
    items = []
    consumed = []

    def consumer():
        with (yield condition()):
            yield condition.wait_for(lambda: items)
            consumed.append(items.pop())

    def producer():
        with (yield condition()):
            items.append("apple")
            condition.notify()

    def main():
        yield [consumer(), producer()]

    tinyio.Loop().run(main())
    assert consumed == ["apple"]


def test_wait_blocks_until_notified():
    condition = tinyio.Condition()
    log = []

    def notifier():
        yield from steps(10)
        with (yield condition()):
            log.append("notify")
            condition.notify()

    def main():
        yield [waiter(condition, "w", log), notifier()]

    tinyio.Loop().run(main())
    assert log == ["w waits", "notify", "w woke"]


def test_notify_wakes_one_waiter_the_one_that_waited_longest():
    condition = tinyio.Condition()
    log = []

    def notifier():
        yield from steps(10)
        for _ in range(3):
            with (yield condition()):
                log.append("notify")
                condition.notify()
            yield from steps(5)

    def main():
        yield [
            waiter(condition, "c", log, arrive_after=3),
            waiter(condition, "a", log, arrive_after=1),
            waiter(condition, "b", log, arrive_after=2),
            notifier(),
        ]

    tinyio.Loop().run(main())
    assert log == [
        "a waits",
        "b waits",
        "c waits",
        "notify",
        "a woke",
        "notify",
        "b woke",
        "notify",
        "c woke",
    ]


def test_notify_n_wakes_the_n_longest_waiting():
    condition = tinyio.Condition()
    log = []

    def notifier():
        yield from steps(10)
        with (yield condition()):
            log.append("notify 2")
            condition.notify(2)
        yield from steps(10)
        with (yield condition()):
            log.append("notify 5")
            condition.notify(5)

    def main():
        yield [waiter(condition, name, log, arrive_after=i) for i, name in enumerate("abcd")] + [
            notifier()
        ]

    tinyio.Loop().run(main())
    assert log == [
        "a waits",
        "b waits",
        "c waits",
        "d waits",
        "notify 2",
        "a woke",
        "b woke",
        "notify 5",
        "c woke",
        "d woke",
    ]


def test_notify_all_wakes_every_waiter_in_the_order_they_waited():
    condition = tinyio.Condition()
    log = []

    def notifier():
        yield from steps(10)
        with (yield condition()):
            log.append("notify all")
            condition.notify_all()

    def main():
        yield [
            waiter(condition, "c", log, arrive_after=3),
            waiter(condition, "a", log, arrive_after=1),
            waiter(condition, "b", log, arrive_after=2),
            notifier(),
        ]

    tinyio.Loop().run(main())
    assert log == ["a waits", "b waits", "c waits", "notify all", "a woke", "b woke", "c woke"]


def test_a_notification_with_nobody_waiting_is_not_remembered():
    condition = tinyio.Condition()
    log = []

    def early_notifier():
        with (yield condition()):
            condition.notify()
            condition.notify_all()
            log.append("notified nobody")

    def late_notifier():
        yield from steps(10)
        with (yield condition()):
            log.append("notify")
            condition.notify()

    def main():
        yield early_notifier()
        yield [waiter(condition, "w", log), late_notifier()]

    tinyio.Loop().run(main())
    assert log == ["notified nobody", "w waits", "notify", "w woke"]


def test_notify_zero_wakes_nobody():
    condition = tinyio.Condition()
    log = []

    def notifier():
        yield from steps(5)
        with (yield condition()):
            log.append("notify 0")
            condition.notify(0)
        yield from steps(10)
        with (yield condition()):
            log.append("notify 1")
            condition.notify(1)

    def main():
        yield [waiter(condition, "w", log), notifier()]

    tinyio.Loop().run(main())
    assert log == ["w waits", "notify 0", "notify 1", "w woke"]


def test_notify_rejects_a_negative_count():
    with pytest.raises(ValueError, match="non-negative"):
        tinyio.Condition().notify(-1)


@pytest.mark.parametrize(
    "n",
    [1.5, 1.0, "1", None, True, False],
    ids=["float", "whole-float", "str", "none", "true", "false"],
)
def test_notify_rejects_a_count_that_is_not_an_int_with_a_type_error_naming_it(n):
    with pytest.raises(TypeError, match="int") as caught:
        tinyio.Condition().notify(n)
    assert repr(n) in str(caught.value)


def test_notify_rejects_a_negative_count_that_is_not_an_int_as_a_type_error():
    # The type is checked first: -1.0 is wrong for being a float, not for being negative.
    with pytest.raises(TypeError, match=r"-1\.0"):
        tinyio.Condition().notify(-1.0)


# --- the lock ---------------------------------------------------------------------------


def test_the_lock_is_released_while_waiting_and_reacquired_after():
    condition = tinyio.Condition()
    log = []

    def waiting():
        with (yield condition()):
            log.append(("waiting holds", condition.locked()))
            yield condition.wait()
            log.append(("woken holds", condition.locked()))
            yield from steps(5)
            log.append("waiting leaves")

    def other():
        yield
        with (yield condition()):
            log.append("other got the lock while the waiter waits")
            condition.notify()
            yield from steps(5)
            log.append("other leaves")
        with (yield condition()):
            log.append("other again")

    def main():
        yield [waiting(), other()]

    tinyio.Loop().run(main())
    assert log == [
        ("waiting holds", True),
        "other got the lock while the waiter waits",
        "other leaves",  # the notified waiter resumes only once it has the lock again ...
        ("woken holds", True),
        "waiting leaves",  # ... and keeps it: `other` must wait for it
        "other again",
    ]
    assert not condition.locked()


def test_a_condition_uses_the_lock_it_is_given():
    lock = tinyio.Lock()
    condition = tinyio.Condition(lock)
    log = []

    def through_the_lock():
        with (yield lock()):
            log.append(("lock holder sees", condition.locked()))
            yield from steps(5)
            log.append("lock holder leaves")

    def through_the_condition():
        yield
        with (yield condition()):
            log.append(("condition holder sees", lock.locked()))

    def main():
        yield [through_the_lock(), through_the_condition()]

    tinyio.Loop().run(main())
    assert log == [
        ("lock holder sees", True),
        "lock holder leaves",
        ("condition holder sees", True),
    ]
    assert not lock.locked()


def test_two_conditions_on_one_lock_share_it_but_notify_separately():
    lock = tinyio.Lock()
    not_empty = tinyio.Condition(lock)
    not_full = tinyio.Condition(lock)
    log = []

    def notifier():
        yield from steps(10)
        with (yield lock()):
            log.append("notify not_full")
            not_full.notify_all()
        yield from steps(10)
        with (yield lock()):
            log.append("notify not_empty")
            not_empty.notify_all()

    def main():
        yield [
            waiter(not_empty, "consumer", log),
            waiter(not_full, "producer", log, arrive_after=1),
            notifier(),
        ]

    tinyio.Loop().run(main())
    assert log == [
        "consumer waits",
        "producer waits",
        "notify not_full",
        "producer woke",
        "notify not_empty",
        "consumer woke",
    ]


def test_a_condition_rejects_a_lock_that_is_not_a_tinyio_lock():
    with pytest.raises(TypeError, match=r"tinyio\.Lock"):
        tinyio.Condition(tinyio.Semaphore(1))


def test_wait_outside_the_lock_raises_runtime_error():
    condition = tinyio.Condition()

    def main():
        with pytest.raises(RuntimeError, match="lock"):
            yield condition.wait()
        with (yield condition()):
            pass
        with pytest.raises(RuntimeError, match="lock"):
            yield condition.wait()

    tinyio.Loop().run(main())


def test_a_waiter_cancelled_because_the_loop_crashed_leaves_the_lock_free():
    lock = tinyio.Lock()
    condition = tinyio.Condition(lock)
    log = []

    def fail():
        yield from steps(5)
        raise Boom("elsewhere")

    def main():
        yield [waiter(condition, "a", log), waiter(condition, "b", log, arrive_after=1), fail()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["a waits", "b waits"]
    assert not lock.locked()


def test_a_notified_waiter_cancelled_before_it_got_the_lock_back_leaves_the_lock_free():
    lock = tinyio.Lock()
    condition = tinyio.Condition(lock)
    log = []

    def notifier():
        yield from steps(3)
        with (yield condition()):
            condition.notify_all()
            yield from steps(3)
            raise Boom("while the woken waiters wait for the lock")

    def main():
        yield [waiter(condition, "a", log), waiter(condition, "b", log), notifier()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["a waits", "b waits"]
    assert not lock.locked()


# --- wait_for ---------------------------------------------------------------------------


def test_wait_for_returns_at_once_when_the_predicate_already_holds():
    condition = tinyio.Condition()

    def main():
        with (yield condition()):
            return (yield condition.wait_for(lambda: "ready"))

    assert tinyio.Loop().run(main()) == "ready"


def test_wait_for_rechecks_after_each_notification_until_the_predicate_holds():
    condition = tinyio.Condition()
    state = {"count": 0}
    checks = []
    log = []

    def predicate():
        checks.append(state["count"])
        return state["count"] >= 3 and f"count is {state['count']}"

    def consumer():
        with (yield condition()):
            result = yield condition.wait_for(predicate)
            log.append(result)

    def producer():
        for _ in range(4):
            yield from steps(3)
            with (yield condition()):
                state["count"] += 1
                condition.notify()

    def main():
        yield [consumer(), producer()]

    tinyio.Loop().run(main())
    assert checks == [0, 1, 2, 3]
    assert log == ["count is 3"]


def test_wait_for_checks_the_predicate_with_the_lock_held():
    condition = tinyio.Condition()
    held_during_checks = []

    def predicate():
        held_during_checks.append(condition.locked())
        return len(held_during_checks) >= 3

    def consumer():
        with (yield condition()):
            yield condition.wait_for(predicate)

    def producer():
        for _ in range(2):
            yield from steps(3)
            with (yield condition()):
                condition.notify()

    def main():
        yield [consumer(), producer()]

    tinyio.Loop().run(main())
    assert held_during_checks == [True, True, True]


def test_wait_for_rejects_a_predicate_that_is_not_callable():
    condition = tinyio.Condition()
    with pytest.raises(TypeError, match="callable"):
        condition.wait_for(True)


def test_wait_for_outside_the_lock_crashes_the_loop_with_runtime_error():
    condition = tinyio.Condition()

    def main():
        yield condition.wait_for(lambda: False)

    with pytest.raises(RuntimeError, match="lock"):
        tinyio.Loop().run(main())


# --- a wait that is cancelled or timed out (issue 21) ------------------------------------


def _held_on_the_way_out(condition, log, wait):
    """A coroutine waiting in `wait(condition)` that notes, as its error passes, whether the
    lock was held and what it was."""
    with (yield condition()):
        try:
            yield wait(condition)
        except BaseException as error:
            log.append((type(error).__name__, condition.locked()))
            raise


@pytest.mark.parametrize(
    "wait",
    [lambda c: c.wait(), lambda c: c.wait_for(lambda: False)],
    ids=["wait", "wait_for"],
)
def test_a_timed_out_wait_leaves_the_line_and_takes_the_lock_back_before_the_error(wait):
    condition = tinyio.Condition()
    log = []

    def main():
        result = yield tinyio.timeout(_held_on_the_way_out(condition, log, wait), 0.01)
        log.append(repr(condition))
        with (yield condition()):
            condition.notify()  # nobody waits any more: nothing is handed to the stale wait
        with (yield condition()):
            log.append("the lock is free")
        return result

    assert tinyio.Loop().run(main()) == (None, False)
    assert log == [
        ("TimeoutError", True),
        "<tinyio.Condition 0 waiting, <tinyio.Lock unlocked, 0 waiting>>",
        "the lock is free",
    ]


@pytest.mark.parametrize(
    "wait",
    [lambda c: c.wait(), lambda c: c.wait_for(lambda: False)],
    ids=["wait", "wait_for"],
)
def test_a_cancelled_wait_waits_for_the_lock_held_by_another_before_the_error(wait):
    condition = tinyio.Condition()
    log = []

    def main():
        waiting = _held_on_the_way_out(condition, log, wait)
        yield {waiting}
        yield from steps(3)
        with (yield condition()):
            cancelling = tinyio.cancel(waiting)
            yield {cancelling}
            yield from steps(5)
            log.append("holder leaves")  # the cancelled wait cannot have the lock before this
        yield cancelling
        log.append(repr(condition))

    tinyio.Loop().run(main())
    assert log == [
        "holder leaves",
        ("CancelledError", True),
        "<tinyio.Condition 0 waiting, <tinyio.Lock unlocked, 0 waiting>>",
    ]


def test_a_notification_handed_to_a_wait_that_is_then_cancelled_goes_to_the_next_waiter():
    condition = tinyio.Condition()
    log = []

    def main():
        first = _held_on_the_way_out(condition, log, lambda c: c.wait())
        yield {first}
        yield from steps(2)
        second = waiter(condition, "second", log)
        yield {second}
        yield from steps(2)
        with (yield condition()):
            condition.notify()  # handed to `first`, which is cancelled before it acts on it
            cancelling = tinyio.cancel(first)
            yield {cancelling}
            yield from steps(3)
        yield [cancelling, second]

    tinyio.Loop().run(main())
    assert log == ["second waits", ("CancelledError", True), "second woke"]
