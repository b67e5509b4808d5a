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

**Keeping less than the cluster has.** A cache of every pod of a cluster grows with the
cluster, not with what the controller manages. A ``transform`` says what to keep of each
object: a smaller copy (managedFields and unread fields dropped), or None — keep nothing. It is
applied to listed items page by page, and to every watch event; an object it drops is removed
from the cache if it was there (reported as deleted), exactly as the API server reports an
object leaving a label-selector watch. A transform that depends on changing state (which pods
are wanted) makes the cache incomplete for what it newly wants: objects dropped earlier do not
come back by themselves. :meth:`Informer.relist` asks for a fresh list and returns a ticket;
:meth:`Informer.relisted` says when a list that *started after* the ticket was taken is in the
cache — the only moment the cache is complete for what was wanted when the ticket was taken.
Requests made while a list is pending or running are served together by the next list, so a
thousand requests at once cost at most two lists.

**Lists of one namespace.** ``relist(namespace)`` asks only for what the transform newly wants
in one namespace: the informer of a whole cluster then lists that namespace alone, so what a
new rollout waits for does not grow with the cluster's other pods. The watch of the whole
cluster must not lose the other namespaces' events, so it resumes from where it stopped,
*before* the namespace's list: the events of that namespace up to the list's resourceVersion
come again, already contained in the list, and are skipped — an older state never overwrites
the listed one, and an object deleted before the list is not brought back for a moment.
Skipping compares resourceVersions as numbers, which the API server does not promise (they are
etcd revisions in practice): a version that is not a number makes the informer fall back to a
full list.
"""

from __future__ import annotations

import builtins
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import structlog

from rollouts.runtime.kube import (
    Kube,
    KubeError,
    KubeObject,
    ObjectTransform,
    Resource,
    WatchEvent,
    WatchStream,
)
from rollouts.runtime.ratelimit import ExponentialBackoff
from rollouts.runtime.reflector import Listed, Reflection

ChangeType = Literal["added", "updated", "deleted"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RelistTicket:
    """What :meth:`Informer.relist` hands out; :meth:`Informer.relisted` says when it is served."""

    number: int
    namespace: str | None = None
    """The namespace whose list serves the ticket (None: a list of the informer's whole scope)."""


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


def _revision(resource_version: str | None) -> int | None:
    """A resourceVersion as the number it is in practice (an etcd revision), or None."""
    return int(resource_version) if resource_version and resource_version.isdigit() else None


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

    def replace(self, objects: Iterable[KubeObject], namespace: str | None = None) -> builtins.list[Change]:
        """Make the cache hold exactly ``objects``, a fresh list; the changes that amounts to.

        With ``namespace``, the list is of that namespace alone: the others' objects stay.
        """
        fresh = {object_key(obj): obj for obj in objects}
        prefix = None if namespace is None else f"{namespace}/"
        changes: builtins.list[Change] = []
        with self._lock:
            for key in list(self._objects):
                if key not in fresh and (prefix is None or key.startswith(prefix)):
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

    def discard(self, key: str) -> Change | None:
        """Remove ``key`` if cached (a transform no longer keeps it); the deletion, or None."""
        with self._lock:
            if key not in self._objects:
                return None
            return Change("deleted", self._remove(key))

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
        transform: ObjectTransform | None = None,
        relist_spacing: float = 0.0,
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
        self._list_handlers: list[Callable[[], None]] = []
        self._transform = transform
        self._relists_asked = 0
        """Tickets handed out by :meth:`relist` (numbered in one sequence, whatever their scope)."""
        self._full_asked = 0
        """The last ticket that asked for a list of the whole scope."""
        self._listing_covers = 0
        """The tickets the full list in progress (or the last one) serves: all taken before it began."""
        self._listed_covers = 0
        """The tickets served by the last full list that is in the cache."""
        self._namespaces_asked: dict[str, int] = {}
        """Namespace → its last ticket not yet served by a list of it (or a full list) that began after."""
        self._namespaces_listing: dict[str, int] = {}
        """The namespace lists in progress: namespace → the last ticket each serves."""
        self._namespaces_listed: dict[str, int] = {}
        """Namespace → the last ticket served by a list of it that is in the cache."""
        self._skip_until: dict[str, int] = {}
        """Namespace listed alone → its list's resourceVersion: its events up to there come again
        after the list (the watch resumes from before it) and are skipped."""
        self._closed_for_relist = False
        self._relist_spacing = relist_spacing
        """Seconds from the end of one list to the next cut of the watch for :meth:`relist` (0: at once)."""
        self._last_list_ended = -math.inf
        """When (time.monotonic) the last list was in the cache."""
        self._cut_timer: threading.Timer | None = None
        """The cut scheduled for when the spacing has passed, if one is."""
        self._deliver = threading.Lock()
        self._stopped = threading.Event()
        self._synced = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.resource_version = ""
        """The last resourceVersion seen (list, event or bookmark): where the next watch starts."""
        self.relists = 0
        """How many times the informer listed its whole scope (1 after the first sync; +1 per Gone)."""
        self.namespace_lists = 0
        """How many lists of one namespace it made (``relist(namespace)``)."""
        scope = namespace or "all namespaces"
        self._log = log.bind(resource=str(resource), namespace=scope, label_selector=label_selector)

    # --- configuration (before start)

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` for every change from now on (objects already cached are not replayed)."""
        self._handlers.append(handler)

    def add_index(self, name: str, values: IndexFunc) -> None:
        """Index the cache; see :meth:`Store.add_index`."""
        self.store.add_index(name, values)

    def add_list_handler(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` after each list is in the cache (and its changes were handled)."""
        self._list_handlers.append(handler)

    # --- relisting on demand

    def relist(self, namespace: str | None = None) -> RelistTicket:
        """Ask for a fresh list soon — of ``namespace`` alone when given; a ticket for :meth:`relisted`.

        Ends the current watch (the list and a new watch follow on the informer's thread): at once,
        or, within ``relist_spacing`` of the last list, once the spacing has passed.
        Cheap to call many times: every ticket taken before the next list starts is served by it.
        An informer of one namespace always lists its whole scope.
        """
        with self._stream_lock:
            self._relists_asked += 1
            ticket = RelistTicket(self._relists_asked, namespace if self.namespace is None else None)
            if ticket.namespace is None:
                self._full_asked = ticket.number
            else:
                self._namespaces_asked[ticket.namespace] = ticket.number
            self._cut_for_relist_when_due()
        return ticket

    def _cut_for_relist_when_due(self) -> None:
        """Close the watch for the lists asked for: now, or ``relist_spacing`` after the last list.

        The caller holds ``_stream_lock``.

        Why the spacing: while rollouts are created one after another, every one of them asks
        for a list of its namespace; cut at once, the watch was cut again as soon as it resumed
        after each list (456 lists of pods in the 160 s that 1,000 rollouts were being created),
        every cut costing the API server a list and a watch replayed from before it. Spaced,
        one list serves every request that came in the meantime. A request after a quiet spell
        is served at once.
        """
        if self._stream is None:
            return
        wait = self._spacing_left()
        if wait <= 0:
            self._closed_for_relist = True
            self._stream.close()
        elif self._cut_timer is None:
            self._cut_timer = threading.Timer(wait, self._cut_due)
            self._cut_timer.daemon = True
            self._cut_timer.start()

    def _cut_due(self) -> None:
        with self._stream_lock:
            self._cut_timer = None
            if self._relist_pending() and not self._stopped.is_set():
                self._cut_for_relist_when_due()

    def relisted(self, ticket: RelistTicket) -> bool:
        """Whether a list that started after ``ticket`` was taken, and covers it, is in the cache."""
        with self._stream_lock:
            if self._listed_covers >= ticket.number:
                return True
            namespace = ticket.namespace
            return namespace is not None and self._namespaces_listed.get(namespace, 0) >= ticket.number

    def _relist_pending(self) -> bool:
        """Whether a ticket waits for a list not yet begun (the caller holds ``_stream_lock``)."""
        return self._full_asked > self._listing_covers or bool(self._namespaces_asked)

    def _relist_wanted(self) -> bool:
        with self._stream_lock:
            return self._full_asked > self._listing_covers and self._spacing_left() <= 0

    def _listing(self) -> None:
        with self._stream_lock:
            self._listing_covers = self._relists_asked
            self._namespaces_asked.clear()  # the full list serves them all
            self._closed_for_relist = False

    def _namespaces_to_list(self) -> list[str]:
        with self._stream_lock:
            self._closed_for_relist = False
            # Asked before every watch: within the spacing, the watch resumes and the cut waits.
            self._namespaces_listing = dict(self._namespaces_asked) if self._spacing_left() <= 0 else {}
            return sorted(self._namespaces_listing)

    def _spacing_left(self) -> float:
        """Seconds until ``relist_spacing`` has passed since the last list (caller holds ``_stream_lock``)."""
        return self._last_list_ended + self._relist_spacing - time.monotonic()

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
            if self._cut_timer is not None:
                self._cut_timer.cancel()
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
            transform=self._transform,
            relist_wanted=self._relist_wanted,
            before_list=self._listing,
            namespaces_to_list=self._namespaces_to_list,
        )
        while not self._stopped.is_set():
            try:
                for seen in reflection:
                    if isinstance(seen, Listed):
                        self._relisted(seen)
                    else:
                        self._apply(seen)
                continue
            except Exception as error:  # a bug (say, a malformed object) must not end the cache's thread
                if self._cut_for_relist():
                    continue  # the watch broke because relist() closed it: list now, no back-off
                if isinstance(error, KubeError):
                    self._log.warning("list/watch failed; retrying", error=str(error))
                else:
                    self._log.exception("list/watch failed unexpectedly; retrying")
            self._stopped.wait(self._backoff.when("watch"))

    def _relisted(self, listed: Listed) -> None:
        namespace = listed.namespace
        listed_at = _revision(listed.resource_version)
        if namespace is not None and listed_at is None:
            self._log.warning("resourceVersion is not a number; listing the whole scope instead")
            self.relist()
            return
        changes = self.store.replace(listed.items, namespace)
        with self._stream_lock:
            self._last_list_ended = time.monotonic()
            if namespace is None:
                self.resource_version = listed.resource_version
                self.relists += 1
                self._listed_covers = self._listing_covers
                self._skip_until.clear()
            else:
                self.namespace_lists += 1
                self._skip_until[namespace] = listed_at or 0  # a number: checked above
                served = self._namespaces_listing.pop(namespace)
                self._namespaces_listed[namespace] = served
                if self._namespaces_asked.get(namespace) == served:
                    del self._namespaces_asked[namespace]
        self._log.info(
            "listed",
            objects=len(listed.items),
            resource_version=listed.resource_version,
            **({} if namespace is None else {"listed_namespace": namespace}),
        )
        self._synced.set()
        for change in changes:
            self._notify(change)
        for handler in self._list_handlers:
            try:
                handler()
            except Exception:  # a handler's bug must not stop the cache
                self._log.exception("list handler failed")

    def _cut_for_relist(self) -> bool:
        """Whether the last failure is :meth:`relist` closing the watch (then forgotten)."""
        with self._stream_lock:
            cut, self._closed_for_relist = self._closed_for_relist, False
            return cut and self._relist_pending()

    def _watching(self, stream: WatchStream) -> None:
        self._backoff.forget("watch")  # the server answered: the next failure starts the back-off anew
        with self._stream_lock:
            self._stream = stream
            if self._relist_pending():  # relist() ran before it was registered, or during the list
                self._cut_for_relist_when_due()
        if self._stopped.is_set():  # stop() ran before the stream was registered
            stream.close()

    def _apply(self, event: WatchEvent) -> None:
        if self._skip_until and self._listed_already(event):
            self.resource_version = event.resource_version or self.resource_version
            return
        if self._transform is not None and event.type != "BOOKMARK":
            kept = self._transform(event.object)
            if kept is None:
                change = self.store.discard(object_key(event.object))
            else:
                change = self.store.apply(WatchEvent(event.type, kept))
        else:
            change = self.store.apply(event)
        self.resource_version = event.resource_version or self.resource_version
        if change is not None:
            self._notify(change)

    def _listed_already(self, event: WatchEvent) -> bool:
        """Whether ``event`` is contained in a list of its namespace made since the watch stopped.

        Also forgets the lists that the watch has passed (an event or bookmark beyond them).
        """
        revision = _revision(event.resource_version)
        with self._stream_lock:
            if revision is None:
                return False
            for namespace, listed_at in list(self._skip_until.items()):
                if revision > listed_at:
                    del self._skip_until[namespace]
            if event.type == "BOOKMARK":
                return False
            namespace = event.object.get("metadata", {}).get("namespace")
            return namespace in self._skip_until

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
