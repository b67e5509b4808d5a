"""``rollouts demo``: a whole rollout on this machine, watched live, cleaned up after.

Which cluster: the current kubeconfig's, when it is reachable and has kwok nodes with GPUs
(for example one started by ``rollouts testbed up``) — the demo's pods are kwok's fakes, so a
real cluster would only see them Pending; otherwise the demo starts its own local test bed and
stops it at the end. Either way the model servers, Prometheus, the load and the controller run
on this machine (see rollouts.local.stack).

The exit code says whether the controller did the right thing for the scenario: 0 when the
rollout ended as the scenario expects (good → promoted, slow/errors → rolled back, cpu → never
ready, drift → held), 1 otherwise, 3 when the demo could not run.

Ctrl-C, SIGTERM (a CI timeout) and SIGHUP (a closed terminal) stop the demo within seconds and
stop everything it started — test bed, model servers, Prometheus, load, controller — before it
exits with 128 + the signal's number: 130, 143, 129 (see rollouts.testbed.process). A second
signal skips the graceful waits; if the demo is killed outright, the kernel kills its processes.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from rollouts.api.status import Phase
from rollouts.cli.app import app
from rollouts.cli.views import rollout_view
from rollouts.local.stack import SCENARIOS, LocalStack, Scenario, demo_analysis, demo_rollout
from rollouts.runtime.kube import NAMESPACES, NODES, Kube, KubeError, KubeObject, connect
from rollouts.runtime.logs import configure_logging
from rollouts.testbed import LocalCluster, MissingBinariesError, install_crds
from rollouts.testbed.cluster import ClusterConfig, NodeSpec
from rollouts.testbed.process import exit_on_signals, hurried

DEMO_NODES = (NodeSpec("kwok-gpu-0", cpu="64", memory="256Gi", gpus=8), NodeSpec("kwok-cpu-0"))


class ScenarioName(StrEnum):
    """The scenarios ``--scenario`` accepts."""

    GOOD = "good"
    SLOW = "slow"
    CPU = "cpu"
    ERRORS = "errors"
    DRIFT = "drift"


def _kwok_gpu_nodes(kube: Kube) -> int:
    nodes = kube.list(NODES).items
    return sum(
        1
        for node in nodes
        if node.get("metadata", {}).get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"
        and int(node.get("status", {}).get("allocatable", {}).get("nvidia.com/gpu", "0") or 0) >= 2
    )


@contextlib.contextmanager
def _cluster(console: Console, workdir: Path) -> Iterator[tuple[Kube, Path | None]]:
    """The current cluster if it suits the demo, else a local test bed started (and stopped) here."""
    current: Kube | None = None
    with contextlib.suppress(KubeError):  # no usable current cluster: start one
        probe: Kube | None = connect()
        try:
            if probe is not None and _kwok_gpu_nodes(probe):
                current, probe = probe, None
        finally:
            if probe is not None:
                probe.close()
    if current is not None:  # (the body's own KubeErrors must not land in the suppress above)
        console.print("using the cluster of the current kubeconfig (it has kwok GPU nodes)")
        yield current, None
        return
    console.print("starting a local test bed (etcd, kube-apiserver, controllers, kwok) …")
    cluster = LocalCluster(ClusterConfig(nodes=DEMO_NODES, log_dir=workdir / "testbed-logs"))
    with console.status("waiting for the test bed"):
        cluster.start()
    try:
        yield connect(str(cluster.kubeconfig)), cluster.kubeconfig
    finally:
        cluster.stop()


def _outcome_phase(rollout: KubeObject) -> Phase | None:
    status = rollout.get("status") or {}
    if status.get("outcome"):
        return Phase(status["outcome"]["result"])
    if status.get("hold"):
        return Phase.PAUSED
    return None


def _watch(stack: LocalStack, console: Console, timeout: float) -> KubeObject:
    """Show the rollout live until it ends or holds; its last state."""
    deadline = time.monotonic() + timeout
    rollout: KubeObject = stack.rollout()

    def extra() -> Text:
        counts = stack.load.counts() if stack.load else None
        if counts is None:
            return Text("")
        sent = ", ".join(f"{version}: {n}" for version, n in sorted(counts.sent.items()))
        return Text(f"requests sent — {sent} (candidate share now {counts.share:.0%})", style="dim")

    if not console.is_terminal:
        while time.monotonic() < deadline:
            rollout = stack.rollout()
            status = rollout.get("status") or {}
            console.print(f"{status.get('phase', 'Pending')}: {status.get('message', '')}")
            if _outcome_phase(rollout) is not None:
                return rollout
            time.sleep(5)
        return rollout
    with Live(rollout_view(rollout, extra()), console=console, refresh_per_second=2) as live:
        while time.monotonic() < deadline:
            rollout = stack.rollout()
            live.update(rollout_view(rollout, extra()))
            if _outcome_phase(rollout) is not None:
                return rollout
            time.sleep(1)
    return rollout


@app.command()
def demo(
    scenario: Annotated[ScenarioName, typer.Option(help="What the candidate does wrong, if anything.")] = (
        ScenarioName.GOOD
    ),
    rate: Annotated[
        float, typer.Option(min=5, max=200, help="Requests per second sent to the model.")
    ] = 30.0,
    timeout: Annotated[int, typer.Option(help="Give up after this many seconds.")] = 600,
) -> None:
    """Roll a model out on a local test bed with real Prometheus and model servers, and watch."""
    chosen: Scenario = SCENARIOS[scenario.value]
    console = Console()
    configure_logging("console", "warning")
    console.print(f"[bold]scenario {chosen.name}[/]: {chosen.description}")
    workdir = Path(tempfile.mkdtemp(prefix="model-rollouts-demo-"))

    def stopped(signal_name: str) -> None:
        console.print(f"stopped by {signal_name}: every process the demo started is stopped; logs: {workdir}")

    try:
        with exit_on_signals(stopped), _cluster(console, workdir) as (kube, kubeconfig):
            if kubeconfig is not None:
                console.print(f"  (test bed kubeconfig while it runs: {kubeconfig})")
            install_crds(kube.api_client)
            namespace = f"demo-{chosen.name}-{secrets.token_hex(2)}"
            stack = LocalStack(
                kube, namespace, workdir, candidate=chosen.candidate, rate=rate, progress=console.print
            )
            try:
                with stack:
                    analysis = demo_analysis(stack.prometheus_url, ready_query=chosen.ready_query)
                    stack.create_rollout(demo_rollout(analysis))
                    console.print(f"the stack is up; rollout fraud-scorer created in namespace {namespace}")
                    final = _watch(stack, console, timeout)
            finally:
                # Our own test bed goes away with everything in it; someone else's cluster keeps
                # the namespace unless it is deleted, also when a signal ends the demo.
                if kubeconfig is None and not hurried():
                    with contextlib.suppress(KubeError):
                        kube.delete(NAMESPACES, namespace)
                kube.close()
    except (MissingBinariesError, KubeError, RuntimeError) as broken:
        console.print(f"[red]the demo could not run:[/] {broken}")
        console.print(f"logs: {workdir}")
        raise typer.Exit(3) from broken
    reached = _outcome_phase(final)
    status = final.get("status") or {}
    console.print()
    console.print(rollout_view(final))
    console.print()
    if reached is chosen.expected:
        console.print(f"[bold green]as expected:[/] {chosen.description} ({reached.value})")
        raise typer.Exit(0)
    console.print(
        f"[bold red]unexpected:[/] the scenario expects {chosen.expected.value}, the rollout is "
        f"{reached.value if reached else status.get('phase', 'unfinished')}; logs: {workdir}"
    )
    raise typer.Exit(1)
