"""Which pods the controller caches (those of Deployments rollouts name), and when it is complete.

Why: the pod cache used to hold every pod of the watched scope, so the controller's memory grew
with the cluster (about 24 MB per 1,000 pods), not with the rollouts it manages. A rollout
reads only the pods of its candidate (its readiness and crash guards); a pod is kept only when
the Deployment that owns it through its ReplicaSet (:func:`deployment_of_pod`) is named by some
rollout as baseline or candidate ("wanted"). Every other pod is dropped by the pod informer's
transform before it is stored, so 20,000 unrelated pods cost the time to read them past, not
memory.

**The danger** is a blind view: a rollout for a Deployment whose pods were dropped (it was not
wanted when they were listed or last changed) would see "no pods" — no crash-looping candidate
pod for the pod-health guard, no Pending pod for the readiness guard — and decide on that.

**The rule that prevents it:** a Deployment's pods are *known* only once a pod list that began
after the Deployment became wanted is in the cache. Concretely:

1. When a rollout change makes a Deployment wanted, it is added to the wanted set first, and
   then a relist of the pod informer is asked for (:meth:`rollouts.runtime.informer.Informer.relist`),
   of the Deployment's namespace alone, whose ticket is recorded with the Deployment. From the
   moment it is wanted, the transform keeps every event of its pods; the relist brings the pods
   that existed before, whatever happened to them while they were dropped (the informer
   replaces its cache of that namespace with the list).
2. :meth:`PodScope.known` is true only when the informer says a list that started after that
   ticket was taken is in the cache. Because the Deployment entered the wanted set before the
   ticket was taken, that list kept all its pods, and every event since was kept too: the
   cache then holds exactly the Deployment's pods, as a full cache would.
3. The reconciler asks :meth:`PodScope.known` for the rollout's baseline and candidate before
   it observes anything, and while either is not known it decides nothing: no status write, no
   effect — it looks again when the list is in (the scope reports the Deployments that became
   known to ``on_known``, and the app enqueues the rollouts naming them) or after a short delay.
   The one exception is an abort, whose decision reads no pod: it acts at once.
4. A Deployment no rollout names any more leaves the wanted set; its pods go from the cache at
   their next event or the next list. If it becomes wanted again it starts over at 1: pods
   changed while it was not wanted are not trusted from the cache.

A rollout read live (newer than the rollouts cache) may name a Deployment the wanted set does
not hold yet; it is simply not known, and the reconcile waits for the cache to catch up.

**Cost:** a relist reads every pod of the Deployment's namespace once (page by page, dropping
what is not wanted as it goes, so memory does not peak), not every pod of the cluster: with
20,000 unrelated pods, a new rollout's first status came 0.2 s after its creation instead of
4.9 s (bench/results/scale_memory.md). Requests coalesce: every Deployment of a
namespace that becomes wanted while a list is pending or running is served by the next list of
that namespace, so a thousand rollouts created at once cost at most two lists per namespace,
and a running controller whose rollouts name the same Deployments costs none. Rollouts created
one after another share lists too: the watch is cut for a list no sooner than
:data:`POD_RELIST_SPACING` after the last one (docs/runtime.md, "Spaced"). At start,
rollouts listed before the first pod list began are served by it; those listed after cost one
more list of their namespace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from rollouts.controller.shell.trim import trim_pod
from rollouts.runtime.informer import Change, Informer, RelistTicket, Store
from rollouts.runtime.kube import KubeObject

POD_RELIST_SPACING = 1.0
"""Seconds from the end of one pod list to the next cut of the pod watch (the informer's
``relist_spacing``): rollouts created one after another share a list of their namespace."""

DeploymentsOf = Callable[[KubeObject], Iterable[str]]
"""A rollout → the ``namespace/deployment`` keys it names (baseline and candidate)."""


def deployment_of_pod(pod: KubeObject) -> str | None:
    """``namespace/deployment`` that owns ``pod`` through its ReplicaSet, or None.

    A Deployment's ReplicaSet is named ``<deployment>-<pod-template-hash>`` and its pods carry
    the hash as a label, so the owner is read off the pod itself, with no lookup.

    >>> deployment_of_pod({"metadata": {"namespace": "ml", "labels": {"pod-template-hash": "5d9f"},
    ...     "ownerReferences": [{"kind": "ReplicaSet", "name": "fraud-v2-5d9f", "controller": True}]}})
    'ml/fraud-v2'
    >>> deployment_of_pod({"metadata": {"namespace": "ml", "name": "standalone"}}) is None
    True
    """
    metadata = pod.get("metadata", {})
    suffix = f"-{(metadata.get('labels') or {}).get('pod-template-hash', '')}"
    for owner in metadata.get("ownerReferences") or []:
        name = str(owner.get("name", ""))
        if (
            owner.get("kind") == "ReplicaSet"
            and owner.get("controller")
            and name.endswith(suffix)
            and suffix != "-"
        ):
            return f"{metadata.get('namespace', '')}/{name[: -len(suffix)]}"
    return None


class PodScope:
    """The wanted Deployments, the pod transform, and whether a Deployment's pods are known.

    Wiring (rollouts.controller.shell.app): :meth:`transform` is the pod informer's transform,
    :meth:`rollout_changed` a handler of the rollouts informer, :meth:`listed` a list handler
    of the pod informer; :meth:`attach` gives it the pod informer and ``on_known`` (told the
    Deployments whose pods became known), before either informer starts.
    """

    def __init__(self, rollouts: Store, index: str, deployments_of: DeploymentsOf) -> None:
        self._rollouts = rollouts
        self._index = index
        self._deployments_of = deployments_of
        self._lock = threading.Lock()
        self._wanted: dict[str, RelistTicket | None] = {}
        """Wanted Deployment → the relist ticket that makes its pods known (None: being taken)."""
        self._unannounced: set[str] = set()
        """Wanted Deployments not yet reported known by :meth:`listed`."""
        self._pods: Informer | None = None
        self._on_known: Callable[[list[str]], None] = lambda deployments: None

    def attach(self, pods: Informer, on_known: Callable[[list[str]], None] | None = None) -> None:
        """The pod informer whose lists make Deployments known; whom to tell when they do."""
        self._pods = pods
        if on_known is not None:
            self._on_known = on_known

    # --- the pod informer's side

    def transform(self, pod: KubeObject) -> KubeObject | None:
        """Keep (trimmed) a pod of a wanted Deployment; drop every other pod."""
        deployment = deployment_of_pod(pod)
        if deployment is None:
            return None
        with self._lock:
            if deployment not in self._wanted:
                return None
        return trim_pod(pod)

    def listed(self) -> None:
        """Pod informer list handler: tell ``on_known`` the Deployments known from now on."""
        pods = self._require_pods()
        with self._lock:
            known = sorted(
                deployment
                for deployment in self._unannounced
                if (ticket := self._wanted.get(deployment)) is not None and pods.relisted(ticket)
            )
            self._unannounced.difference_update(known)
        if known:
            self._on_known(known)

    # --- the rollouts informer's side

    def rollout_changed(self, change: Change) -> None:
        """Rollouts informer handler: follow the Deployments rollouts name (the store is updated)."""
        named = set(self._deployments_of(change.object))
        if change.old is not None and change.old is not change.object:
            named.update(self._deployments_of(change.old))
        for deployment in sorted(named):
            if self._rollouts.by_index(self._index, deployment):
                self._want(deployment)
            else:
                self._forget(deployment)

    def _want(self, deployment: str) -> None:
        with self._lock:
            if deployment in self._wanted:
                return
            self._wanted[deployment] = None  # wanted before the ticket: see the module docstring
            self._unannounced.add(deployment)
        ticket = self._require_pods().relist(deployment.split("/", 1)[0])
        with self._lock:
            if deployment in self._wanted and self._wanted[deployment] is None:
                self._wanted[deployment] = ticket
        self.listed()  # in case the list serving the ticket finished before it was recorded

    def _forget(self, deployment: str) -> None:
        with self._lock:
            self._wanted.pop(deployment, None)
            self._unannounced.discard(deployment)

    # --- the reconciler's side

    def known(self, namespace: str, deployment: str) -> bool:
        """Whether the cache holds every pod of ``namespace/deployment`` (see the module docstring)."""
        pods = self._require_pods()
        with self._lock:
            ticket = self._wanted.get(f"{namespace}/{deployment}")
        return ticket is not None and pods.relisted(ticket)

    def all_known(self) -> bool:
        """Whether the pods of every wanted Deployment are known (a standby is warm: nothing to wait for)."""
        with self._lock:
            return not self._unannounced

    def wanted(self) -> set[str]:
        """The Deployments whose pods are cached (for tests and debugging)."""
        with self._lock:
            return set(self._wanted)

    def _require_pods(self) -> Informer:
        if self._pods is None:
            raise RuntimeError("PodScope.attach(pod informer) must be called before use")
        return self._pods
