"""Fleet benchmark: N active rollouts on one controller, on the local test bed, with a real Prometheus.

What it builds (issue 14): kwok nodes, N rollouts in namespaces of up to 100, half on the replicas
router and half on the Gateway API HTTPRoute router, each with a baseline Deployment (1 pod), a
candidate Deployment (0 pods until the controller sizes it) and continuous analysis (an error
rate and a latency histogram, a look every ``--interval`` seconds, 10 by default) against a
real Prometheus that scrapes a small exporter process serving per-rollout request, error and
latency counters. The plan is ``setWeight 20, approve, setWeight 50, approve, setWeight 100``:
every rollout waits at two gates, so it stays active and keeps looking while the numbers are
taken. The controller runs as a process (``rollouts controller --metrics-port``), as in a cluster.

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
  second gate, looking every interval);
- reconcile errors (``controller_runtime_reconcile_errors_total``) and error lines in the log;
- with ``--failover`` (part of ``--smoke``): the controller runs with ``--leader-elect`` and the
  default lease timings (15 s lease: what users get). After the measured phases (the hanging
  rollout deleted) a second controller process starts as a warm standby and, once its /readyz
  is 200 (caches synced), the leader gets SIGKILL: seconds from the kill to the Lease's holder
  changing (a watch on the Lease), to the first status write by the successor, and to the
  successor having reconciled the whole fleet once (its reconcile count, from its /metrics,
  reaching N: it queued every rollout while standing by; a rollout whose look is not due writes
  no status, so status writes cannot tell). Then a
  fresh standby starts and gets ready, and the leader gets SIGTERM: seconds to the successor's
  first status write (the handover). A status write is the successor's when its
  resourceVersion follows that of the Lease's takeover (all in one etcd, whose revisions order
  every write), never a late write of the leader before it.

Rows go into a markdown table (``bench/results/scale.md`` by default), one per N, replacing an
earlier row for the same N; the file names the machine and each row its date::

    .venv/bin/python bench/scale.py --rollouts 100
    .venv/bin/python bench/scale.py --rollouts 300 --steady 60
    .venv/bin/python bench/scale.py --rollouts 1000 --failover
    .venv/bin/python bench/scale.py --smoke --out /tmp/scale.md    # 5 rollouts, ~3 minutes (CI)

Exit status: 0 when the row is complete and no controller logged an error (nor exited other
than 0 on SIGTERM), 1 otherwise.
Everything runs on this machine: the test bed, Prometheus and the bench share its CPUs with the
controller, so lags include their contention (the results file says how many cores there were).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import queue
import shlex
import signal
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

from bench.machine import cpu_model, memory_gib, revision
from rollouts.api.resource import API_VERSION, KIND, ModelRollout
from rollouts.api.timestamps import parse_timestamp
from rollouts.cli.intents import IntentRefusedError, approvals_patch, gate_step
from rollouts.controller.core.shards import DEFAULT_LEASE
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.local.prometheus import PrometheusServer, ScrapeTarget, free_port
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    LEASES,
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
from rollouts.runtime.leader import LeaseTiming, current_holder
from rollouts.runtime.reflector import Listed, Reflection
from rollouts.testbed import (
    FLEET_CONTROLLER_MANAGER_ARGS,
    ClusterConfig,
    LocalCluster,
    find_binaries,
    install_crds,
)
from rollouts.testbed.cluster import NodeSpec
from rollouts.testbed.process import exit_on_signals, start_process, stop_process

RESULTS = Path(__file__).parent / "results" / "scale.md"
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)
LABEL = "bench.modelops.io/scale"
CANDIDATE_LABEL = "bench.modelops.io/candidate"
PER_NAMESPACE = 100
DEFAULT_INTERVAL = 10.0
"""Seconds between looks (the smallest the API allows)."""
LOOK_DELAY = 5.0
"""rollouts.controller.core.schedule.LOOK_DELAY: a window is due this long after it ends."""
FIRST_GATE, SECOND_GATE = 1, 3
STEPS = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 50}, {"approve": {}}, {"setWeight": 100}]
REQUESTS_PER_SECOND = 20
FRACTIONS = (("0.05", 0.5), ("0.1", 0.8), ("0.25", 0.95), ("0.5", 0.99), ("+Inf", 1.0))
HANG = "scale-hang"
"""Namespace (and rollout name) of the rollout whose Prometheus never answers."""
LEASE_NAMESPACE = "default"
"""Where ``rollouts controller --leader-elect`` keeps its Lease by default (--lease-namespace)."""
LEASE = LeaseTiming()
"""The default lease timings (``rollouts controller`` flags left alone): what users get."""
METRICS_POLL_SECONDS = 2.0
"""How often the failover phase reads the successor's reconcile count from its /metrics."""
RECONCILES = "controller_runtime_reconcile_time_seconds_count"
"""The one sample the failover's poll reads (a filtered scrape: Controller.metrics)."""
LEADER, STANDBY, FRESH = "scale-leader", "scale-standby", "scale-fresh"
"""Identities ($POD_NAME) of the first leader, its warm standby and the fresh standby after it."""
FAILOVER_COLUMNS = (
    "failover (SIGKILL) → holder changed s",
    "failover → first status s",
    "failover → all reconciled s",
    "handover (SIGTERM) → first status s",
)
COLUMNS = (
    "date",
    "N (replicas + Gateway API); interval; workers",
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
    *FAILOVER_COLUMNS,
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


def rollout_body(
    name: str, router: str, prometheus: str, interval: float, timeout: str = "10s"
) -> KubeObject:
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
                "interval": f"{interval:g}s",
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


def reflect(
    kube: Kube,
    resource: Resource,
    selector: str | None,
    stop: threading.Event,
    *,
    namespace: str | None = None,
    field_selector: str | None = None,
) -> Iterator[KubeObject]:
    """Every state of every object matching the selectors (all namespaces by default), until ``stop``."""
    reflection = Reflection(
        kube,
        resource,
        namespace=namespace,
        label_selector=selector,
        field_selector=field_selector,
        watch_timeout=lambda: 30,
        stopped=stop.is_set,
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

    interval: float = DEFAULT_INTERVAL
    """Seconds between looks (the rollouts' analysis.interval)."""
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
    statuses: dict[str, Any] = field(default_factory=dict)
    """The last status seen of each rollout, to tell a status write from other changes."""
    tracking_writes: bool = False
    """Whether :attr:`status_writes` collects (the failover phase)."""
    status_writes: list[tuple[int, float, str]] = field(default_factory=list)
    """(resourceVersion, time seen, key) of each status write seen while tracking, in order seen."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reactions(self) -> dict[str, list[tuple[str, float, float]]]:
        """(key, event time, lag) of every reaction measured, by kind: where in the run the tails fell."""
        with self.lock:
            pairs = {
                "candidate available": (self.candidate_available, self.candidate_status),
                "approval": (self.approval_written, self.approval_status),
            }
            return {
                kind: sorted(
                    ((key, events[key], reactions[key] - events[key]) for key in events if key in reactions),
                    key=lambda reaction: reaction[1],
                )
                for kind, (events, reactions) in pairs.items()
            }

    def first_writes_after(self, resource_version: int) -> dict[str, float]:
        """When each rollout's first status write with a later resourceVersion was seen.

        Every object of the test bed lives in one etcd, whose revisions order all writes: a
        write after the Lease's takeover (its resourceVersion) is the new holder's, never a
        late write of the one before it (SIGKILLed, or finishing its reconciles on SIGTERM).
        """
        with self.lock:
            first: dict[str, float] = {}
            for version, seen, key in self.status_writes:
                if version > resource_version:
                    first.setdefault(key, seen)
            return first


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
                if status != record.statuses.get(key):
                    record.statuses[key] = status
                    if record.tracking_writes:
                        record.status_writes.append((int(metadata["resourceVersion"]), now, key))
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
                        now - (last_due - back * record.interval) for back in range(new)
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


class LeaseWatch:
    """The controller's Lease, watched from a thread: each state's resourceVersion, time seen, holder."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[tuple[int, float, str]] = []
        threading.Thread(target=self._run, daemon=True).start()

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()

    def holder(self) -> str | None:
        """The holder last seen (None before the first state)."""
        with self._lock:
            return self._seen[-1][2] if self._seen else None

    def taken(self, identity: str) -> tuple[int, float] | None:
        """The resourceVersion and time seen of the first state held by ``identity`` (one per process)."""
        with self._lock:
            return next(((version, seen) for version, seen, holder in self._seen if holder == identity), None)

    def _run(self) -> None:
        leases = reflect(
            self._kube,
            LEASES,
            None,
            self._stop,
            namespace=LEASE_NAMESPACE,
            field_selector=f"metadata.name={DEFAULT_LEASE}",
        )
        for lease in leases:
            now = time.time()
            holder = (lease.get("spec") or {}).get("holderIdentity") or ""
            with self._lock:
                self._seen.append((int(lease["metadata"]["resourceVersion"]), now, holder))


# --- the controller as a process ------------------------------------------------------------------


class Controller:
    """``rollouts controller`` for the whole cluster, /metrics on a loopback port, JSON log.

    Given an ``identity``, with ``--leader-elect`` (default Lease, default timings) as that
    ``$POD_NAME``.
    """

    def __init__(self, kubeconfig: Path, log: Path, workers: int, identity: str | None = None) -> None:
        self.port = free_port()
        self.log = log
        self.identity = identity
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
                *(["--leader-elect"] if identity is not None else []),
            ],
            log,
            env=None if identity is None else {**os.environ, "POD_NAME": identity},
        )

    def metrics(self, *names: str) -> dict[str, float]:
        """Sums by metric name (labels summed over), plus ``name{label=value}`` per labelled sample.

        With ``names``, only those samples (prometheus_client's ``name[]`` filter): the per-rollout
        series of 1,000 rollouts are then not built, which a full scrape costs the controller.
        """
        query = "".join(f"&name[]={name}" for name in names).replace("&", "?", 1)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics{query}", timeout=10) as response:
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

    def send(self, signum: signal.Signals) -> float:
        """Send ``signum`` to the process (by its pid) and return when, as time.time()."""
        sent = time.time()
        os.kill(self.process.pid, signum)
        return sent

    def exited(self, timeout: float) -> int | None:
        """The exit status once it exits on its own within ``timeout`` (else it is stopped)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        return stop_process(self.process, 40)  # reaped; a no-op once it exited


# --- the run --------------------------------------------------------------------------------------


def wait(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
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


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


@dataclass
class Failover:
    """What the failover phase measured, seconds from the signal (None: not seen in time)."""

    holder_changed: float | None = None
    first_status: float | None = None
    all_reconciled: float | None = None
    handover: float | None = None
    errors: int = 0
    """Error lines of the successors' logs, successors that failed to get ready or exit 0."""

    def cells(self) -> list[str]:
        """The table cells, in FAILOVER_COLUMNS order."""
        measured = (self.holder_changed, self.first_status, self.all_reconciled, self.handover)
        return [seconds(value) for value in measured]


