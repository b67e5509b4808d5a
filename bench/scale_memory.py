"""Controller memory against pods it does not manage: 50 rollouts, 0 / 5,000 / 20,000 other pods.

Issue 14's goal "memory independent of the cluster": with 50 rollouts, the controller's RSS
must stay within 10% whether the cluster has 0, 5,000 or 20,000 unrelated pods (pods of other
Deployments, some in the rollouts' namespaces, most in others). This drives the local test bed
(real kube-apiserver, controller-manager, scheduler; kwok plays the kubelet, so pods are cheap):

1. 50 rollouts (replicas router, steps ``setWeight 50`` then ``approve``) in 5 namespaces, each
   with a baseline and a candidate Deployment, run once until every rollout waits at its gate.
2. For each pod count: scale "filler" Deployments (pinned to big kwok nodes by ``nodeName``, so
   the scheduler is not the bottleneck) to that many pods, wait until they are Running, start a
   fresh ``rollouts controller`` process, wait until it is ready (caches synced, workers up)
   and every rollout is still waiting at its gate, let it settle, and read its resident memory
   (``VmRSS``) a few times, reporting the largest.
3. Optionally the same with the controller of another checkout (``--before DIR``, e.g. the
   last commit exported with ``git archive HEAD | tar -x -C DIR``), for a before/after table.

    .venv/bin/python bench/scale_memory.py                       # writes bench/results/scale_memory.md
    .venv/bin/python bench/scale_memory.py --pods 0 2000 --before /tmp/head --out /tmp/m.md

:func:`measure` returns the rows, for bench/scale.py to call.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, NAMESPACES, PODS, AlreadyExists, Kube, PatchType, connect
from rollouts.testbed import (
    FLEET_CONTROLLER_MANAGER_ARGS,
    ClusterConfig,
    LocalCluster,
    find_binaries,
    install_crds,
)
from rollouts.testbed.cluster import DEFAULT_NODES, NodeSpec, free_ports
from rollouts.testbed.process import exit_on_signals
from tests.support.workloads import model_rollout

RESULTS = Path(__file__).parent / "results" / "scale_memory.md"
ROLLOUT_NAMESPACES = tuple(f"scale-r{i}" for i in range(5))
FILLER_NAMESPACES = ("scale-other-0", "scale-other-1", "scale-other-2")
FILLER_NODES = tuple(
    NodeSpec(f"kwok-filler-{i}", cpu="10000", memory="100000Gi", pods=10000) for i in range(3)
)
PODS_PER_FILLER = 500
"""Replicas of each filler Deployment (40 Deployments make 20,000 pods)."""
STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"approve": {}}]
SETTLE = 15.0
"""Seconds after the controller is ready and the rollouts wait, before memory is read."""


@dataclass(frozen=True)
class Row:
    """One measurement: which controller, how many unrelated pods, its resident memory."""

    code: str
    unrelated_pods: int
    rss_mb: float
    ready_s: float
    """Seconds from the process start until /readyz answered (caches synced)."""
    new_rollout_s: float
    """Seconds from creating one more rollout (its Deployments ready) to its first status."""
    cached_pods_note: str = ""


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _wait(what: str, check: Callable[[], bool], timeout: float, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _namespace(kube: Kube, name: str) -> None:
    with contextlib.suppress(AlreadyExists):
        kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _filler(name: str, node: str) -> dict[str, Any]:
    deployment = model_deployment(name, "filler", replicas=0, app=name, readiness=False)
    spec = deployment["spec"]["template"]["spec"]
    spec["nodeName"] = node
    spec["containers"][0].pop("startupProbe", None)
    spec["containers"][0]["resources"] = {"requests": {"cpu": "1m", "memory": "1Mi"}}
    return deployment


def _create_deployments(kube: Kube, namespace: str, name: str) -> None:
    """``name``'s baseline (one pod) and candidate (none yet) Deployments."""
    for body in (
        model_deployment(f"{name}-v1", "v1", replicas=1, app=name),
        model_deployment(f"{name}-v2", "v2", replicas=0, app=name),
    ):
        body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
            "requests": {"cpu": "10m", "memory": "10Mi"}
        }
        kube.create(DEPLOYMENTS, body, namespace)


