"""A whole rollout on one machine: the objects, two real model servers, Prometheus, load, controller.

``rollouts demo`` and the e2e tests run the same stack, so what the demo shows is what the tests
check. Against a cluster (the local test bed: real kube-apiserver, controllers and kwok nodes):

- in one namespace, a baseline and a candidate Deployment (their pods are kwok's, on a GPU
  node), and an HTTPRoute whose rule splits traffic between the two Services;
- on this machine, one real model-server process per version (labelled by version, each
  serving a small real model), scraped every second by a real Prometheus;
- a load generator sending each request to the version the HTTPRoute's weights pick — the
  data plane the fake pods cannot be;
- the controller itself (manager, informers, reconciler), on a thread, its /metrics scraped by
  the same Prometheus, so the dashboard of docs/operations.md shows the rollout and the
  controller side by side with the model servers;
- a ModelRollout whose analysis queries that Prometheus.

Scenarios set the candidate server's switches (see :data:`SCENARIOS`): a healthy model, the
40x CPU fallback (``slow``: judged by latency; ``cpu``: stopped before traffic by readyQuery),
an error rate, or shifted predictions.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.api.resource import API_VERSION, KIND
from rollouts.api.status import Phase
from rollouts.controller.shell.app import ControllerOptions, build_manager
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.loadgen import LoadGenerator, Target
from rollouts.local.manifests import http_route, model_deployment, service
from rollouts.local.model_server.config import Device, ServerConfig, Switches
from rollouts.local.model_servers import ModelServers
from rollouts.local.prometheus import PrometheusServer, ScrapeTarget, free_port
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    NAMESPACES,
    AlreadyExists,
    Kube,
    KubeObject,
    Resource,
)
from rollouts.runtime.manager import Manager
from rollouts.testbed.process import deferred_signals, hurried
from rollouts.traffic.gateway_api import backend_share

CONTROLLER_STOP_SECONDS = 10.0
"""How long :meth:`LocalStack.stop` waits for the controller's in-flight reconciles to end."""

SERVICES = Resource("", "v1", "services", "Service", namespaced=True)
BASELINE = ("model-v1", "v1")
CANDIDATE = ("model-v2", "v2")
ROUTE = "model"
APP = "fraud-scorer"
CONTROLLER_JOB = "model-rollouts-controller"
"""The ``job`` label Prometheus gives the controller's series here."""

DEMO_QUERIES = {
    "errors": 'model_requests_total{version="{{version}}", code=~"5.."}',
    "total": 'model_requests_total{version="{{version}}"}',
    "latency": 'model_request_duration_seconds_bucket{version="{{version}}"}',
    "scores": 'model_prediction_score_bucket{version="{{version}}"}',
    "invalid": 'model_invalid_predictions_total{version="{{version}}"}',
    "ready": 'min(model_device_info{version="{{version}}", device!="cpu"})',
}


@dataclass(frozen=True)
class Scenario:
    """A candidate's behaviour and the outcome a correct controller reaches."""

    name: str
    description: str
    candidate: Switches
    expected: Phase
    ready_query: bool = True


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("good", "a healthy candidate: promoted", Switches(error_rate=0.01), Phase.SUCCEEDED),
        Scenario(
            "slow",
            "the model on CPU, ~40x slower, nothing else wrong: the latency comparison rolls it back",
            Switches(device=Device.CPU, error_rate=0.01),
            Phase.ROLLED_BACK,
            ready_query=False,
        ),
        Scenario(
            "cpu",
            "the model on CPU with readyQuery on: it never receives traffic",
            Switches(device=Device.CPU, error_rate=0.01),
            Phase.FAILED,
        ),
        Scenario("errors", "5% errors against 1%: rolled back", Switches(error_rate=0.05), Phase.ROLLED_BACK),
        Scenario(
            "drift",
            "predictions shifted: held for a person (a new model is expected to move predictions)",
            Switches(error_rate=0.01, score_shift=1.5),
            Phase.PAUSED,
        ),
    )
}


