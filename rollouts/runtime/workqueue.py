"""The work queue of rollout keys, with client-go's semantics: one key, one worker, at a time.

Why these rules: every trigger (the rollout, its Deployments, its route, a timer) only says
"look at rollout ``ns/name`` again", and one ``reconcile(key)`` does all the work. So the queue
holds keys, not events, and guarantees:

- **Deduplication.** A key added many times before a worker takes it is processed once
  (the *dirty* set).
- **No concurrent processing of one key.** A key added while a worker holds it (the
  *processing* set) is not handed out; :meth:`WorkQueue.done` puts it back, so the change that
  arrived mid-reconcile is seen by exactly one more reconcile.
- **Delays.** :meth:`WorkQueue.add_after` schedules a key; when the same key is scheduled twice
  the earliest time wins (a timer never postpones an earlier one).
- **Rate-limited retries.** :meth:`WorkQueue.add_rate_limited` delays a failed key by the
  :mod:`~rollouts.runtime.ratelimit` policy; :meth:`WorkQueue.forget` resets it after success.
- **Shutdown.** :meth:`WorkQueue.get` returns None once the queue is shut down — queued keys
  are not drained, because a replica shuts down when it stops leading and must stop acting —
  so workers exit after their current key; adds after shutdown are ignored.

Example: worker A gets ``ml/fraud``; an informer adds ``ml/fraud`` twice more; worker B's
``get`` does not return it; A calls ``done("ml/fraud")``; the key is queued once, and the next
``get`` returns it.

What happens to keys is told to a :class:`QueueObserver` (client-go's ``queueMetrics`` hooks:
added, taken, done, retried), so the queue stays free of any metrics library and its metrics
(rollouts.runtime.metrics) are tested on the same manual clock as the queue.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from typing import Protocol

from rollouts.runtime.clock import Clock, MonotonicClock
from rollouts.runtime.ratelimit import RateLimiter, default_rate_limiter


class QueueObserver(Protocol):
    """Told, under the queue's lock, what happens to keys; must be quick and must not raise."""

    def added(self, key: str) -> None:
        """``key`` is waiting to be handed out, counted once until it is taken (client-go ``add``)."""

    def taken(self, key: str) -> None:
        """A worker took ``key`` (client-go ``get``)."""

    def finished(self, key: str) -> None:
        """The worker that took ``key`` called :meth:`WorkQueue.done` (client-go ``done``)."""

    def retried(self, key: str) -> None:
        """:meth:`WorkQueue.add_after` was called for ``key``: a back-off or a timer (client-go ``retry``)."""


class _Unobserved:
    """The observer of a queue nobody watches."""

    def added(self, key: str) -> None:
        """Nothing to tell."""

    def taken(self, key: str) -> None:
        """Nothing to tell."""

    def finished(self, key: str) -> None:
        """Nothing to tell."""

    def retried(self, key: str) -> None:
        """Nothing to tell."""


class WorkQueue:
    """A thread-safe, delaying, rate-limited queue of keys (``namespace/name`` strings)."""

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        observer: QueueObserver | None = None,
    ) -> None:
        self._clock = clock or MonotonicClock()
        self._observer: QueueObserver = observer or _Unobserved()
        self._rate_limiter = rate_limiter or default_rate_limiter(self._clock)
        self._changed = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._ready_at: dict[str, float] = {}  # delayed keys: the earliest time each is due
        self._timers: list[tuple[float, int, str]] = []  # heap of (due, sequence, key); stale ones skipped
        self._sequence = itertools.count()
        self._shutting_down = False

    # --- adding

    def add(self, key: str) -> None:
        """Queue ``key`` now (no-op if already queued; deferred to ``done`` if being processed)."""
        with self._changed:
            self._add(key)

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending time for the key wins."""
        with self._changed:
            if self._shutting_down:
                return
            self._observer.retried(key)
            if delay <= 0:
                self._add(key)
                return
            due = self._clock.now() + delay
            if key in self._ready_at and self._ready_at[key] <= due:
                return
            self._ready_at[key] = due
            heapq.heappush(self._timers, (due, next(self._sequence), key))
            self._changed.notify()

    def add_rate_limited(self, key: str) -> None:
        """Queue ``key`` after the rate limiter's delay (its failure count grows by one)."""
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: str) -> None:
        """Reset ``key``'s back-off: call after it was processed successfully."""
        self._rate_limiter.forget(key)

    def failures(self, key: str) -> int:
        """How many times in a row ``key`` was re-added by :meth:`add_rate_limited`."""
        return self._rate_limiter.failures(key)

    # --- taking

    def get(self, timeout: float | None = None) -> str | None:
        """The next key, blocking up to ``timeout`` clock seconds; None on timeout or shutdown.

        The caller must call :meth:`done` with the key when it has finished with it.
        """
        with self._changed:
            deadline = None if timeout is None else self._clock.now() + timeout
            while not self._shutting_down:
                self._release_due_timers()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    self._observer.taken(key)
                    return key
                now = self._clock.now()
                if deadline is not None and now >= deadline:
                    return None
                wake_times = [t for t in (deadline, self._next_timer()) if t is not None]
                self._clock.wait(self._changed, min(wake_times) - now if wake_times else None)
            return None

    def done(self, key: str) -> None:
        """Mark ``key`` finished; if it was added meanwhile, it is queued again now."""
        with self._changed:
            if key in self._processing:
                self._observer.finished(key)
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._changed.notify()

    # --- lifecycle and introspection

    def shutdown(self) -> None:
        """Stop handing out keys, even queued ones: every blocked and later :meth:`get` returns None."""
        with self._changed:
            self._shutting_down = True
            self._changed.notify_all()

    @property
    def shutting_down(self) -> bool:
        """True after :meth:`shutdown`."""
        with self._changed:
            return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (not those waiting for their delay, nor being processed)."""
        with self._changed:
            return len(self._queue)

    def waiting(self) -> int:
        """Keys scheduled for later by :meth:`add_after` or :meth:`add_rate_limited`."""
        with self._changed:
            return len(self._ready_at)

    # --- internals (the caller holds self._changed)

    def _add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._observer.added(key)
        if key not in self._processing:
            self._queue.append(key)
            self._changed.notify()

    def _next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def _release_due_timers(self) -> None:
        now = self._clock.now()
        while self._timers and self._timers[0][0] <= now:
            due, _, key = heapq.heappop(self._timers)
            if self._ready_at.get(key) == due:
                del self._ready_at[key]
                self._add(key)
