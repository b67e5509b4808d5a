"""Preflight: what is wrong with a candidate Deployment before any traffic reaches it.

A candidate that cannot serve like the baseline must never receive traffic, and the person who
owns it must learn from the message alone which field is wrong and how to fix it. The classic
case: the candidate's manifest lost its ``nvidia.com/gpu`` request, its pods land on a CPU node,
load the model there, turn "Running" and Ready, and answer 40 times slower. Statistics would
catch that only after users felt it; the manifest shows it before the first request.

:func:`preflight` compares the candidate Deployment with the baseline's, both as plain dicts
(what ``kubectl get -o json`` or the API server returns), and returns every finding at once.
Each finding names a rule (:class:`Rule`, a stable CamelCase name), a field path inside the
candidate Deployment (``spec.template.spec.containers[0].resources``), what is wrong and a
concrete fix. Rules have a fixed severity:

- errors block the rollout (the controller reports ``PreflightFailed`` with
  :meth:`PreflightReport.summary`) and cannot be acknowledged;
- warnings become Events; a rollout owner who has judged one harmless lists its rule name in
  ``spec.guardrails.acknowledge``, after which it is still reported, marked acknowledged, but
  no longer counted.

Which containers serve the model: the probe rules look at the containers that ask for an
accelerator in the candidate or in the baseline (matched by name); when none does, at the
container named by the ``kubectl.kubernetes.io/default-container`` annotation, else at the
first container. Sidecars (proxies, log shippers) are thereby left alone.

The slowest request the rollout expects, against which ``terminationGracePeriodSeconds`` is
checked, is the larger of the baseline's grace period (its owners' judgement, and a candidate
that shortens it is a regression) and :data:`SLOW_REQUEST_SLO_MULTIPLE` times the largest
latency ``slo`` of the rollout's metrics.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from rollouts.api.durations import Duration
from rollouts.api.spec import AutoscalerRef, Guardrails, ModelRolloutSpec
from rollouts.guardrails.accelerators import AcceleratorResources, container_demand
from rollouts.guardrails.autoscalers import Autoscaler, others
from rollouts.guardrails.objects import (
    POD_SPEC_PATH,
    KubeObject,
    mapping,
    mappings,
    name_of,
    number,
    pod_spec_of,
    text,
    value,
)

CONTAINERS_PATH = f"{POD_SPEC_PATH}.containers"

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

DEPLOYMENT_PROGRESS_DEADLINE_DEFAULT = 600
"""Seconds: Kubernetes' default ``spec.progressDeadlineSeconds``."""

TERMINATION_GRACE_DEFAULT = 30
"""Seconds: Kubernetes' default ``terminationGracePeriodSeconds``."""

SLOW_REQUEST_SLO_MULTIPLE = 10
"""The slowest request a rollout expects, as a multiple of its latency ``slo``.

Ten times the objective: rare, but real on a GPU server, where one request can queue behind a
full batch and a cold cache. With ``slo: 0.5`` that is 5 s, well inside the default 30 s grace
period; a generative model with ``slo: 20`` needs 200 s.
"""

LIVENESS_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3}
"""Kubernetes' probe defaults, which decide how soon a liveness probe kills a silent container."""

READY_ENDPOINT_EXAMPLE = "httpGet: {path: /v2/health/ready, port: 8080}"
"""A readiness check that reports "model loaded": the KServe/Triton open inference protocol's."""


class Severity(StrEnum):
    """How a finding counts: errors block the rollout, warnings are reported as Events."""

    ERROR = "error"
    WARNING = "warning"


