"""A list+watch cache of one resource, as client-go's reflector and indexer, and its change feed.

Why: the controller reads rollouts, Deployments and routes on every reconcile; reading them
from a local cache costs no API calls, and the same watch tells it *when* to reconcile.
The protocol is the API server's own:

1. **List** (paged), which gives every object and one resourceVersion for the snapshot.
2. **Watch** from that resourceVersion with bookmarks on. Each event updates the cache and
   moves the resourceVersion on; bookmarks move it without an object, so a quiet resource can
   resume its watch from a recent version. The server ends a watch after ``watch_timeout``
   seconds; the informer watches again from where it was.
3. **410 Gone** (the version is older than the server keeps, e.g. after etcd compaction or a
   CRD re-created): list again and compare with the cache — objects missing from the new list
   are reported deleted, changed ones updated, new ones added — then watch from the new list.
4. Any other failure (connection lost, 5xx, resource type gone, RBAC) backs off exponentially
   (0.8 s doubling to 30 s, as client-go's reflector) and resumes the watch from the last
   version; a relist happens only when the server says Gone.

Handlers receive a :class:`Change` per add, update and delete, serially, on the informer's
thread (and on the resync thread, never at the same time): they must be quick — map the object
to rollout keys and enqueue them. Objects in the cache are shared: treat them as read-only.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import structlog

from rollouts.runtime.kube import Kube, KubeError, KubeObject, Resource, WatchEvent, WatchStream
from rollouts.runtime.ratelimit import ExponentialBackoff
from rollouts.runtime.reflector import Listed, Reflection

ChangeType = Literal["added", "updated", "deleted"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Change:
    """One change to the cache: ``object`` is the new state (the last known one for a delete)."""

    type: ChangeType
    object: KubeObject
    old: KubeObject | None = None
    """The previous state, for updates (the same object on a resync)."""


Handler = Callable[[Change], None]
IndexFunc = Callable[[KubeObject], Iterable[str]]


def object_key(obj: KubeObject) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects): the cache's and queue's key."""
    metadata = obj.get("metadata", {})
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


def _resource_version(obj: KubeObject) -> str:
    return str(obj.get("metadata", {}).get("resourceVersion", ""))


