"""The ModelRollout spec: what the user asks for, and the intents the CLI writes.

Every field carries its description and default here; the CRD (``kubectl explain``) and the
README reference are written from the same words. Defaults live in these models, not in the
CRD: the object stored in the cluster stays what the user wrote, and ``status.analysis.tuning``
records the values the controller actually used.

Cross-field rules that the API server also enforces (through CEL rules in the CRD) are written
once as ``cel_rule(...)`` entries next to the Python check that raises the same message, so
``rollouts lint`` and the API server say the same thing.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from rollouts.api.base import (
    ApiModel,
    LabelValue,
    ObjectName,
    OneOf,
    Query,
    ShortName,
    Text,
    Timestamp,
    spec_error,
)
from rollouts.api.durations import DURATION_HINT, Duration, seconds

MAX_STEPS = 64
MAX_METRICS = 16
MAX_APPROVALS = 64
MIN_INTERVAL_SECONDS = 10.0

Weight = Annotated[int, Field(ge=0, le=100)]


def cel_rule(cel: str, message: str) -> JsonDict:
    """A CEL rule as the CRD's ``x-kubernetes-validations`` lists it."""
    return {"rule": cel, "message": message}


def cel_rules(*entries: JsonDict) -> ConfigDict:
    """Model config (merged by pydantic with the base's) carrying CEL rules for the CRD."""
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": list(entries)})


# --- what is rolled out ---------------------------------------------------------------------


class ModelRef(ApiModel):
    """A model version served by a Deployment in the rollout's namespace."""

    deployment: ObjectName = Field(description="Name of the Deployment serving this version.")
    version: LabelValue = Field(
        description=(
            "Model version, as the model server labels its metrics and pods "
            '(the {{version}} variable of queries), e.g. "2026-11-20".'
        )
    )


class CandidateRef(ModelRef):
    """The candidate: the version being rolled out, with how many replicas it runs."""

    replicas: Literal["auto"] | Annotated[int, Field(ge=0, le=10000)] = Field(
        default="auto",
        description=(
            'Candidate replicas. "auto" (default) follows the weight: ceil(baseline replicas x '
            "weight / 100), at least 1, the baseline's size from 100%. A number pins it."
        ),
        json_schema_extra={
            "x-crd": {
                "x-kubernetes-int-or-string": True,
                "x-kubernetes-validations": [
                    cel_rule(
                        "type(self) == string ? self == 'auto' : (self >= 0 && self <= 10000)",
                        'replicas must be "auto" or a whole number from 0 to 10000',
                    )
                ],
            }
        },
    )

    @field_validator("replicas", mode="before")
    @classmethod
    def _auto_or_number(cls, value: object) -> object:
        """Check both branches here so an error names the field, not a union branch."""
        is_count = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10000
        if value != "auto" and not is_count:
            raise spec_error(
                "replicas",
                f'replicas must be "auto" or a whole number from 0 to 10000, got {value!r}',
                hint="write replicas: auto, or a number without quotes such as replicas: 3",
            )
        return value


# --- traffic routers --------------------------------------------------------------------------


class GatewayAPIRouter(ApiModel):
    """Weights on two backendRefs of one rule of a Gateway API HTTPRoute.

    Weights in an HTTPRoute are relative: the candidate's share is w_c / (w_b + w_c). The
    controller writes w_c = weight and w_b = 100 - weight and touches nothing else.
    """

    model_config = cel_rules(
        cel_rule(
            "self.baselineBackend != self.candidateBackend",
            "baselineBackend and candidateBackend must name different Services",
        )
    )

    http_route: ObjectName = Field(description="Name of the HTTPRoute in the rollout's namespace.")
    rule: Annotated[int, Field(ge=0, le=15)] = Field(
        default=0,
        description="Index of the rule in spec.rules whose backendRefs are weighted. Default 0.",
    )
    baseline_backend: ObjectName = Field(description="backendRef name (a Service) of the baseline.")
    candidate_backend: ObjectName = Field(description="backendRef name (a Service) of the candidate.")

    @model_validator(mode="after")
    def _distinct_backends(self) -> GatewayAPIRouter:
        if self.baseline_backend == self.candidate_backend:
            raise spec_error(
                "same_backend",
                "baselineBackend and candidateBackend must name different Services",
                at=".candidateBackend",
                hint="point candidateBackend at the Service that selects the candidate's pods",
            )
        return self


