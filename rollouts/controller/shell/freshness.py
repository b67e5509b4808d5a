"""When the rollout cache may stand in for a live read: expectations on resourceVersions.

Why: a reconcile decides from the rollout's status, and status is the only memory. Reading the
rollout from the informer's cache costs no API call, but a cache that has not yet seen the
controller's own last status write would replay an older decision. When that older decision
changes status, its write carries the old resourceVersion and meets a 409, so nothing follows
it; but when it leaves status as it was, nothing is written and its *effects* are applied — a
route weight from a step ago, traffic moving backwards. So the cache is trusted for a key only
when it is known to hold the newest version this controller has seen:

1. **First reconcile of a key in this process: read live.** A new leader's cache may lag the
   previous leader's last write (the process exits when it loses the Lease, so one process is
   one term of leadership). The first reconcile of the process lists the rollouts in scope
   once, live, and each listed version counts as a live read of its key (rule 3): one call per
   500 rollouts at start or takeover, where a GET per rollout took a thousand for a thousand
   (issue 14's failover). A rollout created after that list is read live with a GET.
2. **After every status write, expect its resourceVersion.** The write's answer names the new
   version; until the cache shows it, the key is read live.
3. **A live read that finds the cache behind expects the live version** the same way.
4. **The cache catches up when its change feed delivers the expected version**
   (:meth:`CacheFreshness.rollout_changed`, wired as a handler of the rollouts informer), or
   when a live read finds the cache at the live version (so a feed event that arrived before
   the expectation was recorded cannot leave a key read live forever).
5. **A deleted rollout is forgotten**, so a re-created one starts at rule 1.

Versions are compared only for equality, never ordered (Kubernetes' API conventions): a
version the cache shows is either the expected one or not yet known to be fresh.

Safety: with these rules a reconcile decides from the cache only when the cache holds a
version at least as new as every version this process wrote or read, which is exactly what the
live read guaranteed. Watches deliver one object's versions in order, so once the expected
version has arrived any later cache content is newer still. The cost in steady state is zero
reads per reconcile; a reconcile that writes status makes its next one read live only if the
watch is slower than the queue.
"""

from __future__ import annotations

import threading

from rollouts.runtime.informer import Change, object_key


class CacheFreshness:
    """Per rollout key: whether the cache may be read, and what it must show first (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._expected: dict[str, str] = {}

    def trusted(self, key: str) -> bool:
        """Whether the cached rollout for ``key`` may be used instead of a live read (rules 1, 2)."""
        with self._lock:
            return key in self._known and key not in self._expected

    def read_live(self, key: str, live_version: str, cached_version: str | None) -> None:
        """A live read found ``live_version`` while the cache showed ``cached_version`` (rules 3, 4)."""
        with self._lock:
            self._known.add(key)
            if cached_version == live_version:
                self._expected.pop(key, None)
            else:
                self._expected[key] = live_version

    def wrote(self, key: str, written_version: str, cached_version: str | None) -> None:
        """This process wrote ``written_version`` of the rollout (rule 2)."""
        with self._lock:
            if cached_version == written_version:
                self._expected.pop(key, None)
            else:
                self._expected[key] = written_version

    def forget(self, key: str) -> None:
        """The rollout is gone (rule 5)."""
        with self._lock:
            self._known.discard(key)
            self._expected.pop(key, None)

    def rollout_changed(self, change: Change) -> None:
        """Informer handler: the cache now holds ``change.object`` (rules 4, 5)."""
        key = object_key(change.object)
        if change.type == "deleted":
            self.forget(key)
            return
        version = change.object.get("metadata", {}).get("resourceVersion")
        with self._lock:
            if self._expected.get(key) == version:
                del self._expected[key]
