"""A whole rollout on one machine: the objects, two real model servers, Prometheus, load, controller.

``rollouts demo`` and the e2e tests run the same stack, so what the demo shows is what the tests
check. Against a cluster (the local test bed: real kube-apiserver, controllers and kwok nodes):

- in one namespace, a baseline and a candidate Deployment (their pods are kwok's, on a GPU
  node), and an HTTPRoute whose rule splits traffic between the two Services — or, with
  ``istio=True``, an Istio VirtualService whose route splits it between two DestinationRule
  subsets (Istio's CRDs must be installed) — or, with ``kserve`` (:class:`KServeMode`), KServe
  InferenceServices in place of the Deployments;
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
from enum import Enum
from pathlib import Path
from typing import Any

from rollouts.api.resource import API_VERSION, KIND
from rollouts.api.spec import IstioDestination
from rollouts.api.status import Phase
from rollouts.controller.shell.app import ControllerOptions, build_manager
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.loadgen import HeaderClient, LoadGenerator, Target
from rollouts.local.manifests import (
    ISTIO_ROUTE,
    destination_rule,
    http_route,
    inference_service,
    model_deployment,
    raw_inference_service,
    service,
    virtual_service,
)
from rollouts.local.model_server.config import Device, ServerConfig, Switches
from rollouts.local.model_servers import ModelServers
from rollouts.local.prometheus import PrometheusServer, ScrapeTarget, free_port
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    DESTINATION_RULES,
    HTTP_ROUTES,
    INFERENCE_SERVICES,
    NAMESPACES,
    VIRTUAL_SERVICES,
    AlreadyExists,
    Kube,
    KubeObject,
    Resource,
)
from rollouts.runtime.manager import Manager
from rollouts.testbed.process import deferred_signals, hurried
from rollouts.traffic.base import Routing
from rollouts.traffic.gateway_api import gateway_api_routing
from rollouts.traffic.istio import istio_routing
from rollouts.traffic.kserve import kserve_routing

CONTROLLER_STOP_SECONDS = 10.0
"""How long :meth:`LocalStack.stop` waits for the controller's in-flight reconciles to end."""

SERVICES = Resource("", "v1", "services", "Service", namespaced=True)
BASELINE = ("model-v1", "v1")
CANDIDATE = ("model-v2", "v2")
ROUTE = "model"
APP = "fraud-scorer"
ISTIO_DESTINATIONS = (
    IstioDestination(host=ROUTE, subset=BASELINE[1]),
    IstioDestination(host=ROUTE, subset=CANDIDATE[1]),
)
"""The VirtualService's baseline and candidate destinations (host ``model``, one subset per version)."""
ISTIO_TRAFFIC = {
    "istio": {
        "virtualService": ROUTE,
        "route": ISTIO_ROUTE,
        "baseline": ISTIO_DESTINATIONS[0].to_wire(),
        "candidate": ISTIO_DESTINATIONS[1].to_wire(),
    }
}
"""spec.traffic of a rollout on the stack's VirtualService (``demo_rollout(..., traffic=ISTIO_TRAFFIC)``)."""


class KServeMode(Enum):
    """The stack's two versions as KServe serves them (``LocalStack(kserve=...)``, docs/kserve.md)."""

    RAW = "raw"
    """Two raw-mode InferenceServices (:data:`KSERVE_RAW`, autoscaler class ``none``) whose
    predictor Deployments and Services KServe's controller makes (the caller runs it), behind
    the HTTPRoute; the rollout names the InferenceServices (:data:`KSERVE_RAW_SPEC`)."""
    SERVERLESS = "serverless"
    """One serverless InferenceService (:data:`ROUTE`) with ``canaryTrafficPercent: 0``, and its
    two revisions' Deployments as Knative names them (:data:`KSERVE_REVISIONS`); the load follows
    ``status.components.predictor.traffic``, which KServe and Knative (or the tests' stand-in,
    run by the caller) write. Decision — the candidate revision's Deployment has 1 replica, as
    Knative's autoscaler would hold it at ``minReplicas``: with the kserve router the controller
    sizes neither revision."""