class ReplicasRouter(ApiModel):
    """No mesh: one Service selects both versions, so traffic follows the replica ratio.

    The candidate's share is then candidate replicas / all replicas, which rounds the asked
    weight; ``status.effectiveWeight`` reports the share actually reached.
    """


class Traffic(OneOf):
    """How traffic is split. Exactly one router; istio and kserve are reserved for later."""

    alternatives: ClassVar[tuple[str, ...]] = ("gatewayAPI", "replicas")
    what: ClassVar[str] = "router"

    gateway_api: GatewayAPIRouter | None = Field(
        default=None, alias="gatewayAPI", description="Gateway API HTTPRoute weights."
    )
    replicas: ReplicasRouter | None = Field(
        default=None, description="Replica-ratio routing, for clusters without a mesh or gateway."
    )


# --- steps ---------------------------------------------------------------------------------


class AnalyzeStep(ApiModel):
    """Wait here until the analysis passes (early) or the duration ends."""

    duration: Duration = Field(
        description="Longest wait. At the end an inconclusive analysis follows analysis.inconclusive."
    )


class ApproveStep(ApiModel):
    """A manual gate: wait for an approval intent naming this step (rollouts promote)."""


class Step(OneOf):
    """One step of the rollout: exactly one of setWeight, analyze, approve."""

    alternatives: ClassVar[tuple[str, ...]] = ("setWeight", "analyze", "approve")
    what: ClassVar[str] = "step kind"

    set_weight: Weight | None = Field(
        default=None, description="Send this percentage (0-100) of traffic to the candidate."
    )
    analyze: AnalyzeStep | None = Field(default=None, description="Wait for the analysis to pass.")
    approve: ApproveStep | None = Field(default=None, description="Wait for a manual approval.")


# --- analysis ------------------------------------------------------------------------------


class SecretKeyRef(ApiModel):
    """A key of a Secret in the rollout's namespace."""

    name: ObjectName = Field(description="Secret name.")
    key: Annotated[str, Field(min_length=1, max_length=253)] = Field(description="Key in the Secret.")


class SecretRef(ApiModel):
    """A Secret in the rollout's namespace."""

    name: ObjectName = Field(description="Secret name.")


class TLSConfig(ApiModel):
    """TLS settings for talking to Prometheus."""

    ca_secret: SecretKeyRef | None = Field(
        default=None, description="CA bundle (PEM) to verify the server; default: system roots."
    )
    server_name: Annotated[str, Field(max_length=253)] | None = Field(
        default=None, description="Server name to verify instead of the address's host."
    )
    insecure_skip_verify: bool = Field(
        default=False, description="Do not verify the server certificate. Default false."
    )


class PrometheusSource(ApiModel):
    """Where the metrics come from, and how to authenticate."""

    model_config = cel_rules(
        cel_rule(
            "!(has(self.bearerTokenSecret) && has(self.basicAuthSecret))",
            "set at most one of bearerTokenSecret and basicAuthSecret",
        )
    )

    address: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)] = Field(
        description="Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090."
    )
    timeout: Duration = Field(default="30s", description="Timeout of one query. Default 30s.")
    bearer_token_secret: SecretKeyRef | None = Field(
        default=None, description="Send 'Authorization: Bearer <token>' with this Secret key."
    )
    basic_auth_secret: SecretRef | None = Field(
        default=None, description="Basic auth from a Secret with keys 'username' and 'password'."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS options for https addresses.")

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSource:
        if self.bearer_token_secret is not None and self.basic_auth_secret is not None:
            raise spec_error(
                "two_auth",
                "set at most one of bearerTokenSecret and basicAuthSecret",
                hint="Prometheus accepts one Authorization header; keep the one it expects",
            )
        return self


class ErrorRateMetric(ApiModel):
    """Error rate of candidate vs baseline from two counters.

    Roll back when the exact conditional-binomial e-process finds the candidate's error rate
    higher AND the estimate clears both practical gates (ratio >= maxRatio and increase >=
    maxIncrease), or at once when the candidate's rate exceeds hardLimit with evidence.
    """

    errors: Query = Field(description="Counter of failed requests; {{version}} selects a cohort.")
    total: Query = Field(description="Counter of all requests; {{version}} selects a cohort.")
    max_ratio: Annotated[float, Field(gt=1, le=100)] = Field(
        default=1.25, description="Practical gate: candidate/baseline rate ratio. Default 1.25."
    )
    max_increase: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.001,
        description="Practical gate: absolute rate increase (0.001 = 0.1pp). Default 0.001.",
    )
    hard_limit: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None, description="Absolute candidate error rate that always fails. Default none."
    )
    margin: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description=(
            "Non-inferiority margin on p_c - p_b needed to pass. Default max(0.5 x baseline rate, 0.001)."
        ),
    )