def _create_rollout(kube: Kube, namespace: str, name: str) -> None:
    """The rollout of ``name``'s Deployments (:func:`_create_deployments`)."""
    rollout = model_rollout(
        name, steps=STEPS, baseline=(f"{name}-v1", "v1"), candidate=(f"{name}-v2", "v2"), route=None
    )
    kube.create(MODEL_ROLLOUTS, rollout, namespace)


def _setup_rollouts(kube: Kube, count: int) -> None:
    for namespace in ROLLOUT_NAMESPACES:
        _namespace(kube, namespace)
    for index in range(count):
        namespace = ROLLOUT_NAMESPACES[index % len(ROLLOUT_NAMESPACES)]
        _create_deployments(kube, namespace, f"m{index}")
        _create_rollout(kube, namespace, f"m{index}")


def _fillers(kube: Kube) -> list[tuple[str, str]]:
    """(namespace, name) of every filler Deployment: a few next to the rollouts, most elsewhere."""
    names = []
    for index in range(40):
        namespace = (
            ROLLOUT_NAMESPACES[index] if index < len(ROLLOUT_NAMESPACES) else FILLER_NAMESPACES[index % 3]
        )
        names.append((namespace, f"filler-{index}"))
    for namespace in FILLER_NAMESPACES:
        _namespace(kube, namespace)
    for index, (namespace, name) in enumerate(names):
        kube.create(DEPLOYMENTS, _filler(name, FILLER_NODES[index % len(FILLER_NODES)].name), namespace)
    return names


def _filler_pods(kube: Kube, running: bool) -> int:
    count = 0
    for namespace in (*ROLLOUT_NAMESPACES, *FILLER_NAMESPACES):
        for pod in kube.list(PODS, namespace, label_selector="version=filler").items:
            if not running or pod.get("status", {}).get("phase") == "Running":
                count += 1
    return count


def _scale_fillers(kube: Kube, fillers: Sequence[tuple[str, str]], pods: int) -> None:
    remaining = pods
    for namespace, name in fillers:
        replicas = min(PODS_PER_FILLER, remaining)
        remaining -= replicas
        kube.patch(DEPLOYMENTS, name, {"spec": {"replicas": replicas}}, PatchType.MERGE, namespace)
    _wait(
        f"{pods} filler pods Running",
        lambda: _filler_pods(kube, running=True) >= pods,
        timeout=900,
        interval=5,
    )
    _wait(
        f"exactly {pods} filler pods",
        lambda: _filler_pods(kube, running=False) == pods,
        timeout=300,
        interval=5,
    )


def _at_gate(kube: Kube) -> int:
    waiting = 0
    for namespace in ROLLOUT_NAMESPACES:
        for rollout in kube.list(MODEL_ROLLOUTS, namespace).items:
            if rollout.get("status", {}).get("currentStep") == 1:
                waiting += 1
    return waiting


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _first_status_s(kube: Kube, name: str) -> float:
    """Create one more rollout and its Deployments; seconds from the rollout's creation to its first status.

    The controller decides nothing for a rollout until its pods are known, which takes a list of
    pods that began after the rollout named them (rollouts.controller.shell.pod_scope): this
    times that list — of the whole cluster before, of the rollout's namespace now.
    """
    namespace = ROLLOUT_NAMESPACES[0]
    _create_deployments(kube, namespace, name)
    _wait(
        f"{name}'s baseline available",
        lambda: bool(
            kube.get(DEPLOYMENTS, f"{name}-v1", namespace).get("status", {}).get("availableReplicas")
        ),
        timeout=120,
        interval=0.2,
    )
    created = time.monotonic()
    _create_rollout(kube, namespace, name)
    _wait(
        f"{name}'s first status",
        lambda: bool(kube.get(MODEL_ROLLOUTS, name, namespace).get("status", {}).get("conditions")),
        timeout=300,
        interval=0.1,
    )
    return time.monotonic() - created


