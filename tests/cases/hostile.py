"""A corpus of hostile or careless ModelRollout manifests, each with the field it must be refused at.

Why a second corpus next to :data:`tests.cases.rollouts.MALFORMED`: that one pins messages and
which part of the API server (schema or CEL) answers; this one is about *coverage* of what a
careless or hostile author writes — plans that mean nothing, credentials in a URL, a version
compared with itself, queries that read the same series for both cohorts, regex variables,
numbers and booleans written as text, bad timestamps, over-long strings and lists, unknown
fields, wrong types, huge numbers. Each case names the field path that ``rollouts lint`` must
report and the field the API server's refusal must name (``server_path``, the same unless the
server reports a map or a list where lint is more precise).

Every case is refused by both: the unit test (tests/unit/test_hostile_specs.py) runs them
through lint, the cluster test (tests/integration/test_hostile_specs_apiserver.py) through a
real kube-apiserver with ``fieldValidation=Strict``. No case needs the controller: everything
here is expressible in the CRD's schema and CEL rules.

The corpus holds 176 manifests (a test keeps that count honest).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.cases.rollouts import valid_rollout

Breaker = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Hostile:
    """One hostile manifest: how to break the valid one, and the field each checker must name."""

    name: str
    breaks: Breaker
    path: str
    server_path: str = ""

    @property
    def server_field(self) -> str:
        """The field the API server must name (``path`` unless stated otherwise)."""
        return self.server_path or self.path

    def rollout(self) -> dict[str, Any]:
        """A fresh valid rollout with this case's defect applied."""
        obj = copy.deepcopy(valid_rollout(name=f"hostile-{self.name}"[:63].rstrip("-")))
        self.breaks(obj)
        return obj


