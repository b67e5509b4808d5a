"""What every command that talks to a cluster shares: options, connection, identity, errors, watching.

Why one module: CI pipelines and on-call engineers script these commands, so they must agree
on everything around the real work — the same ``--kubeconfig``, ``--context`` and
``-n/--namespace`` (default: the kubeconfig context's namespace, else ``default``), the same
exit codes, the same wording for "not found", "forbidden" and "no cluster", and one way to
follow a rollout as it changes.

Exit codes (:class:`ExitCode`)::

    0  done (wait: the condition was met)
    1  the rollout went the wrong way (wait: rolled back, failed, aborted) or its state does
       not admit the request (promote with nothing to approve, retry of a running rollout)
    2  wait: timed out
    3  the command could not do its job: bad arguments, no cluster, not found, forbidden,
       refused by the API server, an invalid spec

Following (:func:`follow`) is the API server's list+watch protocol, as the controller's
informer speaks it but without a cache or a thread: read, then watch from that
resourceVersion; the server ends each watch after a while, and the next one resumes where the
last event (or bookmark) left off; ``410 Gone`` reads again; a lost connection is retried with
back-off. No polling: a change shows the moment the API server has it.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from kubernetes import config as k8s_config
from rich.console import Console, RenderableType
from typer.core import TyperCommand

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.kube import (
    SELF_SUBJECT_REVIEWS,
    Forbidden,
    Invalid,
    Kube,
    KubeError,
    KubeObject,
    NotFound,
    Unauthorized,
    Unavailable,
    WatchEventType,
    connect,
)
from rollouts.runtime.reflector import Listed, Reflection

KUBECTL_PLUGIN = "kubectl-modelrollout"
"""The console script kubectl runs for ``kubectl modelrollout ...`` (found on PATH)."""
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
WATCH_SECONDS = 300
"""How long one watch request lasts before the server ends it and the next one resumes."""
PIPE_WIDTH = 1000
"""Line width when stdout is not a terminal: tables and lines are not wrapped for a log."""
RECONNECT_BACKOFF = (1.0, 30.0)
"""First and longest wait, in seconds, before watching again after a lost connection."""


class ExitCode(IntEnum):
    """Exit codes shared by every cluster command (see the module docstring)."""

    OK = 0
    FAILED = 1
    TIMEOUT = 2
    ERROR = 3


KubeconfigOption = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)."),
]
ContextOption = Annotated[str | None, typer.Option("--context", help="Kubeconfig context to use.")]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="Namespace (default: the kubeconfig context's namespace, else default)."
    ),
]


class ClusterCommand(TyperCommand):
    """A command whose every failure to run exits 3 — bad arguments included.

    click exits 2 on a usage error, which ``rollouts wait`` reserves for a timeout: a typo in a
    pipeline must not read as "the rollout took too long".
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102  (click's)
        with _usage_errors_exit_3():
            return super().make_context(*args, **kwargs)

    def invoke(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102  (click's)
        with _usage_errors_exit_3():
            return super().invoke(*args, **kwargs)


@contextlib.contextmanager
def _usage_errors_exit_3() -> Iterator[None]:
    try:
        yield
    except typer.TyperException as usage:  # click's UsageError and BadParameter derive from it
        usage.exit_code = ExitCode.ERROR
        raise


def program() -> str:
    """How the user calls us — ``kubectl modelrollout`` as the kubectl plugin, else ``rollouts``."""
    return "kubectl modelrollout" if Path(sys.argv[0]).name == KUBECTL_PLUGIN else "rollouts"


def stdout() -> Console:
    """Rich on a terminal; in a pipe or a CI log plain text, each line as long as it is."""
    piped = not sys.stdout.isatty()
    return Console(highlight=False, width=PIPE_WIDTH if piped else None, soft_wrap=piped)


def show(renderable: RenderableType) -> None:
    """Print a view on stdout; in a pipe without the padding rich adds to the ends of lines."""
    console = stdout()
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("".join(f"{line.rstrip()}\n" for line in captured.get().splitlines()))


def stderr() -> Console:
    """Where errors, warnings and (with -o json|yaml) progress go."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> typer.Exit:
    """Print ``error: message`` on stderr; the Exit to raise."""
    stderr().print(f"error: {message}", markup=False)
    return typer.Exit(code)


# --- connection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """A connected client and the namespace the command works in."""

    kube: Kube
    namespace: str
    kubeconfig_user: str | None
    """The user name of the kubeconfig context (None in-cluster), a fallback for :func:`identity`."""

    def key(self, name: str) -> str:
        """``namespace/name`` of a rollout in this namespace, as messages name it."""
        return f"{self.namespace}/{name}"


def _kubeconfig_context(kubeconfig: str | None, context: str | None) -> dict[str, Any] | None:
    """The chosen context's ``context`` block ({namespace, user, cluster}), or None without a kubeconfig."""
    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError):
        return None
    chosen = next((entry for entry in contexts if entry.get("name") == context), None) if context else active
    return (chosen or {}).get("context") or {}


@contextlib.contextmanager
def cluster(kubeconfig: str | None, context: str | None, namespace: str | None) -> Iterator[Cluster]:
    """Connect (exit 3 when no cluster is reachable) and map API errors inside the block to exit 3."""
    with api_errors():
        kube = connect(kubeconfig, context)
        with kube:
            chosen = _kubeconfig_context(kubeconfig, context)
            if namespace is None and chosen is not None:
                namespace = chosen.get("namespace")
            if namespace is None and chosen is None and IN_CLUSTER_NAMESPACE.is_file():
                namespace = IN_CLUSTER_NAMESPACE.read_text(encoding="utf-8").strip()
            user = chosen.get("user") if chosen else None
            yield Cluster(kube=kube, namespace=namespace or "default", kubeconfig_user=user)


@contextlib.contextmanager
def api_errors() -> Iterator[None]:
    """Turn a :class:`KubeError` into one clear line on stderr and exit 3."""
    try:
        yield
    except KubeError as error:
        raise fail(explain(error)) from None


def explain(error: KubeError) -> str:
    """One line that says what failed and what to do about it."""
    where = f" in namespace {error.namespace}" if error.namespace else ""
    if isinstance(error, NotFound):
        if error.name:
            kind = error.resource.kind if error.resource else "object"
            hint = (
                f" (list them: {program()} get -n {error.namespace})"
                if error.resource == MODEL_ROLLOUTS
                else ""
            )
            return f"{kind} {error.name} not found{where}{hint}"
        return (
            f"the API server does not serve {error.resource}: {error.message} "
            "(is the ModelRollout CRD installed? kubectl apply -f crds/)"
        )
    if isinstance(error, Forbidden):
        target = f"{error.resource}" + (f" {error.name}" if error.name else "")
        return f"forbidden to {error.verb} {target}{where}: {error.message}"
    if isinstance(error, Unauthorized):
        return f"the API server rejected the credentials (401): {error.message}"
    if isinstance(error, Unavailable):
        return f"no cluster reachable: {error}"
    if isinstance(error, Invalid):
        causes = "; ".join(f"{cause.field}: {cause.message}" for cause in error.causes)
        target = f"{error.resource}" + (f" {error.name}" if error.name else "")
        return f"the API server refused to {error.verb} {target}: {causes or error.message}"
    return str(error)


# --- who is asking ----------------------------------------------------------------------------


def identity(target: Cluster) -> str:
    """Who the API server says the caller is (a SelfSubjectReview), for ``requestedBy``.

    Servers that do not offer the review (before 1.28, or with it turned off) get a clearly
    marked guess instead — the kubeconfig user or the local login — and a warning.
    """
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = target.kube.create(SELF_SUBJECT_REVIEWS, review)
        return str(answer["status"]["userInfo"]["username"])
    except (KubeError, KeyError) as unavailable:
        guess = target.kubeconfig_user or getpass.getuser()
        stderr().print(
            f"warning: the API server did not say who you are ({unavailable}); "
            f"recording requestedBy as {guess!r} (unverified)",
            markup=False,
        )
        return f"{guess} (unverified)"


# --- following rollouts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One state of a rollout: ``ADDED`` for what was there when following began, then changes."""

    type: WatchEventType
    rollout: KubeObject


def _read(kube: Kube, namespace: str | None, name: str | None) -> tuple[list[KubeObject], str]:
    """The rollouts as they are now and the resourceVersion to watch from."""
    if name is not None:
        assert namespace is not None
        rollout = kube.get(MODEL_ROLLOUTS, name, namespace)
        return [rollout], str(rollout["metadata"]["resourceVersion"])
    listed = kube.list(MODEL_ROLLOUTS, namespace)
    return listed.items, listed.resource_version


def follow(
    kube: Kube,
    namespace: str | None,
    name: str | None = None,
    *,
    deadline: float | None = None,
    watch_seconds: int = WATCH_SECONDS,
) -> Iterator[Seen]:
    """Every rollout (or the one named) now, then every change, until ``deadline`` (monotonic).

    Raises the :class:`KubeError` of the first read (not found, forbidden, no cluster) and of
    any later refusal; a lost connection is retried, announced on stderr, until the deadline.
    """
    items, version = _read(kube, namespace, name)
    for item in items:
        yield Seen("ADDED", item)

    def watch_seconds_now() -> int:
        if deadline is None:
            return watch_seconds
        return max(1, min(watch_seconds, int(deadline - time.monotonic()) + 1))

    reflection = Reflection(
        kube,
        MODEL_ROLLOUTS,
        namespace,
        field_selector=f"metadata.name={name}" if name else None,
        resource_version=version,
        watch_timeout=watch_seconds_now,
        stopped=lambda: deadline is not None and time.monotonic() >= deadline,
    )
    delay = RECONNECT_BACKOFF[0]
    while deadline is None or time.monotonic() < deadline:
        try:
            for seen in reflection:
                delay = RECONNECT_BACKOFF[0]
                if isinstance(seen, Listed):  # after 410 Gone: what exists now
                    yield from (Seen("MODIFIED", item) for item in seen.items)
                elif seen.type != "BOOKMARK":
                    yield Seen(seen.type, seen.object)
        except Unavailable as lost:
            stderr().print(f"warning: {lost}; watching again in {delay:.0f}s", markup=False)
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, RECONNECT_BACKOFF[1])


__all__ = [
    "Cluster",
    "ClusterCommand",
    "ContextOption",
    "ExitCode",
    "KubeconfigOption",
    "NamespaceOption",
    "Seen",
    "api_errors",
    "cluster",
    "explain",
    "fail",
    "follow",
    "identity",
    "program",
    "show",
    "stderr",
    "stdout",
]