def _controller_rss(
    kubeconfig: Path, code: Path | None, rollouts: int, log: Path, late: str
) -> tuple[float, float, float]:
    """Start a controller (from ``code``, or this checkout), wait until steady; three numbers.

    RSS MB, seconds until ready, and seconds to the first status of one more rollout named
    ``late``, created once memory was read (:func:`_first_status_s`).
    """
    (port,) = free_ports(1)
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    argv = [
        sys.executable,
        "-c",
        "import sys; from rollouts.cli.main import main; sys.argv[0] = 'rollouts'; main()",
        "controller",
        f"--kubeconfig={kubeconfig}",
        f"--health-port={port}",
        "--health-bind-address=127.0.0.1",
        "--log-format=json",
        "--log-level=warning",
    ]
    started = time.monotonic()
    with log.open("ab") as output:
        process = subprocess.Popen(argv, env=env, cwd=code or Path.cwd(), stdout=output, stderr=output)
    try:
        _wait(
            "the controller ready",
            lambda: _ready(port) or process.poll() is not None,
            timeout=300,
            interval=0.5,
        )
        if process.poll() is not None:
            raise RuntimeError(f"the controller exited with {process.returncode}; see {log}")
        ready = time.monotonic() - started
        _wait(
            f"{rollouts} rollouts at their gate", lambda: _at_gate(kube_for(kubeconfig)) >= rollouts, 300, 2
        )
        time.sleep(SETTLE)
        samples = []
        for _ in range(5):
            samples.append(_rss_mb(process.pid))
            time.sleep(1)
        return max(samples), ready, _first_status_s(kube_for(kubeconfig), late)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_kubes: dict[Path, Kube] = {}


def kube_for(kubeconfig: Path) -> Kube:
    """One client per kubeconfig for the bench's own reads."""
    if kubeconfig not in _kubes:
        _kubes[kubeconfig] = connect(str(kubeconfig))
    return _kubes[kubeconfig]


def measure(
    pod_counts: Sequence[int] = (0, 5000, 20000),
    *,
    rollouts: int = 50,
    before: Path | None = None,
    workdir: Path | None = None,
) -> list[Row]:
    """Start a test bed, and measure the controller's RSS at each unrelated-pod count (ascending)."""
    root = workdir or Path(tempfile.mkdtemp(prefix="scale-memory-"))
    _log(f"test bed and controller logs in {root}")
    cluster = LocalCluster(
        ClusterConfig(
            nodes=(*DEFAULT_NODES, *FILLER_NODES),
            state_root=root / "state",
            log_dir=root / "testbed-logs",
            timeout=180.0,
            controller_manager_args=FLEET_CONTROLLER_MANAGER_ARGS,
        ),
        find_binaries(),
    )
    rows: list[Row] = []
    try:
        cluster.start()
        client = cluster.api_client()
        install_crds(client)
        client.close()  # type: ignore[no-untyped-call]  # kubernetes is untyped
        kube = kube_for(cluster.kubeconfig)
        _setup_rollouts(kube, rollouts)
        fillers = _fillers(kube)
        _log(f"{rollouts} rollouts created; a first controller takes them to their gate")
        _controller_rss(cluster.kubeconfig, None, rollouts, root / "controller-first.log", "late-first")
        for pods in sorted(pod_counts):
            _log(f"{pods} unrelated pods: scaling the fillers")
            _scale_fillers(kube, fillers, pods)
            for label, code in (("after", None), ("before", before)):
                if label == "before" and code is None:
                    continue
                rss, ready, late = _controller_rss(
                    cluster.kubeconfig,
                    code,
                    rollouts,
                    root / f"controller-{label}-{pods}.log",
                    f"late-{label}-{pods}",
                )
                rows.append(Row(label, pods, rss, ready, late))
                _log(
                    f"{label}: {pods} unrelated pods: RSS {rss:.0f} MB (ready after {ready:.1f} s); "
                    f"one more rollout's first status after {late:.1f} s"
                )
    finally:
        for opened in _kubes.values():
            opened.close()
        _kubes.clear()
        cluster.stop()
    return rows