class Rule(StrEnum):
    """The preflight rules. The names are stable: users acknowledge warnings by them."""

    ACCELERATOR_MISSING = "AcceleratorMissing"
    ACCELERATOR_AMOUNT_INVALID = "AcceleratorAmountInvalid"
    ACCELERATOR_PLACEMENT_CHANGED = "AcceleratorPlacementChanged"
    READINESS_PROBE_MISSING = "ReadinessProbeMissing"
    READINESS_PROBE_TCP_ONLY = "ReadinessProbeTCPOnly"
    STARTUP_PROBE_MISSING = "StartupProbeMissing"
    PROGRESS_DEADLINE_TOO_SHORT = "ProgressDeadlineTooShort"
    TERMINATION_GRACE_TOO_SHORT = "TerminationGraceTooShort"
    RESOURCE_REQUESTS_MISSING = "ResourceRequestsMissing"
    AUTOSCALER_UNUSABLE = "AutoscalerUnusable"
    AUTOSCALER_CONFLICT = "AutoscalerConflict"
    AUTOSCALER_BOUNDS = "AutoscalerBounds"

    @property
    def severity(self) -> Severity:
        """The rule's fixed severity."""
        return Severity.ERROR if self in _ERROR_RULES else Severity.WARNING


_ERROR_RULES = frozenset(
    {
        Rule.ACCELERATOR_MISSING,
        Rule.ACCELERATOR_AMOUNT_INVALID,
        Rule.READINESS_PROBE_MISSING,
        Rule.AUTOSCALER_UNUSABLE,
        Rule.AUTOSCALER_CONFLICT,
    }
)


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the candidate Deployment, at a field path inside it, with its fix."""

    rule: Rule
    path: str
    message: str
    fix: str
    acknowledged: bool = False

    @property
    def severity(self) -> Severity:
        """The severity of the finding's rule."""
        return self.rule.severity

    def render(self) -> str:
        """One line for logs, Events and terminals."""
        mark = " (acknowledged)" if self.acknowledged else ""
        return f"{self.severity}{mark}: {self.rule}: {self.path}: {self.message}. Fix: {self.fix}"

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``-o json``."""
        return {
            "rule": str(self.rule),
            "severity": str(self.severity),
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "acknowledged": self.acknowledged,
        }


@dataclass(frozen=True)
class PreflightReport:
    """Every finding about one candidate Deployment, errors first."""

    baseline: str
    candidate: str
    findings: tuple[Finding, ...]
    kind: str = "Deployment"
    """What the candidate is, for messages (an InferenceService: rollouts.guardrails.inference_services)."""

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that block the rollout."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Warnings not acknowledged by the rollout: each becomes an Event."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING and not f.acknowledged)

    @property
    def acknowledged(self) -> tuple[Finding, ...]:
        """Warnings the rollout acknowledged: reported, not counted."""
        return tuple(f for f in self.findings if f.acknowledged)

    @property
    def passed(self) -> bool:
        """True when nothing blocks the rollout (warnings allowed)."""
        return not self.errors

    def counts(self) -> str:
        """``1 error, 2 warnings, 1 acknowledged``."""
        parts = [
            f"{len(self.errors)} error{'s' * (len(self.errors) != 1)}",
            f"{len(self.warnings)} warning{'s' * (len(self.warnings) != 1)}",
        ]
        if self.acknowledged:
            parts.append(f"{len(self.acknowledged)} acknowledged")
        return ", ".join(parts)

    def summary(self) -> str:
        """One line: for ``PreflightFailed``, the first error with its field and fix."""
        if not self.errors:
            return f"candidate {self.kind} {self.candidate} passed preflight ({self.counts()})"
        first = self.errors[0]
        text = f"candidate {self.kind} {self.candidate}: {first.path}: {first.message}. Fix: {first.fix}"
        more = len(self.errors) - 1
        return text + (f" (and {more} more error{'s' * (more > 1)})" if more else "")

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``-o json``."""
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "passed": self.passed,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "acknowledged": len(self.acknowledged),
            "findings": [finding.as_json() for finding in self.findings],
        }