class LatencyMetric(ApiModel):
    """Latency of candidate vs baseline from a histogram's bucket counters.

    Location: Mann-Whitney on bucket counts, effect CLES = P(candidate slower) + 1/2 P(same
    bucket). Tail (with slo): share of requests slower than slo, tested like an error rate.
    """

    buckets: Query = Field(
        description="Histogram _bucket counter with an 'le' label; {{version}} selects a cohort."
    )
    slo: Annotated[float, Field(gt=0, le=86400)] | None = Field(
        default=None,
        description="Latency objective in seconds (a bucket edge); enables the tail test. Default none.",
    )
    max_shift: Annotated[float, Field(gt=0.5, lt=1)] = Field(
        default=0.55, description="Practical gate on CLES (0.5 = no shift). Default 0.55."
    )
    tail_ratio: Annotated[float, Field(gt=1, le=100)] = Field(
        default=1.25, description="Practical gate: ratio of shares above slo. Default 1.25."
    )
    tail_increase: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.005, description="Practical gate: increase of the share above slo. Default 0.005."
    )


class ScoreRange(ApiModel):
    """The range valid predictions fall in; mass outside it is a sanity failure."""

    min: float = Field(description="Lowest valid score.")
    max: float = Field(description="Highest valid score.")


class DriftMetric(ApiModel):
    """Prediction drift: PSI (score histograms) or Jensen-Shannon (class counts).

    A drift above the sample-size noise floor and at or above ``fail`` acts per ``onFail``
    (default hold: a new model is expected to move predictions, a person decides). Sanity
    failures (invalid predictions, a single class, scores out of range) always roll back.
    """

    model_config = cel_rules(
        cel_rule(
            "(has(self.warn) ? self.warn : 0.1) <= (has(self.fail) ? self.fail : 0.25)",
            "warn must not exceed fail",
        )
    )

    buckets: Query = Field(
        description="Counter of predictions by bucket ('le') or class label; {{version}} selects a cohort."
    )
    by: Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=128)] = Field(
        default="le",
        description=(
            "Label naming the bucket. 'le' (default): a cumulative histogram of scores, judged "
            "by PSI. Any other label: classes, judged by Jensen-Shannon distance."
        ),
    )
    warn: Annotated[float, Field(ge=0, le=10)] = Field(default=0.1, description="Warn level. Default 0.1.")
    fail: Annotated[float, Field(gt=0, le=10)] = Field(default=0.25, description="Fail level. Default 0.25.")
    on_fail: Literal["hold", "rollback"] = Field(
        default="hold", description="What drift at the fail level does: hold (default) or rollback."
    )
    invalid: Query | None = Field(
        default=None, description="Counter of invalid (NaN, failed) predictions. Default none."
    )
    max_invalid_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.01, description="Share of invalid predictions that rolls back. Default 0.01."
    )
    range: ScoreRange | None = Field(
        default=None, description="Valid score range; mass outside it rolls back. Default none."
    )

    @model_validator(mode="after")
    def _ordered_levels(self) -> DriftMetric:
        if self.warn > self.fail:
            raise spec_error(
                "warn_above_fail",
                "warn must not exceed fail",
                at=".warn",
                hint=f"lower warn ({self.warn}) below fail ({self.fail})",
            )
        return self


class GuardMetric(ApiModel):
    """An absolute bound on a candidate-only scalar, e.g. GPU memory or device info.

    Fails when the bound is breached ``consecutive`` looks in a row. Guards run at 100% too.
    """

    model_config = cel_rules(cel_rule("has(self.max) || has(self.min)", "set max, min or both"))

    query: Query = Field(description="PromQL returning one number for the candidate.")
    max: float | None = Field(default=None, description="Highest allowed value.")
    min: float | None = Field(default=None, description="Lowest allowed value.")
    consecutive: Annotated[int, Field(ge=1, le=100)] = Field(
        default=2, description="Breaches in a row that fail the guard. Default 2."
    )

    @model_validator(mode="after")
    def _has_bound(self) -> GuardMetric:
        if self.max is None and self.min is None:
            raise spec_error("guard_bound", "set max, min or both", hint="e.g. max: 70000")
        return self


