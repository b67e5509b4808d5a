"""``rollouts testbed up|down|env|check``: the local Kubernetes test bed for people and scripts.

``up`` starts a test bed that outlives the command (its processes lead their own sessions) and
prints ``export KUBECONFIG=...`` on stdout, so ``eval "$(rollouts testbed up)"`` works; progress
goes to stderr. ``up`` does not stay in the foreground; stopped by Ctrl-C, SIGTERM or SIGHUP
while it starts, it stops what it started and exits with 128 + the signal's number. ``down``,
from any shell, stops it through its state file. ``check`` is what hack/run-tests.sh runs after
the tests: it fails if any test-bed process is still running.
"""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rollouts.cli.app import app
from rollouts.testbed import (
    ClusterConfig,
    LocalCluster,
    MissingBinariesError,
    NodeSpec,
    TestbedError,
    find_leftovers,
    install_crds,
    state_root,
    stop_leftovers,
)
from rollouts.testbed.process import exit_on_signals

testbed_app = typer.Typer(
    name="testbed",
    help="A local Kubernetes control plane with fake nodes (etcd, kube-apiserver, controllers, kwok).",
    no_args_is_help=True,
)
app.add_typer(testbed_app)

NAME_OPTION = typer.Option("--name", help="Which test bed (several may run side by side).")


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _export(cluster: LocalCluster) -> None:
    sys.stdout.write(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}\n")


def _nodes(gpu_nodes: int, gpus: int, cpu_nodes: int) -> tuple[NodeSpec, ...]:
    gpu = [NodeSpec(f"kwok-gpu-{i}", cpu="32", memory="128Gi", gpus=gpus) for i in range(gpu_nodes)]
    cpu = [NodeSpec(f"kwok-cpu-{i}") for i in range(cpu_nodes)]
    return (*gpu, *cpu)


@testbed_app.command()
def up(
    name: Annotated[str, NAME_OPTION] = "default",
    gpu_nodes: Annotated[int, typer.Option(min=0, help="Fake nodes with GPUs.")] = 1,
    gpus: Annotated[int, typer.Option(min=1, help="nvidia.com/gpu allocatable per GPU node.")] = 2,
    cpu_nodes: Annotated[int, typer.Option(min=0, help="Fake nodes without GPUs.")] = 1,
    crds: Annotated[bool, typer.Option(help="Install the ModelRollout and Gateway API CRDs.")] = True,
) -> None:
    """Start a test bed (or find the running one) and print the KUBECONFIG to export."""
    console = _stderr()
    existing = LocalCluster.attach(name)
    if existing is not None:
        if existing.running() and len(existing.running()) == len(existing.processes):
            console.print(f"test bed {name!r} is already up ({existing.server})")
            _export(existing)
            return
        console.print(f"test bed {name!r} is partly down; stopping what is left before starting again")
        existing.stop()
    # The test bed outlives this command (die_with_owner=False); until it is fully up, any
    # failure or shutdown signal stops what was started, so nothing half-started is left behind.
    config = ClusterConfig(name=name, nodes=_nodes(gpu_nodes, gpus, cpu_nodes), die_with_owner=False)
    cluster = LocalCluster(config)

    def stopped(signal_name: str) -> None:
        console.print(f"stopped by {signal_name} while starting: test bed {name!r} is not left running")

    with exit_on_signals(stopped):
        try:
            with console.status(f"starting test bed {name!r}") as status:

                def progress(message: str) -> None:
                    console.print(f"  {message}")
                    status.update(f"starting test bed {name!r}: {message}")

                cluster.start(progress)
                if crds:
                    status.update("installing CRDs")
                    installed = install_crds(cluster.api_client())
                    console.print(f"  {len(installed)} CRDs installed")
        except (MissingBinariesError, TestbedError, TimeoutError) as error:
            console.print(f"[red]error:[/red] {error}")
            cluster.stop()
            raise typer.Exit(1) from None
        except BaseException:
            cluster.stop()
            raise
    console.print(f"test bed {name!r} is up at {cluster.server}; logs in {cluster.log_dir}")
    console.print(f"stop it with: rollouts testbed down --name {name}")
    _export(cluster)


@testbed_app.command()
def down(name: Annotated[str, NAME_OPTION] = "default") -> None:
    """Stop a test bed started by ``up`` (by its recorded PIDs) and remove its folder."""
    console = _stderr()
    cluster = LocalCluster.attach(name)
    if cluster is None:
        console.print(f"no test bed named {name!r} under {state_root()}")
        return
    cluster.stop()
    console.print(f"test bed {name!r} stopped; logs kept in {cluster.log_dir}")


@testbed_app.command()
def env(name: Annotated[str, NAME_OPTION] = "default") -> None:
    """Print ``export KUBECONFIG=...`` for a running test bed (exit 1 if it is not up)."""
    cluster = LocalCluster.attach(name)
    if cluster is None or not cluster.running():
        _stderr().print(f"test bed {name!r} is not up: run `rollouts testbed up --name {name}`")
        raise typer.Exit(1)
    _export(cluster)


@testbed_app.command()
def check(
    stop: Annotated[bool, typer.Option("--stop", help="Also stop what is found (by PID).")] = False,
) -> None:
    """Exit 1 if any test-bed process under the state directory is still running."""
    console = _stderr()
    root = state_root()
    leftovers = find_leftovers(root)
    if not leftovers:
        console.print(f"no test-bed process is running under {root}")
        return
    table = Table("PID", "COMPONENT", "BINARY", title=f"test-bed processes running under {root}")
    for record in leftovers:
        table.add_row(str(record.pid), record.name, record.binary)
    console.print(table)
    if stop:
        stop_leftovers(leftovers)
        console.print(f"stopped {len(leftovers)} process(es)")
    raise typer.Exit(1)