@dataclass(frozen=True)
class _Policy:
    """The parts of a ModelRollout spec that preflight reads."""

    progress_deadline: Duration
    guardrails: Guardrails
    largest_slo: float | None
    autoscaler: AutoscalerRef | None = None
    pinned_replicas: int | None = None

    @classmethod
    def from_spec(cls, spec: ModelRolloutSpec | None) -> _Policy:
        if spec is None:
            default_deadline = ModelRolloutSpec.model_fields["progress_deadline"].default
            return cls(Duration(default_deadline), Guardrails(), None)
        slos = [m.latency.slo for m in spec.analysis.metrics if m.latency and m.latency.slo]
        pinned = spec.candidate.replicas if isinstance(spec.candidate.replicas, int) else None
        return cls(spec.progress_deadline, spec.guardrails, max(slos, default=None), spec.autoscaler, pinned)


@dataclass(frozen=True)
class _Pair:
    """Baseline and candidate, with what every rule needs from them."""

    baseline: KubeObject
    candidate: KubeObject
    policy: _Policy
    accelerators: AcceleratorResources
    autoscalers: tuple[Autoscaler, ...] = ()
    """Every autoscaler of the rollout's namespace (none known: ``rollouts preflight``)."""

    @property
    def baseline_pod(self) -> KubeObject:
        return pod_spec_of(self.baseline)

    @property
    def candidate_pod(self) -> KubeObject:
        return pod_spec_of(self.candidate)

    def containers(self, pod: KubeObject) -> list[KubeObject]:
        return mappings(pod, "containers")

    def demands(self, pod: KubeObject) -> list[tuple[str, Mapping[str, int]]]:
        """(container name, accelerators asked for) for each container of a pod spec."""
        return [
            (text(c, "name"), container_demand(c, self.accelerators).amounts) for c in self.containers(pod)
        ]


def preflight(
    spec: ModelRolloutSpec | None,
    baseline: KubeObject,
    candidate: KubeObject,
    autoscalers: Sequence[Autoscaler] = (),
) -> PreflightReport:
    """Check the candidate Deployment against the baseline Deployment and the rollout's spec.

    ``spec`` None means the spec's defaults (``rollouts preflight`` without ``--rollout``):
    progressDeadline 20m, the default accelerator list, nothing acknowledged, no latency slo.
    ``autoscalers``: those of the namespace, checked against spec.autoscaler.
    """
    policy = _Policy.from_spec(spec)
    accelerators = AcceleratorResources.from_guardrails(policy.guardrails)
    pair = _Pair(baseline, candidate, policy, accelerators, tuple(autoscalers))
    found = [
        *_accelerator_amounts(pair),
        *_accelerator_placement(pair),
        *_probes(pair),
        *_progress_deadline(pair),
        *_termination_grace(pair),
        *_resource_requests(pair),
        *_autoscalers(pair),
    ]
    accepted = set(policy.guardrails.acknowledge)
    marked = [
        replace(f, acknowledged=True) if f.severity is Severity.WARNING and f.rule in accepted else f
        for f in found
    ]
    marked.sort(key=lambda f: f.severity is not Severity.ERROR)
    return PreflightReport(name_of(baseline), name_of(candidate), tuple(marked))


# --- accelerators ------------------------------------------------------------------------------


def _counted(amounts: Mapping[str, int]) -> str:
    """``1 nvidia.com/gpu, 2 amd.com/gpu``, for messages."""
    return ", ".join(f"{count} {resource}" for resource, count in sorted(amounts.items()))


def _as_yaml(amounts: Mapping[str, int]) -> str:
    """``nvidia.com/gpu: 1``, for fixes: what to write in the manifest."""
    return ", ".join(f"{resource}: {count}" for resource, count in sorted(amounts.items()))


