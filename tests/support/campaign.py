"""The seeded fault campaign (issue 10): rollouts under faults and people, with invariants checked.

Why a campaign: each of issue 10's outages was one unlucky interleaving (an abort at 100%, a
candidate deleted at a gate, two writers at once). Hand-written tests replay the interleavings
someone thought of; a seeded campaign tries many more, and every one it tries can be replayed
from its seed (``run_scenario(env, plan(seed))``).

One scenario, all of it chosen by ``random.Random(seed)`` (:func:`plan`):

- a fresh namespace holding a baseline and a candidate Deployment, an HTTPRoute or the replicas
  router, a decoy Deployment no rollout names, and a Secret holding a planted marker
  (``planted-<hex>``) that the rollout names as its Prometheus bearer token. The rollout queries
  a real Prometheus through :class:`~tests.support.slow_proxy.SlowProxy`, which counts the
  requests carrying the marker (so the "never leaked" check is known to be about a value the
  controller really read and sent) and can be made slow;
- a ModelRollout whose plan is setWeight and approve steps only, so no analysis PASS is
  involved: progress depends on the steps and on approvals alone. The readyQuery is always true
  and an optional guard always holds, so Prometheus is asked all along and its faults matter;
- the controller as a subprocess (``rollouts controller``, JSON logs appended to one file per
  scenario), so it can be SIGKILLed and restarted;
- faults at seeded moments (the n-th status change, plus a bounded seeded delay): controller
  SIGKILL and restart, Prometheus stopped and started again, Prometheus slow, a concurrent
  writer patching the rollout's annotations (every status write the controller had prepared
  then meets a 409), the candidate Deployment deleted (and re-created a moment later, as a
  person would) or scaled by hand, the API server stopped and started again (its etcd data
  kept; every client, the controller's included, loses its connections). Faults on the
  candidate are injected only where they cannot by themselves empty the app (see
  :meth:`_Driver._candidate_fault_is_safe`);
- people, seeded: approvals of the gates (with the version, as the CLI writes them), decoys
  that must not count (approvals of another version or older than the plan, an abort of another
  version), an abort, retries of a rollout that ended other than by promotion.

A seed fixes the plan (steps, router, faults and their triggers, people's actions and delays);
the interleaving with the controller's own timing differs from run to run, which is the point
of running it again.

Invariants, from watches that record every change while the scenario runs (checked on the
whole record when it ends, so nothing between two polls is missed):

1. ``serving``: the app's Ready pods (baseline + candidate) never drop to 0 once it served;
2. ``weights``: the route's candidate weight (and ``status.weight``) only increase, except a
   move to 0 after a rollback, abort or failure — ordered against the rollout's history by
   resourceVersion, which the test bed's single etcd makes one global clock;
3. ``promotion``: a rollout enters Succeeded only after every approve gate of its plan was
   approved for that version since the last retry, and never after an abort of that attempt;
   it enters Aborted only after an abort of that version (decoys count for nothing);
4. ``secret``: the marker is in none of the controller's log, the namespace's Events, the
   rollout (every version of it seen);
5. ``decoy``: the decoy Deployment's ``metadata.generation`` never changes;
6. ``process``: the controller exits only when killed, and stops cleanly on SIGTERM.

The watches resume from the last resourceVersion they saw after an API server restart, so
nothing written before or after it goes unrecorded.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from rollouts.api.resource import ModelRollout
from rollouts.api.spec import Abort, Approval
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.cli.intents import IntentRefusedError, abort_patch, approvals_patch, retry_patch
from rollouts.controller.shell.prometheus_source import SECRETS
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.local.prometheus import PrometheusServer
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    EVENTS,
    HTTP_ROUTES,
    NAMESPACES,
    AlreadyExists,
    Kube,
    KubeError,
    KubeObject,
    NotFound,
    PatchTestFailed,
    PatchType,
    Resource,
    connect,
)
from rollouts.runtime.manager import CONFLICT_RETRIED
from rollouts.testbed import LocalCluster
from rollouts.testbed.process import start_process, stop_process
from tests.support.controller import ServingRecorder, WeightRecorder, _WatchRecorder, wait_for
from tests.support.slow_proxy import SlowProxy
from tests.support.workloads import model_rollout

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)

ROLLOUT = "model"
BASELINE = ("model-v1", "v1")
CANDIDATE = ("model-v2", "v2")
DECOY = "decoy"
TOKEN_SECRET = "prometheus-token"
READY_QUERY = '(count(up{version="{{version}}"}) or vector(0)) * 0 + 1'
"""Always 1: true for every version, and an answer even when no series matches."""
WHO = "campaign"
SCENARIO_TIMEOUT = 300.0
"""Seconds a scenario may take before it counts as stalled (the rollout never settled)."""
STOP_GRACE = 30.0
CRASHES_TO_GIVE_UP = 3
"""A controller that exits by itself this often is crash-looping: the scenario ends there."""
PATCH_ATTEMPTS = 5
ENDED_BADLY = ("RolledBack", "Aborted", "Failed")


class Fault(StrEnum):
    """The faults the campaign injects."""

    CONTROLLER_KILL = "controller SIGKILL + restart"
    PROMETHEUS_OUTAGE = "Prometheus stopped + restarted"
    PROMETHEUS_SLOW = "Prometheus slow"
    CONFLICTING_WRITER = "concurrent writer (409s)"
    CANDIDATE_DELETED = "candidate Deployment deleted"
    CANDIDATE_SCALED = "candidate Deployment scaled by hand"
    APISERVER_RESTART = "API server restarted"


CANDIDATE_FAULTS = (Fault.CANDIDATE_DELETED, Fault.CANDIDATE_SCALED)


class Invariant(StrEnum):
    """The invariants checked (see the module docstring)."""

    SERVING = "serving"
    WEIGHTS = "weights"
    PROMOTION = "promotion"
    SECRET = "secret"
    DECOY = "decoy"
    PROCESS = "process"


# --- the plan of one scenario ---------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPlan:
    """One fault: after the ``trigger``-th status change, ``delay`` seconds later.

    ``length`` is how long it lasts in seconds (outage, writes, re-creation or restart delay;
    slowness lasts twice that), ``size`` its strength (slowness in seconds, replicas set by hand).
    """

    kind: Fault
    trigger: int
    delay: float
    length: float
    size: float


@dataclass(frozen=True)
class ScenarioPlan:
    """Everything one seed decides."""

    seed: int
    router: str
    baseline_replicas: int
    steps: tuple[dict[str, Any], ...]
    guard: bool
    error_budget: int
    inconclusive: str
    query_timeout: str
    marker: str
    faults: tuple[FaultPlan, ...]
    abort_at: int | None
    retries: int
    decoys: bool
    approve_delay: float

    @property
    def gates(self) -> tuple[int, ...]:
        """Indexes of the approve steps."""
        return tuple(index for index, step in enumerate(self.steps) if "approve" in step)

    def describe(self) -> str:
        """One line: router, plan, faults and people."""
        plan = " ".join(f"{step['setWeight']}%" if "setWeight" in step else "approve" for step in self.steps)
        faults = ", ".join(f"{fault.kind.name.lower()}@{fault.trigger}" for fault in self.faults)
        people = f"abort@{self.abort_at}" if self.abort_at is not None else "no abort"
        return (
            f"seed {self.seed}: {self.router}, {self.baseline_replicas} baseline pods, [{plan}], "
            f"{'guard, ' if self.guard else ''}faults [{faults}], {people}, {self.retries} retries"
        )


def plan(seed: int) -> ScenarioPlan:
    """The scenario of ``seed``: a pure function of it, so any scenario can be replayed."""
    rng = random.Random(seed)
    weights = sorted(rng.sample(range(5, 100, 5), rng.randint(1, 2)))
    if rng.random() < 0.4:
        weights.append(100)  # the hand-over at 100%, where issue 10 found both versions at 0
    steps: list[dict[str, Any]] = []
    for index, weight in enumerate(weights):
        steps.append({"setWeight": weight})
        if index == 0 or rng.random() < 0.5:  # a gate below 100% in every plan: see _candidate_fault_is_safe
            steps.append({"approve": {}})
    kinds = rng.sample(list(Fault), rng.randint(2, 4))
    faults = tuple(
        FaultPlan(
            kind=kind,
            trigger=rng.randint(1, 8),
            delay=rng.uniform(0.0, 2.0),
            length=rng.uniform(1.0, 6.0) if kind is not Fault.CONFLICTING_WRITER else rng.uniform(5.0, 20.0),
            size=rng.uniform(1.0, 4.0) if kind is Fault.PROMETHEUS_SLOW else rng.randint(0, 5),
        )
        for kind in kinds
    )
    return ScenarioPlan(
        seed=seed,
        router=rng.choice(("gatewayAPI", "replicas")),
        baseline_replicas=rng.randint(2, 4),
        steps=tuple(steps),
        guard=rng.random() < 0.5,
        error_budget=rng.randint(0, 3),
        inconclusive=rng.choice(("hold", "rollback")),
        query_timeout=f"{rng.randint(2, 5)}s",
        marker=f"planted-{rng.getrandbits(64):016x}",
        faults=faults,
        abort_at=rng.randint(2, 10) if rng.random() < 0.35 else None,
        retries=rng.randint(0, 2),
        decoys=rng.random() < 0.5,
        approve_delay=rng.uniform(0.0, 8.0),  # long enough, at times, for looks to run at a gate
    )


# --- what a scenario and a campaign found -------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """An invariant broken, with the seed that replays it and the evidence."""

    seed: int
    invariant: Invariant
    evidence: str


@dataclass
class Tally:
    """Counts of one scenario, or of a whole campaign (:meth:`add`)."""

    scenarios: int = 0
    inputs: Counter[str] = field(default_factory=Counter)
    """Rollouts created and intents written (genuine and decoys), by kind."""
    faults: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    stalled: list[int] = field(default_factory=list)
    conflicts_logged: int = 0
    """Reconciles the controller retried after a 409 (from its log)."""
    concurrent_writes: int = 0
    """Metadata patches of the concurrent writer (a fault, not counted as inputs)."""
    tokens_sent: int = 0
    """Prometheus requests that carried the planted marker as their bearer token."""
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        """Fold ``other`` into these counts."""
        self.scenarios += other.scenarios
        self.inputs.update(other.inputs)
        self.faults.update(other.faults)
        self.checks.update(other.checks)
        self.outcomes.update(other.outcomes)
        self.violations += other.violations
        self.stalled += other.stalled
        self.conflicts_logged += other.conflicts_logged
        self.concurrent_writes += other.concurrent_writes
        self.tokens_sent += other.tokens_sent
        self.seconds += other.seconds


@dataclass(frozen=True)
class Environment:
    """What every scenario runs against: a started test bed (CRDs installed) and Prometheus."""

    testbed: LocalCluster
    kube: Kube
    prometheus: PrometheusServer
    workdir: Path


# --- watches that keep every change ---------------------------------------------------------------


def _rv(obj: KubeObject) -> int:
    return int(obj["metadata"]["resourceVersion"])


class _RolloutWatch(_WatchRecorder):
    """Every version of the rollout, in order, with its resourceVersion; the driver waits on it."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__(kube, MODEL_ROLLOUTS, namespace, field_selector=f"metadata.name={ROLLOUT}")
        self.records: list[tuple[int, KubeObject]] = []
        self._changed = threading.Condition()

    def _record(self, obj: KubeObject) -> None:
        if obj.get("deleted"):
            return
        with self._changed:
            if not self.records or self.records[-1][0] < _rv(obj):
                self.records.append((_rv(obj), obj))
                self._changed.notify_all()

    def after(self, seen: int, timeout: float) -> list[KubeObject]:
        """The versions after the first ``seen``, waiting up to ``timeout`` for one."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.records) > seen, timeout=max(timeout, 0.0))
            return [obj for _, obj in self.records[seen:]]


class _RouteWatch(WeightRecorder):
    """:class:`WeightRecorder` that also keeps the resourceVersion of each weight change."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__(kube, ROLLOUT, namespace, CANDIDATE[0])
        self.changes: list[tuple[int, int]] = []

    def _record(self, route: KubeObject) -> None:
        before = len(self.weights)
        super()._record(route)
        if len(self.weights) != before:
            self.changes.append((_rv(route), self.weights[-1]))


