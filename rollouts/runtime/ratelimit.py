"""How long a failed key waits before its next try: per-key exponential back-off and a token bucket.

Why both, as client-go's default controller rate limiter: the per-key back-off keeps one broken
rollout from spinning (5 ms, 10 ms, 20 ms, … capped at 1000 s, reset by ``forget`` after a
success), and the shared token bucket (10 per second, bursts of 100) keeps many keys failing at
once — the API server down, say — from becoming a retry storm. A key waits for the longer of
the two.

Worked example: a key failing for the 11th time in a row waits 5 ms · 2¹⁰ = 5.12 s; if 150 keys
fail in the same instant, the first 100 pass the bucket at once and the 150th waits
(150 − 100) / 10 = 5 s, so its delay is the larger of its own back-off and 5 s.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from rollouts.runtime.clock import Clock, MonotonicClock


class RateLimiter(Protocol):
    """Decides the delay before a failed key is retried, and forgets it after a success."""

    def when(self, key: str) -> float:
        """Seconds until ``key`` may be retried; counts one more failure."""
        ...

    def forget(self, key: str) -> None:
        """Clear ``key``'s failure count (it succeeded)."""
        ...

    def failures(self, key: str) -> int:
        """How many times in a row ``key`` failed since it was last forgotten."""
        ...


class ExponentialBackoff:
    """``base · 2^failures`` seconds per key, capped at ``cap``."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self._base = base
        self._cap = cap
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def when(self, key: str) -> float:
        """The key's next back-off; doubles each call."""
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        # 2**failures overflows a float near 1024 failures; the cap is reached long before.
        return min(self._cap, self._base * 2.0 ** min(failures, 1023))

    def forget(self, key: str) -> None:
        """Reset the key's back-off."""
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        """Consecutive failures of the key."""
        with self._lock:
            return self._failures.get(key, 0)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; each retry reserves one token.

    Reservation, as Go's ``rate.Limiter.Reserve``: the bucket may go into debt, and a retry's
    delay is the time until its token exists. It counts no failures per key.
    """

    def __init__(self, rate: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock or MonotonicClock()
        self._tokens = float(burst)
        self._last = self._clock.now()
        self._lock = threading.Lock()

    def when(self, key: str) -> float:
        """Reserve one token; the seconds until it is available."""
        with self._lock:
            now = self._clock.now()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= 1.0
            return max(0.0, -self._tokens / self._rate)

    def forget(self, key: str) -> None:
        """Nothing per key to forget."""

    def failures(self, key: str) -> int:
        """Always 0: the bucket is shared, not per key."""
        return 0


class SlowestOf:
    """Several limiters at once: a key waits for the longest delay any of them asks."""

    def __init__(self, limiters: Sequence[RateLimiter]) -> None:
        self._limiters = tuple(limiters)

    def when(self, key: str) -> float:
        """The longest of the limiters' delays (each one records the failure)."""
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: str) -> None:
        """Forget the key in every limiter."""
        for limiter in self._limiters:
            limiter.forget(key)

    def failures(self, key: str) -> int:
        """The highest failure count among the limiters."""
        return max(limiter.failures(key) for limiter in self._limiters)


def default_rate_limiter(clock: Clock | None = None) -> RateLimiter:
    """client-go's default: back-off 5 ms → 1000 s per key, and 10 per second (burst 100) overall."""
    return SlowestOf([ExponentialBackoff(), TokenBucket(clock=clock)])
