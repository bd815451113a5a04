"""`loop.runtime`: driving the loop step by step, e.g. from another event loop (docs: loops.md)."""

import threading
import time

import pytest

import tinyio


def drive(gen):
    """Exhaust a runtime generator; give (result, what it yielded)."""
    yielded = []
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value, yielded
        yielded.append(item)
        if item is not None:
            item()


def test_the_generator_returns_the_result_of_the_coroutine():
    def main():
        yield
        return "result"

    with tinyio.Loop().runtime(main(), None) as gen:
        result, _ = drive(gen)
    assert result == "result"


def test_the_generator_yields_none_after_each_step_while_work_is_ready():
    def worker():
        for _ in range(5):
            yield

    def main():
        yield [worker(), worker()]
        return "done"

    with tinyio.Loop().runtime(main(), None) as gen:
        result, yielded = drive(gen)
    assert result == "done"
    assert yielded, "the loop took steps, so the generator yielded"
    assert all(item is None for item in yielded)
    # main's two steps plus each worker's six: at least one `None` per step.
    assert len(yielded) >= 14


def test_the_loop_advances_only_when_the_generator_is_advanced():
    log = []

    def main():
        for i in range(100):
            log.append(i)
            yield

    with tinyio.Loop().runtime(main(), None) as gen:
        next(gen)
        seen_after_one = len(log)
        next(gen)
        next(gen)
        seen_after_three = len(log)
        drive(gen)
    assert seen_after_one < seen_after_three < 100
    assert len(log) == 100


def test_the_generator_yields_a_callable_that_blocks_until_a_timer_is_due():
    def main():
        yield tinyio.sleep(0.1)
        return "woke"

    with tinyio.Loop().runtime(main(), None) as gen:
        blockers = []
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            if item is not None:
                assert callable(item)
                start = time.monotonic()
                item()
                blockers.append(time.monotonic() - start)
    assert result == "woke"
    assert blockers, "the loop had nothing to do during the sleep, so it handed out a blocker"
    assert 0.05 <= sum(blockers) <= 0.5


@pytest.mark.timeout(10)
def test_the_callable_returns_when_another_thread_wakes_the_loop():
    event = tinyio.Event()
    waiting = threading.Event()

    def main():
        waiting.set()
        yield event.wait()
        return "set from a thread"

    def setter():
        waiting.wait()
        time.sleep(0.05)
        event.set()

    thread = threading.Thread(target=setter)
    thread.start()
    with tinyio.Loop().runtime(main(), None) as gen:
        result, yielded = drive(gen)
    thread.join()
    assert result == "set from a thread"
    assert any(callable(item) for item in yielded)


@pytest.mark.timeout(10)
def test_a_wake_between_getting_the_callable_and_calling_it_is_not_lost():
    event = tinyio.Event()

    def main():
        yield event.wait()
        return "not lost"

    with tinyio.Loop().runtime(main(), None) as gen:
        item = next(gen)
        while item is None:
            item = next(gen)
        thread = threading.Thread(target=event.set)
        thread.start()
        thread.join()
        start = time.monotonic()
        item()
        assert time.monotonic() - start < 1
        result, _ = drive(gen)
    assert result == "not lost"


def test_the_callable_may_be_called_in_another_thread():
    def main():
        yield tinyio.sleep(0.02)
        yield tinyio.sleep(0.02)
        return "done"

    with tinyio.Loop().runtime(main(), None) as gen:
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            if item is not None:
                thread = threading.Thread(target=item)
                thread.start()
                thread.join()
    assert result == "done"


def test_the_generator_raises_the_error_of_a_failing_coroutine():
    def main():
        yield
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"), tinyio.Loop().runtime(main(), None) as gen:
        drive(gen)


def test_exception_group_applies_to_runtime_as_to_run():
    def main():
        yield
        raise ValueError("boom")

    with (
        pytest.raises(ExceptionGroup) as excinfo,
        tinyio.Loop().runtime(main(), exception_group=True) as gen,
    ):
        drive(gen)
    assert isinstance(excinfo.value.exceptions[0], ValueError)


def test_leaving_the_context_early_raises_runtime_error_naming_the_leak():
    def leaky_main():
        for _ in range(10):
            yield

    with (
        pytest.raises(RuntimeError, match="leaky_main"),
        tinyio.Loop().runtime(leaky_main(), None) as gen,
    ):
        next(gen)


def test_leaving_the_context_early_cancels_the_unfinished_coroutines():
    cleaned_up = []

    def main():
        try:
            while True:
                yield
        finally:
            cleaned_up.append("main")

    def leave_after_two_steps():
        with tinyio.Loop().runtime(main(), None) as gen:
            next(gen)
            next(gen)

    with pytest.raises(RuntimeError):
        leave_after_two_steps()
    assert cleaned_up == ["main"]


def test_leaving_the_context_without_advancing_at_all_raises_runtime_error():
    def never_started():
        yield

    with (
        pytest.raises(RuntimeError, match="never_started"),
        tinyio.Loop().runtime(never_started(), None),
    ):
        pass


def test_an_exception_leaving_the_context_propagates_unchanged_and_cancels():
    cleaned_up = []

    def main():
        try:
            while True:
                yield
        finally:
            cleaned_up.append("main")

    class DriverError(Exception):
        pass

    def fail_while_driving():
        with tinyio.Loop().runtime(main(), None) as gen:
            next(gen)
            raise DriverError

    with pytest.raises(DriverError):
        fail_while_driving()
    assert cleaned_up == ["main"]