KSERVE_RAW = ("m1", "m2")
"""The raw-mode InferenceServices: short, as ``<isvc>-predictor-<namespace>`` must be a DNS label."""
KSERVE_RAW_SPEC: dict[str, Any] = {
    "baseline": {"inferenceService": KSERVE_RAW[0], "version": BASELINE[1]},
    "candidate": {"inferenceService": KSERVE_RAW[1], "version": CANDIDATE[1]},
    "traffic": {
        "gatewayAPI": {
            "httpRoute": ROUTE,
            "baselineBackend": f"{KSERVE_RAW[0]}-predictor",
            "candidateBackend": f"{KSERVE_RAW[1]}-predictor",
        }
    },
}
"""Sides and traffic of a rollout on :attr:`KServeMode.RAW`: ``demo_rollout(..., **KSERVE_RAW_SPEC)``."""
KSERVE_REVISIONS = (f"{ROUTE}-predictor-00001", f"{ROUTE}-predictor-00002")
"""The serverless InferenceService's baseline (rolled-out) and candidate (latest) revisions."""
KSERVE_SERVERLESS_SPEC: dict[str, Any] = {
    "baseline": {"deployment": f"{KSERVE_REVISIONS[0]}-deployment", "version": BASELINE[1]},
    "candidate": {"deployment": f"{KSERVE_REVISIONS[1]}-deployment", "version": CANDIDATE[1]},
    "traffic": {"kserve": {"inferenceService": ROUTE}},
}
"""Sides and traffic of a rollout on :attr:`KServeMode.SERVERLESS`."""
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
    istio: bool = False
    """Route with an Istio VirtualService (and DestinationRule) instead of an HTTPRoute."""
    kserve: KServeMode | None = None
    """Serve the versions as KServe InferenceServices (:class:`KServeMode`)."""
    header_client: HeaderClient | None = None
    """A client whose requests (a fraction of all) carry headers, for header routes."""
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
                self.routing,
                header_client=self.header_client,
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
        """The candidate's share per the routing object right now (the load generator's router)."""
        return self.routing().share

    def routing(self) -> Routing:
        """What the routing object does with requests now, by the routers' own rules.

        The HTTPRoute, the VirtualService, or the traffic the InferenceService reports.
        """
        if self.istio:
            vs = self.kube.get(VIRTUAL_SERVICES, ROUTE, self.namespace)
            return istio_routing(vs, ISTIO_ROUTE, *ISTIO_DESTINATIONS)
        if self.kserve is KServeMode.SERVERLESS:
            isvc = self.kube.get(INFERENCE_SERVICES, ROUTE, self.namespace)
            return kserve_routing(isvc, *KSERVE_REVISIONS)
        route = self.kube.get(HTTP_ROUTES, ROUTE, self.namespace)
        return gateway_api_routing(route, 0, *self._backends())

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

    def _backends(self) -> tuple[str, str]:
        """The HTTPRoute's baseline and candidate backends: the stack's Services or KServe's."""
        if self.kserve is KServeMode.RAW:
            traffic = KSERVE_RAW_SPEC["traffic"]["gatewayAPI"]
            return traffic["baselineBackend"], traffic["candidateBackend"]
        return BASELINE[0], CANDIDATE[0]

    def _workloads(self) -> list[tuple[Resource, KubeObject]]:
        if self.kserve is KServeMode.RAW:
            sized = [(KSERVE_RAW[0], BASELINE[1], self.baseline_replicas), (KSERVE_RAW[1], CANDIDATE[1], 0)]
            return [(INFERENCE_SERVICES, _sized_raw(*side)) for side in sized]
        if self.kserve is KServeMode.SERVERLESS:
            isvc = inference_service(ROUTE, f"gs://models/{APP}/{BASELINE[1]}")
            isvc["spec"]["predictor"]["canaryTrafficPercent"] = 0
            revisions = zip(KSERVE_REVISIONS, (BASELINE, CANDIDATE), (self.baseline_replicas, 1), strict=True)
            return [
                *(
                    (DEPLOYMENTS, model_deployment(f"{revision}-deployment", version, size, gpus=1, app=APP))
                    for revision, (_, version), size in revisions
                ),
                (INFERENCE_SERVICES, isvc),
            ]
        return [
            (DEPLOYMENTS, model_deployment(*BASELINE, self.baseline_replicas, gpus=1, app=APP)),
            (DEPLOYMENTS, model_deployment(*CANDIDATE, 0, gpus=1, app=APP)),
            (SERVICES, service(*BASELINE, app=APP)),
            (SERVICES, service(*CANDIDATE, app=APP)),
        ]

    def _routing_objects(self) -> list[tuple[Resource, KubeObject]]:
        if self.kserve is KServeMode.SERVERLESS:
            return []  # the InferenceService is the routing object
        if not self.istio:
            return [(HTTP_ROUTES, http_route(ROUTE, *self._backends()))]
        return [
            (VIRTUAL_SERVICES, virtual_service(ROUTE, ROUTE, BASELINE[1], CANDIDATE[1])),
            (DESTINATION_RULES, destination_rule(ROUTE, ROUTE, BASELINE[1], CANDIDATE[1])),
        ]

    def _create_objects(self) -> None:
        self.progress(f"creating namespace {self.namespace}, Deployments, Services and the HTTPRoute")
        with contextlib.suppress(AlreadyExists):
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
            self.kube.create(NAMESPACES, namespace)
        for resource, body in (*self._workloads(), *self._routing_objects()):
            self.kube.create(resource, body, self.namespace)


def _sized_raw(name: str, version: str, replicas: int) -> KubeObject:
    """A raw-mode InferenceService KServe sizes from ``minReplicas`` (class ``none``, docs/kserve.md)."""
    isvc = raw_inference_service(name, version, autoscaler_class="none")
    isvc["spec"]["predictor"] |= {"minReplicas": replicas, "maxReplicas": replicas}
    return isvc