def _walk(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        obj = obj[int(part)] if part.isdigit() else obj[part]
    return obj


def put(path: str, value: Any) -> Breaker:
    """Set ``spec.a.0.b`` (numbers index lists) to ``value``, creating missing mappings."""

    def apply(obj: dict[str, Any]) -> None:
        parts = path.split(".")
        node: Any = obj
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def drop(path: str) -> Breaker:
    """Delete the key at ``path``."""

    def apply(obj: dict[str, Any]) -> None:
        parts = path.split(".")
        del _walk(obj, parts[:-1])[parts[-1]]

    return apply


def both(*breakers: Breaker) -> Breaker:
    """Apply several changes in order."""

    def apply(obj: dict[str, Any]) -> None:
        for breaker in breakers:
            breaker(obj)

    return apply


STEPS = "spec.steps"
ANALYSIS = "spec.analysis"
PROMETHEUS = "spec.analysis.prometheus"
ERRORS = "spec.analysis.metrics.0.errorRate"
LATENCY = "spec.analysis.metrics.1.latency"
DRIFT = "spec.analysis.metrics.2.drift"
GUARD = "spec.analysis.metrics.3.guard"
VERSIONED = 'model_requests_total{version="{{version}}"}'


def lint_path(dotted: str) -> str:
    """``spec.steps.0.setWeight`` → ``spec.steps[0].setWeight`` (how lint and the server write it)."""
    text = ""
    for part in dotted.split("."):
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def at(dotted: str, value: Any, *, field: str = "", server: str = "") -> tuple[Breaker, str, str]:
    """A case that sets ``dotted``: the change, the field lint names and the one the server names.

    ``field`` defaults to ``dotted`` itself; ``server`` to ``field``.
    """
    return put(dotted, value), field or lint_path(dotted), server


# (name, (breaker, path, server_path)) — grouped by what the author got wrong.
_CASES: list[tuple[str, tuple[Breaker, str, str]]] = [
    # --- plans that mean nothing (issue 10, item 7) ---
    ("plan-only-weight-0", at(STEPS, [{"setWeight": 0}], field="spec.steps[0].setWeight")),
    ("plan-weight-0-first", at(STEPS + ".0.setWeight", 0)),
    (
        "plan-weight-0-then-50",
        at(STEPS, [{"setWeight": 0}, {"setWeight": 50}], field="spec.steps[0].setWeight"),
    ),
    ("plan-only-approve", (put(STEPS, [{"approve": {}}]), "spec.steps", "")),
    ("plan-approve-before-weight", (put(STEPS, [{"approve": {}}, {"setWeight": 100}]), "spec.steps", "")),
    (
        "plan-analyze-at-0",
        (put(STEPS, [{"analyze": {"duration": "5m"}}, {"setWeight": 50}]), "spec.steps", ""),
    ),
    ("plan-empty", at(STEPS, [])),
    (
        "plan-decreasing",
        at(
            STEPS,
            [{"setWeight": 50}, {"setWeight": 20}],
            field="spec.steps[1].setWeight",
            server="spec.steps",
        ),
    ),
    ("plan-decreasing-later", at(STEPS + ".5.setWeight", 10, server="spec.steps")),
    ("weight-negative", at(STEPS + ".0.setWeight", -5)),
    ("weight-above-100", at(STEPS + ".0.setWeight", 101)),
    ("weight-huge", at(STEPS + ".0.setWeight", 10**30)),
    ("weight-fraction", at(STEPS + ".0.setWeight", 50.5)),
    ("weight-string", at(STEPS + ".0.setWeight", "50")),
    ("weight-underscore-string", at(STEPS + ".0.setWeight", "5_0")),
    ("weight-true", at(STEPS + ".0.setWeight", True)),
    ("weight-percent", at(STEPS + ".0.setWeight", "50%")),
    ("weight-null-object", at(STEPS + ".0.setWeight", {"value": 5})),
    ("step-empty", at(STEPS + ".0", {})),
    ("step-two-kinds", at(STEPS + ".0", {"setWeight": 5, "approve": {}})),
    ("step-unknown-kind", at(STEPS + ".1", {"pause": {"duration": "5m"}}, field="spec.steps[1].pause")),
    ("step-typo", at(STEPS + ".0", {"setweight": 5}, field="spec.steps[0].setweight")),
    ("steps-65", at(STEPS, [{"setWeight": 5}] * 65)),
    ("steps-string", at(STEPS, "5,25,50,100")),
    ("analyze-0s", at(STEPS + ".1.analyze.duration", "0s")),
    ("analyze-0m0s", at(STEPS + ".1.analyze.duration", "0m0s")),
    ("analyze-words", at(STEPS + ".1.analyze.duration", "15 minutes")),
    ("analyze-negative", at(STEPS + ".1.analyze.duration", "-5m")),
    ("analyze-fraction", at(STEPS + ".1.analyze.duration", "1.5h")),
    ("analyze-number", at(STEPS + ".1.analyze.duration", 900)),
    ("analyze-missing-duration", at(STEPS + ".1.analyze", {}, field="spec.steps[1].analyze.duration")),
    ("approve-with-fields", at(STEPS + ".4.approve", {"by": "ann"}, field="spec.steps[4].approve.by")),
    # --- durations that bound a wait ---
    ("timeout-0s", at(PROMETHEUS + ".timeout", "0s")),
    ("timeout-0h", at(PROMETHEUS + ".timeout", "0h")),
    ("interval-0s", at(ANALYSIS + ".interval", "0s")),
    ("interval-5s", at(ANALYSIS + ".interval", "5s")),
    ("progress-deadline-0s", at("spec.progressDeadline", "0s")),
    ("progress-deadline-00m", at("spec.progressDeadline", "00m")),
    ("max-duration-0s", at("spec.maxDuration", "0s")),
    ("max-duration-days", at("spec.maxDuration", "7d")),
    ("warmup-words", at(ANALYSIS + ".warmup", "two minutes")),
    ("scale-down-delay-ms", at("spec.scaleDown.delay", "500ms")),
    # --- guards and ranges that can never be met ---
    (
        "guard-min-above-max",
        at(GUARD, {"query": VERSIONED, "min": 10, "max": 1}, field="spec.analysis.metrics[3].guard.min"),
    ),
    ("guard-no-bound", at(GUARD, {"query": VERSIONED}, server="spec.analysis.metrics[3].guard")),
    ("guard-max-string", at(GUARD + ".max", "70000")),
    ("guard-consecutive-0", at(GUARD + ".consecutive", 0)),
    ("guard-consecutive-string", at(GUARD + ".consecutive", "2")),
    (
        "drift-range-reversed",
        at(DRIFT + ".range", {"min": 1, "max": 0}, field="spec.analysis.metrics[2].drift.range.min"),
    ),
    (
        "drift-range-empty",
        at(DRIFT + ".range", {"min": 0.5, "max": 0.5}, field="spec.analysis.metrics[2].drift.range.min"),
    ),
    (
        "drift-range-missing-max",
        at(DRIFT + ".range", {"min": 0}, field="spec.analysis.metrics[2].drift.range.max"),
    ),
    ("drift-warn-above-fail", at(DRIFT + ".warn", 0.5)),
    ("drift-fail-0", at(DRIFT + ".fail", 0)),
    ("drift-by-regex", at(DRIFT + ".by", "le|class")),
    ("drift-on-fail-ignore", at(DRIFT + ".onFail", "ignore")),
    ("drift-invalid-ratio-2", at(DRIFT + ".maxInvalidRatio", 2)),
    # --- credentials and odd URLs for Prometheus ---
    ("address-userinfo", at(PROMETHEUS + ".address", "http://admin:hunter2@prometheus:9090")),
    ("address-user-only", at(PROMETHEUS + ".address", "https://token@prometheus.monitoring")),
    ("address-query-token", at(PROMETHEUS + ".address", "http://prometheus:9090/?access_token=abc")),
    ("address-query-path", at(PROMETHEUS + ".address", "http://prometheus:9090/api?x=1")),
    ("address-fragment", at(PROMETHEUS + ".address", "http://prometheus:9090/#secret")),
    ("address-no-scheme", at(PROMETHEUS + ".address", "prometheus:9090")),
    ("address-file", at(PROMETHEUS + ".address", "file:///etc/passwd")),
    ("address-space", at(PROMETHEUS + ".address", "http://prometheus 9090")),
    ("address-empty", at(PROMETHEUS + ".address", "")),
    ("address-too-long", at(PROMETHEUS + ".address", "http://p/" + "a" * 2050)),
    (
        "two-auth-secrets",
        (
            both(
                put(PROMETHEUS + ".bearerTokenSecret", {"name": "t", "key": "token"}),
                put(PROMETHEUS + ".basicAuthSecret", {"name": "b"}),
            ),
            "spec.analysis.prometheus",
            "",
        ),
    ),
    (
        "secret-in-other-namespace",
        at(
            PROMETHEUS + ".bearerTokenSecret",
            {"name": "kube-system/token", "key": "t"},
            field="spec.analysis.prometheus.bearerTokenSecret.name",
        ),
    ),
    (
        "secret-key-empty",
        at(
            PROMETHEUS + ".bearerTokenSecret",
            {"name": "token", "key": ""},
            field="spec.analysis.prometheus.bearerTokenSecret.key",
        ),
    ),
    (
        "tls-skip-verify-string",
        at(
            PROMETHEUS + ".tls",
            {"insecureSkipVerify": "false"},
            field="spec.analysis.prometheus.tls.insecureSkipVerify",
        ),
    ),
    ("prometheus-missing", (drop(PROMETHEUS), "spec.analysis.prometheus", "")),
    # --- the same thing compared with itself ---
    ("same-version", at("spec.candidate.version", "2026-11-01")),
    ("same-deployment", at("spec.candidate.deployment", "fraud-scorer-v1")),
    ("same-backend", at("spec.traffic.gatewayAPI.candidateBackend", "fraud-scorer-v1")),
    # --- queries that read the same series for both cohorts (item 15) ---
    ("errors-without-version", at(ERRORS + ".errors", 'model_requests_total{code=~"5.."}')),
    ("total-without-version", at(ERRORS + ".total", "sum(model_requests_total)")),
    ("latency-without-version", at(LATENCY + ".buckets", "model_request_duration_seconds_bucket")),
    ("drift-without-version", at(DRIFT + ".buckets", "model_prediction_score_bucket")),
    ("drift-invalid-without-version", at(DRIFT + ".invalid", "model_invalid_predictions_total")),
    ("guard-without-version", at(GUARD + ".query", "max(model_gpu_memory_mib)")),
    ("ready-query-without-version", at(ANALYSIS + ".readyQuery", 'min(model_device_info{device!="cpu"})')),
    ("query-version-misspelt", at(ERRORS + ".errors", 'model_requests_total{version="{{versoin}}"}')),
    ("query-single-braces", at(ERRORS + ".total", 'model_requests_total{version="{version}"}')),
    ("query-empty", at(ERRORS + ".errors", "")),
    ("query-too-long", at(ERRORS + ".errors", VERSIONED + " " * 4096)),
    # --- template variables (item 16) ---
    ("variable-dot-star", at(ANALYSIS + ".variables", {"team": ".*"}, field="spec.analysis.variables.team")),
    (
        "variable-alternation",
        at(ANALYSIS + ".variables", {"team": "fraud|payments"}, field="spec.analysis.variables.team"),
    ),
    ("variable-dot", at(ANALYSIS + ".variables", {"team": "fraud.v2"}, field="spec.analysis.variables.team")),
    (
        "variable-quote",
        at(
            ANALYSIS + ".variables",
            {"team": 'a"} or vector(1) or {x="'},
            field="spec.analysis.variables.team",
        ),
    ),
    ("variable-empty-value", at(ANALYSIS + ".variables", {"team": ""}, field="spec.analysis.variables.team")),
    ("variable-number", at(ANALYSIS + ".variables", {"team": 5}, field="spec.analysis.variables.team")),
    (
        "variable-long-value",
        at(ANALYSIS + ".variables", {"team": "a" * 254}, field="spec.analysis.variables.team"),
    ),
    (
        "variable-hyphen-key",
        (put(ANALYSIS + ".variables", {"my-team": "fraud"}), "spec.analysis.variables", ""),
    ),
    ("variable-digit-key", (put(ANALYSIS + ".variables", {"1team": "fraud"}), "spec.analysis.variables", "")),
    ("variable-long-key", (put(ANALYSIS + ".variables", {"k" * 65: "fraud"}), "spec.analysis.variables", "")),
    (
        "variable-named-version",
        (put(ANALYSIS + ".variables", {"version": "v9"}), "spec.analysis.variables", ""),
    ),
    (
        "variable-named-namespace",
        (put(ANALYSIS + ".variables", {"namespace": "kube-system"}), "spec.analysis.variables", ""),
    ),
    (
        "variable-named-interval",
        (put(ANALYSIS + ".variables", {"interval": "1h"}), "spec.analysis.variables", ""),
    ),
    (
        "variables-33",
        (put(ANALYSIS + ".variables", {f"v{i}": "x" for i in range(33)}), "spec.analysis.variables", ""),
    ),
    ("variables-list", at(ANALYSIS + ".variables", ["team=fraud"])),
    # --- versions, which are substituted into queries ---
    ("version-regex", at("spec.candidate.version", "2026.*")),
    ("version-injection", at("spec.candidate.version", 'v2"} or vector(1) or {x="')),
    ("version-empty", at("spec.baseline.version", "")),
    ("version-too-long", at("spec.candidate.version", "v" * 64)),
    ("version-number", at("spec.candidate.version", 2)),
    ("version-space", at("spec.candidate.version", "v2 final")),
    # --- numbers, booleans and enums written as text (item 17) ---
    ("alpha-string", at(ANALYSIS + ".alpha", "0.05")),
    ("alpha-zero", at(ANALYSIS + ".alpha", 0)),
    ("alpha-one", at(ANALYSIS + ".alpha", 1)),
    ("alpha-true", at(ANALYSIS + ".alpha", True)),
    ("error-budget-string", at(ANALYSIS + ".errorBudget", "3")),
    ("error-budget-negative", at(ANALYSIS + ".errorBudget", -1)),
    ("error-budget-huge", at(ANALYSIS + ".errorBudget", 2**63)),
    ("max-ratio-1", at(ERRORS + ".maxRatio", 1)),
    ("max-ratio-string", at(ERRORS + ".maxRatio", "1.25")),
    ("max-increase-2", at(ERRORS + ".maxIncrease", 2)),
    ("hard-limit-0", at(ERRORS + ".hardLimit", 0)),
    ("latency-slo-string", at(LATENCY + ".slo", "500ms")),
    ("latency-max-shift-half", at(LATENCY + ".maxShift", 0.5)),
    ("latency-slo-negative", at(LATENCY + ".slo", -1)),
    (
        "min-evidence-string",
        at(ANALYSIS + ".minEvidence", {"requests": "500"}, field="spec.analysis.minEvidence.requests"),
    ),
    (
        "min-evidence-zero",
        at(ANALYSIS + ".minEvidence", {"requests": 0}, field="spec.analysis.minEvidence.requests"),
    ),
    ("paused-yes-string", at("spec.paused", "yes")),
    ("paused-true-string", at("spec.paused", "true")),
    ("paused-one", at("spec.paused", 1)),
    ("inconclusive-unknown", at(ANALYSIS + ".inconclusive", "ignore")),
    ("inconclusive-case", at(ANALYSIS + ".inconclusive", "Hold")),
    ("max-restarts-string", at("spec.guardrails.maxRestarts", "1")),
    (
        "acknowledge-unknown",
        at("spec.guardrails.acknowledge", ["EverythingIsFine"], field="spec.guardrails.acknowledge[0]"),
    ),
    (
        "accelerators-33",
        at("spec.guardrails.acceleratorResources", [f"vendor.io/gpu-{i}" for i in range(33)]),
    ),
    ("replicas-string-number", at("spec.candidate.replicas", "3")),
    ("replicas-negative", at("spec.candidate.replicas", -1)),
    ("replicas-huge", at("spec.candidate.replicas", 10001)),
    (
        "replicas-pinned-with-replicas-router",
        (
            both(put("spec.traffic", {"replicas": {}}), put("spec.candidate.replicas", 2)),
            "spec.candidate.replicas",
            "",
        ),
    ),
    ("route-rule-16", at("spec.traffic.gatewayAPI.rule", 16)),
    ("route-rule-string", at("spec.traffic.gatewayAPI.rule", "0")),
    # --- intents: approvals, abort, retry (item 12) ---
    ("approval-without-version", at("spec.approvals", [{"step": 4}], field="spec.approvals[0].version")),
    (
        "approval-empty-version",
        at("spec.approvals", [{"step": 4, "version": ""}], field="spec.approvals[0].version"),
    ),
    (
        "approval-step-negative",
        at("spec.approvals", [{"step": -1, "version": "2026-11-20"}], field="spec.approvals[0].step"),
    ),
    (
        "approval-step-out-of-plan",
        at(
            "spec.approvals",
            [{"step": 12, "version": "2026-11-20"}],
            field="spec.approvals[0].step",
            server="spec.approvals",
        ),
    ),
    (
        "approval-step-string",
        at("spec.approvals", [{"step": "4", "version": "2026-11-20"}], field="spec.approvals[0].step"),
    ),
    ("approvals-65", at("spec.approvals", [{"step": 4, "version": "2026-11-20"}] * 65)),
    ("approvals-object", at("spec.approvals", {"step": 4, "version": "2026-11-20"})),
    (
        "approval-by-too-long",
        at(
            "spec.approvals",
            [{"step": 4, "version": "2026-11-20", "requestedBy": "x" * 1025}],
            field="spec.approvals[0].requestedBy",
        ),
    ),
    ("abort-without-reason", at("spec.abort", {"version": "2026-11-20"}, field="spec.abort.reason")),
    ("abort-reason-too-long", at("spec.abort", {"reason": "x" * 1025}, field="spec.abort.reason")),
    ("abort-true", at("spec.abort", True)),
    ("retry-without-time", at("spec.retry", {"version": "2026-11-20"}, field="spec.retry.requestedAt")),
    # --- timestamps (item 18) ---
    (
        "time-space-separator",
        at(
            "spec.abort",
            {"reason": "x", "requestedAt": "2026-11-28 13:50:00Z"},
            field="spec.abort.requestedAt",
        ),
    ),
    (
        "time-hour-25",
        at(
            "spec.abort",
            {"reason": "x", "requestedAt": "2026-11-28T25:00:00Z"},
            field="spec.abort.requestedAt",
        ),
    ),
    (
        "time-february-30",
        at(
            "spec.abort",
            {"reason": "x", "requestedAt": "2026-02-30T00:00:00Z"},
            field="spec.abort.requestedAt",
        ),
    ),
    (
        "time-no-zone",
        at("spec.retry", {"requestedAt": "2026-11-28T13:50:00"}, field="spec.retry.requestedAt"),
    ),
    (
        "time-no-seconds",
        at("spec.retry", {"requestedAt": "2026-11-28T13:50Z"}, field="spec.retry.requestedAt"),
    ),
    ("time-words", at("spec.retry", {"requestedAt": "yesterday"}, field="spec.retry.requestedAt")),
    ("time-epoch", at("spec.retry", {"requestedAt": "1764337800"}, field="spec.retry.requestedAt")),
    ("time-epoch-number", at("spec.retry", {"requestedAt": 1764337800}, field="spec.retry.requestedAt")),
    (
        "time-leap-second",
        at(
            "spec.approvals",
            [{"step": 4, "version": "2026-11-20", "requestedAt": "2026-12-31T23:59:60Z"}],
            field="spec.approvals[0].requestedAt",
        ),
    ),
    (
        "time-short-year",
        at(
            "spec.approvals",
            [{"step": 4, "version": "2026-11-20", "requestedAt": "26-11-28T13:50:00Z"}],
            field="spec.approvals[0].requestedAt",
        ),
    ),
    # --- unknown fields and wrong shapes ---
    ("unknown-spec-field", at("spec.image", "registry/model:v2")),
    ("unknown-prometheus-token", at(PROMETHEUS + ".token", "abc")),
    ("unknown-candidate-field", at("spec.candidate.image", "registry/model:v2")),
    (
        "unknown-metric-kind",
        at(
            "spec.analysis.metrics.0",
            {"name": "errors", "apdex": {"t": 0.5}},
            field="spec.analysis.metrics[0].apdex",
        ),
    ),
    ("unknown-router", at("spec.traffic", {"linkerd": {"service": "x"}}, field="spec.traffic.linkerd")),
    ("no-router", at("spec.traffic", {})),
    ("two-routers", at("spec.traffic.replicas", {}, field="spec.traffic")),
    ("traffic-list", at("spec.traffic", [])),
    ("candidate-string", at("spec.candidate", "fraud-scorer-v2")),
    ("candidate-missing", (drop("spec.candidate"), "spec.candidate", "")),
    ("baseline-missing-version", (drop("spec.baseline.version"), "spec.baseline.version", "")),
    ("metrics-object", at(ANALYSIS + ".metrics", {"name": "errors"})),
    (
        "metrics-17",
        at(
            ANALYSIS + ".metrics",
            [{"name": f"g{i}", "guard": {"query": VERSIONED, "max": 1}} for i in range(17)],
        ),
    ),
    (
        "metric-duplicate-name",
        at(
            "spec.analysis.metrics.1.name",
            "errors",
            field="spec.analysis.metrics[1].name",
            server="spec.analysis.metrics[1]",
        ),
    ),
    ("metric-name-upper", at("spec.analysis.metrics.0.name", "Errors")),
    (
        "metric-two-kinds",
        at("spec.analysis.metrics.0.guard", {"query": VERSIONED, "max": 1}, field="spec.analysis.metrics[0]"),
    ),
    ("deployment-upper", at("spec.candidate.deployment", "Fraud-Scorer-V2")),
    ("deployment-too-long", at("spec.candidate.deployment", "a" * 254)),
    ("deployment-path", at("spec.candidate.deployment", "../kube-system/coredns")),
]

HOSTILE: tuple[Hostile, ...] = tuple(
    Hostile(name, breaker, path, server) for name, (breaker, path, server) in _CASES
)
"""The corpus: every manifest here must be refused by lint and by the API server."""