def demo_analysis(prometheus_url: str, *, ready_query: bool = True, **overrides: Any) -> dict[str, Any]:
    """spec.analysis for the model server's metrics, tuned for a short local run."""
    analysis: dict[str, Any] = {
        "prometheus": {"address": prometheus_url, "timeout": "5s"},
        "interval": "10s",
        "warmup": "20s",
        "errorBudget": 3,
        "inconclusive": "promote",
        "minEvidence": {"requests": 300, "errors": 3, "predictions": 200},
        "metrics": [
            {
                "name": "errors",
                "errorRate": {"errors": DEMO_QUERIES["errors"], "total": DEMO_QUERIES["total"]},
            },
            # Defaults: one process per version on a shared machine makes the process with less
            # traffic wake up more slowly (CLES up to ~0.6 under heavy load, a millisecond or
            # two), which the default tolerance (10% or 10 ms at the median and p90) allows; the
            # 40x CPU path (median ~16 ms vs ~0.5 ms) is beyond it.
            {"name": "latency", "latency": {"buckets": DEMO_QUERIES["latency"], "slo": 0.025}},
            {
                "name": "scores",
                "drift": {
                    "buckets": DEMO_QUERIES["scores"],
                    "invalid": DEMO_QUERIES["invalid"],
                    "range": {"min": 0, "max": 1},
                },
            },
        ],
    }
    if ready_query:
        analysis["readyQuery"] = DEMO_QUERIES["ready"]
    analysis.update(overrides)
    return analysis


def demo_rollout(analysis: dict[str, Any], name: str = "fraud-scorer", **spec: Any) -> dict[str, Any]:
    """The ModelRollout of the stack: 25% → analyze → 50% → analyze → 100%."""
    body: dict[str, Any] = {
        "baseline": {"deployment": BASELINE[0], "version": BASELINE[1]},
        "candidate": {"deployment": CANDIDATE[0], "version": CANDIDATE[1]},
        "traffic": {
            "gatewayAPI": {
                "httpRoute": ROUTE,
                "baselineBackend": BASELINE[0],
                "candidateBackend": CANDIDATE[0],
            }
        },
        "steps": [
            {"setWeight": 25},
            {"analyze": {"duration": "90s"}},
            {"setWeight": 50},
            {"analyze": {"duration": "60s"}},
            {"setWeight": 100},
        ],
        "analysis": analysis,
        "progressDeadline": "90s",
        "maxDuration": "30m",
        "scaleDown": {"delay": "10s", "drain": "2s"},
    }
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": body}


def _nothing() -> None:
    """A stop step for a part that was never started."""