class Store:
    """The thread-safe cache: objects by key, plus named indexes (e.g. Pods by owner)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, KubeObject] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}

    def get(self, name: str, namespace: str | None = None) -> KubeObject | None:
        """The cached object, or None."""
        with self._lock:
            return self._objects.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[KubeObject]:
        """Every cached object."""
        with self._lock:
            return list(self._objects.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def add_index(self, name: str, values: IndexFunc) -> None:
        """Index objects by every value ``values(obj)`` returns; existing objects are indexed now."""
        with self._lock:
            self._index_funcs[name] = values
            self._indexes[name] = {}
            for key, obj in self._objects.items():
                self._index_one(name, key, obj)

    def by_index(self, name: str, value: str) -> builtins.list[KubeObject]:
        """The objects whose index function returned ``value`` for index ``name``."""
        with self._lock:
            return [self._objects[key] for key in sorted(self._indexes[name].get(value, ()))]

    def replace(self, objects: Iterable[KubeObject]) -> builtins.list[Change]:
        """Make the cache hold exactly ``objects`` (a fresh list); the changes that amounts to."""
        fresh = {object_key(obj): obj for obj in objects}
        changes: builtins.list[Change] = []
        with self._lock:
            for key in list(self._objects):
                if key not in fresh:
                    changes.append(Change("deleted", self._remove(key)))
            for key, obj in fresh.items():
                old = self._objects.get(key)
                if old is None:
                    changes.append(Change("added", obj))
                elif _resource_version(old) != _resource_version(obj):
                    changes.append(Change("updated", obj, old))
                else:
                    continue
                self._put(key, obj)
        return changes

    def apply(self, event: WatchEvent) -> Change | None:
        """Apply one watch event (bookmarks change nothing); the change it amounts to."""
        if event.type == "BOOKMARK":
            return None
        key = object_key(event.object)
        with self._lock:
            if event.type == "DELETED":
                if key in self._objects:
                    self._remove(key)
                return Change("deleted", event.object)
            old = self._objects.get(key)
            self._put(key, event.object)
        return Change("added", event.object) if old is None else Change("updated", event.object, old)

    # --- internals (the caller holds the lock)

    def _put(self, key: str, obj: KubeObject) -> None:
        if key in self._objects:
            self._remove(key)
        self._objects[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)

    def _remove(self, key: str) -> KubeObject:
        obj = self._objects.pop(key)
        for name, values in self._index_funcs.items():
            for value in values(obj):
                keys = self._indexes[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indexes[name][value]
        return obj

    def _index_one(self, name: str, key: str, obj: KubeObject) -> None:
        for value in self._index_funcs[name](obj):
            self._indexes[name].setdefault(value, set()).add(key)


class Informer:
    """Keeps a :class:`Store` in step with one resource (optionally one namespace, selectors)."""

    def __init__(
        self,
        kube: Kube,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        watch_timeout: int = 300,
        backoff: ExponentialBackoff | None = None,
    ) -> None:
        self._kube = kube
        self.resource = resource
        self.namespace = namespace
        self.store = Store()
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._resync_period = resync_period
        self._watch_timeout = watch_timeout
        self._backoff = backoff or ExponentialBackoff(base=0.8, cap=30.0)
        self._handlers: list[Handler] = []
        self._deliver = threading.Lock()
        self._stopped = threading.Event()
        self._synced = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.resource_version = ""
        """The last resourceVersion seen (list, event or bookmark): where the next watch starts."""
        self.relists = 0
        """How many times the informer listed (1 after the first sync; +1 per Gone)."""
        scope = namespace or "all namespaces"
        self._log = log.bind(resource=str(resource), namespace=scope, label_selector=label_selector)

    # --- configuration (before start)

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` for every change from now on (objects already cached are not replayed)."""
        self._handlers.append(handler)

    def add_index(self, name: str, values: IndexFunc) -> None:
        """Index the cache; see :meth:`Store.add_index`."""
        self.store.add_index(name, values)

    # --- lifecycle

    def start(self) -> None:
        """List and watch in a thread (and resync in another, if a period is set)."""
        self._threads = [threading.Thread(target=self._run, name=f"informer-{self.resource}", daemon=True)]
        if self._resync_period:
            self._threads.append(
                threading.Thread(
                    target=self._resync_loop,
                    args=(self._resync_period,),
                    name=f"resync-{self.resource}",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """End the watch and the threads; returns once they have ended."""
        self._stopped.set()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.close()
        for thread in self._threads:
            thread.join()

    def has_synced(self) -> bool:
        """True once the first list is in the cache."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Block until :meth:`has_synced` (True) or ``timeout`` seconds (False)."""
        return self._synced.wait(timeout)

    # --- the list+watch loop

    def _run(self) -> None:
        reflection = Reflection(
            self._kube,
            self.resource,
            self.namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            watch_timeout=lambda: self._watch_timeout,
            stopped=self._stopped.is_set,
            on_stream=self._watching,
        )
        while not self._stopped.is_set():
            try:
                for seen in reflection:
                    if isinstance(seen, Listed):
                        self._relisted(seen)
                    else:
                        self._apply(seen)
                continue
            except KubeError as error:
                self._log.warning("list/watch failed; retrying", error=str(error))
            except Exception:  # a bug (say, a malformed object) must not end the cache's thread
                self._log.exception("list/watch failed unexpectedly; retrying")
            self._stopped.wait(self._backoff.when("watch"))

    def _relisted(self, listed: Listed) -> None:
        changes = self.store.replace(listed.items)
        self.resource_version = listed.resource_version
        self.relists += 1
        self._log.info("listed", objects=len(listed.items), resource_version=listed.resource_version)
        self._synced.set()
        for change in changes:
            self._notify(change)

    def _watching(self, stream: WatchStream) -> None:
        self._backoff.forget("watch")  # the server answered: the next failure starts the back-off anew
        with self._stream_lock:
            self._stream = stream
        if self._stopped.is_set():  # stop() ran before the stream was registered
            stream.close()

    def _apply(self, event: WatchEvent) -> None:
        change = self.store.apply(event)
        self.resource_version = event.resource_version or self.resource_version
        if change is not None:
            self._notify(change)

    def _resync_loop(self, period: float) -> None:
        while not self._stopped.wait(period):
            if self.has_synced():
                for obj in self.store.list():
                    self._notify(Change("updated", obj, obj))

    def _notify(self, change: Change) -> None:
        with self._deliver:
            for handler in self._handlers:
                try:
                    handler(change)
                except Exception:  # a handler's bug must not stop the cache
                    self._log.exception("change handler failed", key=object_key(change.object))