def _accelerator_amounts(pair: _Pair) -> Iterator[Finding]:
    """The candidate asks for fewer accelerators than the baseline, per container and in total."""
    candidate_containers = pair.containers(pair.candidate_pod)
    for index, container in enumerate(candidate_containers):
        for invalid in container_demand(container, pair.accelerators).invalid:
            yield Finding(
                Rule.ACCELERATOR_AMOUNT_INVALID,
                f"{CONTAINERS_PATH}[{index}].resources.{invalid.field}",
                f"{invalid.resource}: {invalid.problem}",
                f"ask for a whole number of devices, e.g. {invalid.resource}: 1",
            )
    candidate = pair.demands(pair.candidate_pod)
    baseline = pair.demands(pair.baseline_pod)
    position = {name: index for index, (name, _) in enumerate(candidate)}
    reported = Counter[str]()
    for name, wanted in baseline:
        at = position.get(name)
        if at is None:
            continue
        got = candidate[at][1]
        short = {resource: count for resource, count in wanted.items() if got.get(resource, 0) < count}
        if not short:
            continue
        reported.update({resource: count - got.get(resource, 0) for resource, count in short.items()})
        path = f"{CONTAINERS_PATH}[{at}].resources"
        instead = {r: c for r, c in got.items() if r not in wanted}
        yield Finding(
            Rule.ACCELERATOR_MISSING,
            path,
            f"container {name!r} asks for {_counted({r: got.get(r, 0) for r in short})} where the "
            f"baseline's asks for {_counted(short)}"
            + (f" (it asks for {_counted(instead)} instead)" if instead else "")
            + ": the pods can be scheduled without the device and load the model on CPU",
            f"set {_as_yaml(short)} in {path}.limits, as the baseline does"
            + ("; a change of accelerator type is a new baseline, not a canary" if instead else ""),
        )
    yield from _accelerator_total(baseline, candidate, reported)


def _accelerator_total(
    baseline: Sequence[tuple[str, Mapping[str, int]]],
    candidate: Sequence[tuple[str, Mapping[str, int]]],
    reported: Counter[str],
) -> Iterator[Finding]:
    """A shortfall in total beyond the per-container ones already reported (renamed containers)."""
    baseline_total = Counter[str]()
    candidate_total = Counter[str]()
    for _, amounts in baseline:
        baseline_total.update(amounts)
    for _, amounts in candidate:
        candidate_total.update(amounts)
    short = {
        resource: count
        for resource, count in baseline_total.items()
        if count - candidate_total[resource] > reported[resource]
    }
    if not short:
        return
    holders = ", ".join(repr(name) for name, amounts in baseline if set(amounts) & set(short))
    yield Finding(
        Rule.ACCELERATOR_MISSING,
        CONTAINERS_PATH,
        f"the candidate's containers ask for {_counted({r: candidate_total[r] for r in short})} in "
        f"total, the baseline's for {_counted(short)}: the model server may run without its accelerator",
        f"give the candidate's model server container the accelerators the baseline's {holders} "
        f"asks for ({_as_yaml(short)} in total) in resources.limits",
    )


def _compact(item: object) -> str:
    if item is None:
        return "(unset)"
    written = json.dumps(item, sort_keys=True, separators=(",", ":"))
    return written if len(written) <= 120 else written[:117] + "..."


def _difference(baseline: object, candidate: object) -> str:
    """What changed from ``baseline`` to ``candidate``, in words; empty when nothing did."""
    if isinstance(baseline, Mapping | None) and isinstance(candidate, Mapping | None):
        old, new = baseline or {}, candidate or {}
        keys = sorted(set(old) | set(new))
        return "; ".join(
            f"{k}: {_compact(old.get(k))} -> {_compact(new.get(k))}" for k in keys if old.get(k) != new.get(k)
        )
    if isinstance(baseline, list | None) and isinstance(candidate, list | None):
        old_items = {json.dumps(i, sort_keys=True): i for i in baseline or []}
        new_items = {json.dumps(i, sort_keys=True): i for i in candidate or []}
        lost = [_compact(old_items[k]) for k in sorted(old_items.keys() - new_items.keys())]
        gained = [_compact(new_items[k]) for k in sorted(new_items.keys() - old_items.keys())]
        return "; ".join(
            part
            for part in (
                f"missing {', '.join(lost)}" if lost else "",
                f"added {', '.join(gained)}" if gained else "",
            )
            if part
        )
    return "" if baseline == candidate else f"{_compact(baseline)} -> {_compact(candidate)}"


_OTHER_NODES = "the candidate may land on other hardware, or on a node without the device"

