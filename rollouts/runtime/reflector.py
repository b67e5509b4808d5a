"""List, then watch from the list's resourceVersion, relisting when the watch expires: one loop.

The reflector of client-go, as a generator every watcher in the project shares — the
informers' caches, ``rollouts get --watch`` / ``rollouts wait``, and the tests' recorders — so
the edge cases are handled once: a watch that ends normally (its ``timeoutSeconds`` ran out) is
resumed from the last resourceVersion seen, bookmarks included; ``410 Gone`` (the version was
compacted away) lists again and carries on from the new list. Every other error is the caller's:
an informer backs off and resumes, the CLI reports it; :class:`Reflection` keeps the version to
resume from.

Two hooks serve caches that keep only part of what they see (rollouts.runtime.informer): a
``transform`` applied to listed items page by page (so a list of 20,000 pods is never held
whole), and ``relist_wanted``/``before_list``, with which the informer asks for a fresh list
while a watch is healthy and learns exactly when that list starts — or, with
``namespaces_to_list``, for fresh lists of a few namespaces alone, which cost a fraction of a
list of the whole cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rollouts.runtime.kube import (
    Gone,
    Kube,
    KubeObject,
    ObjectList,
    ObjectTransform,
    Resource,
    WatchEvent,
    WatchStream,
)


@dataclass(frozen=True)
class Listed:
    """Everything that exists now (a list), and the resourceVersion it was read at."""

    items: list[KubeObject]
    resource_version: str
    namespace: str | None = None
    """Set for a list of this one namespace (``namespaces_to_list``): it replaces what is cached of
    that namespace alone, and the watch resumes from where it was, not from this list's version."""


@dataclass
class Reflection:
    """One resource's list+watch (see the module docstring); iterate it for what it sees.

    ``resource_version``: where the next watch starts — empty to list first; updated by every
    list, event and bookmark, so a caller that caught an error iterates again from there.
    ``stopped``: asked before each list or watch; True ends the iteration.
    ``watch_timeout``: seconds for each watch request (a callable: asked anew for each).
    ``on_stream``: called with each new watch stream, so another thread can close it.
    ``transform``: applied to listed items as each page arrives (None drops one); watch events
    are yielded as the server sent them — what a dropped update means is the caller's to say.
    ``relist_wanted``: asked before each watch; True lists again first (and the watch after the
    list starts from the new list's version).
    ``before_list``: called just before each list request, on the iterating thread.
    ``namespaces_to_list``: asked before each watch (when no full list is wanted): namespaces to
    list one by one first, each yielded as a :class:`Listed` with its ``namespace`` set; the
    version to resume the watch from does not move (the events of the other namespaces since
    must still come), so the caller must itself skip the events of a listed namespace that are
    not newer than its list.
    """

    kube: Kube
    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    resource_version: str = ""
    watch_timeout: Callable[[], int] = lambda: 300
    stopped: Callable[[], bool] = lambda: False
    on_stream: Callable[[WatchStream], None] | None = None
    transform: ObjectTransform | None = None
    relist_wanted: Callable[[], bool] = lambda: False
    before_list: Callable[[], None] | None = None
    namespaces_to_list: Callable[[], list[str]] = lambda: []

    def __iter__(self) -> Iterator[Listed | WatchEvent]:
        while not self.stopped():
            if not self.resource_version or self.relist_wanted():
                if self.before_list is not None:
                    self.before_list()
                listed = self._list(self.namespace)
                self.resource_version = listed.resource_version
                yield Listed(listed.items, listed.resource_version)
                continue
            namespaces = self.namespaces_to_list()
            if namespaces:
                for namespace in namespaces:
                    listed = self._list(namespace)
                    yield Listed(listed.items, listed.resource_version, namespace)
                continue
            try:
                yield from self._watch()
            except Gone:
                self.resource_version = ""  # compacted away: list again

    def _list(self, namespace: str | None) -> ObjectList:
        return self.kube.list(
            self.resource,
            namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            transform=self.transform,
        )

    def _watch(self) -> Iterator[WatchEvent]:
        stream = self.kube.watch(
            self.resource,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=self.watch_timeout(),
        )
        if self.on_stream is not None:
            self.on_stream(stream)
        with stream:
            for event in stream:
                self.resource_version = event.resource_version or self.resource_version
                yield event
