"""The clock the runtime waits on: real monotonic time, or a manual clock that tests advance.

Why a seam: the work queue's delays and back-offs and the leader's deadlines are all "wait
until time T or until something changes". Tests must check them exactly — a key added with
a 5 s delay is not ready at 4.999 s and is ready at 5 s — without sleeping. Both clocks wait
on the caller's :class:`threading.Condition`, so "something changed" (a notify) and "time
passed" wake the same wait; :class:`ManualClock` turns ``advance()`` into a notify.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds, and a timed wait on a condition the caller holds."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait on ``condition`` (held by the caller) until notified or ``timeout`` clock seconds pass.

        May return early (like :meth:`threading.Condition.wait`): callers re-check their state.
        """
        ...


class MonotonicClock:
    """Real time: :func:`time.monotonic` and :meth:`threading.Condition.wait`."""

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait on the condition for at most ``timeout`` real seconds."""
        condition.wait(timeout)


class ManualClock:
    """Time that moves only when a test calls :meth:`advance`; waiters wake on every advance."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._waiting: list[threading.Condition] = []
        self._waits_begun = 0
        self._wait_begun = threading.Condition(self._lock)
        self._last_reading = threading.local()

    def now(self) -> float:
        """The current manual time."""
        with self._lock:
            self._last_reading.value = self._now
            return self._now

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Wait until notified or until the next :meth:`advance`; a timeout ≤ 0 returns at once.

        Returns at once, too, if time moved since this thread last read :meth:`now`: its
        timeout was computed from a stale reading, and the advance that moved time may have
        notified before this wait began.
        """
        if timeout is not None and timeout <= 0:
            return
        with self._lock:
            if timeout is not None and getattr(self._last_reading, "value", self._now) != self._now:
                return
            self._waiting.append(condition)
            self._waits_begun += 1
            self._wait_begun.notify_all()
        try:
            condition.wait()
        finally:
            with self._lock:
                self._waiting.remove(condition)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every waiter, which then re-checks its deadline."""
        with self._lock:
            self._now += seconds
            waiting = list(self._waiting)
        for condition in waiting:
            with condition:
                condition.notify_all()

    def wait_for_waits(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` waits have begun on this clock since it was made; False on timeout.

        A test's synchronisation point: "the worker is blocked", "the elector finished its third
        try and waits for the next". ``timeout`` is real seconds, a guard against hanging.
        """
        with self._lock:
            return self._wait_begun.wait_for(lambda: self._waits_begun >= count, timeout)