_PLACEMENT_FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("nodeSelector",), _OTHER_NODES),
    (("tolerations",), "the candidate may be kept off the tainted GPU nodes, or let onto other nodes"),
    (("affinity", "nodeAffinity"), _OTHER_NODES),
    (("runtimeClassName",), "without the baseline's runtime class the container may not see the device"),
)


def _accelerator_placement(pair: _Pair) -> Iterator[Finding]:
    """Node placement of an accelerator workload differs from the baseline's."""
    if not any(amounts for _, amounts in pair.demands(pair.baseline_pod)):
        return
    for keys, consequence in _PLACEMENT_FIELDS:
        changed = _difference(value(pair.baseline_pod, *keys), value(pair.candidate_pod, *keys))
        if not changed:
            continue
        path = ".".join((POD_SPEC_PATH, *keys))
        yield Finding(
            Rule.ACCELERATOR_PLACEMENT_CHANGED,
            path,
            f"{keys[-1]} differs from the baseline's ({changed}): {consequence}, and its latency "
            "would be compared with the baseline's across different machines",
            f"copy the baseline's {path} into the candidate, or acknowledge "
            f"{Rule.ACCELERATOR_PLACEMENT_CHANGED} if the move is intended",
        )


# --- probes ------------------------------------------------------------------------------------


def _serving_containers(pair: _Pair) -> list[tuple[int, KubeObject]]:
    """The containers that serve the model (see the module docstring)."""
    containers = pair.containers(pair.candidate_pod)
    with_devices = {name for name, amounts in pair.demands(pair.baseline_pod) if amounts}
    with_devices |= {name for name, amounts in pair.demands(pair.candidate_pod) if amounts}
    serving = [(i, c) for i, c in enumerate(containers) if text(c, "name") in with_devices]
    if serving:
        return serving
    annotations = mapping(pair.candidate, "spec", "template", "metadata", "annotations")
    default = text(annotations, DEFAULT_CONTAINER_ANNOTATION)
    named = [(i, c) for i, c in enumerate(containers) if default and text(c, "name") == default]
    return named or list(enumerate(containers[:1]))


def _liveness_budget(probe: KubeObject) -> int:
    """Seconds after start at which a liveness probe that never succeeds restarts the container."""
    initial, period, threshold = (
        number(probe, key, default=default) for key, default in LIVENESS_DEFAULTS.items()
    )
    return initial + period * threshold


def _probes(pair: _Pair) -> Iterator[Finding]:
    """Readiness that cannot say "model loaded", and liveness that can kill a loading model."""
    deadline = pair.policy.progress_deadline.seconds
    for index, container in _serving_containers(pair):
        name = text(container, "name")
        path = f"{CONTAINERS_PATH}[{index}]"
        readiness = value(container, "readinessProbe")
        if not isinstance(readiness, Mapping):
            yield Finding(
                Rule.READINESS_PROBE_MISSING,
                f"{path}.readinessProbe",
                f"container {name!r} has no readinessProbe: its pods turn Ready as soon as the "
                "process starts, before the model is loaded, and traffic would reach them",
                f"add a readinessProbe that succeeds only once the model is loaded on its device, "
                f"e.g. {READY_ENDPOINT_EXAMPLE}",
            )
        elif "tcpSocket" in readiness:
            yield Finding(
                Rule.READINESS_PROBE_TCP_ONLY,
                f"{path}.readinessProbe.tcpSocket",
                f"container {name!r} is Ready when its port accepts a connection, which most "
                "servers do before the model is loaded (and when it is loaded on CPU)",
                f"replace tcpSocket with a check of model readiness, e.g. {READY_ENDPOINT_EXAMPLE}",
            )
        liveness = mapping(container, "livenessProbe")
        budget = _liveness_budget(liveness)
        if liveness and "startupProbe" not in container and budget < deadline:
            yield Finding(
                Rule.STARTUP_PROBE_MISSING,
                f"{path}.startupProbe",
                f"container {name!r} has a livenessProbe and no startupProbe: it is restarted if it "
                f"does not answer within {budget}s of starting, but the rollout allows "
                f"{pair.policy.progress_deadline} for the model to load",
                f"add a startupProbe on the same check with periodSeconds: 10 and failureThreshold: "
                f"{math.ceil(deadline / 10)}, which holds the livenessProbe off until the model is loaded",
            )