def _import_rss(code: Path | None) -> float:
    script = (
        "import resource, rollouts.controller.shell.app; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=code or Path.cwd(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def report(
    rows: Sequence[Row],
    *,
    rollouts: int,
    command: str,
    began: str,
    wall: float,
    imports: dict[str, float],
    before: str = "",
) -> str:
    """The results file."""
    codes = sorted({row.code for row in rows}, key=lambda code: code != "before")
    counts = sorted({row.unrelated_pods for row in rows})
    by = {(row.code, row.unrelated_pods): row for row in rows}
    lines = [
        "# Controller memory against unrelated pods (issue 14)",
        "",
        f"{rollouts} rollouts (replicas router, waiting at an approve gate) in 5 namespaces; unrelated",
        f"pods in 40 other Deployments of up to {PODS_PER_FILLER} pods (5 in the rollouts' namespaces,",
        "the rest in 3 other namespaces), Running on kwok nodes. A fresh `rollouts controller` process per",
        f"row, all namespaces watched; RSS (`VmRSS`) is the largest of 5 readings taken {SETTLE:.0f} s after",
        "it was ready (caches synced) with every rollout still at its gate. Then one more rollout is",
        f"created in `{ROLLOUT_NAMESPACES[0]}` (its Deployments first, the baseline available): the",
        "seconds from its creation to its first status, which waits for a list of pods that began",
        "after the rollout named its Deployments.",
        "",
        f"- command: `{command}`",
        f"- run: {began}, {wall / 60:.1f} minutes in all",
        f"- machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, Python {platform.python_version()}",
        f"- before: {before or 'the controller of the `--before` checkout'}; after: this checkout",
        "",
        "| unrelated pods | "
        + " | ".join(
            f"{code}: RSS MB (ready after s; one more rollout's first status after s)" for code in codes
        )
        + " |",
        "|---|" + "---|" * len(codes),
    ]
    for pods in counts:
        cells = []
        for code in codes:
            row = by.get((code, pods))
            cells.append(f"{row.rss_mb:.0f} ({row.ready_s:.1f}; {row.new_rollout_s:.1f})" if row else "-")
        lines.append(f"| {pods:,} | " + " | ".join(cells) + " |")
    for code in codes:
        values = [by[(code, pods)].rss_mb for pods in counts if (code, pods) in by]
        if len(values) > 1:
            spread = (max(values) - min(values)) / min(values) * 100
            lines.append("")
            lines.append(f"- {code}: largest RSS {spread:.1f}% above the smallest (goal: within 10%)")
    if imports:
        lines += ["", "RSS of `python -c 'import rollouts.controller.shell.app'` (ru_maxrss):", ""]
        lines += [f"- {code}: {value:.0f} MB" for code, value in imports.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pods", type=int, nargs="+", default=[0, 5000, 20000], help="unrelated pod counts")
    parser.add_argument("--rollouts", type=int, default=50)
    parser.add_argument("--before", type=Path, default=None, help="a checkout whose controller is 'before'")
    parser.add_argument("--before-label", default="", help="what the --before checkout is, for the report")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    command = ".venv/bin/python bench/scale_memory.py " + " ".join(sys.argv[1:])
    began = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = time.monotonic()
    imports = {"after": _import_rss(None)}
    if args.before is not None:
        imports = {"before": _import_rss(args.before), **imports}
    with exit_on_signals():
        rows = measure(args.pods, rollouts=args.rollouts, before=args.before)
    text = report(
        rows,
        rollouts=args.rollouts,
        command=command.strip(),
        began=began,
        wall=time.monotonic() - started,
        imports=imports,
        before=args.before_label,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
