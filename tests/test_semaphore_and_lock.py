"""`tinyio.Semaphore` and `tinyio.Lock`: at most N holders, first come first served (docs: synchronisation.md)."""

import warnings

import pytest

import tinyio
from tinyio._core import Interrupt
from tinyio.testing import VirtualClock


class Boom(Exception):
    pass


class Occupancy:
    """Counts the coroutines inside a guarded region, and remembers the most at once."""

    def __init__(self):
        self.inside = 0
        self.most = 0
        self.entries = []

    def enter(self, name):
        self.inside += 1
        self.most = max(self.most, self.inside)
        self.entries.append(name)

    def leave(self):
        self.inside -= 1


def steps(n):
    for _ in range(n):
        yield


def guarded(acquire, occupancy, name, arrive_after=0, hold_for=3):
    yield from steps(arrive_after)
    with (yield acquire()):
        occupancy.enter(name)
        yield from steps(hold_for)
        occupancy.leave()


def fail_after(n):
    yield from steps(n)
    raise Boom("elsewhere")


# --- at most N holders ------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2, 3, 7])
def test_a_semaphore_admits_at_most_value_holders_at_once(value):
    semaphore = tinyio.Semaphore(value)
    occupancy = Occupancy()

    def main():
        yield [
            guarded(semaphore, occupancy, i, arrive_after=i % 3, hold_for=1 + i % 4)
            for i in range(20)
        ]

    tinyio.Loop().run(main())
    assert occupancy.most == value
    assert sorted(occupancy.entries) == list(range(20))


def test_a_lock_admits_one_holder_at_a_time():
    lock = tinyio.Lock()
    occupancy = Occupancy()

    def main():
        yield [guarded(lock, occupancy, i, hold_for=2) for i in range(10)]

    tinyio.Loop().run(main())
    assert occupancy.most == 1
    assert len(occupancy.entries) == 10


def test_the_seed_lock_example_keeps_the_two_regions_apart():
    lock = tinyio.Lock()
    log = []

    def coro1():
        with (yield lock()):
            log.append("coro1 in")
            yield from steps(3)
            log.append("coro1 out")

    def coro2():
        with (yield lock()):
            log.append("coro2 in")
            yield from steps(3)
            log.append("coro2 out")

    def main():
        yield [coro1(), coro2()]

    tinyio.Loop().run(main())
    assert log == ["coro1 in", "coro1 out", "coro2 in", "coro2 out"]


def test_a_free_semaphore_is_entered_without_waiting_for_anyone():
    semaphore = tinyio.Semaphore(3)

    def main():
        with (yield semaphore()), (yield semaphore()), (yield semaphore()):
            return semaphore.value

    assert tinyio.Loop().run(main()) == 0


# --- first come, first served -----------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2])
def test_waiters_get_in_exactly_in_the_order_they_arrived(value):
    semaphore = tinyio.Semaphore(value)
    occupancy = Occupancy()
    arrivals = {"a": 4, "b": 1, "c": 6, "d": 2, "e": 5, "f": 3}

    def main():
        yield [
            *(guarded(semaphore, occupancy, f"holder{i}", hold_for=10) for i in range(value)),
            *(
                guarded(semaphore, occupancy, name, arrive_after=when, hold_for=1 + when % 3)
                for name, when in arrivals.items()
            ),
        ]

    tinyio.Loop().run(main())
    holders = [f"holder{i}" for i in range(value)]
    assert occupancy.entries == holders + sorted(arrivals, key=arrivals.__getitem__)


def test_a_lock_released_and_reacquired_at_once_goes_behind_the_waiters():
    lock = tinyio.Lock()
    log = []

    def greedy():
        for round_ in range(3):
            with (yield lock()):
                log.append(f"greedy {round_}")
                yield from steps(2)

    def polite(name):
        yield  # arrive while greedy holds the lock
        with (yield lock()):
            log.append(name)
            yield

    def main():
        yield [greedy(), polite("x"), polite("y")]

    tinyio.Loop().run(main())
    assert log == ["greedy 0", "x", "y", "greedy 1", "greedy 2"]


def test_a_semaphore_slot_released_and_reacquired_at_once_goes_behind_the_waiters():
    semaphore = tinyio.Semaphore(2)
    log = []

    def greedy(name):
        for round_ in range(2):
            with (yield semaphore()):
                log.append(f"{name} {round_}")
                yield from steps(3)

    def polite(name):
        yield
        with (yield semaphore()):
            log.append(name)
            yield from steps(10)

    def main():
        yield [greedy("g"), greedy("h"), polite("x"), polite("y")]

    tinyio.Loop().run(main())
    assert log[:4] == ["g 0", "h 0", "x", "y"]
    assert sorted(log[4:]) == ["g 1", "h 1"]