def test_the_loop_can_run_again_after_runtime_finished():
    loop = tinyio.Loop()

    def main(x):
        yield
        return x

    with loop.runtime(main(1), None) as gen:
        first, _ = drive(gen)
    assert first == 1
    assert loop.run(main(2)) == 2


def test_runtime_and_run_share_the_loops_results():
    loop = tinyio.Loop()
    runs = []

    def shared():
        runs.append(1)
        yield
        return "shared"

    c = shared()
    with loop.runtime(c, None) as gen:
        drive(gen)

    def later():
        return (yield c)

    assert loop.run(later()) == "shared"
    assert len(runs) == 1


def test_notify_on_wakeup_says_false_and_never_calls_back_when_a_wakeup_came_first():
    event = tinyio.Event()

    def main():
        yield event.wait()
        return "woken"

    calls = []
    with tinyio.Loop().runtime(main(), None) as gen:
        idle = next(gen)
        while idle is None:
            idle = next(gen)
        thread = threading.Thread(target=event.set)  # a wake-up from another thread...
        thread.start()
        thread.join()
        # ...that came before the driver asked to be told: it must not wait for a callback.
        assert idle.notify_on_wakeup(lambda: calls.append("called")) is False
        result, _ = drive(gen)
    assert result == "woken"
    assert calls == []


def test_notify_on_wakeup_says_true_and_calls_back_on_a_later_wakeup():
    event = tinyio.Event()

    def main():
        yield event.wait()
        return "woken"

    called = threading.Event()
    with tinyio.Loop().runtime(main(), None) as gen:
        idle = next(gen)
        while idle is None:
            idle = next(gen)
        assert idle.notify_on_wakeup(called.set) is True
        thread = threading.Thread(target=event.set)
        thread.start()
        thread.join()
        assert called.wait(10)
        result, _ = drive(gen)
    assert result == "woken"


# ========================================================================================
# The generator protocol: send, throw, close (what a driver such as `to_asyncio` uses)
# ========================================================================================


def _endless(log):
    def main():
        try:
            while True:
                yield
        finally:
            log.append("cleaned up")

    return main()


def test_send_none_steps_the_loop_as_next_does():
    def main():
        yield
        yield
        return "done"

    with tinyio.Loop().runtime(main(), None) as gen:
        assert gen.send(None) is None
        assert gen.send(None) is None

        def exhaust():
            while True:
                gen.send(None)

        with pytest.raises(StopIteration) as stop:
            exhaust()
    assert stop.value.value == "done"


@pytest.mark.parametrize("form", ["instance", "class", "type_and_value"])
def test_throw_crashes_the_loop_with_the_error_after_cancelling_every_coroutine(form):
    log = []
    error = KeyError("from the driver")
    with tinyio.Loop().runtime(_endless(log), None) as gen:
        next(gen)
        throw = {
            "instance": lambda: gen.throw(error),
            "class": lambda: gen.throw(KeyError),
            "type_and_value": lambda: gen.throw(KeyError, error),
        }[form]
        with pytest.raises(KeyError) as info:
            throw()
    assert log == ["cleaned up"]
    if form != "class":
        assert info.value is error
    assert "_Runtime" not in "".join(str(entry) for entry in info.traceback)


def test_throw_of_keyboard_interrupt_runs_every_finally_and_raises_it():
    log = []
    with tinyio.Loop().runtime(_endless(log), None) as gen:
        next(gen)
        with pytest.raises(KeyboardInterrupt):
            gen.throw(KeyboardInterrupt())
    assert log == ["cleaned up"]


def test_stepping_or_throwing_before_entering_the_runtime_raises_runtime_error():
    def main():
        yield

    coro = main()
    runtime = tinyio.Loop().runtime(coro, None)
    with pytest.raises(RuntimeError, match=r"Enter `loop\.runtime"):
        next(runtime)
    with pytest.raises(ValueError, match="not entered"):
        runtime.throw(ValueError("not entered"))
    runtime.close()  # nothing to close: no error
    coro.close()


def test_a_runtime_can_be_entered_once():
    def main():
        yield

    runtime = tinyio.Loop().runtime(main(), None)
    with runtime as gen:
        drive(gen)
        with pytest.raises(RuntimeError, match="entered once"), runtime:
            pass


def test_a_second_runtime_of_a_running_loop_refuses_its_first_step():
    # Both entered, the second stepped first: the first may not step the same loop meanwhile.
    def main():
        yield
        yield

    loop = tinyio.Loop()
    first, second = loop.runtime(main(), None), loop.runtime(main(), None)
    with first as waiting:
        with second as running:
            next(running)
            with pytest.raises(RuntimeError, match="whilst the loop is currently running"):
                next(waiting)
            drive(running)
        # The refused step ended it, nothing ran; leaving it is no leak.
        with pytest.raises(StopIteration):
            next(waiting)


def test_stepping_a_runtime_after_its_end_raises_stop_iteration_as_a_generator_does():
    def main():
        yield
        return 3

    with tinyio.Loop().runtime(main(), None) as steps:
        assert drive(steps)[0] == 3
        with pytest.raises(StopIteration) as info:
            next(steps)
    assert info.value.value is None


def test_close_cancels_the_unfinished_coroutines():
    log = []

    def close_after_a_step():
        with tinyio.Loop().runtime(_endless(log), None) as gen:
            next(gen)
            gen.close()

    with pytest.raises(RuntimeError, match="partially completed"):
        close_after_a_step()
    assert log == ["cleaned up"]