class Metric(OneOf):
    """One metric: a name and exactly one of errorRate, latency, drift, guard."""

    alternatives: ClassVar[tuple[str, ...]] = ("errorRate", "latency", "drift", "guard")
    what: ClassVar[str] = "metric kind"

    name: ShortName = Field(description="Unique name of the metric, shown in status and the CLI.")
    error_rate: ErrorRateMetric | None = Field(default=None, description="Error-rate comparison.")
    latency: LatencyMetric | None = Field(default=None, description="Latency comparison.")
    drift: DriftMetric | None = Field(default=None, description="Prediction-drift check.")
    guard: GuardMetric | None = Field(default=None, description="Absolute bound on the candidate.")


class MinEvidence(ApiModel):
    """The evidence a metric needs before it may PASS (harm can be found earlier)."""

    requests: Annotated[int, Field(ge=1, le=100_000_000)] = Field(
        default=500, description="Candidate requests. Default 500."
    )
    errors: Annotated[float, Field(ge=0, le=1_000_000)] = Field(
        default=10,
        description="Expected candidate errors, at the larger of baseline rate and margin. Default 10.",
    )
    predictions: Annotated[int, Field(ge=1, le=100_000_000)] = Field(
        default=200, description="Candidate predictions for drift. Default 200."
    )


class Analysis(ApiModel):
    """Continuous comparison of candidate and baseline, from warm-up to the end of the rollout."""

    model_config = cel_rules(
        cel_rule(
            "!has(self.interval) || duration(self.interval) >= duration('10s')",
            "interval must be at least 10s",
        ),
        cel_rule(
            "has(self.prometheus) || ((!has(self.metrics) || size(self.metrics) == 0) "
            "&& !has(self.readyQuery))",
            "prometheus is required when metrics or readyQuery are set",
        ),
    )

    prometheus: PrometheusSource | None = Field(
        default=None,
        description="Prometheus to query; required when metrics or readyQuery are set.",
    )
    interval: Duration = Field(default="1m", description="Time between looks (>= 10s). Default 1m.")
    warmup: Duration = Field(
        default="2m",
        description="Wait after the candidate is ready before samples count. Default 2m.",
    )
    alpha: Annotated[float, Field(gt=0, le=0.5)] = Field(
        default=0.05,
        description="False-rollback rate for the whole rollout, however often it looks. Default 0.05.",
    )
    error_budget: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=3, description="Consecutive failed looks (query errors) tolerated. Default 3."
    )
    inconclusive: Literal["hold", "rollback", "promote"] = Field(
        default="hold",
        description=(
            "At the end of an analyze step without a PASS: hold (default; wait for an approval of "
            "the step), rollback, or promote (only on a genuine INCONCLUSIVE; after NO_DATA or ERROR "
            "it holds). When errorBudget is exhausted: rollback if set, else hold; an outage never promotes."
        ),
    )
    ready_query: Query | None = Field(
        default=None,
        description=(
            "PromQL that is true (non-zero) once the candidate serves from the right device, e.g. "
            'min(model_device_info{version="{{version}}", device!="cpu"}). Default none.'
        ),
    )
    variables: dict[
        Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=64)],
        Annotated[str, Field(max_length=1024)],
    ] = Field(
        default_factory=dict,
        description="Extra template variables for queries ({{name}}); values are escaped.",
        json_schema_extra={"maxProperties": 32},
    )
    min_evidence: MinEvidence | None = Field(
        default=None, description="Minimum evidence before a PASS. Default: the defaults inside."
    )
    metrics: tuple[Metric, ...] = Field(
        default=(),
        max_length=MAX_METRICS,
        description="What to compare. Names must be unique.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("interval")
    @classmethod
    def _interval_floor(cls, value: str) -> str:
        if seconds(value) < MIN_INTERVAL_SECONDS:
            raise spec_error(
                "interval_too_short",
                "interval must be at least 10s",
                hint="Prometheus scrapes every 15-30s; an interval below 10s sees no new samples",
            )
        return value

    @field_validator("metrics")
    @classmethod
    def _unique_names(cls, metrics: tuple[Metric, ...]) -> tuple[Metric, ...]:
        seen: dict[str, int] = {}
        for index, metric in enumerate(metrics):
            if metric.name in seen:
                raise spec_error(
                    "duplicate_metric",
                    f"metric name {metric.name!r} is used twice (metrics[{seen[metric.name]}] "
                    f"and metrics[{index}])",
                    at=f"[{index}].name",
                    hint="give each metric its own name",
                )
            seen[metric.name] = index
        return metrics

    @model_validator(mode="after")
    def _source_present(self) -> Analysis:
        if self.prometheus is None and (self.metrics or self.ready_query):
            raise spec_error(
                "no_prometheus",
                "prometheus is required when metrics or readyQuery are set",
                at=".prometheus",
                hint="add prometheus: {address: http://prometheus.monitoring:9090}",
            )
        return self


# --- lifecycle and intents -----------------------------------------------------------------


class ScaleDown(ApiModel):
    """What happens to the version that lost."""

    delay: Duration = Field(
        default="5m",
        description=(
            "Wait before scaling the losing version to 0: the baseline after promotion, the candidate "
            "after a rollback, abort or failure. Default 5m."
        ),
    )
    drain: Duration = Field(
        default="10s",
        description="Wait after moving traffic away from a version before scaling it to 0. Default 10s.",
    )


AcknowledgeableWarning = Literal[
    "AcceleratorPlacementChanged",
    "ReadinessProbeTCPOnly",
    "StartupProbeMissing",
    "ProgressDeadlineTooShort",
    "TerminationGraceTooShort",
    "ResourceRequestsMissing",
]
"""The preflight warning rules (rollouts.guardrails.preflight.Rule); a test keeps the two in step."""


class Guardrails(ApiModel):
    """ML-specific checks before and during the rollout."""

    accelerator_resources: tuple[Annotated[str, Field(max_length=253)], ...] | None = Field(
        default=None,
        max_length=32,
        description=(
            "Resource names that count as accelerators ('*' matches a suffix). Default: "
            "nvidia.com/gpu, nvidia.com/mig-*, amd.com/gpu, aws.amazon.com/neuron*, "
            "google.com/tpu, habana.ai/gaudi, gpu.intel.com/*."
        ),
    )
    acknowledge: tuple[AcknowledgeableWarning, ...] = Field(
        default=(),
        max_length=32,
        description=(
            "Preflight warnings (by rule name) the owner has accepted; they stop being raised. "
            "Errors cannot be acknowledged."
        ),
    )
    max_restarts: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=0,
        description="Candidate container restarts tolerated during the rollout. Default 0.",
    )