@pytest.mark.parametrize("asks_after", range(1, 8))
def test_a_released_slot_goes_to_the_waiter_not_to_a_newcomer_asking_at_that_moment(asks_after):
    # The holder releases after 3 steps; the newcomer asks for the slot a little before, at or
    # after that moment. Whenever it asks, it asked after the waiter and must go in after it.
    semaphore = tinyio.Semaphore(1)
    log = []

    def holder():
        with (yield semaphore()):
            yield from steps(3)

    def waiter():
        yield
        with (yield semaphore()):
            log.append("waiter")
            yield

    def newcomer():
        yield from steps(asks_after)
        with (yield semaphore()):
            log.append("newcomer")

    def main():
        yield [holder(), waiter(), newcomer()]

    tinyio.Loop().run(main())
    assert log == ["waiter", "newcomer"]


# --- release on error and on cancellation -----------------------------------------------


def test_the_slot_is_released_when_the_with_block_raises():
    semaphore = tinyio.Semaphore(2)
    seen = []

    def main():
        try:
            with (yield semaphore()):
                seen.append(semaphore.value)
                yield
                raise Boom("inside")
        except Boom:
            seen.append(semaphore.value)
        with (yield semaphore()), (yield semaphore()):
            seen.append(semaphore.value)

    tinyio.Loop().run(main())
    assert seen == [1, 2, 0]
    assert semaphore.value == 2


def test_a_lock_is_released_when_the_with_block_raises_and_the_next_waiter_gets_in():
    lock = tinyio.Lock()
    log = []

    def failing():
        try:
            with (yield lock()):
                yield from steps(3)
                raise Boom("inside")
        except Boom:
            log.append("failure handled")

    def waiter():
        yield
        with (yield lock()):
            log.append("waiter in")

    def main():
        yield [failing(), waiter()]

    tinyio.Loop().run(main())
    assert log == ["failure handled", "waiter in"]
    assert not lock.locked()


def test_lock_value_counts_its_free_slot_as_a_semaphore_of_one_does():
    lock = tinyio.Lock()
    semaphore = tinyio.Semaphore(1)
    seen = []

    def holder(acquire, guard):
        with (yield acquire()):
            seen.append(("held", guard.value))
            yield from steps(2)
        seen.append(("released to a waiter", guard.value))

    def waiter(acquire, guard):
        yield
        with (yield acquire()):
            seen.append(("waiter in", guard.value))

    def main(acquire, guard):
        seen.append(("free", guard.value))
        yield [holder(acquire, guard), waiter(acquire, guard)]
        seen.append(("free again", guard.value))

    for guard in (lock, semaphore):
        seen.clear()
        tinyio.Loop().run(main(guard, guard))
        assert seen == [
            ("free", 1),
            ("held", 0),
            ("released to a waiter", 0),  # handed straight over: never free in between
            ("waiter in", 0),
            ("free again", 1),
        ], guard


def test_an_error_inside_the_with_block_propagates_unchanged():
    lock = tinyio.Lock()
    error = Boom("mine")

    def main():
        with (yield lock()):
            raise error
        yield

    with pytest.raises(Boom) as excinfo:
        tinyio.Loop().run(main())
    assert excinfo.value is error
    assert not lock.locked()


def test_holders_cancelled_because_the_loop_crashed_elsewhere_release_their_slots():
    semaphore = tinyio.Semaphore(3)
    occupancy = Occupancy()

    def main():
        yield [
            guarded(semaphore, occupancy, "a", hold_for=100),
            guarded(semaphore, occupancy, "b", hold_for=100),
            fail_after(5),
        ]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert occupancy.entries == ["a", "b"]
    assert semaphore.value == 3
    assert not semaphore.locked()


def test_waiters_cancelled_while_queued_leave_the_semaphore_full_again():
    semaphore = tinyio.Semaphore(2)
    occupancy = Occupancy()

    def main():
        yield [
            guarded(semaphore, occupancy, "holder 1", hold_for=100),
            guarded(semaphore, occupancy, "holder 2", hold_for=100),
            *(guarded(semaphore, occupancy, f"waiter {i}", arrive_after=1) for i in range(4)),
            fail_after(10),
        ]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert occupancy.entries == ["holder 1", "holder 2"]
    assert semaphore.value == 2


def test_a_waiter_handed_a_slot_but_cancelled_before_using_it_does_not_leak_it():
    semaphore = tinyio.Semaphore(1)
    log = []

    def releaser():
        with (yield semaphore()):
            yield from steps(3)
        # The slot now belongs to the first waiter, which has not run yet; crash before it does.
        raise Boom("right after releasing")

    def waiter(name):
        yield
        with (yield semaphore()):
            log.append(name)

    def main():
        yield [releaser(), waiter("w1"), waiter("w2")]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == []
    assert semaphore.value == 1