class _AppWatch(ServingRecorder):
    """:class:`ServingRecorder` of baseline + candidate that also keeps the decoy's generations."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__(kube, namespace, (BASELINE[0], CANDIDATE[0]))
        self.decoy_generations: list[int] = []

    def _record(self, deployment: KubeObject) -> None:
        if deployment["metadata"]["name"] == DECOY and not deployment.get("deleted"):
            self.decoy_generations.append(int(deployment["metadata"]["generation"]))
        super()._record(deployment)


# --- Prometheus behind a proxy that sees the token ----------------------------------------------


# --- the controller as a process ------------------------------------------------------------------


class _Controller:
    """``rollouts controller`` for one namespace, its output appended to ``log``.

    Started from the main thread only (start_process then has the kernel kill it should the
    campaign die). ``unexpected`` collects exits that nobody asked for: a crash.
    """

    def __init__(self, kubeconfig: Path, namespace: str, log: Path) -> None:
        self.log = log
        self._argv = [
            str(Path(sys.executable).parent / "rollouts"),
            "controller",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={namespace}",
            "--log-format=json",
        ]
        self._process: subprocess.Popen[bytes] | None = None
        self.unexpected: list[str] = []
        self.kills = 0

    def start(self) -> None:
        """Start (or start again after a kill): a fresh process, appending to the same log."""
        self._process = start_process(self._argv, self.log)

    @property
    def running(self) -> bool:
        """False between a kill and the restart."""
        return self._process is not None

    def check(self) -> None:
        """Record and restart a controller that exited by itself."""
        process = self._process
        if process is None or process.poll() is None:
            return
        self.unexpected.append(f"exited with status {process.returncode} without being asked; {self._tail()}")
        stop_process(process)
        self.start()

    def kill(self) -> None:
        """SIGKILL now (the whole process group), reaped; :meth:`start` brings it back."""
        process, self._process = self._process, None
        if process is None:
            return
        self._exited_early(process)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stop_process(process)
        self.kills += 1

    def _exited_early(self, process: subprocess.Popen[bytes]) -> None:
        """Record a controller found dead when we came to stop it."""
        if process.poll() is not None:
            self.unexpected.append(
                f"had exited with status {process.returncode} before the kill; {self._tail()}"
            )

    def stop(self) -> None:
        """SIGTERM; a clean stop exits 0 within the grace period."""
        process, self._process = self._process, None
        if process is None:
            return
        self._exited_early(process)
        code = stop_process(process, STOP_GRACE)
        if code != 0:
            self.unexpected.append(f"stopped with status {code} on SIGTERM (expected 0); {self._tail()}")

    def _tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()[-5:] if self.log.exists() else []
        return "log ends: " + " | ".join(lines)


# --- the scenario driver ---------------------------------------------------------------------------


def _status(obj: KubeObject) -> dict[str, Any]:
    return dict(obj.get("status") or {})


def _result(obj: KubeObject) -> str | None:
    outcome = _status(obj).get("outcome")
    return str(outcome["result"]) if outcome else None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Ledger:
    """What people wrote, each with the resourceVersion the API server gave the write."""

    approvals: list[tuple[int, int, str]] = field(default_factory=list)
    """(rv, step, version) of genuine approvals."""
    aborts: list[int] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)


class _Driver:
    """Runs one scenario: reacts to each status change, injects faults, acts as the people."""

    def __init__(
        self,
        env: Environment,
        scenario: ScenarioPlan,
        namespace: str,
        proxy: SlowProxy,
        controller: _Controller,
        rollouts: _RolloutWatch,
        tally: Tally,
    ) -> None:
        self.env = env
        self.kube = env.kube
        self.plan = scenario
        self.namespace = namespace
        self.proxy = proxy
        self.controller = controller
        self.rollouts = rollouts
        self.tally = tally
        self.rng = random.Random(scenario.seed ^ 0x5EED)
        self.ledger = _Ledger()
        self._due: list[tuple[float, int, str, Callable[[], None]]] = []
        self._order = itertools.count()
        self._unfired = list(scenario.faults)
        self._changes = 0
        self._last_status: dict[str, Any] | None = None
        self._latest: KubeObject = {}
        self._handled_gates: set[tuple[int, int]] = set()
        self._approved: set[tuple[int, int]] = set()
        self._retry_scheduled_for = -1
        self._retries_left = scenario.retries
        self._aborted = False
        self._writers: list[threading.Thread] = []
        self._prometheus_down = False

    # --- the loop

    def run(self) -> None:
        deadline = time.monotonic() + SCENARIO_TIMEOUT
        seen = 0
        while True:
            wait = min(1.0, self._due[0][0] - time.monotonic()) if self._due else 1.0
            for obj in self.rollouts.after(seen, wait):
                seen += 1
                self._on_rollout(obj)
            self._run_due()
            self.controller.check()
            if self._settled() or len(self.controller.unexpected) >= CRASHES_TO_GIVE_UP:
                return
            if time.monotonic() > deadline:
                self.tally.stalled.append(self.plan.seed)
                return

    def finish(self) -> None:
        """Undo what a fault left behind (Prometheus down, slow), whatever stopped the loop."""
        self.proxy.delay = 0.0
        if self._prometheus_down:
            self.env.prometheus.start()
        for writer in self._writers:
            writer.join(timeout=60)

    def _schedule(self, delay: float, what: str, action: Callable[[], None]) -> None:
        heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), what, action))

    def _run_due(self) -> None:
        while self._due and self._due[0][0] <= time.monotonic():
            _, _, _, action = heapq.heappop(self._due)
            action()

    def _settled(self) -> bool:
        """Ended for good, the loser scaled to 0, and nothing left to do."""
        latest = self._latest
        result = _result(latest)
        if result is None or self._due or any(w.is_alive() for w in self._writers):
            return False
        if result != "Succeeded" and self._retries_left > 0:
            return False
        if not _status(latest).get("scaledDownAt") or not self.controller.running:
            return False
        loser = BASELINE[0] if result == "Succeeded" else CANDIDATE[0]
        try:
            deployment = self.kube.get(DEPLOYMENTS, loser, self.namespace)
        except NotFound:
            return True
        return (
            deployment["spec"]["replicas"] == 0
            and int(deployment.get("status", {}).get("readyReplicas") or 0) == 0
        )

    # --- reactions to the rollout's status

    def _on_rollout(self, obj: KubeObject) -> None:
        self._latest = obj
        status = _status(obj)
        if status == self._last_status:
            return  # a metadata-only change (the concurrent writer's)
        self._last_status = status
        self._changes += 1
        result = _result(obj)
        for fault in list(self._unfired):
            self._consider(fault, obj)
        if result is None and self.plan.abort_at is not None and self._changes >= self.plan.abort_at:
            self._abort()
        if result is None:
            self._at_gate(obj)
        elif (
            result in ENDED_BADLY
            and self._retries_left > 0
            and self._retry_scheduled_for != len(self.ledger.retries)
        ):
            self._retry_scheduled_for = len(self.ledger.retries)
            self._schedule(self.rng.uniform(0.0, 2.0), "retry", self._retry)

    def _consider(self, fault: FaultPlan, obj: KubeObject) -> None:
        """Inject ``fault`` if its moment has come: its trigger, or the end of the rollout.

        Faults on the candidate go in at once (no delay) and only when
        :meth:`_candidate_fault_is_safe`; at an approve gate they go in even before their
        trigger, since the approval that follows is the last safe moment.
        """
        result = _result(obj)
        due = fault.trigger <= self._changes or result is not None
        if fault.kind not in CANDIDATE_FAULTS:
            if due:
                self._unfired.remove(fault)
                self._schedule(fault.delay, fault.kind.value, lambda: self._inject(fault))
            return
        if result == "Succeeded":
            self._unfired.remove(fault)  # the candidate is the app now: never injected
        elif (due or self._gate(obj) is not None) and self._candidate_fault_is_safe(obj):
            self._unfired.remove(fault)
            self._inject(fault)

    def _gate(self, obj: KubeObject) -> int | None:
        """The approve step the rollout of the candidate waits at, if it waits at one."""
        status = _status(obj)
        step = status.get("currentStep")
        if (
            _result(obj) is not None
            or status.get("candidateVersion") != CANDIDATE[1]
            or not status.get("candidateReadyAt")
            or step not in self.plan.gates
        ):
            return None
        return int(step)

    def _candidate_fault_is_safe(self, obj: KubeObject) -> bool:
        """Whether deleting or scaling the candidate now cannot by itself leave the app without pods.

        Safe: the candidate is not ready yet (no traffic; the rollout cannot pass its first gate,
        below 100%, without the campaign); the rollout waits at an approve gate below 100% (the
        baseline keeps its size; the gate counts only until the campaign approves it, as a
        version of the rollout read later may still show the gate); it ended
        other than by promotion with all traffic back on the baseline. Not safe: at 100% or
        after promotion, where the candidate is the app (the replicas router has scaled the
        baseline to 0), so deleting it would be the same as deleting the app. Every plan has a
        gate below 100%, so a candidate fault is always injected before a promotion can happen.
        """
        status = _status(obj)
        result = _result(obj)
        weight = int(status.get("weight") or 0)
        if result is not None:
            return result in ENDED_BADLY and weight == 0
        if status.get("candidateVersion") != CANDIDATE[1]:
            return False
        if not status.get("candidateReadyAt"):
            return weight == 0
        step = self._gate(obj)
        return step is not None and (len(self.ledger.retries), step) not in self._approved and weight < 100

    def _at_gate(self, obj: KubeObject) -> None:
        step = self._gate(obj)
        if step is None:
            return
        gate = (len(self.ledger.retries), step)
        if gate in self._handled_gates:
            return
        self._handled_gates.add(gate)
        if self.plan.decoys:
            self._decoys(step)
        self._schedule(self.rng.uniform(0.0, self.plan.approve_delay), "approve", lambda: self._approve(gate))

    # --- people

    def _patch_intent(self, what: str, build: Callable[[ModelRollout], Any]) -> KubeObject | None:
        """Read, build the patch, write it; rebuild after a concurrent change. None: refused."""
        for _ in range(PATCH_ATTEMPTS):
            obj = self.kube.get(MODEL_ROLLOUTS, ROLLOUT, self.namespace)
            try:
                body = build(ModelRollout.from_wire(obj))
            except IntentRefusedError:
                return None
            kind = PatchType.JSON if isinstance(body, list) else PatchType.MERGE
            try:
                written = self.kube.patch(MODEL_ROLLOUTS, ROLLOUT, body, kind, self.namespace)
            except PatchTestFailed:
                continue
            self.tally.inputs[what] += 1
            return written
        raise AssertionError(f"seed {self.plan.seed}: could not write {what} in {PATCH_ATTEMPTS} attempts")

    def _approve(self, gate: tuple[int, int]) -> None:
        attempt, step = gate

        def build(rollout: ModelRollout) -> Any:
            status = rollout.status
            if attempt != len(self.ledger.retries) or status is None or status.outcome is not None:
                raise IntentRefusedError("the gate is gone")
            return approvals_patch(rollout, [step], WHO, _now())

        self._approved.add(gate)  # from now on the gate may pass at any moment
        written = self._patch_intent("approval", build)
        if written is not None:
            self.ledger.approvals.append((_rv(written), step, CANDIDATE[1]))

    def _decoys(self, step: int) -> None:
        """Intents the controller must ignore, written at a gate.

        Approvals of another version and older than the plan, and, unless a real abort was
        written (the decoy would replace it), an abort of another version.
        """

        def build(rollout: ModelRollout) -> Any:
            status = rollout.status
            if status is None or status.plan_started_at is None:
                raise IntentRefusedError("no plan yet")
            stale = parse_timestamp(status.plan_started_at) - timedelta(hours=1)
            decoys = [
                Approval(step=step, version="v9", requested_by="someone-else"),
                Approval(
                    step=step, version=CANDIDATE[1], requested_by=WHO, requested_at=format_timestamp(stale)
                ),
            ]
            approvals = [approval.to_wire() for approval in (*rollout.spec.approvals, *decoys)]
            return [
                {"op": "test", "path": "/metadata/generation", "value": rollout.metadata.generation},
                {"op": "add", "path": "/spec/approvals", "value": approvals},
            ]

        self._patch_intent("decoy approvals", build)
        if not self._aborted:
            stale = Abort(reason="an old pipeline's abort", version="v9", requested_by="someone-else")
            self._patch_intent("decoy abort", lambda _: {"spec": {"abort": stale.to_wire()}})

    def _abort(self) -> None:
        if self._aborted:
            return
        self._aborted = True

        def build(rollout: ModelRollout) -> Any:
            if rollout.status is not None and rollout.status.outcome is not None:
                raise IntentRefusedError("already ended")
            return abort_patch(rollout, "campaign: on-call stops it", WHO, _now())

        written = self._patch_intent("abort", build)
        if written is not None:
            self.ledger.aborts.append(_rv(written))

    def _retry(self) -> None:
        self._ensure_candidate()
        written = self._patch_intent("retry", lambda rollout: retry_patch(rollout, WHO, _now()))
        if written is not None:
            self.ledger.retries.append(_rv(written))
            self._retries_left -= 1

    def _ensure_candidate(self) -> None:
        """A person re-creates the candidate they deleted, at 0 replicas: the controller sizes it."""
        with contextlib.suppress(AlreadyExists):
            self.kube.create(
                DEPLOYMENTS, model_deployment(CANDIDATE[0], CANDIDATE[1], replicas=0), self.namespace
            )

    # --- faults

    def _inject(self, fault: FaultPlan) -> None:
        self.tally.faults[fault.kind.value] += 1
        if fault.kind is Fault.CONTROLLER_KILL:
            self.controller.kill()
            self._schedule(fault.length / 3, "controller restart", self.controller.start)
        elif fault.kind is Fault.PROMETHEUS_OUTAGE:
            self.env.prometheus.stop()
            self._prometheus_down = True
            self._schedule(fault.length, "Prometheus restart", self._prometheus_back)
        elif fault.kind is Fault.PROMETHEUS_SLOW:
            self.proxy.delay = fault.size
            self._schedule(fault.length * 2, "Prometheus fast again", self._prometheus_fast)
        elif fault.kind is Fault.CONFLICTING_WRITER:
            writer = threading.Thread(target=self._write_annotations, args=(fault.length,), daemon=True)
            self._writers.append(writer)
            writer.start()
        elif fault.kind is Fault.CANDIDATE_DELETED:
            with contextlib.suppress(NotFound):
                self.kube.delete(DEPLOYMENTS, CANDIDATE[0], self.namespace)
            self._schedule(fault.length, "candidate re-created", self._ensure_candidate)
        elif fault.kind is Fault.APISERVER_RESTART:
            self.env.testbed.restart("kube-apiserver")  # returns once it answers /readyz again
        else:
            with contextlib.suppress(NotFound):
                self.kube.patch(
                    DEPLOYMENTS,
                    CANDIDATE[0],
                    {"spec": {"replicas": int(fault.size)}},
                    PatchType.MERGE,
                    self.namespace,
                    subresource="scale",
                )

    def _prometheus_back(self) -> None:
        self.env.prometheus.start()
        self._prometheus_down = False

    def _prometheus_fast(self) -> None:
        self.proxy.delay = 0.0

    def _write_annotations(self, seconds: float) -> None:
        """Another client (a GitOps tool, a person's kubectl) writing the rollout's metadata.

        Every write moves the resourceVersion, so a status write the controller prepared from an
        older read meets a 409 and its reconcile starts over. Paced a little, so that the
        controller gets some writes in between.
        """
        pace = random.Random(self.plan.seed).uniform(0.02, 0.06)
        end = time.monotonic() + seconds
        done = 0
        with connect(str(self.env.testbed.kubeconfig)) as kube:
            while time.monotonic() < end:
                patch = {"metadata": {"annotations": {"campaign.modelops.io/poke": str(done)}}}
                try:
                    kube.patch(MODEL_ROLLOUTS, ROLLOUT, patch, PatchType.MERGE, self.namespace)
                except KubeError:
                    break  # the API server is busy: this writer is done, the scenario goes on
                done += 1
                time.sleep(pace)
        self.tally.concurrent_writes += done


# --- one scenario ---------------------------------------------------------------------------------


def _create_namespace(kube: Kube, seed: int) -> str:
    """A fresh namespace with its ``default`` ServiceAccount (pods are refused until it exists).

    The account is created here unless the controller-manager was first: after a fault restarted
    the API server, the controller-manager's informers may still be backing off (CI saw it not
    create the account within 30 s), and the scenario is not about the controller-manager.
    """
    name = f"campaign-{seed}-{os.urandom(3).hex()}"
    kube.create(NAMESPACES, {"metadata": {"name": name, "labels": {"testbed.modelops.io/test": "true"}}})
    with contextlib.suppress(AlreadyExists):
        kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "default"}}, name)
    return name


def _rollout_body(scenario: ScenarioPlan, address: str) -> KubeObject:
    analysis: dict[str, Any] = {
        "prometheus": {
            "address": address,
            "timeout": scenario.query_timeout,
            "bearerTokenSecret": {"name": TOKEN_SECRET, "key": "token"},
        },
        "readyQuery": READY_QUERY,
        "errorBudget": scenario.error_budget,
        "inconclusive": scenario.inconclusive,
    }
    if scenario.guard:
        analysis.update(
            interval="10s",
            warmup="0s",
            metrics=[{"name": "alive", "guard": {"query": READY_QUERY, "max": 2}}],
        )
    return model_rollout(
        ROLLOUT,
        steps=list(scenario.steps),
        baseline=BASELINE,
        candidate=CANDIDATE,
        route=ROLLOUT if scenario.router == "gatewayAPI" else None,
        analysis=analysis,
        progressDeadline="90s",
    )


def _wait_ready(kube: Kube, namespace: str, name: str, replicas: int) -> None:
    wait_for(
        lambda: kube.get(DEPLOYMENTS, name, namespace),
        lambda d: int(d.get("status", {}).get("readyReplicas") or 0) >= replicas,
        60,
        f"Deployment {namespace}/{name} Ready",
    )


def run_scenario(env: Environment, scenario: ScenarioPlan) -> Tally:
    """Run one scenario in a fresh namespace (deleted after) and check every invariant."""
    began = time.monotonic()
    tally = Tally(scenarios=1)
    kube = env.kube
    namespace = _create_namespace(kube, scenario.seed)
    log = env.workdir / f"controller-seed-{scenario.seed}.log"
    log.unlink(missing_ok=True)
    try:
        secret_data = base64.b64encode(scenario.marker.encode()).decode()
        kube.create(SECRETS, {"metadata": {"name": TOKEN_SECRET}, "data": {"token": secret_data}}, namespace)
        kube.create(DEPLOYMENTS, model_deployment(*BASELINE, replicas=scenario.baseline_replicas), namespace)
        kube.create(DEPLOYMENTS, model_deployment(*CANDIDATE, replicas=0), namespace)
        kube.create(DEPLOYMENTS, model_deployment(DECOY, "v0", replicas=1, app=DECOY), namespace)
        if scenario.router == "gatewayAPI":
            kube.create(HTTP_ROUTES, http_route(ROLLOUT, BASELINE[0], CANDIDATE[0]), namespace)
        _wait_ready(kube, namespace, BASELINE[0], scenario.baseline_replicas)
        controller = _Controller(env.testbed.kubeconfig, namespace, log)
        with contextlib.ExitStack() as stack:
            proxy = stack.enter_context(
                SlowProxy(env.prometheus.url, count_authorization=f"Bearer {scenario.marker}")
            )
            app = stack.enter_context(_AppWatch(kube, namespace))
            route = (
                stack.enter_context(_RouteWatch(kube, namespace)) if scenario.router == "gatewayAPI" else None
            )
            rollouts = stack.enter_context(_RolloutWatch(kube, namespace))
            driver = _Driver(env, scenario, namespace, proxy, controller, rollouts, tally)
            controller.start()
            try:
                kube.create(MODEL_ROLLOUTS, _rollout_body(scenario, proxy.url), namespace)
                tally.inputs["rollout"] += 1
                driver.run()
            finally:
                driver.finish()
                controller.stop()
        tally.tokens_sent = proxy.authorized_requests
        _check(
            tally, scenario, driver.ledger, app, route, rollouts, controller, _events(kube, namespace), log
        )
    finally:
        kube.delete(NAMESPACES, namespace)
    tally.seconds = time.monotonic() - began
    return tally


# --- the invariants -----------------------------------------------------------------------------


def _events(kube: Kube, namespace: str) -> list[KubeObject]:
    """The namespace's Events, as ``kubectl get events`` lists them."""
    return kube.list(EVENTS, namespace).items


