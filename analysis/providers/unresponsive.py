"""When a metrics source stops answering: ask it again only after a back-off.

Why: a query that hangs holds a controller worker for the whole timeout (30 s by default), and
one look sends several queries, so a single rollout pointing at a hanging Prometheus could hold
a worker for minutes at each look and delay every other rollout the controller serves. The
rules, in order:

1. **A query that times out makes the source unresponsive** for a back-off: the timeout itself
   the first time, doubling with every timeout in a row, at most :data:`MAX_BACKOFF`.
2. **While unresponsive, every query fails at once, unsent**, with a message that says when the
   source timed out and when it is asked again. A hanging source then costs a worker one
   timeout per back-off, not one per query.
3. **The first query after the back-off is sent** (a probe). Any outcome but a timeout (data,
   an error from the server, a refused connection, which fails fast on its own) makes the
   source responsive again and resets the back-off.

A query refused here is a failed query like any other: its metric is ERROR for the look, the
analysis holds and spends its error budget, and nothing is ever promoted on it
(docs/analysis.md, "Reading Prometheus"). Thread-safe: one provider, and so one of these, serves every
rollout that names the same source.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_BACKOFF = 300.0
"""Seconds: the longest a timed-out source is left alone before it is asked again."""


class Unresponsive:
    """The back-off of one source after timeouts (module docstring, rules 1–3)."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._first = max(timeout, 1.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._until = 0.0

    def wait_left(self) -> float | None:
        """Seconds until the source may be asked again, or None when it may be asked now (rule 2)."""
        with self._lock:
            left = self._until - self._clock()
            return left if self._in_a_row and left > 0 else None

    def timed_out(self) -> float:
        """A query timed out (rule 1); the back-off now in force, in seconds."""
        with self._lock:
            backoff = min(self._first * 2.0**self._in_a_row, MAX_BACKOFF)
            self._in_a_row += 1
            self._until = self._clock() + backoff
            return backoff

    def answered(self) -> None:
        """The source answered (rule 3)."""
        with self._lock:
            self._in_a_row = 0
            self._until = 0.0