def test_a_slot_handed_over_after_its_waiter_timed_out_goes_on_to_the_next_waiter():
    # `tinyio.timeout` interrupts the coroutine waiting in `yield semaphore()` but does not
    # cancel the acquiring coroutine it waited on, which later gets the slot for no one. The
    # slot must not be lost: the waiter queued behind gets in.
    semaphore = tinyio.Semaphore(1)
    log = []

    def holder():
        with (yield semaphore()):
            log.append("holder in")
            yield tinyio.sleep(0.05)

    def impatient():
        with (yield semaphore()):
            log.append("impatient in")  # never: it gave up long before

    def patient():
        with (yield semaphore()):
            log.append("patient in")

    def main():
        yield {holder()}
        yield
        timed_out = tinyio.timeout(impatient(), 0.001)
        yield [timed_out, patient()]
        return semaphore.value

    assert tinyio.Loop().run(main()) == 1
    assert log == ["holder in", "patient in"]


def test_a_slot_acquired_but_never_entered_is_released_when_dropped_and_warns():
    semaphore = tinyio.Semaphore(1)

    def careless():
        yield semaphore()  # the context manager is thrown away without `with`

    def main():
        yield careless()
        with (yield semaphore()):
            return semaphore.value

    with pytest.warns(ResourceWarning, match=r"tinyio\.Semaphore\(1\) at 0x.*never entered"):
        assert tinyio.Loop().run(main()) == 0
    assert semaphore.value == 1


def test_a_lock_slot_dropped_unentered_after_a_timeout_warns_naming_the_lock_and_is_free():
    lock = tinyio.Lock()

    def main():
        result, finished = yield tinyio.timeout(lock(), 1)
        assert finished
        del result
        yield tinyio.sleep(0)  # the loop lets go of the last value it sent in
        return lock.locked()

    with pytest.warns(ResourceWarning, match=rf"tinyio\.Lock at {id(lock):#x}"):
        assert tinyio.Loop().run(main()) is False
    assert not lock.locked()


def test_a_slot_released_by_hand_or_entered_does_not_warn():
    lock = tinyio.Lock()

    def main():
        slot = yield lock()
        slot.release()  # pyright: ignore[reportAttributeAccessIssue]
        del slot
        with (yield lock()):
            pass
        yield lock()  # acquired and dropped: this one warns
        yield  # the loop lets go of the last value it sent in
        return lock.locked()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tinyio.Loop().run(main()) is False
    assert [type(w.message) for w in caught] == [ResourceWarning]


def test_a_semaphore_emptied_by_a_crash_is_fully_usable_in_another_loop():
    semaphore = tinyio.Semaphore(2)
    occupancy = Occupancy()

    def crash():
        yield [
            guarded(semaphore, occupancy, "a", hold_for=100),
            guarded(semaphore, occupancy, "b", hold_for=100),
            guarded(semaphore, occupancy, "c", arrive_after=1),
            fail_after(5),
        ]

    with pytest.raises(Boom):
        tinyio.Loop().run(crash())

    after = Occupancy()

    def main():
        yield [guarded(semaphore, after, i, hold_for=2) for i in range(5)]

    tinyio.Loop().run(main())
    assert after.most == 2
    assert after.entries == [0, 1, 2, 3, 4]


def test_a_lock_held_when_the_loop_crashed_is_unlocked_afterwards():
    lock = tinyio.Lock()
    occupancy = Occupancy()

    def main():
        yield [
            guarded(lock, occupancy, "holder", hold_for=100),
            guarded(lock, occupancy, "waiter", arrive_after=1),
            fail_after(5),
        ]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert not lock.locked()


# --- one acquisition, one entry ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["semaphore", "lock"])
def test_entering_the_same_acquired_context_twice_raises_runtime_error(kind):
    primitive = tinyio.Semaphore(2) if kind == "semaphore" else tinyio.Lock()

    def main():
        acquired = yield primitive()
        with acquired:
            pass
        with pytest.raises(RuntimeError, match="already entered"), acquired:
            pass

    tinyio.Loop().run(main())


def test_entering_an_acquired_context_inside_itself_raises_and_releases_once():
    semaphore = tinyio.Semaphore(2)

    def main():
        acquired = yield semaphore()
        with pytest.raises(RuntimeError, match="already entered"), acquired, acquired:
            pass
        return semaphore.value

    assert tinyio.Loop().run(main()) == 2