def _state_at(records: list[tuple[int, KubeObject]], rv: int) -> int:
    """Index of the rollout version current at resourceVersion ``rv`` (0 before the first)."""
    return max((index for index, (seen, _) in enumerate(records) if seen <= rv), default=0)


def _check(
    tally: Tally,
    scenario: ScenarioPlan,
    ledger: _Ledger,
    app: _AppWatch,
    route: _RouteWatch | None,
    rollouts: _RolloutWatch,
    controller: _Controller,
    events: list[KubeObject],
    log: Path,
) -> None:
    """Check the six invariants on everything the watches recorded; count each check made."""

    def violated(invariant: Invariant, evidence: str) -> None:
        tally.violations.append(Violation(scenario.seed, invariant, evidence))

    records = rollouts.records
    previous: str | None = None
    for _, obj in records:
        result = _result(obj)
        if result is not None and result != previous:
            tally.outcomes[f"{result} ({_status(obj)['outcome'].get('reason')})"] += 1
        previous = result

    # 1. serving
    tally.checks[Invariant.SERVING] += len(app.totals)
    if app.lowest == 0:
        violated(Invariant.SERVING, f"Ready pods of {BASELINE[0]} + {CANDIDATE[0]} went to 0: {app.totals}")

    # 2. weights: status.weight, then the route's candidate weight
    last: tuple[int, str | None, str | None] | None = None
    for rv, obj in records:
        status = _status(obj)
        if status.get("weight") is None:
            continue
        weight, retried, result = int(status["weight"]), status.get("retriedAt"), _result(obj)
        tally.checks[Invariant.WEIGHTS] += 1
        if last is not None and weight < last[0]:
            allowed = weight == 0 and (result in ENDED_BADLY or last[2] in ENDED_BADLY or retried != last[1])
            if not allowed:
                violated(
                    Invariant.WEIGHTS,
                    f"status.weight went {last[0]} -> {weight} at rv {rv} with outcome {result}",
                )
        last = (weight, retried, result)
    if route is not None:
        for (before_rv, before), (rv, weight) in itertools.pairwise(route.changes):
            tally.checks[Invariant.WEIGHTS] += 1
            if weight >= before:
                continue
            window = records[_state_at(records, before_rv) : _state_at(records, rv) + 1]
            ended = [_result(obj) for _, obj in window if _result(obj) in ENDED_BADLY]
            if weight != 0 or not ended:
                violated(
                    Invariant.WEIGHTS,
                    f"route weight of {CANDIDATE[0]} went {before} -> {weight} (rv {before_rv} -> {rv}) "
                    f"with no rollback, abort or failure recorded in between; weights {route.weights}",
                )

    # 3. promotion (and aborts) only as people said
    previous = None
    for rv, obj in records:
        result = _result(obj)
        since = max((retry for retry in ledger.retries if retry < rv), default=0)
        if result == "Aborted" and previous != "Aborted":
            tally.checks[Invariant.PROMOTION] += 1
            if not any(since < abort < rv for abort in ledger.aborts):
                violated(Invariant.PROMOTION, f"Aborted at rv {rv} with no abort of {CANDIDATE[1]} written")
        if result == "Succeeded" and previous != "Succeeded":
            tally.checks[Invariant.PROMOTION] += 1
            approved = {
                step
                for seen, step, version in ledger.approvals
                if since < seen < rv and version == CANDIDATE[1]
            }
            missing = [gate for gate in scenario.gates if gate not in approved]
            aborted = [abort for abort in ledger.aborts if since < abort < rv]
            if missing:
                violated(
                    Invariant.PROMOTION,
                    f"Succeeded at rv {rv} with gates {missing} never approved for {CANDIDATE[1]} since rv "
                    f"{since}; approvals written (rv, step, version): {ledger.approvals}",
                )
            if aborted:
                violated(Invariant.PROMOTION, f"Succeeded at rv {rv} after the abort written at rv {aborted}")
        previous = result

    # 4. secret
    marker = scenario.marker
    places: list[tuple[str, str]] = [(f"rollout at rv {rv}", json.dumps(obj)) for rv, obj in records]
    places += [(f"Event {event['metadata']['name']}", json.dumps(event)) for event in events]
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    places += [(f"controller log line {number}", line) for number, line in enumerate(lines, 1)]
    tally.checks[Invariant.SECRET] += len(places)
    for where, text in places:
        if marker in text:
            violated(
                Invariant.SECRET,
                f"the planted marker is in the {where}: {text.replace(marker, '<MARKER>')[:500]}",
            )
    tally.conflicts_logged = sum(1 for line in lines if CONFLICT_RETRIED in line)

    # 5. decoy
    tally.checks[Invariant.DECOY] += len(app.decoy_generations)
    if len(set(app.decoy_generations)) > 1:
        violated(Invariant.DECOY, f"the decoy Deployment's generation changed: {app.decoy_generations}")

    # 6. process
    tally.checks[Invariant.PROCESS] += controller.kills + 1
    for problem in controller.unexpected:
        violated(Invariant.PROCESS, f"the controller {problem}")


def run_campaign(
    env: Environment, seeds: list[int], progress: Callable[[ScenarioPlan, Tally], None] | None = None
) -> Tally:
    """Run the scenario of each seed in turn; the counts of all of them."""
    total = Tally()
    for seed in seeds:
        scenario = plan(seed)
        result = run_scenario(env, scenario)
        total.add(result)
        if progress is not None:
            progress(scenario, result)
    return total
