"""The one seam to the Kubernetes API: JSON dicts in and out, typed errors, a timeout on every call.

Why a seam of our own over ``kubernetes.client.ApiClient``: the generated API classes are one
class per group, one method per verb and kind, untyped, and know nothing of our CRDs. The
controller, the routers and the CLI need the same few verbs on a handful of resources, so every
resource is a :class:`Resource` value and every call goes through one request path that sets
the timeouts, speaks JSON and maps every failure into one exception tree::

    KubeError                 any failed call; .status .reason .message .verb .resource .namespace .name
    ├── ConfigError           no kubeconfig and no in-cluster config, or an unknown context
    ├── Unavailable           no usable answer: refused, reset, TLS failure, timeout, 429, 5xx
    ├── NotLeader             refused here, before sending: this replica no longer holds the Lease
    ├── BadRequest            400 not about the object's fields (malformed patch, bad selector)
    ├── Unauthorized          401: credentials missing or rejected
    ├── Forbidden             403: RBAC or admission refused ``verb`` on ``resource``
    ├── NotFound              404
    ├── AlreadyExists         409 AlreadyExists: create of a name in use
    ├── Conflict              409 Conflict: stale resourceVersion; re-read and retry
    │   └── PatchTestFailed   a JSON-patch ``test`` op failed: the object was not as the patch expected
    ├── Gone                  410: resourceVersion or continue token too old; relist
    └── Invalid               the object was refused; .causes name each field and why
                              (422: schema, CEL rule, admission policy; 400: strict decoding)

Two mappings are ours, not the server's, because the wire format hides what happened:

- **PatchTestFailed.** kube-apiserver (checked on 1.36) answers a failed ``test`` op with 422,
  reason ``Invalid``, empty details and the message "the server rejected our request due to an
  error in our request" — the JSON-patch library's reason is dropped. A real validation failure
  always carries causes. So a JSON patch containing a ``test`` op that is answered 422 without
  causes is a PatchTestFailed. It is a Conflict because ``test`` ops are used as preconditions:
  the caller re-reads and retries exactly as after a stale resourceVersion.
- **Strict field validation.** ``fieldValidation=Strict`` refuses unknown or duplicate fields
  with 400 BadRequest and only a message (``strict decoding error: unknown field "spec.x"``).
  That is a refusal of the object's content, so it is an :class:`Invalid`, with one cause per
  field parsed from the message (reason ``UnknownField`` or ``DuplicateField``).

Every request has a connect and a read timeout (:class:`Timeout`); a watch's read timeout is its
server-side ``timeoutSeconds`` plus a margin, so a silent, half-dead connection ends too.
"""

# The exception names are the API server's own Status reasons (``except NotFound``), so no
# "Error" suffix on them.
# ruff: noqa: N818

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

KubeObject = dict[str, Any]
"""An object as the API server sends it: parsed JSON."""

JsonPatch = list[dict[str, Any]]
"""RFC 6902 operations, e.g. ``[{"op": "test", "path": "/spec/x", "value": 1}, ...]``."""

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]

ObjectTransform = Callable[[KubeObject], KubeObject | None]
"""What a cache keeps of an object: a (smaller) copy, or None to keep nothing of it."""

FieldValidation = Literal["Strict", "Warn", "Ignore"]
Propagation = Literal["Foreground", "Background", "Orphan"]
Subresource = Literal["status", "scale"]

WATCH_READ_MARGIN = 30.0
"""Seconds a watch's read timeout exceeds its server-side ``timeoutSeconds``."""

DEFAULT_PAGE_SIZE = 500
"""Objects per list page: big lists come in chunks, as kubectl and client-go's pager do."""

JSON = "application/json"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
"""Accept for a list of metadata alone; a server that cannot serve it answers plain JSON."""


# --- resources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: ``group`` is "" for the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``apps/v1``, or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The URL path: a collection (all namespaces when ``namespace`` is None) or one object."""
        if namespace is not None and not self.namespaced:
            raise ValueError(f"{self} is cluster-scoped; got namespace {namespace!r}")
        if name is not None and namespace is None and self.namespaced:
            raise ValueError(f"{self} is namespaced; {name!r} needs a namespace")
        parts = ["/api" if not self.group else "/apis", *([self.group] if self.group else []), self.version]
        if namespace is not None:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", namespaced=True)