def test_a_second_entry_does_not_release_the_slot_again():
    semaphore = tinyio.Semaphore(2)

    def main():
        acquired = yield semaphore()
        with acquired:
            pass
        with pytest.raises(RuntimeError):  # noqa: SIM117 -- the entry itself must raise
            with acquired:
                pass
        return semaphore.value

    assert tinyio.Loop().run(main()) == 2


# --- construction and state -------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1])
def test_a_semaphore_value_below_one_raises_value_error(value):
    with pytest.raises(ValueError, match="at least 1"):
        tinyio.Semaphore(value)


@pytest.mark.parametrize(
    "value",
    [1.5, 2.0, "2", None, True, False],
    ids=["float", "whole-float", "str", "none", "true", "false"],
)
def test_a_semaphore_value_that_is_not_an_int_raises_type_error_naming_it(value):
    with pytest.raises(TypeError, match="int") as caught:
        tinyio.Semaphore(value)
    assert repr(value) in str(caught.value)


def test_semaphore_value_counts_the_free_slots_and_locked_says_when_none_is_left():
    semaphore = tinyio.Semaphore(2)
    seen = []

    def main():
        seen.append((semaphore.value, semaphore.locked()))
        with (yield semaphore()):
            seen.append((semaphore.value, semaphore.locked()))
            with (yield semaphore()):
                seen.append((semaphore.value, semaphore.locked()))
            seen.append((semaphore.value, semaphore.locked()))
        seen.append((semaphore.value, semaphore.locked()))

    tinyio.Loop().run(main())
    assert seen == [(2, False), (1, False), (0, True), (1, False), (2, False)]


def test_semaphore_value_stays_zero_while_a_released_slot_is_handed_to_a_waiter():
    semaphore = tinyio.Semaphore(1)
    seen = []

    def holder():
        with (yield semaphore()):
            yield from steps(2)
        seen.append(("after release", semaphore.value, semaphore.locked()))

    def waiter():
        yield
        with (yield semaphore()):
            seen.append(("waiter in", semaphore.value))
        seen.append(("waiter out", semaphore.value))

    def main():
        yield [holder(), waiter()]

    tinyio.Loop().run(main())
    assert seen == [("after release", 0, True), ("waiter in", 0), ("waiter out", 1)]


def test_lock_locked_is_true_only_while_held():
    lock = tinyio.Lock()
    seen = [lock.locked()]

    def main():
        with (yield lock()):
            seen.append(lock.locked())
            yield
            seen.append(lock.locked())
        seen.append(lock.locked())

    tinyio.Loop().run(main())
    assert seen == [False, True, True, False]


def test_lock_takes_no_arguments():
    with pytest.raises(TypeError):
        tinyio.Lock(2)


# --- a slot acquired at once, for a coroutine that never takes it ------------------------


def test_a_slot_acquired_for_a_coroutine_cancelled_before_it_resumes_is_released():
    # `yield lock()` acquires when yielded, but the coroutine resumes only at its turn; if the
    # loop crashes in between, the slot must not stay taken -- even while something still
    # holds the coroutine.
    lock = tinyio.Lock()

    def taker():
        with (yield lock()):
            pass

    def crasher():
        raise Boom("before the taker resumes")
        yield

    taking = taker()

    def main():
        yield [taking, crasher()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert not lock.locked()
    assert taking is not None  # still held here, on purpose


@pytest.mark.timeout(10)
def test_a_coroutine_interrupted_before_it_takes_its_slot_can_acquire_again():
    lock = tinyio.Lock()

    def worker():
        try:
            with (yield lock()):
                return "first"
        except Boom:
            pass  # interrupted after the slot was acquired for it, before it resumed
        with (yield lock()):  # the slot it never took must be free again
            return "again"

    def main():
        working = worker()
        yield {working}
        yield Interrupt(working, Boom())  # runs after the worker acquired, before it resumes
        return (yield working)

    assert tinyio.Loop().run(main()) == "again"


def test_a_waiter_cancelled_in_line_leaves_it_and_the_next_gets_the_slot():
    lock = tinyio.Lock()
    order = []

    def holder():
        with (yield lock()):
            yield tinyio.sleep(0.02)

    def waiter(name):
        with (yield lock()):
            order.append(name)

    def main():
        yield {holder()}
        yield
        _, finished = yield tinyio.timeout(waiter("cancelled"), 0.01)
        assert not finished
        order.append(repr(lock))
        yield waiter("next")

    # On the virtual clock: the holder's 0.02 s always outlasts the waiter's 0.01 s timeout
    # (on the real clock a busy machine could let the timeout come after the release).
    tinyio.Loop(clock=VirtualClock()).run(main())
    assert order == ["<tinyio.Lock locked, 0 waiting>", "next"]
