"""The back-off of a metrics source after timeouts (analysis.providers.unresponsive), to the instant."""

from __future__ import annotations

from analysis.providers.unresponsive import MAX_BACKOFF, Unresponsive


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_responsive_source_is_asked_at_once() -> None:
    assert Unresponsive(30.0, ManualClock()).wait_left() is None


def test_a_timeout_leaves_the_source_alone_for_the_timeout_then_it_is_probed() -> None:
    clock = ManualClock()
    source = Unresponsive(30.0, clock)
    assert source.timed_out() == 30.0
    assert source.wait_left() == 30.0
    clock.now += 29.999
    assert source.wait_left() is not None
    clock.now += 0.001
    assert source.wait_left() is None, "the probe is due exactly one back-off later"


def test_timeouts_in_a_row_double_the_back_off_up_to_the_cap() -> None:
    clock = ManualClock()
    source = Unresponsive(30.0, clock)
    backoffs = []
    for _ in range(6):
        backoffs.append(source.timed_out())
        clock.now += backoffs[-1]
    assert backoffs == [30.0, 60.0, 120.0, 240.0, MAX_BACKOFF, MAX_BACKOFF]


def test_an_answer_resets_the_back_off() -> None:
    clock = ManualClock()
    source = Unresponsive(30.0, clock)
    source.timed_out()
    clock.now += 30.0
    source.timed_out()
    source.answered()
    assert source.wait_left() is None
    assert source.timed_out() == 30.0


def test_a_tiny_timeout_still_backs_off_a_second() -> None:
    assert Unresponsive(0.01, ManualClock()).timed_out() == 1.0