def measure_failover(
    kube: Kube,
    *,
    record: Record,
    leader: Controller,
    start: Callable[[str], Controller],
    keys: set[str],
    say: Callable[[str], None],
) -> Failover:
    """SIGKILL the leader with a warm standby ready, then SIGTERM the successor with a fresh one.

    ``start(identity)`` starts a controller with leader election (the caller stops what is
    left). Times are client-side from watches: the Lease's holder changing, and status writes
    whose resourceVersion follows the takeover's (:meth:`Record.first_writes_after`).
    """
    result = Failover()
    lease = LeaseWatch(kube)
    try:
        wait(lambda: lease.holder() == leader.identity, 30, "the leader's Lease")
        standby = start(STANDBY)
        if not wait(standby.ready, 120 + len(keys) * 0.2, "the standby's caches"):
            result.errors += 1
            return result
        with record.lock:
            record.phase = "failover"
            record.tracking_writes = True
        say("a warm standby ready (caches synced); SIGKILL to the leader")
        killed = leader.send(signal.SIGKILL)
        leader.exited(10)
        wait(lambda: lease.taken(STANDBY) is not None, LEASE.lease_duration + 60, "the standby's takeover")
        taken = lease.taken(STANDBY)
        if taken is not None:
            result.holder_changed = taken[1] - killed
            version = taken[0]

            def first_written() -> bool:
                return bool(record.first_writes_after(version))

            def fleet_reconciled() -> bool:
                # The standby queued every rollout while it stood by; a rollout whose look is not
                # due writes no status, so the successor's own reconcile count tells when the
                # whole fleet has been reconciled once.
                reconciled = standby.metrics(RECONCILES).get(RECONCILES, 0.0)
                if reconciled >= len(keys) and result.all_reconciled is None:
                    result.all_reconciled = time.time() - killed
                return result.all_reconciled is not None

            wait(
                fleet_reconciled,
                60 + len(keys) * 0.1,
                "the successor reconciling every rollout",
                every=METRICS_POLL_SECONDS,
            )
            wait(first_written, 60 + 2 * record.interval, "the successor's first status")
            written = record.first_writes_after(version)
            if written:
                result.first_status = min(written.values()) - killed
        say(
            f"failover: holder changed after {seconds(result.holder_changed)}s, first status after "
            f"{seconds(result.first_status)}s, every rollout's after {seconds(result.all_reconciled)}s"
        )
        fresh = start(FRESH)
        if not wait(fresh.ready, 120 + len(keys) * 0.2, "the fresh standby's caches"):
            result.errors += 1
            return result
        say("a fresh standby ready; SIGTERM to the leader")
        terminated = standby.send(signal.SIGTERM)

        def successor_wrote() -> bool:
            taken = lease.taken(FRESH)
            return taken is not None and bool(record.first_writes_after(taken[0]))

        if wait(successor_wrote, 60 + 2 * record.interval, "the successor's first status"):
            taken = lease.taken(FRESH)
            assert taken is not None
            result.handover = min(record.first_writes_after(taken[0]).values()) - terminated
        code = standby.exited(40)
        if code != 0:
            result.errors += 1
            say(f"the leader exited {code} on SIGTERM")
        say(f"handover: first status after {seconds(result.handover)}s")
        code = fresh.stop()
        if code != 0:
            result.errors += 1
            say(f"the last leader exited {code} on SIGTERM")
        result.errors += standby.error_lines() + fresh.error_lines()
        return result
    finally:
        lease.close()
        with record.lock:
            record.tracking_writes = False


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
        ClusterConfig(
            nodes=nodes,
            state_root=root / "state",
            log_dir=root / "testbed-logs",
            controller_manager_args=FLEET_CONTROLLER_MANAGER_ARGS,
        ),
        find_binaries(),
    )
    exporter_port = free_port()
    exporter = None
    prometheus = PrometheusServer(
        root / "prometheus", scrape_interval=2.0, targets=[ScrapeTarget(f"127.0.0.1:{exporter_port}")]
    )
    silent = SilentPrometheus()
    controller: Controller | None = None
    successors: list[Controller] = []
    watches: Watches | None = None

    def successor(identity: str) -> Controller:
        started = Controller(cluster.kubeconfig, root / f"controller-{identity}.log", args.workers, identity)
        successors.append(started)
        return started

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
        controller = Controller(
            cluster.kubeconfig, root / "controller.log", args.workers, LEADER if args.failover else None
        )
        wait(controller.ready, 120, "the controller's readiness")
        if args.failover:
            wait(
                lambda: current_holder(kube, DEFAULT_LEASE, LEASE_NAMESPACE) == LEADER,
                60,
                "the controller's Lease",
            )
        record = Record(interval=args.interval)
        approver = Approver(kube, record, rate=max(5.0, count / 30.0))
        watches = Watches(kube, record, approver.gate_reached)
        cpu_start = controller.cpu_seconds()
        for index in indices:
            kube.create(
                MODEL_ROLLOUTS,
                rollout_body(rollout_name(index), router_of(index), prometheus.url, args.interval),
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

        hanging_body = rollout_body(HANG, "replicas", silent.url, args.interval, timeout="30s")
        kube.create(MODEL_ROLLOUTS, hanging_body, HANG)
        say("a rollout whose Prometheus hangs created; waiting for its analysis to start")

        def hanging() -> bool:
            with record.lock:
                return record.hang_analysis_at is not None

        hang_started = wait(hanging, 120 + count * 0.5, "the hanging rollout's analysis")
        if hang_started:
            time.sleep(args.interval + LOOK_DELAY)  # its first look is due: a worker now waits on it
        with record.lock:
            record.phase = "hang" if hang_started else "no hang"
        say(f"hang phase for {steady:.0f}s")
        time.sleep(steady)
        with record.lock:
            record.phase = "done"
        final = controller.metrics()
        cpu_end = controller.cpu_seconds()
        rss, peak = controller.memory_mb()
        errors = int(final.get("controller_runtime_reconcile_errors_total", 0)) + controller.error_lines()
        # A worker waits on the hanging Prometheus for up to its timeout, and a stopping controller
        # lets in-flight reconciles finish: end the hang first, so SIGTERM is a clean stop.
        silent.close()
        failover = Failover()
        if args.failover:
            with contextlib.suppress(NotFound):  # its Prometheus is gone: keep it out of the failover
                kube.delete(MODEL_ROLLOUTS, HANG, HANG)
            keys = {f"{namespace_of(index)}/{rollout_name(index)}" for index in indices}
            failover = measure_failover(
                kube, record=record, leader=controller, start=successor, keys=keys, say=say
            )
            errors += failover.errors
            controller.stop()  # SIGKILLed by now, unless the failover phase stopped short
        else:
            code = controller.stop()
            if code != 0:
                errors += 1
                say(f"the controller exited {code} on SIGTERM")
        controller = None
        watches.close()

        requests_run = final.get("rest_client_requests_total", 0.0)
        reconciles_run = final.get(RECONCILES, 0.0)
        requests_steady = after.get("rest_client_requests_total", 0.0) - before.get(
            "rest_client_requests_total", 0.0
        )
        reconciles_steady = after.get(RECONCILES, 0.0) - before.get(RECONCILES, 0.0)
        queries_steady = after.get("modelrollouts_prometheus_queries_total", 0.0) - before.get(
            "modelrollouts_prometheus_queries_total", 0.0
        )
        intervals = count * steady / args.interval
        with record.lock:
            row = [
                datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
                f"{count} ({count - count // 2} + {count // 2}); {args.interval:g} s; {args.workers}",
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
                *(failover.cells() if args.failover else ["n/a"] * len(FAILOVER_COLUMNS)),
                f"{errors}",
                f"{time.monotonic() - began:.0f}",
            ]
        measured = (
            row
            if args.failover
            else [cell for cell, name in zip(row, COLUMNS, strict=True) if name not in FAILOVER_COLUMNS]
        )
        complete = "n/a" not in measured and len(record.at_second_gate) >= count
        (root / "lags.json").write_text(json.dumps(record.reactions()))  # for a look at the tails
        say(f"done: {' | '.join(row)}")
        return row, complete and errors == 0
    finally:
        if watches is not None:
            watches.close()
        for left in [controller, *successors]:
            if left is not None:
                left.stop()  # a no-op for one already stopped
        if exporter is not None:
            stop_process(exporter)
        silent.close()
        prometheus.stop()
        cluster.stop()


def write_table(path: Path, row: list[str], command: str, code: str) -> str:
    """The results file with ``row`` in its table (replacing an earlier row for the same N)."""
    rows: dict[str, list[str]] = {}
    if path.exists():
        lines = path.read_text().splitlines()
        for line in lines:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == len(COLUMNS) - len(FAILOVER_COLUMNS) and cells[0][:2] == "20":
                at = COLUMNS.index(FAILOVER_COLUMNS[0])  # a row from before the failover columns
                cells[at:at] = ["n/a"] * len(FAILOVER_COLUMNS)
            if len(cells) == len(COLUMNS) and cells[0][:2] == "20":
                rows[cells[1].split()[0]] = cells
    rows[row[1].split()[0]] = row
    header = [
        "# Scale: N active rollouts on one controller",
        "",
        "Written by `bench/scale.py` (issue 14); the module docstring says what is built and how each",
        "number is taken. Each rollout: replicas or Gateway API router, analysis every interval (error",
        "rate and latency: 6 Prometheus queries a look, 3 since both cohorts share one) against a real",
        "Prometheus, plan",
        "`setWeight 20, approve, setWeight 50, approve, setWeight 100`; approvals written like",
        "`rollouts promote`, paced (max(5, N/30) a second), not as one burst. Lags are client-side",
        'from watches: event → the status write reflecting it, in seconds. "Same, one Prometheus',
        "hanging\": the look lag of the others while one more rollout's Prometheus accepts and never",
        "answers (query timeout 30 s). CPU per rollout per interval and the second API ratio are from",
        "the steady phase (every rollout at its second gate, looking); RSS at the end (peak).",
        "",
        "Failover and handover (with `--failover`, else n/a): the controller runs with `--leader-elect`",
        f"and the default lease timings — lease {LEASE.lease_duration:g} s, renew deadline "
        f"{LEASE.renew_deadline:g} s, retry period {LEASE.retry_period:g} s, what",
        "users get. After the measured phases a second controller process starts as a warm standby;",
        "once its /readyz is 200 (caches synced, every rollout's pods known) the leader gets SIGKILL:",
        "seconds from the kill to the",
        "Lease's holder changing, to the first status write by the successor, and to the successor's",
        "reconcile count (its /metrics) reaching N: the whole fleet, queued while it stood by,",
        f"reconciled once (polled every {METRICS_POLL_SECONDS:g} s, that one sample from ²⁰ on; a",
        "whole scrape builds the series of every rollout, and in a py-spy profile of ¹⁸'s takeover",
        "the scrapes held 27% of the successor's GIL time). Then a fresh standby starts, gets",
        "ready, and the leader gets SIGTERM: seconds to the successor's first status write. A write",
        "counts as the successor's when its resourceVersion follows the Lease takeover's (one etcd).",
        "",
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), {memory_gib():.0f} GiB memory, "
        f"{platform.system()} {platform.release()}. Everything — etcd, kube-apiserver,",
        "kube-controller-manager (client QPS raised to 400 for thousands of Deployments), kube-scheduler,",
        "kwok, Prometheus, the exporter, the bench's watches and the controller — shares",
        "these CPUs (nothing else is assumed idle): the lags include that contention. Last command:",
        "`" + command + "`; code: " + code + ".",
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
    parser.add_argument(
        "--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between looks (default 10)"
    )
    parser.add_argument(
        "--failover",
        action="store_true",
        help="with leader election: SIGKILL the leader (warm standby), then SIGTERM its successor",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="5 rollouts, 20 s phases, --failover: the CI setting"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument(
        "--revision", default=None, help="what code ran (default: git commit of the checkout)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rollouts, args.steady, args.failover = 5, 20.0, True
    command = ".venv/bin/python bench/scale.py " + shlex.join(sys.argv[1:])
    root = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    print(f"logs (kept): {root}", flush=True)
    with exit_on_signals():
        row, clean = run(args, root)
    print(write_table(args.out, row, command.strip(), args.revision or revision()))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
