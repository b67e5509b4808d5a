"""``rollouts controller``: run the controller against the current kubeconfig's cluster."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from rollouts.cli.app import app
from rollouts.controller.app import ControllerOptions, build_manager
from rollouts.runtime.kube import KubeError, connect
from rollouts.runtime.logs import configure_logging
from rollouts.runtime.manager import LeaderElection, Outcome


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
        str | None, typer.Option("--namespace", "-n", help="Watch one namespace only.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Rollouts reconciled in parallel.")] = 2,
    leader_elect: Annotated[bool, typer.Option(help="Campaign for a Lease; only the holder acts.")] = False,
    lease_namespace: Annotated[str, typer.Option(help="Namespace of the leader-election Lease.")] = "default",
    lease_name: Annotated[
        str, typer.Option(help="Name of the leader-election Lease.")
    ] = "model-rollouts-controller",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics, /healthz, /readyz on this port.")
    ] = None,
    log_format: Annotated[
        LogFormat, typer.Option(help="auto: console on a terminal, JSON otherwise.")
    ] = LogFormat.AUTO,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the controller until SIGTERM/SIGINT; exit 1 if the Lease is lost (restart clean)."""
    configure_logging(log_format.value, log_level)
    try:
        kube = connect(kubeconfig, context)
    except KubeError as unreachable:
        typer.echo(f"error: {unreachable}", err=True)
        raise typer.Exit(3) from unreachable
    options = ControllerOptions(
        workers=workers,
        namespace=namespace,
        leader_election=LeaderElection(namespace=lease_namespace, name=lease_name) if leader_elect else None,
        metrics_port=metrics_port,
    )
    manager = build_manager(kube, options)
    outcome = manager.run()
    raise typer.Exit(0 if outcome is Outcome.STOPPED else 1)
