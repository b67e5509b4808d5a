"""Chart install to first reconcile: how long from ``helm install`` to a rollout's first status.

On a fresh local test bed (bench/results/install.md says which machine), each run:

1. ``helm install --wait`` of deploy/helm/model-rollouts (cluster scope, one replica) into a new
   namespace, whose app (two Deployments, an HTTPRoute) and ModelRollout already exist: the
   clock starts here;
2. a bound token of the chart's ServiceAccount (TokenRequest API), and ``rollouts controller``
   started as a process with the chart Deployment's arguments and that token alone — the pod a
   kubelet would run (kwok's pods run nothing);
3. the clock stops when the rollout's status is first written by the controller.

The split reported: helm (install and --wait), controller start to ready (/readyz: Lease held,
caches synced), ready to first status write. A real cluster adds the image pull and the pod's
start, which this does not measure.

Usage: ``python bench/install.py [--runs 3] [--out bench/results/install.md]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model, memory_gib, revision
from rollouts.api.resource import API_VERSION, KIND
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, NAMESPACES, Kube, connect
from rollouts.testbed import ClusterConfig, LocalCluster, find_binaries, find_helm, install_crds, versions
from rollouts.testbed.cluster import free_ports
from tests.integration.test_deploy_controller import controller_process, shipped_arguments
from tests.support.helm import CHART, run_helm, service_account_token_kubeconfig

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120.0
COLUMNS = ("helm", "ready", "first_status", "total")
"""The :class:`Run` fields, in the table's order."""


@dataclass(frozen=True)
class Run:
    """Seconds of one run: helm install --wait, then the controller to ready, then to first status."""

    helm: float
    ready: float
    first_status: float

    @property
    def total(self) -> float:
        """From ``helm install`` to the rollout's first status."""
        return self.helm + self.ready + self.first_status


def until(what: str, check: Callable[[], bool]) -> None:
    """Poll ``check`` every 20 ms until true; a bench has no events to wait on for these."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {TIMEOUT:.0f} s")
        time.sleep(0.02)


def ready(port: int) -> bool:
    """Whether the controller's /readyz answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return int(answer.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def app(kube: Kube, namespace: str) -> None:
    """The objects a rollout needs, and the rollout: baseline, candidate, route, one step."""
    kube.create(NAMESPACES, {"metadata": {"name": namespace}})
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=1), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    spec = {
        "baseline": {"deployment": "model-v1", "version": "v1"},
        "candidate": {"deployment": "model-v2", "version": "v2"},
        "traffic": {
            "gatewayAPI": {
                "httpRoute": "model",
                "baselineBackend": "model-v1",
                "candidateBackend": "model-v2",
            }
        },
        "steps": [{"setWeight": 50}],
    }
    kube.create(
        MODEL_ROLLOUTS,
        {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "model"}, "spec": spec},
        namespace,
    )


def one_run(cluster: LocalCluster, kube: Kube, helm: Path, work: Path) -> Run:
    """Install the chart for a new app and time it to the rollout's first status."""
    namespace = f"bench-{secrets.token_hex(3)}"
    release = f"mr-{secrets.token_hex(3)}"
    app(kube, namespace)
    started = time.monotonic()
    installed = run_helm(
        helm,
        *("install", release, str(CHART), f"--namespace={namespace}", "--skip-crds", "--wait"),
        *("--timeout=120s", "--set=replicaCount=1"),
        kubeconfig=cluster.kubeconfig,
    )
    if installed.returncode != 0:
        raise RuntimeError(f"helm install failed: {installed.stderr}")
    helm_done = time.monotonic()
    account = f"{release}-model-rollouts-controller"
    with cluster.api_client() as client:
        kubeconfig = service_account_token_kubeconfig(client, cluster, namespace, account, work)
    deployment = kube.get(DEPLOYMENTS, account, namespace)
    metrics, health = free_ports(2)
    command = shipped_arguments(deployment, namespace, metrics, health)
    try:
        with controller_process(command, kubeconfig, work / f"{release}.log"):
            until("the controller ready", lambda: ready(health))
            ready_at = time.monotonic()
            until(
                "the first status", lambda: bool(kube.get(MODEL_ROLLOUTS, "model", namespace).get("status"))
            )
            done = time.monotonic()
    finally:
        run_helm(helm, "uninstall", release, f"--namespace={namespace}", kubeconfig=cluster.kubeconfig)
        kube.delete(NAMESPACES, namespace)
    return Run(helm=helm_done - started, ready=ready_at - helm_done, first_status=done - ready_at)


def report(runs: list[Run], load: float) -> str:
    """The results file."""
    helm_version = subprocess.run(
        [str(find_helm()), "version", "--short"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rows = "\n".join(
        f"| {i} | {r.helm:.2f} | {r.ready:.2f} | {r.first_status:.2f} | {r.total:.2f} |"
        for i, r in enumerate(runs, 1)
    )
    medians = " | ".join(f"**{statistics.median(getattr(r, name) for r in runs):.2f}**" for name in COLUMNS)
    median_row = f"| **median** | {medians} |"
    return f"""# Chart install to first reconcile

Produced by `bench/install.py` on {datetime.date.today().isoformat()}; machine: {os.cpu_count()} cores
({cpu_model()}), {memory_gib():.0f} GiB, Python {platform.python_version()}, {platform.system()};
helm {helm_version}, test bed Kubernetes {versions.KUBERNETES}; code {revision()}; load average
{load:.1f} when it started (the machine is shared: other work moves these numbers).

Seconds, per run: `helm install --wait` of the chart (cluster scope, one replica) into a namespace
whose rollout already exists; then `rollouts controller`, started with the chart Deployment's
arguments and only a TokenRequest token of the chart's ServiceAccount, to `/readyz` (Lease held,
caches synced; this includes the Python process's own start and imports); then to the rollout's
first status write (polled every 20 ms). kwok plays the kubelet, so the image pull and the
container start of a real cluster are not in these numbers.

| run | helm install --wait | start to ready | ready to first status | install to first status |
|---|---|---|---|---|
{rows}
{median_row}
"""


def main() -> int:
    """Start a test bed, time the runs, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "install.md")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    helm = find_helm()
    with tempfile.TemporaryDirectory(prefix="bench-install-") as folder:
        work = Path(folder)
        with LocalCluster(ClusterConfig(log_dir=work / "logs"), find_binaries()) as cluster:
            with cluster.api_client() as client:
                install_crds(client)
            with connect(str(cluster.kubeconfig)) as kube:
                runs = [one_run(cluster, kube, helm, work) for _ in range(options.runs)]
    options.out.write_text(report(runs, load))
    print(options.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