class Abort(ApiModel):
    """Intent: stop now and send all traffic to the baseline. Wins every race."""

    reason: Text = Field(description="Why, in words for the on-call log.")
    version: LabelValue | None = Field(
        default=None,
        description=(
            "Candidate version this intent is about (set by the CLI). An intent naming another "
            "version is stale and ignored, so an old abort never stops the next rollout."
        ),
    )
    requested_by: Text | None = Field(default=None, description="Who asked (set by the CLI).")
    requested_at: Timestamp | None = Field(default=None, description="When (set by the CLI).")


class Approval(ApiModel):
    """Intent: pass step ``step`` — an approve gate, a hold, or an analyze step before its PASS.

    Harm found by the analysis still rolls back after an approval.

    An approval names one step, so a late click never skips a later gate; it also names the
    candidate version, so an approval left in the spec never passes a gate of the next rollout.
    """

    step: Annotated[int, Field(ge=0, lt=MAX_STEPS)] = Field(description="Index into spec.steps.")
    version: LabelValue | None = Field(
        default=None,
        description="Candidate version approved (set by the CLI); another version's approval is ignored.",
    )
    requested_by: Text | None = Field(default=None, description="Who approved (set by the CLI).")
    requested_at: Timestamp | None = Field(default=None, description="When (set by the CLI).")


class Retry(ApiModel):
    """Intent: start the rollout of the same candidate again after a rollback, abort or failure."""

    requested_at: Timestamp = Field(description="When; a newer value than status.retriedAt retries.")
    version: LabelValue | None = Field(
        default=None, description="Candidate version to retry (set by the CLI); another version's is ignored."
    )
    requested_by: Text | None = Field(default=None, description="Who asked (set by the CLI).")