PODS = Resource("", "v1", "pods", "Pod", namespaced=True)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True)
EVENTS = Resource("", "v1", "events", "Event", namespaced=True)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True)
CUSTOM_RESOURCE_DEFINITIONS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)
HTTP_ROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", namespaced=True)
VIRTUAL_SERVICES = Resource("networking.istio.io", "v1", "virtualservices", "VirtualService", namespaced=True)
DESTINATION_RULES = Resource(
    "networking.istio.io", "v1", "destinationrules", "DestinationRule", namespaced=True
)
HORIZONTAL_POD_AUTOSCALERS = Resource(
    "autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", namespaced=True
)
SCALED_OBJECTS = Resource("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", namespaced=True)
INFERENCE_SERVICES = Resource(
    "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService", namespaced=True
)
SELF_SUBJECT_REVIEWS = Resource(
    "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False
)
SELF_SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False
)


class PatchType(Enum):
    """The four patch flavours the API server accepts, by Content-Type."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


@dataclass(frozen=True)
class ObjectList:
    """A consistent snapshot: the items and the resourceVersion to watch from."""

    items: list[KubeObject]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    """One watch event; a BOOKMARK's object carries only ``metadata.resourceVersion``."""

    type: WatchEventType
    object: KubeObject

    @property
    def resource_version(self) -> str:
        """The resourceVersion to resume a watch from after this event."""
        return str(self.object.get("metadata", {}).get("resourceVersion", ""))


@dataclass(frozen=True)
class Timeout:
    """Seconds to connect and to wait for each read of a response."""

    connect: float = 5.0
    read: float = 30.0


# --- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """One reason an object was refused: the field path, the kind of failure, and the message."""

    field: str
    reason: str
    message: str


class KubeError(Exception):
    """A Kubernetes API call failed; the message says which call and why."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        verb: str = "",
        resource: Resource | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name

    def __str__(self) -> str:
        target = "/".join(part for part in (self.namespace, self.name) if part)
        call = " ".join(part for part in (self.verb, str(self.resource or ""), target) if part)
        return f"{call}: {self.message}" if call else self.message


class ConfigError(KubeError):
    """No cluster configuration: no kubeconfig, no in-cluster service account, or a bad context."""


class Unavailable(KubeError):
    """No usable answer (refused, reset, TLS, timeout, 429, 5xx): retry later."""


class NotLeader(KubeError):
    """A write refused before it was sent: this replica no longer holds the leader Lease."""


class BadRequest(KubeError):
    """400 about the request itself, not the object's fields (e.g. a malformed patch)."""


class Unauthorized(KubeError):
    """401: credentials missing, expired or rejected."""


class Forbidden(KubeError):
    """403: ``verb`` on ``resource`` was refused by RBAC or an admission check."""


class NotFound(KubeError):
    """404: no such object (or no such resource type: a CRD not installed)."""


class AlreadyExists(KubeError):
    """409 AlreadyExists: create of a name already in use."""


class Conflict(KubeError):
    """409 Conflict: the object changed since it was read (stale resourceVersion)."""


class PatchTestFailed(Conflict):
    """A JSON-patch ``test`` op found a different value: the object changed since it was read."""


class Gone(KubeError):
    """410: the resourceVersion (or continue token) is older than the server keeps; relist."""


class Invalid(KubeError):
    """The object was refused for its content; ``causes`` names each field and why."""

    def __init__(self, message: str, *, causes: tuple[Cause, ...] = (), **context: Any) -> None:
        super().__init__(message, **context)
        self.causes = causes


_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: Unavailable,
}
_STRICT_FIELD = re.compile(r'(unknown|duplicate) field "([^"]+)"')


@dataclass(frozen=True)
class _Call:
    """What was asked, for error messages and for the PatchTestFailed rule."""

    verb: str
    resource: Resource | None
    namespace: str | None = None
    name: str | None = None
    has_patch_test: bool = False

    def context(self) -> dict[str, Any]:
        return {"verb": self.verb, "resource": self.resource, "namespace": self.namespace, "name": self.name}


def _error_from_status(status: KubeObject, http_status: int, call: _Call) -> KubeError:
    """Map a ``Status`` object (error body or watch ERROR event) onto the exception tree."""
    code = int(status.get("code") or http_status)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or f"HTTP {code}")
    details = status.get("details") or {}
    causes = tuple(
        Cause(
            field=str(c.get("field", "")), reason=str(c.get("reason", "")), message=str(c.get("message", ""))
        )
        for c in details.get("causes") or ()
    )
    context = {"status": code, "reason": reason, **call.context()}
    if code == 422 and not causes and call.has_patch_test:
        return PatchTestFailed(message, **context)
    if code == 409 and reason == "AlreadyExists":
        return AlreadyExists(message, **context)
    if code == 400 and "strict decoding error" in message:
        strict = tuple(
            Cause(field=path, reason=f"{kind.capitalize()}Field", message=f"{kind} field")
            for kind, path in _STRICT_FIELD.findall(message)
        )
        return Invalid(message, causes=strict, **context)
    if code == 422:
        return Invalid(message, causes=causes, **context)
    error_type = Unavailable if code >= 500 else _BY_STATUS.get(code, KubeError)
    return error_type(message, **context)