# --- lifecycle ---------------------------------------------------------------------------------


def _progress_deadline(pair: _Pair) -> Iterator[Finding]:
    """The Deployment gives up on progress before the rollout does."""
    rollout_deadline = pair.policy.progress_deadline.seconds
    deployment_deadline = number(
        pair.candidate, "spec", "progressDeadlineSeconds", default=DEPLOYMENT_PROGRESS_DEADLINE_DEFAULT
    )
    if deployment_deadline >= rollout_deadline:
        return
    written = "progressDeadlineSeconds" in mapping(pair.candidate, "spec")
    yield Finding(
        Rule.PROGRESS_DEADLINE_TOO_SHORT,
        "spec.progressDeadlineSeconds",
        f"the Deployment reports ProgressDeadlineExceeded after {deployment_deadline}s"
        + ("" if written else " (the default)")
        + f", before the rollout's progressDeadline of {pair.policy.progress_deadline}: a model "
        "still loading looks failed to kubectl, alerts and CI",
        f"set spec.progressDeadlineSeconds: {math.ceil(rollout_deadline)} or more",
    )


def _termination_grace(pair: _Pair) -> Iterator[Finding]:
    """Stopped pods get less time than the slowest request the rollout expects."""
    grace = number(pair.candidate_pod, "terminationGracePeriodSeconds", default=TERMINATION_GRACE_DEFAULT)
    baseline_grace = number(
        pair.baseline_pod, "terminationGracePeriodSeconds", default=TERMINATION_GRACE_DEFAULT
    )
    needs: list[tuple[float, str]] = [(baseline_grace, f"the baseline's {baseline_grace}s")]
    slo = pair.policy.largest_slo
    if slo is not None:
        slowest = SLOW_REQUEST_SLO_MULTIPLE * slo
        needs.append((slowest, f"{slowest:g}s, {SLOW_REQUEST_SLO_MULTIPLE} x the latency slo of {slo:g}s"))
    required, why = max(needs)
    if grace >= required:
        return
    yield Finding(
        Rule.TERMINATION_GRACE_TOO_SHORT,
        f"{POD_SPEC_PATH}.terminationGracePeriodSeconds",
        f"stopped pods get {grace}s to finish requests in flight, less than {why}: requests cut "
        "off by a node drain, a scale-down or a rollback fail and count against the candidate",
        f"set {POD_SPEC_PATH}.terminationGracePeriodSeconds: {math.ceil(required)}, and let the "
        "server finish in-flight requests on SIGTERM",
    )


_SCHEDULING_RESOURCES = ("cpu", "memory")


def _resource_requests(pair: _Pair) -> Iterator[Finding]:
    """Containers that ask for no cpu or memory (a limit counts: the request defaults to it)."""
    baseline_requests = {
        text(c, "name"): mapping(c, "resources", "requests") for c in pair.containers(pair.baseline_pod)
    }
    for index, container in enumerate(pair.containers(pair.candidate_pod)):
        name = text(container, "name")
        asked = {*mapping(container, "resources", "requests"), *mapping(container, "resources", "limits")}
        missing = [resource for resource in _SCHEDULING_RESOURCES if resource not in asked]
        if not missing:
            continue
        example = _example_requests(missing, baseline_requests.get(name, {}))
        yield Finding(
            Rule.RESOURCE_REQUESTS_MISSING,
            f"{CONTAINERS_PATH}[{index}].resources.requests",
            f"container {name!r} requests no {' or '.join(missing)}: it may be packed onto a busy "
            "node and is evicted first under memory pressure, so its latency measures its neighbours",
            f"set resources.requests {example}",
        )


