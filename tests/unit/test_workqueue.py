"""The work queue, its rate limiters, and the clock contract they rely on.

Timing is checked on a ManualClock (exact instants, no sleeping); the clock contract below runs
against both clocks so the manual one cannot drift from real time's behaviour.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import pytest

from rollouts.runtime.clock import Clock, ManualClock, MonotonicClock
from rollouts.runtime.ratelimit import ExponentialBackoff, SlowestOf, TokenBucket, default_rate_limiter
from rollouts.runtime.workqueue import WorkQueue

JOIN = 10.0  # seconds a test waits for a thread before calling it hung; never a speed assertion
PAUSE = 0.125  # a short wait, exact in binary so manual-clock arithmetic is exact too


def start(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` in a thread; its return value lands in the returned list."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def finished(thread: threading.Thread) -> bool:
    thread.join(JOIN)
    return not thread.is_alive()


# --- the clock contract ----------------------------------------------------------------------


def let_time_pass(clock: Clock, seconds: float) -> None:
    """Real time passes by itself; manual time once the waiter is waiting."""
    if isinstance(clock, ManualClock):
        assert clock.wait_for_waits(1)
        clock.advance(seconds)


@pytest.fixture(params=["monotonic", "manual"])
def clock(request: pytest.FixtureRequest) -> Clock:
    return MonotonicClock() if request.param == "monotonic" else ManualClock(start=100.0)


def test_clock_never_goes_back(clock: Clock) -> None:
    readings = [clock.now() for _ in range(100)]
    assert readings == sorted(readings)


def test_clock_wait_with_zero_timeout_returns_at_once(clock: Clock) -> None:
    """Run in a thread: a wait that blocked would leave the thread alive (nobody notifies)."""
    condition = threading.Condition()
    before = clock.now()

    def wait_zero() -> float:
        with condition:
            clock.wait(condition, 0)
        return clock.now()

    thread, result = start(wait_zero)
    assert finished(thread)
    assert result == [pytest.approx(before, abs=JOIN)]
    if isinstance(clock, ManualClock):
        assert not clock.wait_for_waits(1, timeout=0)  # it never began a wait


def test_clock_wait_ends_when_notified(clock: Clock) -> None:
    condition = threading.Condition()
    woken = threading.Event()

    def waiter() -> None:
        with condition:
            ready.set()
            clock.wait(condition, None)
        woken.set()

    ready = threading.Event()
    thread, _ = start(waiter)
    assert ready.wait(JOIN)
    with condition:  # acquired only once the waiter is inside wait()
        condition.notify_all()
    assert finished(thread)
    assert woken.is_set()


def test_clock_wait_ends_after_its_timeout(clock: Clock) -> None:
    condition = threading.Condition()
    before = clock.now()

    def waiter() -> None:
        with condition:
            while clock.now() < before + PAUSE:
                clock.wait(condition, before + PAUSE - clock.now())

    thread, _ = start(waiter)
    let_time_pass(clock, PAUSE)
    assert finished(thread)
    assert clock.now() - before >= PAUSE


# --- the queue: ordering, deduplication, one worker per key ----------------------------------


@pytest.fixture
def manual() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(manual: ManualClock) -> Iterator[WorkQueue]:
    work = WorkQueue(clock=manual)
    yield work
    work.shutdown()


def test_keys_come_out_in_the_order_they_went_in(queue: WorkQueue) -> None:
    for key in ("ml/a", "ml/b", "ml/c"):
        queue.add(key)
    assert [queue.get(timeout=0) for _ in range(3)] == ["ml/a", "ml/b", "ml/c"]


def test_a_key_added_many_times_is_handed_out_once(queue: WorkQueue) -> None:
    for _ in range(3):
        queue.add("ml/a")
    assert len(queue) == 1
    assert queue.get(timeout=0) == "ml/a"
    assert queue.get(timeout=0) is None


def test_a_key_being_processed_is_not_handed_to_another_worker(queue: WorkQueue) -> None:
    queue.add("ml/a")
    assert queue.get(timeout=0) == "ml/a"
    queue.add("ml/a")
    queue.add("ml/a")
    assert queue.get(timeout=0) is None
    assert len(queue) == 0
    queue.done("ml/a")
    assert len(queue) == 1
    assert queue.get(timeout=0) == "ml/a"
    queue.done("ml/a")
    assert queue.get(timeout=0) is None


def test_done_without_a_new_add_does_not_requeue(queue: WorkQueue) -> None:
    queue.add("ml/a")
    assert queue.get(timeout=0) == "ml/a"
    queue.done("ml/a")
    assert len(queue) == 0


def test_other_keys_flow_while_one_is_processed(queue: WorkQueue) -> None:
    queue.add("ml/a")
    assert queue.get(timeout=0) == "ml/a"
    queue.add("ml/a")
    queue.add("ml/b")
    assert queue.get(timeout=0) == "ml/b"


# --- delays -----------------------------------------------------------------------------------


def test_a_delayed_key_is_ready_exactly_at_its_time(queue: WorkQueue, manual: ManualClock) -> None:
    queue.add_after("ml/a", 5)
    assert queue.waiting() == 1
    manual.advance(4.999)
    assert queue.get(timeout=0) is None
    manual.advance(0.001)
    assert queue.get(timeout=0) == "ml/a"
    assert queue.waiting() == 0


def test_the_earliest_delay_wins(queue: WorkQueue, manual: ManualClock) -> None:
    queue.add_after("ml/a", 10)
    queue.add_after("ml/a", 5)
    queue.add_after("ml/a", 7)
    manual.advance(5)
    assert queue.get(timeout=0) == "ml/a"
    queue.done("ml/a")
    manual.advance(5)  # the later times were superseded, not kept
    assert queue.get(timeout=0) is None


def test_a_zero_or_negative_delay_adds_at_once(queue: WorkQueue) -> None:
    queue.add_after("ml/a", 0)
    queue.add_after("ml/b", -1)
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["ml/a", "ml/b"]


def test_a_due_key_being_processed_waits_for_done(queue: WorkQueue, manual: ManualClock) -> None:
    queue.add("ml/a")
    assert queue.get(timeout=0) == "ml/a"
    queue.add_after("ml/a", 1)
    manual.advance(1)
    assert queue.get(timeout=0) is None
    queue.done("ml/a")
    assert queue.get(timeout=0) == "ml/a"


def test_a_blocked_get_wakes_when_a_delayed_key_is_due(queue: WorkQueue, manual: ManualClock) -> None:
    getter, result = start(queue.get)
    assert manual.wait_for_waits(1)
    queue.add_after("ml/a", 30)
    assert manual.wait_for_waits(2)  # woken by the add, waiting again: now until the key is due
    manual.advance(30)
    assert finished(getter)
    assert result == ["ml/a"]


def test_a_blocked_get_wakes_on_add(queue: WorkQueue, manual: ManualClock) -> None:
    getter, result = start(queue.get)
    assert manual.wait_for_waits(1)
    queue.add("ml/a")
    assert finished(getter)
    assert result == ["ml/a"]


def test_get_gives_up_after_its_timeout(queue: WorkQueue, manual: ManualClock) -> None:
    getter, result = start(lambda: queue.get(timeout=2))
    assert manual.wait_for_waits(1)
    manual.advance(2)
    assert finished(getter)
    assert result == [None]


# --- shutdown ---------------------------------------------------------------------------------


def test_shutdown_releases_blocked_workers_and_stops_handing_out_keys(
    queue: WorkQueue, manual: ManualClock
) -> None:
    getters = [start(queue.get) for _ in range(2)]
    assert manual.wait_for_waits(2)
    queue.shutdown()
    assert all(finished(thread) for thread, _ in getters)
    assert [result for _, result in getters] == [[None], [None]]
    queue.add("ml/a")
    queue.add_after("ml/b", 0)
    assert queue.get() is None
    assert queue.shutting_down


def test_queued_keys_are_not_handed_out_after_shutdown(queue: WorkQueue) -> None:
    queue.add("ml/a")
    queue.shutdown()
    assert queue.get() is None


# --- rate-limited retries ---------------------------------------------------------------------


def test_add_rate_limited_backs_off_per_key_until_forgotten(queue: WorkQueue, manual: ManualClock) -> None:
    for failures, delay in enumerate((0.005, 0.010, 0.020)):
        queue.add_rate_limited("ml/a")
        assert queue.failures("ml/a") == failures + 1
        manual.advance(delay - 0.0001)
        assert queue.get(timeout=0) is None
        manual.advance(0.0001)
        assert queue.get(timeout=0) == "ml/a"
        queue.done("ml/a")
    queue.forget("ml/a")
    assert queue.failures("ml/a") == 0
    queue.add_rate_limited("ml/a")
    manual.advance(0.005)
    assert queue.get(timeout=0) == "ml/a"


def test_exponential_backoff_doubles_up_to_its_cap() -> None:
    backoff = ExponentialBackoff(base=0.005, cap=1000)
    delays = [backoff.when("ml/a") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[10] == pytest.approx(5.12)  # the module docstring's 11th failure
    assert delays[-1] == 1000
    assert backoff.when("ml/b") == 0.005  # per key
    backoff.forget("ml/a")
    assert backoff.failures("ml/a") == 0


def test_exponential_backoff_survives_thousands_of_failures() -> None:
    backoff = ExponentialBackoff()
    assert [backoff.when("ml/a") for _ in range(1100)][-1] == 1000


def test_token_bucket_lets_a_burst_through_then_spaces_retries() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=1, burst=2, clock=clock)
    assert [bucket.when(f"k{i}") for i in range(4)] == [0, 0, 1, 2]
    clock.advance(2)  # two tokens earned pay the debt of two
    assert bucket.when("k4") == 1
    clock.advance(100)  # savings are capped at the burst
    assert [bucket.when(f"k{i}") for i in range(3)] == [0, 0, 1]


def test_default_limiter_matches_the_worked_example() -> None:
    limiter = default_rate_limiter(ManualClock())
    delays = [limiter.when(f"ml/{i}") for i in range(150)]
    assert delays[:100] == [0.005] * 100
    assert delays[-1] == 5.0
    assert isinstance(limiter, SlowestOf)
    assert limiter.failures("ml/0") == 1


# --- concurrency ------------------------------------------------------------------------------


def test_many_workers_never_process_one_key_at_once_and_see_every_last_add() -> None:
    """Adders bump a key's version before each add; every key's final version gets processed."""
    queue = WorkQueue()
    keys = [f"ml/{i}" for i in range(8)]
    versions = dict.fromkeys(keys, 0)
    seen = dict.fromkeys(keys, 0)
    active: set[str] = set()
    overlaps: list[str] = []
    state = threading.Condition()

    def worker() -> None:
        while (key := queue.get()) is not None:
            with state:
                if key in active:
                    overlaps.append(key)
                active.add(key)
                version = versions[key]
            rng.random()  # a little work outside the lock
            with state:
                active.discard(key)
                seen[key] = max(seen[key], version)
                state.notify_all()
            queue.done(key)

    def adder(seed: int) -> None:
        local = random.Random(seed)
        for _ in range(2000):
            key = local.choice(keys)
            with state:
                versions[key] += 1
            queue.add(key)

    rng = random.Random(0)
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    adders = [threading.Thread(target=adder, args=(seed,), daemon=True) for seed in range(3)]
    for thread in workers + adders:
        thread.start()
    assert all(finished(thread) for thread in adders)
    with state:
        assert state.wait_for(lambda: seen == versions, timeout=JOIN)
    queue.shutdown()
    assert all(finished(thread) for thread in workers)
    assert overlaps == []
