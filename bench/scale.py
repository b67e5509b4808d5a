"""Fleet benchmark: N active rollouts on one controller, on the local test bed, with a real Prometheus.

What it builds (issue 14): kwok nodes, N rollouts in namespaces of up to 100, half on the replicas
router and half on the Gateway API HTTPRoute router, each with a baseline Deployment (1 pod), a
candidate Deployment (0 pods until the controller sizes it) and continuous analysis (an error
rate and a latency histogram, a look every 10 s) against a real Prometheus that scrapes a small
exporter process serving per-rollout request, error and latency counters. The plan is
``setWeight 20, approve, setWeight 50, approve, setWeight 100``: every rollout waits at two gates,
so it stays active and keeps looking while the numbers are taken. The controller runs as a
process (``rollouts controller --metrics-port``), as in a cluster.

What it measures, every timestamp taken client-side from watches:

- **reaction lag** from an event to the status write that reflects it: the candidate
  Deployment became available (updated, available, latest generation observed) → the status
  names ``candidateReadyAt``; an approval written (the ``rollouts promote`` patch, paced like
  people, not a burst) → the status has left the approve step; a look fell due (window end +
  the controller's 5 s LOOK_DELAY) → the status counts the look. p50, p99 and max;
- the same look lag while one more rollout's Prometheus hangs (its address is a local socket
  that accepts and never answers; its query timeout the default 30 s): the others must not wait
  for it;
- controller RSS (VmRSS, and VmHWM the peak) and CPU seconds (utime + stime) from /proc;
- API calls per reconcile (``rest_client_requests_total`` / reconciles, from /metrics) over the
  whole run and over the steady phase, and Prometheus queries per look
  (``modelrollouts_prometheus_queries_total`` / looks counted) in the steady phase;
- controller CPU per rollout per analysis interval in the steady phase (all rollouts at their
  second gate, looking every 10 s);
- reconcile errors (``modelrollouts_reconcile_errors_total``) and error lines in the log.

Rows go into a markdown table (``bench/results/scale.md`` by default), one per N, replacing an
earlier row for the same N; the file names the machine and each row its date::

    .venv/bin/python bench/scale.py --rollouts 100
    .venv/bin/python bench/scale.py --rollouts 300 --steady 60
    .venv/bin/python bench/scale.py --smoke --out /tmp/scale.md    # 5 rollouts, ~2 minutes (CI)

Exit status: 0 when the row is complete and the controller logged no error, 1 otherwise.
Everything runs on this machine: the test bed, Prometheus and the bench share its CPUs with the
controller, so lags include their contention (the results file says how many cores there were).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import queue
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client.parser import text_string_to_metric_families

from rollouts.api.resource import API_VERSION, KIND, ModelRollout
from rollouts.api.timestamps import parse_timestamp
from rollouts.cli.intents import IntentRefusedError, approvals_patch, gate_step
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.local.prometheus import PrometheusServer, ScrapeTarget, free_port
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    NAMESPACES,
    Kube,
    KubeError,
    KubeObject,
    NotFound,
    PatchTestFailed,
    PatchType,
    Resource,
    connect,
)
from rollouts.runtime.reflector import Listed, Reflection
from rollouts.testbed import ClusterConfig, LocalCluster, find_binaries, install_crds
from rollouts.testbed.cluster import NodeSpec
from rollouts.testbed.process import exit_on_signals, start_process, stop_process

RESULTS = Path(__file__).parent / "results" / "scale.md"
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)
LABEL = "bench.modelops.io/scale"
CANDIDATE_LABEL = "bench.modelops.io/candidate"
PER_NAMESPACE = 100
INTERVAL = 10.0
"""Seconds between looks (the smallest the API allows)."""
LOOK_DELAY = 5.0
"""rollouts.controller.core.schedule.LOOK_DELAY: a window is due this long after it ends."""
FIRST_GATE, SECOND_GATE = 1, 3
STEPS = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 50}, {"approve": {}}, {"setWeight": 100}]
REQUESTS_PER_SECOND = 20
FRACTIONS = (("0.05", 0.5), ("0.1", 0.8), ("0.25", 0.95), ("0.5", 0.99), ("+Inf", 1.0))
HANG = "scale-hang"
"""Namespace (and rollout name) of the rollout whose Prometheus never answers."""
COLUMNS = (
    "date",
    "N (replicas + Gateway API)",
    "at 2nd gate",
    "candidate available → status s p50 / p99 / max",
    "approval → status s p50 / p99 / max",
    "look due → status s p50 / p99 / max",
    "same, one Prometheus hanging",
    "RSS MB end (peak)",
    "controller CPU s",
    "CPU ms / rollout / interval",
    "API calls / reconcile (run; steady)",
    "Prometheus queries / look",
    "reconciles",
    "errors",
    "wall s",
)


# --- the exporter: per-rollout counters for Prometheus to scrape ---------------------------------


def exporter_text(count: int, started: float, now: float) -> str:
    """Counters of ``count`` rollouts × 2 versions: requests, errors (1 %), latency buckets."""
    requests = int((now - started) * REQUESTS_PER_SECOND)
    errors = requests // 100
    buckets = [(edge, int(requests * share)) for edge, share in FRACTIONS]
    lines = []
    for name in [rollout_name(index) for index in range(count)] + [HANG]:
        for version in ("v1", "v2"):
            labels = f'rollout="{name}",version="{version}"'
            lines.append(f"bench_requests_total{{{labels}}} {requests}")
            lines.append(f"bench_errors_total{{{labels}}} {errors}")
            lines.extend(f'bench_latency_seconds_bucket{{{labels},le="{edge}"}} {n}' for edge, n in buckets)
    return "\n".join(lines) + "\n"


def serve_exporter(port: int, count: int) -> None:
    """Serve :func:`exporter_text` on ``port`` until killed (the ``exporter`` sub-command)."""
    started = time.time()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter_text(count, started, time.time()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class SilentPrometheus:
    """A socket that accepts connections and never answers: a hanging Prometheus."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """Where it listens, as a Prometheus address."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                self._held.append(self._listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        """Stop accepting; drop the connections held."""
        self._listener.close()
        for connection in self._held:
            connection.close()


# --- objects --------------------------------------------------------------------------------------


def rollout_name(index: int) -> str:
    return f"r-{index:05d}"


def router_of(index: int) -> str:
    return "gatewayAPI" if index % 2 else "replicas"


def namespace_of(index: int) -> str:
    return f"scale-{index // PER_NAMESPACE:03d}"


def rollout_body(name: str, router: str, prometheus: str, timeout: str = "10s") -> KubeObject:
    traffic: dict[str, Any] = (
        {"gatewayAPI": {"httpRoute": name, "baselineBackend": f"{name}-v1", "candidateBackend": f"{name}-v2"}}
        if router == "gatewayAPI"
        else {"replicas": {}}
    )
    selector = '{rollout="{{rollout}}",version="{{version}}"}'
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "labels": {LABEL: "true"}},
        "spec": {
            "baseline": {"deployment": f"{name}-v1", "version": "v1"},
            "candidate": {"deployment": f"{name}-v2", "version": "v2"},
            "traffic": traffic,
            "steps": STEPS,
            "progressDeadline": "30m",
            "analysis": {
                "prometheus": {"address": prometheus, "timeout": timeout},
                "interval": f"{INTERVAL:g}s",
                "warmup": "0s",
                "variables": {"rollout": name},
                "metrics": [
                    {
                        "name": "errors",
                        "errorRate": {
                            "errors": f"bench_errors_total{selector}",
                            "total": f"bench_requests_total{selector}",
                        },
                    },
                    {"name": "latency", "latency": {"buckets": f"bench_latency_seconds_bucket{selector}"}},
                ],
            },
        },
    }


def create_workload(kube: Kube, namespace: str, name: str, router: str) -> None:
    """Baseline (1 pod), candidate (0 pods, labelled for the watch) and, for Gateway API, a route."""
    baseline = model_deployment(f"{name}-v1", "v1", replicas=1, app=name)
    candidate = model_deployment(f"{name}-v2", "v2", replicas=0, app=name)
    candidate["metadata"]["labels"][CANDIDATE_LABEL] = "true"
    kube.create(DEPLOYMENTS, baseline, namespace)
    kube.create(DEPLOYMENTS, candidate, namespace)
    if router == "gatewayAPI":
        kube.create(HTTP_ROUTES, http_route(name, f"{name}-v1", f"{name}-v2"), namespace)


def create_namespaces(kube: Kube, names: list[str], timeout: float = 60.0) -> None:
    """Namespaces, once their ``default`` ServiceAccount exists (pods are refused until then)."""
    for name in names:
        kube.create(NAMESPACES, {"metadata": {"name": name, "labels": {LABEL: "true"}}})
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                kube.get(SERVICE_ACCOUNTS, "default", name)
                break
            except NotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def available(deployment: KubeObject) -> bool:
    """What the controller's readiness asks of a Deployment (rollouts.guardrails.readiness)."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    want = int(spec.get("replicas") or 0)
    return (
        want > 0
        and int(status.get("observedGeneration") or 0) >= int(deployment["metadata"].get("generation") or 0)
        and int(status.get("updatedReplicas") or 0) >= want
        and int(status.get("availableReplicas") or 0) >= want
        and int(status.get("replicas") or 0) == want
    )