@dataclass
class LocalStack:
    """The stack of the module docstring around one cluster; start it, create a rollout, stop it."""

    kube: Kube
    namespace: str
    workdir: Path
    candidate: Switches = field(default_factory=Switches)
    baseline: Switches = field(default_factory=lambda: Switches(error_rate=0.01))
    rate: float = 30.0
    baseline_replicas: int = 1
    run_controller: bool = True
    """False: the caller runs the controller (e.g. as a process it can kill)."""
    progress: Callable[[str], None] = lambda _message: None
    servers: ModelServers | None = None
    prometheus: PrometheusServer | None = None
    load: LoadGenerator | None = None
    manager: Manager | None = None
    _controller_thread: threading.Thread | None = None
    _server_targets: tuple[ScrapeTarget, ...] = ()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Create the objects, start servers, Prometheus, load and the controller."""
        try:
            self._create_objects()
            self.progress("starting the model servers (baseline and candidate)")
            self.servers = ModelServers(self.workdir / "servers")
            baseline, candidate = self.servers.start(
                ServerConfig(version=BASELINE[1], port=0, switches=self.baseline, enable_admin=True),
                ServerConfig(version=CANDIDATE[1], port=0, switches=self.candidate, enable_admin=True),
            )
            self.progress("starting Prometheus (scrapes every second)")
            self._server_targets = (
                ScrapeTarget(baseline.address, {"job": "model-server"}),
                ScrapeTarget(candidate.address, {"job": "model-server"}),
            )
            self.prometheus = PrometheusServer(
                self.workdir / "prometheus", scrape_interval=1.0, targets=self._server_targets
            ).start()
            self.progress(f"sending {self.rate:g} requests/s, split by the HTTPRoute's weights")
            self.load = LoadGenerator(
                Target(BASELINE[1], baseline.url),
                Target(CANDIDATE[1], candidate.url),
                self.route_share,
                rate=self.rate,
                max_requests=int(self.rate * 3600),
                share_refresh_seconds=0.5,
            ).start()
            if self.run_controller:
                self.start_controller()
        except BaseException:
            self.stop()
            raise
        return self

    def start_controller(self) -> Manager:
        """Start the controller (again) on a thread, watching only this namespace; Prometheus scrapes it."""
        self.progress("starting the controller")
        port = free_port()
        self.manager = build_manager(
            self.kube, ControllerOptions(workers=2, namespace=self.namespace, metrics_port=port)
        )
        if self.prometheus is not None:
            controller = ScrapeTarget(f"127.0.0.1:{port}", {"job": CONTROLLER_JOB})
            self.prometheus.set_targets([*self._server_targets, controller])
        self._controller_thread = threading.Thread(
            target=self.manager.run, kwargs={"handle_signals": False}, name="controller", daemon=True
        )
        self._controller_thread.start()
        return self.manager

    def stop_controller(self, timeout: float = 60.0) -> None:
        """Stop the controller as SIGTERM would: finish in-flight reconciles, stop the caches.

        Waits at most ``timeout`` seconds (not at all once a second shutdown signal hurries
        us): the controller runs on a daemon thread, so one that is slow to finish never keeps
        the process alive.
        """
        if self.manager is not None:
            self.manager.stop()
        thread = self._controller_thread
        deadline = time.monotonic() + timeout
        while thread is not None and thread.is_alive() and time.monotonic() < deadline and not hurried():
            thread.join(0.1)
        self.manager = None
        self._controller_thread = None

    def stop(self) -> None:
        """Stop everything this stack started (the cluster objects stay with their namespace).

        The controller is asked to stop first, the load stops while it finishes its in-flight
        reconciles, and it is waited for (boundedly) before Prometheus and the servers go, so no
        reconcile of a live rollout reads an analysis from a server shutting down. Every step
        runs even if an earlier one failed, and a shutdown signal does not cut the sequence
        short (it is raised once all are stopped; a second one hurries every wait).
        """
        steps: list[Callable[[], object]] = [
            self.manager.stop if self.manager is not None else _nothing,
            self.load.stop if self.load is not None else _nothing,
            lambda: self.stop_controller(CONTROLLER_STOP_SECONDS),
            self.prometheus.stop if self.prometheus is not None else _nothing,
            self.servers.stop if self.servers is not None else _nothing,
        ]
        failures: list[Exception] = []
        with deferred_signals():
            for step in steps:
                try:
                    step()
                except Exception as failure:  # stop the rest anyway; the first failure is raised
                    failures.append(failure)
        if failures:
            raise failures[0]

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- the rollout -----------------------------------------------------------------------

    def create_rollout(self, rollout: KubeObject) -> KubeObject:
        """Create the ModelRollout in the stack's namespace."""
        return self.kube.create(MODEL_ROLLOUTS, copy.deepcopy(rollout), self.namespace)

    def rollout(self, name: str = "fraud-scorer") -> KubeObject:
        """The rollout as the API server has it now."""
        return self.kube.get(MODEL_ROLLOUTS, name, self.namespace)

    def route_share(self) -> float:
        """The candidate's share per the HTTPRoute right now (the load generator's router)."""
        route = self.kube.get(HTTP_ROUTES, ROUTE, self.namespace)
        return backend_share(route, 0, BASELINE[0], CANDIDATE[0])

    def set_candidate(self, switches: Switches) -> None:
        """Change the candidate server's behaviour while it runs."""
        if self.servers is None:
            raise RuntimeError("the stack is not started")
        self.servers[CANDIDATE[1]].set_switches(switches)

    @property
    def prometheus_url(self) -> str:
        """The address the rollout's analysis should query."""
        if self.prometheus is None:
            raise RuntimeError("the stack is not started")
        return self.prometheus.url

    def _create_objects(self) -> None:
        self.progress(f"creating namespace {self.namespace}, Deployments, Services and the HTTPRoute")
        with contextlib.suppress(AlreadyExists):
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
            self.kube.create(NAMESPACES, namespace)
        for resource, body in (
            (DEPLOYMENTS, model_deployment(*BASELINE, self.baseline_replicas, gpus=1, app=APP)),
            (DEPLOYMENTS, model_deployment(*CANDIDATE, 0, gpus=1, app=APP)),
            (SERVICES, service(*BASELINE, app=APP)),
            (SERVICES, service(*CANDIDATE, app=APP)),
            (HTTP_ROUTES, http_route(ROUTE, BASELINE[0], CANDIDATE[0])),
        ):
            self.kube.create(resource, body, self.namespace)