def _example_requests(missing: Sequence[str], baseline: KubeObject) -> str:
    """``cpu: 4, memory: 16Gi as the baseline does`` when the baseline's container says."""
    fields = " and ".join(missing)
    if all(resource in baseline for resource in missing):
        return ", ".join(f"{r}: {baseline[r]}" for r in missing) + " as the baseline does"
    return f"{fields} to what the server uses under load"


# --- autoscalers ---------------------------------------------------------------------------------

AUTOSCALER_PATH = "spec.autoscaler"
"""The ModelRollout field the autoscaler findings are about (not a field of the Deployment)."""
KSERVE_OWNER = "InferenceService"
"""The owner kind of the HPAs KServe makes in raw mode (it reconciles them back if moved)."""


def _conflict_fix(other: Autoscaler, side: str) -> str:
    """How to end a fight with ``other``, an autoscaler the rollout does not name.

    Decision: an HPA that KServe made for an InferenceService (raw mode) is not handed over —
    KServe owns it and would move it back — so the fix is KServe's ``external`` autoscaler class.
    """
    if other.managed_by == KSERVE_OWNER:
        return (
            f"KServe made {other.kind} {other.name} for its InferenceService and would undo a move: "
            "annotate the InferenceService serving.kserve.io/autoscalerClass: external, so that KServe "
            "leaves the predictor's size to the rollout (docs/kserve.md)"
        )
    if side == "baseline":
        return (
            f"name it in {AUTOSCALER_PATH} (kind {other.kind}, name {other.name}); the gatewayAPI router is "
            "needed"
        )
    return (
        f"delete {other.kind} {other.name}: the rollout moves the baseline's autoscaler to the candidate on "
        "promotion"
    )


def _autoscalers(pair: _Pair) -> Iterator[Finding]:
    """An autoscaler the rollout would fight, or one it cannot hand over (docs/autoscalers.md).

    The named autoscaler must size the baseline; no other may size either Deployment (its
    next sync would undo the rollout's sizes, and after promotion the candidate would serve
    100% with no autoscaler, or with two).
    """
    named = pair.policy.autoscaler
    baseline, candidate = name_of(pair.baseline), name_of(pair.candidate)
    for other in others(pair.autoscalers, named):
        if other.target in (baseline, candidate):
            side = "baseline" if other.target == baseline else "candidate"
            yield Finding(
                Rule.AUTOSCALER_CONFLICT,
                AUTOSCALER_PATH,
                f"{other.kind} {other.name} already sizes the {side} Deployment {other.target} and "
                f"{AUTOSCALER_PATH} does not name it: it would undo the rollout's sizes",
                _conflict_fix(other, side),
            )
    if named is None:
        return
    found = next((other for other in pair.autoscalers if other.named(named.kind, named.name)), None)
    if found is None or found.target != baseline:
        where = "is not in the namespace" if found is None else f"sizes {found.target or 'no Deployment'}"
        yield Finding(
            Rule.AUTOSCALER_UNUSABLE,
            f"{AUTOSCALER_PATH}.name",
            f"{named.kind} {named.name} {where}, not the baseline Deployment {baseline}: there is "
            "nothing to hand over",
            f"point its spec.scaleTargetRef at Deployment {baseline}, or name the autoscaler that does "
            f"(the controller must be allowed to list {named.kind} objects: deploy/controller)",
        )
        return
    sizes = {"the baseline's": number(pair.baseline, "spec", "replicas", default=1)}
    if pair.policy.pinned_replicas is not None:
        sizes["the pinned candidate.replicas"] = pair.policy.pinned_replicas
    for what, size in sizes.items():
        if not found.holds(size):
            yield Finding(
                Rule.AUTOSCALER_BOUNDS,
                AUTOSCALER_PATH,
                f"{what} size {size} is outside {found.kind} {found.name}'s minReplicas "
                f"{found.min_replicas} to maxReplicas {found.max_replicas}: it resizes the Deployment, "
                "and the rollout's planned sizes follow",
                f"widen minReplicas/maxReplicas to hold {size}, or acknowledge {Rule.AUTOSCALER_BOUNDS}",
            )
