"""``rollouts controller``: run the controller against the current kubeconfig's cluster.

An API server that cannot be reached at start-up is waited for, with a capped back-off and a
log line per try, never a crash: in a cluster the controller often starts while the control
plane restarts, and an exit would put its pod in CrashLoopBackOff, each restart slower than the
last (found by the safety campaign, bench/results/safety_campaign.md). A configuration that
cannot work — no kubeconfig, bad arguments — still exits 3 at once.

Notifications read the ConfigMap and Secret ``model-rollouts-notifications`` of
``--notifications-namespace``, by default the namespace the controller runs in ($POD_NAMESPACE,
else the service account's); outside a cluster with neither, notifications are off and the
log says so once (docs/notifications.md).

Every request carries the User-Agent ``model-rollouts-controller/VERSION (IDENTITY)``, IDENTITY
being the leader-election identity ($POD_NAME in a cluster), so the API server's audit log
tells which replica made each write (docs/runtime.md, "High availability").
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import structlog
import typer

from rollouts.cli.app import app
from rollouts.cli.kube_options import IN_CLUSTER_NAMESPACE
from rollouts.cli.version_cmd import package_version
from rollouts.controller.core import shards
from rollouts.controller.core.shards import SHARD_LABEL, validate_shard
from rollouts.controller.shell.app import ControllerOptions, build_manager
from rollouts.runtime.kube import ConfigError, Kube, Unavailable, connect
from rollouts.runtime.leader import LeaseTiming, default_identity
from rollouts.runtime.logs import configure_logging
from rollouts.runtime.manager import LeaderElection, Manager, Outcome
from rollouts.runtime.metrics import ALL_INTERFACES, LOOPBACK
from rollouts.runtime.ratelimit import ExponentialBackoff

log = structlog.get_logger(__name__)

STARTUP_BACKOFF = (1.0, 30.0)
"""First and longest wait between tries to reach the API server at start-up (doubling)."""

USER_AGENT_PRODUCT = "model-rollouts-controller"


def user_agent(identity: str) -> str:
    """``model-rollouts-controller/0.1.0 (IDENTITY)``: the controller's version and identity."""
    return f"{USER_AGENT_PRODUCT}/{package_version()} ({identity})"


class LogFormat(StrEnum):
    """Values of --log-format."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


@app.command()
def controller(
    kubeconfig: Annotated[
        str | None, typer.Option(help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Watch and act in one namespace only (deploy/controller/namespaced: no cluster-wide "
            "rights but reading nodes).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Rollouts reconciled in parallel.")] = 2,
    leader_elect: Annotated[bool, typer.Option(help="Campaign for a Lease; only the holder acts.")] = False,
    lease_namespace: Annotated[str, typer.Option(help="Namespace of the leader-election Lease.")] = "default",
    lease_name: Annotated[
        str | None,
        typer.Option(
            help="Name of the leader-election Lease (default: model-rollouts-controller, with "
            "'-SHARD' appended under --shard: one Lease per shard)."
        ),
    ] = None,
    lease_duration: Annotated[
        float, typer.Option(help="Seconds a standby waits on an unrenewed Lease before taking it over.")
    ] = LeaseTiming.lease_duration,
    renew_deadline: Annotated[
        float, typer.Option(help="Seconds the leader may fail to renew before it stops acting.")
    ] = LeaseTiming.renew_deadline,
    retry_period: Annotated[
        float, typer.Option(help="Seconds between Lease tries.")
    ] = LeaseTiming.retry_period,
    shard: Annotated[
        str | None,
        typer.Option(
            help=f"Reconcile only rollouts labelled {SHARD_LABEL}=SHARD (default: only rollouts without "
            "that label). Run one controller Deployment per shard; see docs/runtime.md."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics (and /healthz, /readyz) on this port, at --metrics-bind-address."),
    ] = None,
    metrics_bind_address: Annotated[
        str,
        typer.Option(
            help="Address /metrics listens on. It has no authentication: loopback (default) keeps "
            "it in the pod; to expose it see docs/security.md."
        ),
    ] = LOOPBACK,
    health_port: Annotated[
        int | None,
        typer.Option(help="Serve only /healthz and /readyz on this port, for the kubelet's probes."),
    ] = None,
    health_bind_address: Annotated[
        str, typer.Option(help="Address the probes-only port listens on (the kubelet probes from the node).")
    ] = ALL_INTERFACES,
    log_format: Annotated[
        LogFormat, typer.Option(help="auto: console on a terminal, JSON otherwise.")
    ] = LogFormat.AUTO,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    notifications_namespace: Annotated[
        str | None,
        typer.Option(
            help="Namespace of the ConfigMap and Secret model-rollouts-notifications (default: the "
            "controller's own, $POD_NAMESPACE; none found: notifications off)."
        ),
    ] = None,
) -> None:
    """Run the controller until SIGTERM/SIGINT; exit 1 if the Lease is lost (restart clean)."""
    configure_logging(log_format.value, log_level)
    if health_port is not None and health_port != 0 and health_port == metrics_port:
        typer.echo("error: --health-port must differ from --metrics-port", err=True)
        raise typer.Exit(3)
    try:
        shard = validate_shard(shard) if shard is not None else None
        timing = LeaseTiming(lease_duration, renew_deadline, retry_period)
    except ValueError as unusable:
        typer.echo(f"error: {unusable}", err=True)
        raise typer.Exit(3) from unusable
    identity = os.environ.get("POD_NAME") or default_identity()
    election = LeaderElection(
        namespace=lease_namespace,
        name=lease_name or shards.lease_name(shard),
        identity=identity,
        timing=timing,
    )
    options = ControllerOptions(
        workers=workers,
        namespace=namespace,
        shard=shard,
        leader_election=election if leader_elect else None,
        metrics_port=metrics_port,
        metrics_address=metrics_bind_address,
        health_port=health_port,
        health_address=health_bind_address,
        notifications_namespace=notifications_namespace or own_namespace(),
    )
    if options.notifications_namespace is None:
        log.warning("notifications are off: no --notifications-namespace and no $POD_NAMESPACE")
    try:
        manager = _started(lambda: connect(kubeconfig, context, user_agent=user_agent(identity)), options)
    except ConfigError as unusable:
        typer.echo(f"error: {unusable}", err=True)
        raise typer.Exit(3) from unusable
    outcome = manager.run()
    raise typer.Exit(0 if outcome is Outcome.STOPPED else 1)


def own_namespace() -> str | None:
    """The namespace the controller runs in: $POD_NAMESPACE, else its service account's, else None."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if IN_CLUSTER_NAMESPACE.is_file():
        return IN_CLUSTER_NAMESPACE.read_text(encoding="utf-8").strip() or None
    return None


def _started(connecting: Callable[[], Kube], options: ControllerOptions) -> Manager:
    """Connect and wire the manager, waiting out an unreachable API server (module docstring)."""
    backoff = ExponentialBackoff(base=STARTUP_BACKOFF[0], cap=STARTUP_BACKOFF[1])
    while True:
        try:
            return build_manager(connecting(), options)
        except Unavailable as unreachable:
            wait = backoff.when("startup")
            log.warning(
                "API server unreachable at start-up; trying again", error=str(unreachable), seconds=wait
            )
            time.sleep(wait)
