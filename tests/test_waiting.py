import pytest

from harness import cancel
from harness.errors import PhaseTimeout
from harness.waiting import wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_returns_elapsed_and_value_once_truthy():
    clock = FakeClock()
    answers = iter([None, 0, "ready"])
    elapsed, value = wait_for(lambda: next(answers), timeout=10, what="x", interval=2, sleep=clock.sleep, clock=clock)
    assert value == "ready" and elapsed == 4


def test_timeout_names_what_and_last_value_and_cloud():
    clock = FakeClock()
    with pytest.raises(PhaseTimeout) as err:
        wait_for(lambda: [], timeout=3, what="server web-1 ACTIVE", interval=1, cloud="lab2", phase="servers",
                 sleep=clock.sleep, clock=clock)
    assert str(err.value) == "cloud lab2, phase servers: timed out after 3.0s waiting for server web-1 ACTIVE (last value [])"
    assert clock.now == 3  # never sleeps past the deadline


def test_listed_exceptions_are_retried_and_quoted():
    clock = FakeClock()

    def check() -> None:
        raise ConnectionRefusedError("port 22")

    with pytest.raises(PhaseTimeout, match=r"ConnectionRefusedError: port 22"):
        wait_for(check, timeout=1, what="ssh", retry_on=(OSError,), sleep=clock.sleep, clock=clock)


def test_other_exceptions_propagate_at_once():
    clock = FakeClock()
    with pytest.raises(KeyError):
        wait_for(lambda: {}["x"], timeout=5, what="x", retry_on=(OSError,), sleep=clock.sleep, clock=clock)
    assert clock.now == 0


def test_timeout_must_be_positive():
    with pytest.raises(ValueError):
        wait_for(lambda: 1, timeout=0, what="x")


def test_a_stop_request_ends_the_wait_naming_what_it_waited_for():
    clock = FakeClock()
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            cancel.request()  # as the main thread does on Ctrl-C

    try:
        with pytest.raises(KeyboardInterrupt, match="stopped while waiting for servers ACTIVE"):
            wait_for(check, timeout=60, what="servers ACTIVE", interval=1, sleep=clock.sleep, clock=clock)
        assert len(calls) == 3 and clock.now == 3
        with cancel.shielded():  # teardown's waits go on
            _, value = wait_for(lambda: "gone", timeout=1, what="servers deleted", sleep=clock.sleep, clock=clock)
        assert value == "gone"
        assert cancel.requested()
    finally:
        cancel.reset()
    assert not cancel.requested()