def _error_from_response(response: urllib3.BaseHTTPResponse, call: _Call) -> KubeError:
    text = response.data.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("kind") != "Status":
        body = {"code": response.status, "reason": response.reason or "", "message": text[:500].strip()}
    return _error_from_status(body, response.status, call)


# --- the client --------------------------------------------------------------------------------


class WatchStream:
    """The events of one watch request; iterate once, ``close()`` from any thread to end it.

    Iteration raises :class:`Gone` (resourceVersion too old) or another :class:`KubeError` for a
    watch ERROR event, and :class:`Unavailable` when the connection breaks or a line is not a JSON
    event — except after ``close()``, when it simply ends and decodes nothing more: a controller
    told to stop shut a watch down while a thread read it, and the line that thread then read,
    newline and all, was not UTF-8 (bench/scale.py, 1,000 rollouts).
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, call: _Call) -> None:
        self._response = response
        self._call = call
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[WatchEvent]:
        try:
            for line in self._lines():
                if self._closed.is_set():
                    return  # close() may have cut what was read after it, newline and all
                try:
                    event = json.loads(line)
                except ValueError:  # not UTF-8 or not JSON: UnicodeDecodeError and JSONDecodeError
                    if self._closed.is_set():
                        return
                    raise Unavailable(
                        f"watch sent a line that is not a JSON event ({len(line)} bytes)",
                        **self._call.context(),
                    ) from None
                if event["type"] == "ERROR":
                    raise _error_from_status(event["object"], 500, self._call)
                yield WatchEvent(type=event["type"], object=event["object"])
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if not self._closed.is_set():
                raise Unavailable(f"watch broke: {error}", **self._call.context()) from error
        finally:
            # Closed, not returned to the pool as is: unread chunks would corrupt the next request.
            self._response.close()
            self._response.release_conn()

    def _lines(self) -> Iterator[bytes]:
        """Each event's line, without the newline the API server ends every event with.

        Bytes left without one when the stream ends are a cut event, never one to decode: the
        watch broke (:class:`Unavailable`, resumed from the last event's version), or
        ``close()`` cut it.
        """
        pending = b""
        for chunk in self._response.stream(amt=None):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from (line for line in lines if line.strip())
        if pending.strip() and not self._closed.is_set():
            raise Unavailable(
                f"watch ended inside an event ({len(pending)} bytes without their newline)",
                **self._call.context(),
            )

    def close(self) -> None:
        """End the watch now; a thread blocked reading it returns from iteration."""
        self._closed.set()
        # Already ended: nothing left to interrupt (RuntimeError: its connection is back in the pool).
        with contextlib.suppress(ValueError, OSError, RuntimeError):
            self._response.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


WriteGuard = Callable[[], bool]
"""Asked before every write; False refuses the write with :class:`NotLeader`."""

RequestObserver = Callable[[str, str], None]
"""Told of every request sent: ``(method, code)``, the code being the HTTP status as text, or
``"<error>"`` when no answer came (client-go's ``rest_client_requests_total`` labels)."""

NO_ANSWER = "<error>"
"""The code a :data:`RequestObserver` is given for a request that got no HTTP answer."""


@dataclass(frozen=True)
class _WriteOptions:
    field_manager: str | None = None
    field_validation: FieldValidation | None = None
    dry_run: bool = False
    force: bool | None = None

    def query(self) -> dict[str, str | None]:
        return {
            "fieldManager": self.field_manager,
            "fieldValidation": self.field_validation,
            "dryRun": "All" if self.dry_run else None,
            "force": None if self.force is None else str(self.force).lower(),
        }


@dataclass(frozen=True)
class Kube:
    """Typed JSON I/O on any :class:`Resource`; thread-safe, one connection pool per cluster.

    ``write_guard`` is asked before every create, replace, patch and delete: the manager sets
    it to the leader elector's ``still_leader`` so a replica that lost its Lease cannot write.
    ``on_request`` is told of every request sent, reads, writes and watches alike (the manager
    counts them into its ``rest_client_requests_total``); it must be quick and must not raise.
    ``field_manager`` names the writer of every write that does not name one itself, so an
    object's ``managedFields`` tell which controller (which shard) wrote it last.
    """

    api_client: k8s_client.ApiClient
    timeout: Timeout = field(default_factory=Timeout)
    write_guard: WriteGuard | None = None
    on_request: RequestObserver | None = None
    field_manager: str | None = None

    @property
    def server(self) -> str:
        """The API server's URL."""
        return str(self.api_client.configuration.host)

    def guarded(self, write_guard: WriteGuard) -> Kube:
        """The same client, refusing writes whenever ``write_guard()`` is False."""
        return replace(self, write_guard=write_guard)

    def managed_as(self, field_manager: str) -> Kube:
        """The same client, writing as ``field_manager`` unless a write names another."""
        return replace(self, field_manager=field_manager)

    def observed(self, on_request: RequestObserver) -> Kube:
        """The same client, telling ``on_request(method, code)`` of every request it sends."""
        return replace(self, on_request=on_request)

    def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()  # type: ignore[no-untyped-call]  # kubernetes is untyped

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- reads

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> KubeObject:
        """One object; :class:`NotFound` if absent."""
        call = _Call("get", resource, namespace, name)
        return self._json("GET", call, resource.path(namespace, name))

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        transform: ObjectTransform | None = None,
        metadata_only: bool = False,
    ) -> ObjectList:
        """Every matching object (all namespaces when ``namespace`` is None), fetched in pages.

        Items get ``apiVersion`` and ``kind`` filled in (the server omits them in lists), so an
        item looks the same as the object from :meth:`get` or a watch. ``transform`` is applied
        to each item as its page arrives (None drops the item), so a list of many large objects
        never sits in memory whole: at most one page of them does. ``metadata_only``: the server
        sends each item's metadata alone (``PartialObjectMetadata``, kind and apiVersion
        ``meta.k8s.io/v1``), not its spec and status: a list of names and versions of large
        objects costs a fraction of the bytes and the parsing.
        """
        call = _Call("list", resource, namespace)
        query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": str(page_size)}
        accept = METADATA_LIST if metadata_only else JSON
        items: list[KubeObject] = []
        while True:
            page = self._json("GET", call, resource.path(namespace), query=query, accept=accept)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                kept = item if transform is None else transform(item)
                if kept is not None:
                    items.append(kept)
            metadata = page.get("metadata", {})
            del page  # the raw page can go before the next one arrives
            if not metadata.get("continue"):
                break
            query["continue"] = metadata["continue"]
        return ObjectList(items=items, resource_version=str(metadata.get("resourceVersion", "")))

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        bookmarks: bool = True,
        timeout_seconds: int = 300,
    ) -> WatchStream:
        """Changes after ``resource_version``; the server ends the stream after ``timeout_seconds``.

        :class:`Gone` (raised here or while iterating) means ``resource_version`` is too old:
        list again and watch from the list's resourceVersion.
        """
        call = _Call("watch", resource, namespace)
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": str(bookmarks).lower(),
            "timeoutSeconds": str(timeout_seconds),
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        read_timeout = Timeout(self.timeout.connect, timeout_seconds + WATCH_READ_MARGIN)
        response = self._send("GET", call, resource.path(namespace), query=query, timeout=read_timeout)
        return WatchStream(response, call)

    # --- writes

    def create(
        self,
        resource: Resource,
        body: KubeObject,
        namespace: str | None = None,
        *,
        field_validation: FieldValidation | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        """Create ``body`` (namespace from the argument, else from its metadata); the stored object."""
        namespace = (namespace or _metadata(body).get("namespace")) if resource.namespaced else None
        call = _Call("create", resource, namespace, _metadata(body).get("name"))
        options = _WriteOptions(field_manager or self.field_manager, field_validation, dry_run)
        return self._json("POST", call, resource.path(namespace), query=options.query(), body=body)

    def replace(
        self,
        resource: Resource,
        body: KubeObject,
        *,
        subresource: Subresource | None = None,
        field_validation: FieldValidation | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        """PUT ``body`` (name, namespace from its metadata); a resourceVersion in it makes it optimistic."""
        metadata = _metadata(body)
        namespace = metadata.get("namespace") if resource.namespaced else None
        call = _Call("update", resource, namespace, metadata.get("name"))
        options = _WriteOptions(field_manager or self.field_manager, field_validation, dry_run)
        path = resource.path(namespace, metadata["name"], subresource)
        return self._json("PUT", call, path, query=options.query(), body=body)

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: KubeObject | JsonPatch,
        patch_type: PatchType,
        namespace: str | None = None,
        *,
        subresource: Subresource | None = None,
        field_manager: str | None = None,
        force: bool = False,
        field_validation: FieldValidation | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        """Patch one object (or its ``status`` subresource); the stored object.

        ``PatchType.JSON`` takes a list of operations, the others an object. Server-side apply
        (``PatchType.APPLY``) needs ``field_manager``; ``force`` takes over conflicting fields.
        """
        if (patch_type is PatchType.JSON) != isinstance(patch, list):
            raise TypeError(
                f"{patch_type.name} patch must be {'a list' if patch_type is PatchType.JSON else 'an object'}"
            )
        field_manager = field_manager or self.field_manager
        if patch_type is PatchType.APPLY and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        if force and patch_type is not PatchType.APPLY:
            raise ValueError("force applies only to server-side apply")
        has_test = isinstance(patch, list) and any(op.get("op") == "test" for op in patch)
        call = _Call("patch", resource, namespace, name, has_patch_test=has_test)
        options = _WriteOptions(
            field_manager, field_validation, dry_run, force if patch_type is PatchType.APPLY else None
        )
        path = resource.path(namespace, name, subresource)
        return self._json(
            "PATCH", call, path, query=options.query(), body=patch, content_type=patch_type.value
        )

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation: Propagation = "Background",
        resource_version: str | None = None,
    ) -> None:
        """Delete one object; ``resource_version`` makes it conditional (:class:`Conflict` if stale)."""
        call = _Call("delete", resource, namespace, name)
        options: KubeObject = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if resource_version is not None:
            options["preconditions"] = {"resourceVersion": resource_version}
        self._json("DELETE", call, resource.path(namespace, name), body=options)

    # --- transport

    def _json(
        self,
        method: str,
        call: _Call,
        path: str,
        *,
        query: dict[str, str | None] | None = None,
        body: KubeObject | JsonPatch | None = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> KubeObject:
        response = self._send(
            method, call, path, query=query, body=body, content_type=content_type, accept=accept
        )
        try:
            return cast(KubeObject, json.loads(response.data))
        finally:
            response.release_conn()

    def _send(
        self,
        method: str,
        call: _Call,
        path: str,
        *,
        query: dict[str, str | None] | None = None,
        body: KubeObject | JsonPatch | None = None,
        content_type: str = JSON,
        timeout: Timeout | None = None,
        accept: str = JSON,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; the response on 2xx, else the mapped :class:`KubeError`."""
        if method != "GET" and self.write_guard is not None and not self.write_guard():
            raise NotLeader("this replica no longer holds the leader Lease", **call.context())
        timeout = timeout or self.timeout
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        params = [(key, value) for key, value in (query or {}).items() if value is not None]
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            rest_response = self.api_client.call_api(
                *request, _request_timeout=(timeout.connect, timeout.read)
            )
        except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as error:
            if self.on_request is not None:
                self.on_request(method, NO_ANSWER)
            cause = getattr(error, "reason", None) or error  # MaxRetryError wraps the real cause
            raise Unavailable(f"no answer from {self.server}: {cause}", **call.context()) from error
        response: urllib3.BaseHTTPResponse = rest_response.response
        if self.on_request is not None:
            self.on_request(method, str(response.status))
        if 200 <= response.status < 300:
            return response
        try:
            raise _error_from_response(response, call)
        finally:
            response.release_conn()


def _metadata(body: KubeObject) -> dict[str, Any]:
    return cast(dict[str, Any], body.get("metadata") or {})


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    timeout: Timeout | None = None,
    user_agent: str | None = None,
) -> Kube:
    """A client for the cluster in ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config, in-cluster).

    Asks the server for its version once, so an unreachable cluster fails here, naming the
    server and where its address came from, instead of at the first real call. ``user_agent``
    is sent with every request (the API server's audit log records it): the controller names
    itself and its leader-election identity there, so each write can be traced to the replica
    that made it.
    """
    timeout = timeout or Timeout()
    configuration = k8s_client.Configuration()
    default_file = Path(os.environ.get("KUBECONFIG") or k8s_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    use_kubeconfig = kubeconfig is not None or context is not None or default_file.is_file()
    source = f"kubeconfig {kubeconfig or default_file}" if use_kubeconfig else "in-cluster service account"
    try:
        if use_kubeconfig:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError) as error:
        raise ConfigError(
            f"no cluster configuration ({source}): {error}; pass --kubeconfig or set KUBECONFIG"
        ) from error
    api_client = k8s_client.ApiClient(configuration)
    if user_agent is not None:
        api_client.user_agent = user_agent
    kube = Kube(api_client, timeout)
    try:
        kube._json("GET", _Call("get", None), "/version")
    except KubeError as error:
        kube.close()
        raise Unavailable(
            f"the Kubernetes API server from the {source} is unreachable: {error.message}",
            status=error.status,
            reason=error.reason,
        ) from error
    return kube