# --- watching -------------------------------------------------------------------------------------


def reflect(kube: Kube, resource: Resource, selector: str, stop: threading.Event) -> Iterator[KubeObject]:
    """Every state of every object matching ``selector`` in all namespaces, until ``stop``."""
    reflection = Reflection(
        kube, resource, label_selector=selector, watch_timeout=lambda: 30, stopped=stop.is_set
    )
    while not stop.is_set():
        try:
            for seen in reflection:
                if isinstance(seen, Listed):
                    yield from seen.items
                elif seen.type in ("ADDED", "MODIFIED"):
                    yield seen.object
        except KubeError:
            stop.wait(0.2)


@dataclass
class Record:
    """What the watches saw, with client-side times (time.time())."""

    phase: str = "ramp"
    candidate_available: dict[str, float] = field(default_factory=dict)
    candidate_status: dict[str, float] = field(default_factory=dict)
    approval_written: dict[str, float] = field(default_factory=dict)
    approval_status: dict[str, float] = field(default_factory=dict)
    at_second_gate: set[str] = field(default_factory=set)
    looks: dict[str, int] = field(default_factory=dict)
    look_lags: dict[str, list[float]] = field(default_factory=dict)
    looks_in_phase: dict[str, int] = field(default_factory=dict)
    hang_analysis_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watches:
    """Two watches on threads (rollouts, candidate Deployments) feeding a :class:`Record`."""

    def __init__(self, kube: Kube, record: Record, gate_reached: Callable[[str], None]) -> None:
        self._kube = kube
        self.record = record
        self._gate_reached = gate_reached
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._rollouts, daemon=True),
            threading.Thread(target=self._deployments, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop watching (the threads end at their next event or watch timeout)."""
        self._stop.set()

    def _deployments(self) -> None:
        for deployment in reflect(self._kube, DEPLOYMENTS, f"{CANDIDATE_LABEL}=true", self._stop):
            now = time.time()
            key = f"{deployment['metadata']['namespace']}/{deployment['metadata']['name'][: -len('-v2')]}"
            if available(deployment):
                with self.record.lock:
                    self.record.candidate_available.setdefault(key, now)

    def _rollouts(self) -> None:
        for rollout in reflect(self._kube, MODEL_ROLLOUTS, f"{LABEL}=true", self._stop):
            now = time.time()
            metadata, status = rollout["metadata"], rollout.get("status") or {}
            key = f"{metadata['namespace']}/{metadata['name']}"
            record = self.record
            analysis = status.get("analysis") or {}
            with record.lock:
                if key == f"{HANG}/{HANG}":
                    if analysis and record.hang_analysis_at is None:
                        record.hang_analysis_at = now
                    continue
                if status.get("candidateReadyAt"):
                    record.candidate_status.setdefault(key, now)
                step = status.get("currentStep")
                if step is not None and step > FIRST_GATE:
                    record.approval_status.setdefault(key, now)
                if step == SECOND_GATE:
                    record.at_second_gate.add(key)
                looks = int(analysis.get("looks") or 0)
                new = looks - record.looks.get(key, 0)
                if new > 0 and analysis.get("lastLookAt"):
                    # A controller that fell behind judges several windows in one write: each
                    # window is a look, due LOOK_DELAY after its own end.
                    record.looks[key] = looks
                    last_due = parse_timestamp(analysis["lastLookAt"]).timestamp() + LOOK_DELAY
                    record.look_lags.setdefault(record.phase, []).extend(
                        now - (last_due - back * INTERVAL) for back in range(new)
                    )
                    record.looks_in_phase[record.phase] = record.looks_in_phase.get(record.phase, 0) + new
                first_gate = step == FIRST_GATE and not status.get("outcome")
            if first_gate:
                self._gate_reached(key)


class Approver:
    """Approves the first gate of each rollout handed to it, paced at ``rate`` per second."""

    def __init__(self, kube: Kube, record: Record, rate: float) -> None:
        self._kube = kube
        self._record = record
        self._interval = 1.0 / rate
        self._pending: queue.Queue[str] = queue.Queue()
        self._asked: set[str] = set()
        self._lock = threading.Lock()
        self.refused = 0
        threading.Thread(target=self._run, daemon=True).start()

    def gate_reached(self, key: str) -> None:
        """Approve ``key``'s first gate, once, in turn."""
        with self._lock:
            if key in self._asked:
                return
            self._asked.add(key)
        self._pending.put(key)

    def _run(self) -> None:
        while True:
            key = self._pending.get()
            started = time.monotonic()
            namespace, name = key.split("/")
            for _ in range(10):
                obj = self._kube.get(MODEL_ROLLOUTS, name, namespace)
                rollout = ModelRollout.from_wire(obj)
                try:
                    if gate_step(rollout) != FIRST_GATE:
                        break
                except IntentRefusedError:
                    self.refused += 1
                    break
                now = datetime.datetime.now(datetime.UTC)
                patch = approvals_patch(rollout, [FIRST_GATE], "bench", now)
                try:
                    self._kube.patch(MODEL_ROLLOUTS, name, patch, PatchType.JSON, namespace)
                except PatchTestFailed:
                    continue
                with self._record.lock:
                    self._record.approval_written[key] = time.time()
                break
            time.sleep(max(0.0, self._interval - (time.monotonic() - started)))


# --- the controller as a process ------------------------------------------------------------------


class Controller:
    """``rollouts controller`` for the whole cluster, /metrics on a loopback port, JSON log."""

    def __init__(self, kubeconfig: Path, log: Path, workers: int) -> None:
        self.port = free_port()
        self.log = log
        self.process = start_process(
            [
                sys.executable,
                "-m",
                "rollouts.cli.main",
                "controller",
                f"--kubeconfig={kubeconfig}",
                f"--metrics-port={self.port}",
                f"--workers={workers}",
                "--log-format=json",
            ],
            log,
        )

    def metrics(self) -> dict[str, float]:
        """Sums by metric name (labels summed over), plus ``name{label=value}`` per labelled sample."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        sums: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
                for label, value in sample.labels.items():
                    name = f"{sample.name}{{{label}={value}}}"
                    sums[name] = sums.get(name, 0.0) + sample.value
        return sums

    def ready(self) -> bool:
        """Whether /readyz answers 200 (leading, caches synced)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """CPU seconds of the process (utime + stime)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self) -> tuple[float, float]:
        """VmRSS and VmHWM (the peak), MB."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def error_lines(self) -> int:
        """Lines of the JSON log at level error or worse."""
        count = 0
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                if json.loads(line).get("level") in ("error", "critical"):
                    count += 1
            except ValueError:
                continue
        return count

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 40 s; the exit status."""
        return stop_process(self.process, 40)


# --- the run --------------------------------------------------------------------------------------


def wait(condition: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    print(f"  gave up waiting for {what} after {timeout:.0f}s", flush=True)
    return False


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return f"{at(0.5):.2f} / {at(0.99):.2f} / {ordered[-1]:.2f}"


def lags(events: dict[str, float], reactions: dict[str, float]) -> list[float]:
    return [reactions[key] - events[key] for key in events if key in reactions]


def ratio(numerator: float, denominator: float, digits: int = 2) -> str:
    return f"{numerator / denominator:.{digits}f}" if denominator else "n/a"


def run(args: argparse.Namespace, root: Path) -> tuple[list[str], bool]:
    """One benchmark run of ``args.rollouts`` rollouts; the table row and whether it is clean."""
    count: int = args.rollouts
    steady: float = args.steady
    began = time.monotonic()
    pods = 3 * count + 20
    nodes = tuple(
        NodeSpec(f"kwok-scale-{index}", cpu="1000", memory="4000Gi", pods=1000)
        for index in range(math.ceil(pods / 1000))
    )

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {text}", flush=True)

    cluster = LocalCluster(
        ClusterConfig(nodes=nodes, state_root=root / "state", log_dir=root / "testbed-logs"), find_binaries()
    )
    exporter_port = free_port()
    exporter = None
    prometheus = PrometheusServer(
        root / "prometheus", scrape_interval=2.0, targets=[ScrapeTarget(f"127.0.0.1:{exporter_port}")]
    )
    silent = SilentPrometheus()
    controller: Controller | None = None
    watches: Watches | None = None
    try:
        cluster.start()
        client = cluster.api_client()
        install_crds(client)
        client.close()  # type: ignore[no-untyped-call]
        exporter = start_process(
            [sys.executable, __file__, "exporter", f"--port={exporter_port}", f"--rollouts={count}"],
            root / "exporter.log",
        )
        prometheus.start()
        say(f"test bed ({len(nodes)} kwok nodes), Prometheus and the exporter up")
        kube = connect(str(cluster.kubeconfig))
        indices = list(range(count))
        create_namespaces(kube, [*sorted({namespace_of(i) for i in indices}), HANG])
        for index in indices:
            create_workload(kube, namespace_of(index), rollout_name(index), router_of(index))
        create_workload(kube, HANG, HANG, "replicas")
        say(f"{2 * count + 2} Deployments created; waiting for the baselines")

        def baselines_ready() -> bool:
            listed = kube.list(DEPLOYMENTS, label_selector="version=v1")
            return sum(1 for d in listed.items if int(d.get("status", {}).get("availableReplicas") or 0)) >= (
                count + 1
            )

        wait(baselines_ready, 120 + count * 0.6, "the baselines")
        say("baselines available; starting the controller")
        controller = Controller(cluster.kubeconfig, root / "controller.log", args.workers)
        wait(controller.ready, 120, "the controller's readiness")
        record = Record()
        approver = Approver(kube, record, rate=max(5.0, count / 30.0))
        watches = Watches(kube, record, approver.gate_reached)
        cpu_start = controller.cpu_seconds()
        for index in indices:
            kube.create(
                MODEL_ROLLOUTS,
                rollout_body(rollout_name(index), router_of(index), prometheus.url),
                namespace_of(index),
            )
        say(f"{count} rollouts created; waiting for each at its second gate")

        def at_second_gate() -> bool:
            with record.lock:
                return len(record.at_second_gate) >= count

        wait(at_second_gate, 120 + count * 1.0, "every rollout at its second gate")
        say(f"{len(record.at_second_gate)} at the second gate; steady phase for {steady:.0f}s")
        with record.lock:
            record.phase = "steady"
        before = controller.metrics()
        cpu_before = controller.cpu_seconds()
        time.sleep(steady)
        with record.lock:
            record.phase = "between"
            steady_looks = record.looks_in_phase.get("steady", 0)
        after = controller.metrics()
        cpu_after = controller.cpu_seconds()

        kube.create(MODEL_ROLLOUTS, rollout_body(HANG, "replicas", silent.url, timeout="30s"), HANG)
        say("a rollout whose Prometheus hangs created; waiting for its analysis to start")

        def hanging() -> bool:
            with record.lock:
                return record.hang_analysis_at is not None

        hang_started = wait(hanging, 120 + count * 0.5, "the hanging rollout's analysis")
        if hang_started:
            time.sleep(INTERVAL + LOOK_DELAY)  # its first look is due: a worker now waits on it
        with record.lock:
            record.phase = "hang" if hang_started else "no hang"
        say(f"hang phase for {steady:.0f}s")
        time.sleep(steady)
        with record.lock:
            record.phase = "done"
        final = controller.metrics()
        cpu_end = controller.cpu_seconds()
        rss, peak = controller.memory_mb()
        watches.close()
        errors = int(final.get("modelrollouts_reconcile_errors_total", 0)) + controller.error_lines()
        # A worker waits on the hanging Prometheus for up to its timeout, and a stopping controller
        # lets in-flight reconciles finish: end the hang first, so SIGTERM is a clean stop.
        silent.close()
        code = controller.stop()
        controller = None
        if code != 0:
            errors += 1
            say(f"the controller exited {code} on SIGTERM")

        requests_run = final.get("rest_client_requests_total", 0.0)
        reconciles_run = final.get("modelrollouts_reconcile_duration_seconds_count", 0.0)
        requests_steady = after.get("rest_client_requests_total", 0.0) - before.get(
            "rest_client_requests_total", 0.0
        )
        reconciles_steady = after.get("modelrollouts_reconcile_duration_seconds_count", 0.0) - before.get(
            "modelrollouts_reconcile_duration_seconds_count", 0.0
        )
        queries_steady = after.get("modelrollouts_prometheus_queries_total", 0.0) - before.get(
            "modelrollouts_prometheus_queries_total", 0.0
        )
        intervals = count * steady / INTERVAL
        with record.lock:
            row = [
                datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
                f"{count} ({count - count // 2} + {count // 2})",
                f"{len(record.at_second_gate)}",
                spread(lags(record.candidate_available, record.candidate_status)),
                spread(lags(record.approval_written, record.approval_status)),
                spread(record.look_lags.get("steady", [])),
                spread(record.look_lags.get("hang", [])),
                f"{rss:.0f} ({peak:.0f})",
                f"{cpu_end - cpu_start:.0f}",
                ratio((cpu_after - cpu_before) * 1000, intervals, 1),
                f"{ratio(requests_run, reconciles_run)}; {ratio(requests_steady, reconciles_steady)}",
                ratio(queries_steady, steady_looks, 1),
                f"{reconciles_run:.0f}",
                f"{errors}",
                f"{time.monotonic() - began:.0f}",
            ]
        complete = "n/a" not in row and len(record.at_second_gate) >= count
        say(f"done: {' | '.join(row)}")
        return row, complete and errors == 0
    finally:
        if watches is not None:
            watches.close()
        if controller is not None:
            controller.stop()
        if exporter is not None:
            stop_process(exporter)
        silent.close()
        prometheus.stop()
        cluster.stop()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def revision() -> str:
    """The commit of this checkout, marked when rollouts/ or analysis/ have uncommitted changes."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            [
                "git",
                "--no-optional-locks",
                "-C",
                str(repo),
                "status",
                "--porcelain",
                "--",
                "rollouts",
                "analysis",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{commit} with uncommitted changes" if changed else commit


def write_table(path: Path, row: list[str], command: str, code: str) -> str:
    """The results file with ``row`` in its table (replacing an earlier row for the same N)."""
    rows: dict[str, list[str]] = {}
    if path.exists():
        lines = path.read_text().splitlines()
        for line in lines:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == len(COLUMNS) and cells[0][:2] == "20":
                rows[cells[1].split()[0]] = cells
    rows[row[1].split()[0]] = row
    header = [
        "# Scale: N active rollouts on one controller",
        "",
        "Written by `bench/scale.py` (issue 14); the module docstring says what is built and how each",
        "number is taken. Each rollout: replicas or Gateway API router, analysis every 10 s (error",
        "rate and latency, ~6 Prometheus queries a look) against a real Prometheus, plan",
        "`setWeight 20, approve, setWeight 50, approve, setWeight 100`; approvals written like",
        "`rollouts promote`, paced (max(5, N/30) a second), not as one burst. Lags are client-side",
        'from watches: event → the status write reflecting it, in seconds. "Same, one Prometheus',
        "hanging\": the look lag of the others while one more rollout's Prometheus accepts and never",
        "answers (query timeout 30 s). CPU per rollout per interval and the second API ratio are from",
        "the steady phase (every rollout at its second gate, looking); RSS at the end (peak).",
        "",
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB memory, "
        f"{platform.system()} {platform.release()}. Everything — etcd, kube-apiserver,",
        "kube-controller-manager (default client QPS 20, which paces the Deployments), kube-scheduler,",
        "kwok, Prometheus, the exporter, the bench's watches and the controller (2 workers) — shares",
        "these CPUs, and other engineers' jobs were running on the machine at the same time: the lags",
        "include that contention. Last command: `" + command + "`; code: " + code + ".",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    ordered = sorted(rows.values(), key=lambda cells: int(cells[1].split()[0]))
    text = "\n".join(header + ["| " + " | ".join(cells) + " |" for cells in ordered]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "exporter":
        parser = argparse.ArgumentParser()
        parser.add_argument("exporter")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--rollouts", type=int, required=True)
        options = parser.parse_args()
        serve_exporter(options.port, options.rollouts)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=100, help="N, the rollouts (default 100)")
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of each measured phase (60)")
    parser.add_argument("--workers", type=int, default=2, help="controller workers (default 2)")
    parser.add_argument("--smoke", action="store_true", help="5 rollouts, 20 s phases: the CI setting")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument(
        "--revision", default=None, help="what code ran (default: git commit of the checkout)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rollouts, args.steady = 5, 20.0
    command = ".venv/bin/python bench/scale.py " + shlex.join(sys.argv[1:])
    root = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    print(f"logs (kept): {root}", flush=True)
    with exit_on_signals():
        row, clean = run(args, root)
    print(write_table(args.out, row, command.strip(), args.revision or revision()))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