class ModelRolloutSpec(ApiModel):
    """What to roll out, how to shift traffic, how to judge it — and the intents."""

    model_config = cel_rules(
        cel_rule(
            "self.baseline.deployment != self.candidate.deployment",
            "baseline and candidate must be different Deployments",
        ),
        cel_rule(
            "!has(self.approvals) || self.approvals.all(a, a.step < size(self.steps))",
            "each approval must name a step index of spec.steps",
        ),
        cel_rule(
            "!has(self.traffic.replicas) || !has(self.candidate.replicas) "
            "|| type(self.candidate.replicas) == string",
            'the replicas router sets candidate replicas itself: candidate.replicas must be "auto"',
        ),
    )

    baseline: ModelRef = Field(
        description="The version serving now (after the first rollout: status.stableVersion)."
    )
    candidate: CandidateRef = Field(description="The version to roll out. Changing it starts a rollout.")
    traffic: Traffic = Field(description="The router that splits traffic. Exactly one.")
    steps: tuple[Step, ...] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        description="The plan, run in order. Weights must not decrease.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
                    "setWeight values must not decrease from one step to the next",
                )
            ]
        },
    )
    analysis: Analysis = Field(
        default_factory=Analysis, description="How candidate and baseline are compared."
    )
    progress_deadline: Duration = Field(
        default="20m",
        description="Candidate Ready (model loaded, on its device) within this. Default 20m.",
    )
    max_duration: Duration = Field(
        default="6h",
        description="Longest a rollout may take; past it the rollout rolls back. Default 6h.",
    )
    scale_down: ScaleDown = Field(default_factory=ScaleDown, description="Scaling of the losing version.")
    guardrails: Guardrails = Field(default_factory=Guardrails, description="ML guardrails.")
    paused: bool = Field(
        default=False, description="Intent: hold at the current step (analysis keeps running)."
    )
    abort: Abort | None = Field(default=None, description="Intent: abort now (rollouts abort).")
    approvals: tuple[Approval, ...] = Field(
        default=(),
        max_length=MAX_APPROVALS,
        description="Intents: approvals, each passing the gate or releasing the hold at one step.",
    )
    retry: Retry | None = Field(default=None, description="Intent: retry after a rollback or abort.")

    @field_validator("steps")
    @classmethod
    def _weights_non_decreasing(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        previous: tuple[int, int] | None = None
        for index, step in enumerate(steps):
            if step.set_weight is None:
                continue
            if previous is not None and step.set_weight < previous[1]:
                raise spec_error(
                    "weights_decreasing",
                    "setWeight values must not decrease from one step to the next "
                    f"(steps[{previous[0]}] sets {previous[1]}, steps[{index}] sets {step.set_weight})",
                    at=f"[{index}].setWeight",
                    hint="order the steps by weight; a rollback is the controller's job, not a step",
                )
            previous = (index, step.set_weight)
        return steps

    @model_validator(mode="after")
    def _cross_field(self) -> ModelRolloutSpec:
        if self.baseline.deployment == self.candidate.deployment:
            raise spec_error(
                "same_deployment",
                "baseline and candidate must be different Deployments",
                at=".candidate.deployment",
                hint="each version runs in its own Deployment, e.g. fraud-scorer-v1 and fraud-scorer-v2",
            )
        for index, approval in enumerate(self.approvals):
            if approval.step >= len(self.steps):
                raise spec_error(
                    "approval_step",
                    "each approval must name a step index of spec.steps",
                    at=f".approvals[{index}].step",
                    hint=f"steps are numbered 0 to {len(self.steps) - 1}; rollouts promote fills this in",
                )
        if self.traffic.replicas is not None and self.candidate.replicas != "auto":
            raise spec_error(
                "pinned_replicas_with_replicas_router",
                'the replicas router sets candidate replicas itself: candidate.replicas must be "auto"',
                at=".candidate.replicas",
                hint="remove candidate.replicas or write replicas: auto",
            )
        return self


__all__ = [
    "DURATION_HINT",
    "Abort",
    "Analysis",
    "AnalyzeStep",
    "Approval",
    "ApproveStep",
    "CandidateRef",
    "DriftMetric",
    "ErrorRateMetric",
    "GatewayAPIRouter",
    "GuardMetric",
    "Guardrails",
    "LatencyMetric",
    "Metric",
    "MinEvidence",
    "ModelRef",
    "ModelRolloutSpec",
    "PrometheusSource",
    "ReplicasRouter",
    "Retry",
    "ScaleDown",
    "ScoreRange",
    "SecretKeyRef",
    "SecretRef",
    "Step",
    "TLSConfig",
    "Text",
    "Traffic",
]
