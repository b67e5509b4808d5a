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

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from analysis.criteria import HistogramKind
from rollouts.api.base import (
    AS_FLOAT,
    AS_INT,
    ApiModel,
    CelRules,
    LabelValue,
    ObjectName,
    OneOf,
    Query,
    ShortName,
    Text,
    Timestamp,
    WireBool,
    WireFloat,
    spec_error,
)
from rollouts.api.durations import DURATION_HINT, Duration, seconds
from rollouts.api.notifications import MAX_NOTIFIERS, NotificationRoute

MAX_STEPS = 64
MAX_METRICS = 16
MAX_APPROVALS = 64
MIN_INTERVAL_SECONDS = 10.0


def cel_rule(cel: str, message: str, *, field_path: str = "") -> JsonDict:
    """A CEL rule as the CRD's ``x-kubernetes-validations`` lists it.

    ``field_path`` (for example ``.candidate.version``) makes the API server report the refusal
    at that field instead of at the object holding the rule, where lint reports it too.
    """
    rule: JsonDict = {"rule": cel, "message": message}
    if field_path:
        rule["fieldPath"] = field_path
    return rule


def cel_rules(*entries: JsonDict) -> ConfigDict:
    """Model config (merged by pydantic with the base's) carrying CEL rules for the CRD."""
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": list(entries)})


def _checked(
    cel: str, message: str, check: Callable[[str], bool], hint: str
) -> tuple[CelRules, AfterValidator]:
    """The CRD rule and the pydantic check of one rule on a string field, with one message."""

    def validate(value: str) -> str:
        if not check(value):
            raise spec_error("rule", message, hint=hint)
        return value

    return CelRules((cel_rule(cel, message),)), AfterValidator(validate)


# --- durations that bound a wait -------------------------------------------------------------

_ZERO_DURATION = r"^(0+[hms])+$"
POSITIVE_DURATION_MESSAGE = "must be longer than 0s"

PositiveDuration = Annotated[
    Duration,
    *_checked(
        f"!self.matches('{_ZERO_DURATION}')",
        POSITIVE_DURATION_MESSAGE,
        lambda value: re.fullmatch(_ZERO_DURATION, value) is None,
        "a timeout or deadline of 0s ends the wait before anything can happen; " + DURATION_HINT,
    ),
]
"""A duration that bounds a wait (a timeout, a deadline, an interval): ``0s`` is refused.

Why: a zero timeout fails every query, a zero deadline fails every candidate at once, a zero
analyze step ends before its first look. Durations whose zero means "none" (``warmup``,
``scaleDown.delay``, ``scaleDown.drain``) keep the plain :data:`Duration` type.
"""


# --- query templates --------------------------------------------------------------------------

VERSION_PLACEHOLDER = r"\{\{\s*version\s*\}\}"
"""``{{version}}`` as analysis.templates reads it (spaces inside the braces allowed); RE2 and Python."""

COHORT_QUERY_MESSAGE = "the query must use {{version}}: without it both versions read the same series"

CohortQuery = Annotated[
    Query,
    *_checked(
        f"self.matches(r'{VERSION_PLACEHOLDER}')",
        COHORT_QUERY_MESSAGE,
        lambda value: re.search(VERSION_PLACEHOLDER, value) is not None,
        'select the cohort by its version label, e.g. model_requests_total{version="{{version}}"}',
    ),
]
"""A PromQL template that selects one cohort, so it must contain ``{{version}}``.

Why: the controller runs each query once per version with ``{{version}}`` filled in; a query
without it returns the same series for baseline and candidate, which then always look alike
and PASS. Guards and readyQuery are candidate-only and need it for the same reason: without it
they measure the baseline (or every version) too. The check is textual: a ``{{version}}``
hidden in a PromQL comment satisfies it, and the analysis still sees identical cohorts.
"""


# --- weights ----------------------------------------------------------------------------------

ZERO_WEIGHT_MESSAGE = "setWeight must be greater than 0: weights never go down and a rollout starts at 0"
FIRST_STEP_MESSAGE = (
    "the first step must be a setWeight, a setMirror above 0 or a setHeaderRoute: an analyze or "
    "approve step while the candidate gets no requests judges nothing, and the plan would move "
    "from 0 to its next weight (or 100%) on one approval"
)
FIRST_STEP_CEL = (
    "size(self) == 0 || has(self[0].setWeight) || has(self[0].setHeaderRoute) "
    "|| (has(self[0].setMirror) && self[0].setMirror > 0)"
)
MIRROR_REPLICAS_MESSAGE = (
    "the replicas router can neither mirror nor route by header: setMirror and setHeaderRoute "
    "steps need the gatewayAPI router"
)


def _positive_weight(value: int) -> int:
    if value == 0:
        raise spec_error(
            "zero_weight",
            ZERO_WEIGHT_MESSAGE,
            hint="remove the step; to hold before any traffic, leave the rollout paused",
        )
    return value


StepWeight = Annotated[
    int,
    Field(ge=0, le=100),
    AS_INT,
    AfterValidator(_positive_weight),
    CelRules((cel_rule("self > 0", ZERO_WEIGHT_MESSAGE),)),
]
"""A step's weight: 1-100. ``0`` is refused: it changes nothing (the rollout starts at 0 and
weights never decrease), and a plan made only of 0s went straight to 100% at its end."""


# --- template variables -----------------------------------------------------------------------

VARIABLE_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
VARIABLE_VALUE_PATTERN = r"^[A-Za-z0-9_:-]+$"
RESERVED_VARIABLES = ("version", "interval", "namespace")
RESERVED_MESSAGE = "variables must not be named version, interval or namespace: the controller fills those in"


def _not_reserved(variables: dict[str, str]) -> dict[str, str]:
    for name in variables:
        if name in RESERVED_VARIABLES:
            raise spec_error(
                "reserved_variable",
                RESERVED_MESSAGE,
                hint=f"rename {name!r}: {{{{version}}}} is each cohort's version, {{{{interval}}}} "
                "the window, {{namespace}} the rollout's namespace",
            )
    return variables


# --- what is rolled out ---------------------------------------------------------------------


KSERVE_PREDICTOR_SUFFIX = "-predictor"
"""KServe's raw (Standard) mode names an InferenceService's predictor Deployment and Service
``<isvc>-predictor`` (docs/kserve.md). Decision: only unnamed predictors are supported as a
workload kind (``<isvc>-<predictor.name>-predictor`` when ``spec.predictor.name`` is set): the
rollout names the InferenceService, and the controller must know the Deployment without reading
it first."""

WORKLOAD_MESSAGE = "give exactly one of deployment and inferenceService"


class WorkloadKind(StrEnum):
    """What a baseline or candidate names: the object the controller sizes."""

    DEPLOYMENT = "Deployment"
    INFERENCE_SERVICE = "InferenceService"


class ModelRef(ApiModel):
    """A model version served by a Deployment, or a raw-mode KServe InferenceService's predictor."""

    model_config = cel_rules(cel_rule("has(self.deployment) != has(self.inferenceService)", WORKLOAD_MESSAGE))

    deployment: ObjectName | None = Field(
        default=None,
        description="Name of the Deployment serving this version (or give inferenceService).",
    )
    inference_service: ObjectName | None = Field(
        default=None,
        description=(
            "Name of a KServe InferenceService in raw (Standard) mode serving this version, instead "
            "of deployment: its pods are those of KServe's predictor Deployment <name>-predictor, "
            "its readiness needs the InferenceService's PredictorReady condition, and the "
            "controller sizes it through spec.predictor.minReplicas/maxReplicas."
        ),
    )
    version: LabelValue = Field(
        description=(
            "Model version, as the model server labels its metrics and pods "
            '(the {{version}} variable of queries), e.g. "2026-11-20".'
        )
    )

    @model_validator(mode="after")
    def _one_workload(self) -> ModelRef:
        if (self.deployment is None) == (self.inference_service is None):
            raise spec_error(
                "workload",
                WORKLOAD_MESSAGE,
                at=".inferenceService" if self.inference_service is not None else ".deployment",
                hint="name the Deployment that serves the version, or the raw-mode InferenceService",
            )
        return self

    @property
    def kind(self) -> WorkloadKind:
        """The kind of object named."""
        return WorkloadKind.DEPLOYMENT if self.inference_service is None else WorkloadKind.INFERENCE_SERVICE

    @property
    def name(self) -> str:
        """The name of the object named (the Deployment or the InferenceService)."""
        return self.inference_service or self.workload_deployment

    @property
    def workload_deployment(self) -> str:
        """The Deployment whose pods serve this version: the one named, or the predictor's."""
        if self.inference_service is not None:
            return self.inference_service + KSERVE_PREDICTOR_SUFFIX
        assert self.deployment is not None  # _one_workload
        return self.deployment

    @property
    def workload(self) -> str:
        """The named object as messages say it, e.g. "InferenceService fraud-v2"."""
        return f"{self.kind} {self.name}"


class CandidateRef(ModelRef):
    """The candidate: the version being rolled out, with how many replicas it runs."""

    replicas: Literal["auto"] | Annotated[int, Field(ge=0, le=10000), AS_INT] = Field(
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
            field_path=".candidateBackend",
        )
    )

    http_route: ObjectName = Field(description="Name of the HTTPRoute in the rollout's namespace.")
    rule: Annotated[int, Field(ge=0, le=15), AS_INT] = Field(
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


class IstioDestination(ApiModel):
    """One destination of the weighted route, named as the route names it."""

    host: ObjectName = Field(description="destination.host, as written in the route (e.g. fraud-scorer).")
    subset: ShortName | None = Field(
        default=None,
        description=(
            "destination.subset (a DestinationRule subset), when the route names one. The "
            "DestinationRule is not read: it may live in another namespace."
        ),
    )
    port: Annotated[int, Field(ge=1, le=65535), AS_INT] | None = Field(
        default=None,
        description="destination.port.number, when the route names one; unset matches any port.",
    )


ISTIO_ROUTE_MESSAGE = "exactly one of route and routeIndex must be set"
ISTIO_SAME_DESTINATION_MESSAGE = "baseline and candidate must be different destinations"

IstioRouteName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""An http route's ``name`` in a VirtualService (free text there; bounded here for CEL)."""


class IstioRouter(ApiModel):
    """Weights on two destinations of one http route of an Istio VirtualService.

    The controller writes weight 100 - w on the baseline's destination and w on the candidate's
    (Istio weights are relative: share = w / sum) and touches nothing else.
    """

    model_config = cel_rules(
        cel_rule("has(self.route) != has(self.routeIndex)", ISTIO_ROUTE_MESSAGE, field_path=".route"),
        cel_rule(
            "self.baseline.host != self.candidate.host"
            " || (has(self.baseline.subset) ? self.baseline.subset : '')"
            " != (has(self.candidate.subset) ? self.candidate.subset : '')"
            " || (has(self.baseline.port) ? self.baseline.port : 0)"
            " != (has(self.candidate.port) ? self.candidate.port : 0)",
            ISTIO_SAME_DESTINATION_MESSAGE,
            field_path=".candidate",
        ),
    )

    virtual_service: ObjectName = Field(description="Name of the VirtualService in the rollout's namespace.")
    route: IstioRouteName | None = Field(
        default=None, description="The http route's name. Exactly one of route and routeIndex."
    )
    route_index: Annotated[int, Field(ge=0, le=63), AS_INT] | None = Field(
        default=None, description="The http route's index in spec.http. Exactly one of route and routeIndex."
    )
    baseline: IstioDestination = Field(description="The baseline's destination in that route.")
    candidate: IstioDestination = Field(description="The candidate's destination in that route.")

    @model_validator(mode="after")
    def _one_route_two_destinations(self) -> IstioRouter:
        if (self.route is None) == (self.route_index is None):
            raise spec_error(
                "istio_route",
                ISTIO_ROUTE_MESSAGE,
                at=".route",
                hint="name the http route (route: primary) or give its index in spec.http (routeIndex: 0)",
            )
        if self.baseline == self.candidate:
            raise spec_error(
                "same_destination",
                ISTIO_SAME_DESTINATION_MESSAGE,
                at=".candidate",
                hint="point candidate at the host (or subset) that selects the candidate's pods",
            )
        return self

    @property
    def selector(self) -> str | int:
        """The http route: its name, or its index when it is picked by index."""
        if self.route is not None:
            return self.route
        assert self.route_index is not None  # the validator above
        return self.route_index


KSERVE_REVISION_DEPLOYMENT_SUFFIX = "-deployment"
"""Knative names the Deployment of revision R ``R-deployment``; with the kserve router baseline and
candidate name two such Deployments (docs/kserve.md)."""


class KServeRouter(ApiModel):
    """canaryTrafficPercent of one InferenceService in serverless (Knative) mode.

    The candidate is the predictor's latest revision, the baseline its latest rolled-out one:
    baseline.deployment and candidate.deployment name their Deployments, ``<revision>-deployment``.
    The controller writes spec.predictor.canaryTrafficPercent and reads the share from the traffic
    KServe reports in status.components.predictor.traffic.
    """

    inference_service: ObjectName = Field(
        description="Name of the InferenceService in the rollout's namespace."
    )


class Traffic(OneOf):
    """How traffic is split. Exactly one router."""

    alternatives: ClassVar[tuple[str, ...]] = ("gatewayAPI", "istio", "kserve", "replicas")
    what: ClassVar[str] = "router"

    gateway_api: GatewayAPIRouter | None = Field(
        default=None, alias="gatewayAPI", description="Gateway API HTTPRoute weights."
    )
    istio: IstioRouter | None = Field(default=None, description="Istio VirtualService http route weights.")
    kserve: KServeRouter | None = Field(
        default=None, description="KServe canaryTrafficPercent of one InferenceService (serverless mode)."
    )
    replicas: ReplicasRouter | None = Field(
        default=None, description="Replica-ratio routing, for clusters without a mesh or gateway."
    )


# --- autoscalers ---------------------------------------------------------------------------


class AutoscalerKind(StrEnum):
    """The autoscalers a rollout can hand over; each sizes one Deployment its scaleTargetRef names.

    A ScaledObject is KEDA's: KEDA makes and owns an HPA for it and rewrites that HPA from the
    ScaledObject, so the handover is made on the ScaledObject (rollouts.guardrails.autoscalers).
    """

    HPA = "HorizontalPodAutoscaler"
    SCALED_OBJECT = "ScaledObject"


class AutoscalerRef(ApiModel):
    """The autoscaler that sizes the baseline; the rollout hands it to the candidate on promotion.

    Named, never guessed: the rollout acts on this object only (rollouts.guardrails.autoscalers
    says how the others are checked). See docs/autoscalers.md.
    """

    kind: AutoscalerKind = Field(
        default=AutoscalerKind.HPA,
        description=(
            "The autoscaler's kind: HorizontalPodAutoscaler (autoscaling/v2, the default) or "
            "ScaledObject (keda.sh/v1alpha1; the HPA KEDA makes for it is KEDA's, never moved)."
        ),
    )
    name: ObjectName = Field(
        description=(
            "Name of the autoscaler in the rollout's namespace; its scaleTargetRef must name the "
            "baseline Deployment when the rollout starts."
        )
    )


# --- capacity ------------------------------------------------------------------------------


class MaxSurge(OneOf):
    """How far baseline + candidate may grow beyond the baseline's size at the start.

    In pods, or in accelerators (turned into pods by the larger per-pod request of the two
    Deployments' templates, a pod asking for none counting as one). See rollouts.controller.core.capacity.
    """

    alternatives: ClassVar[tuple[str, ...]] = ("pods", "accelerators")
    what: ClassVar[str] = "unit"

    pods: Annotated[int, Field(ge=1, le=1000), AS_INT] | None = Field(
        default=None, description="Extra pods the rollout may add on top of the baseline's size (1-1000)."
    )
    accelerators: Annotated[int, Field(ge=1, le=100000), AS_INT] | None = Field(
        default=None,
        description=(
            "Extra accelerators (GPUs ...) the rollout may add; at least one candidate pod's request "
            "(preflight fails otherwise)."
        ),
    )


class Capacity(ApiModel):
    """A budget for the rollout's pods: the baseline shrinks as the candidate grows (docs/safety.md)."""

    max_surge: MaxSurge = Field(
        alias="maxSurge",
        description=(
            "Baseline + candidate never exceed the baseline's size at the start plus this. "
            "Not with spec.autoscaler nor the replicas router."
        ),
    )


# --- steps ---------------------------------------------------------------------------------


class AnalyzeStep(ApiModel):
    """Wait here until the analysis passes (early) or the duration ends."""

    duration: PositiveDuration = Field(
        description=(
            "Longest wait (more than 0s). At the end an inconclusive analysis follows analysis.inconclusive."
        )
    )


class ApproveStep(ApiModel):
    """A manual gate: wait for an approval intent naming this step (rollouts promote)."""


class HeaderMatchType(StrEnum):
    """How a header's value is compared, as Gateway API's HTTPHeaderMatch types it."""

    EXACT = "Exact"
    REGULAR_EXPRESSION = "RegularExpression"


HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$"
"""An HTTP header name (RFC 7230 token), the pattern Gateway API's HTTPHeaderName uses."""
HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class HeaderMatch(ApiModel):
    """One header a request must carry to be routed to the candidate."""

    name: HeaderName = Field(description="HTTP header name (case-insensitive), e.g. x-canary.")
    value: HeaderValue = Field(description="The value to match.")
    type: HeaderMatchType = Field(
        default=HeaderMatchType.EXACT,
        description="Exact (default) or RegularExpression (the data plane's regex dialect).",
    )


MAX_HEADER_MATCHES = 8


class HeaderRoute(ApiModel):
    """Requests carrying every listed header go to the candidate, whatever the weight."""

    match: tuple[HeaderMatch, ...] = Field(
        min_length=1,
        max_length=MAX_HEADER_MATCHES,
        description="Headers a request must all carry (1-8).",
    )

    def describe(self) -> str:
        """``x-canary=internal, x-team~ml-.*`` — in words (``~``: a regular expression)."""
        return ", ".join(
            f"{m.name}{'~' if m.type is HeaderMatchType.REGULAR_EXPRESSION else '='}{m.value}"
            for m in self.match
        )


MirrorPercent = Annotated[int, Field(ge=0, le=100), AS_INT]
"""A mirror percentage: 0-100; 0 removes the mirror."""


class Step(OneOf):
    """One step of the rollout: exactly one of setWeight, setMirror, setHeaderRoute, analyze, approve."""

    alternatives: ClassVar[tuple[str, ...]] = (
        "setWeight",
        "setMirror",
        "setHeaderRoute",
        "analyze",
        "approve",
    )
    what: ClassVar[str] = "step kind"

    set_weight: StepWeight | None = Field(
        default=None,
        description=(
            "Send this percentage (1-100) of traffic to the candidate. 0 is refused: a rollout "
            "starts at 0 and weights never go down, so it would mean nothing."
        ),
    )
    set_mirror: MirrorPercent | None = Field(
        default=None,
        description=(
            "Also send this percentage (0-100) of requests to the candidate; its answers are "
            "discarded, the user gets the baseline's. 0 removes the mirror; a later setWeight "
            "ends it too. Not with the replicas router."
        ),
    )
    set_header_route: HeaderRoute | None = Field(
        default=None,
        description=(
            "Send requests carrying these headers to the candidate, before any weight moves. "
            "Stays until the rollout ends (a later setHeaderRoute replaces it). Not with the "
            "replicas router."
        ),
    )
    analyze: AnalyzeStep | None = Field(default=None, description="Wait for the analysis to pass.")
    approve: ApproveStep | None = Field(default=None, description="Wait for a manual approval.")

    @property
    def sends_candidate_requests(self) -> bool:
        """True for a step that gives the candidate requests: a weight, a mirror, a header route."""
        return self.set_weight is not None or bool(self.set_mirror) or self.set_header_route is not None


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
    insecure_skip_verify: WireBool = Field(
        default=False, description="Do not verify the server certificate. Default false."
    )


_USERINFO = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@"
CREDENTIALS_IN_URL_MESSAGE = (
    "address must not carry credentials (user:password@host): use bearerTokenSecret or basicAuthSecret"
)
QUERY_IN_URL_MESSAGE = (
    "address must not have a query string or fragment (a token there leaks into logs and status): "
    "use bearerTokenSecret or basicAuthSecret"
)


class PrometheusSource(ApiModel):
    """Where the metrics come from, and how to authenticate."""

    model_config = cel_rules(
        cel_rule(
            "!(has(self.bearerTokenSecret) && has(self.basicAuthSecret))",
            "set at most one of bearerTokenSecret and basicAuthSecret",
        )
    )

    address: Annotated[
        str,
        Field(pattern=r"^https?://[^\s]+$", max_length=2048),
        *_checked(
            f"!self.matches('{_USERINFO}')",
            CREDENTIALS_IN_URL_MESSAGE,
            lambda value: re.search(_USERINFO, value) is None,
            "put the token in a Secret and name it in bearerTokenSecret (or basicAuthSecret)",
        ),
        *_checked(
            "!self.contains('?') && !self.contains('#')",
            QUERY_IN_URL_MESSAGE,
            lambda value: "?" not in value and "#" not in value,
            "write only scheme, host, port and path; put a token in bearerTokenSecret",
        ),
    ] = Field(
        description=(
            "Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090. No "
            "credentials (user:password@), query string or fragment: a URL is shown in status, "
            "events and logs, so secrets belong in bearerTokenSecret or basicAuthSecret."
        )
    )
    timeout: PositiveDuration = Field(
        default=Duration("30s"), description="Timeout of one query (more than 0s). Default 30s."
    )
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

    errors: CohortQuery = Field(
        description="Counter of failed requests; must use {{version}}, which selects a cohort."
    )
    total: CohortQuery = Field(
        description="Counter of all requests; must use {{version}}, which selects a cohort."
    )
    max_ratio: Annotated[float, Field(gt=1, le=100, allow_inf_nan=False), AS_FLOAT] = Field(
        default=1.25, description="Practical gate: candidate/baseline rate ratio. Default 1.25."
    )
    max_increase: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), AS_FLOAT] = Field(
        default=0.001,
        description="Practical gate: absolute rate increase (0.001 = 0.1pp). Default 0.001.",
    )
    hard_limit: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), AS_FLOAT] | None = Field(
        default=None, description="Absolute candidate error rate that always fails. Default none."
    )
    margin: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), AS_FLOAT] | None = Field(
        default=None,
        description=(
            "Non-inferiority margin on p_c - p_b needed to pass. Default max(0.5 x baseline rate, 0.001)."
        ),
    )


class LatencyTolerance(ApiModel):
    """How much slower the candidate may be: max(ratio x baseline, baseline + milliseconds).

    Checked at every listed quantile of the latency histogram (interpolated within buckets, as
    histogram_quantile does): "at most 10% or 10 ms slower at the median and p90" by default.
    """

    quantiles: Annotated[
        tuple[Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False), AS_FLOAT], ...],
        Field(min_length=1, max_length=5),
    ] = Field(
        default=(0.5, 0.9),
        description="Quantiles to compare, each in (0, 1), e.g. [0.5, 0.9, 0.99]. Default [0.5, 0.9].",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    ratio: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False), AS_FLOAT] = Field(
        default=1.1, description="Candidate/baseline quantile ratio allowed (1.1 = 10% slower). Default 1.1."
    )
    milliseconds: Annotated[float, Field(ge=0, le=3_600_000, allow_inf_nan=False), AS_FLOAT] = Field(
        default=10.0,
        description="Milliseconds slower allowed; the larger of this and ratio applies. Default 10.",
    )

    @field_validator("quantiles")
    @classmethod
    def _distinct(cls, quantiles: tuple[float, ...]) -> tuple[float, ...]:
        if len(set(quantiles)) != len(quantiles):
            raise spec_error(
                "duplicate_quantile",
                f"tolerance.quantiles lists a quantile twice: {list(quantiles)}",
                hint="list each quantile once, e.g. [0.5, 0.9, 0.99]",
            )
        return quantiles


NATIVE_SLO_MESSAGE = "slo needs histogram: classic (native buckets have no edge at the slo)"


class LatencyMetric(ApiModel):
    """Latency of candidate vs baseline from a histogram's bucket counters.

    Location: Mann-Whitney on bucket counts, effect CLES = P(candidate slower) + 1/2 P(same
    bucket); harm needs the test AND both practical gates: CLES >= maxShift and a quantile
    beyond the tolerance. Tail (with slo): share of requests slower than slo, tested like an
    error rate. ``histogram: native`` reads Prometheus native histograms (exponential buckets,
    finer ranks; docs/analysis.md); the tail test needs classic buckets (an edge at the slo).
    """

    model_config = cel_rules(
        cel_rule(
            "!has(self.slo) || !has(self.histogram) || self.histogram == 'classic'",
            NATIVE_SLO_MESSAGE,
            field_path=".slo",
        )
    )

    buckets: CohortQuery = Field(
        description=(
            "Histogram _bucket counter with an 'le' label, or with histogram: native the native "
            "histogram series; must use {{version}}, which selects a cohort."
        )
    )
    histogram: HistogramKind = Field(
        default=HistogramKind.CLASSIC,
        description=(
            "classic (default): buckets selects _bucket counters; native: Prometheus native "
            "histograms (exponential buckets, finer ranks; Prometheus 3, scrape_native_histograms)."
        ),
    )
    slo: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False), AS_FLOAT] | None = Field(
        default=None,
        description="Latency objective in seconds (a bucket edge); enables the tail test. Default none.",
    )
    max_shift: Annotated[float, Field(gt=0.5, lt=1, allow_inf_nan=False), AS_FLOAT] = Field(
        default=0.55,
        description=(
            "Practical gate on CLES (0.5 = no shift), checked with the tolerance: harm needs both. "
            "Default 0.55."
        ),
    )
    tolerance: LatencyTolerance = Field(
        default_factory=LatencyTolerance,
        description=(
            "How much slower the candidate may be at given quantiles; harm needs a quantile beyond "
            "it. Default: 10% or 10 ms at the median and p90."
        ),
    )
    tail_ratio: Annotated[float, Field(gt=1, le=100, allow_inf_nan=False), AS_FLOAT] = Field(
        default=1.25, description="Practical gate: ratio of shares above slo. Default 1.25."
    )
    tail_increase: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), AS_FLOAT] = Field(
        default=0.005, description="Practical gate: increase of the share above slo. Default 0.005."
    )

    @model_validator(mode="after")
    def _slo_needs_classic(self) -> LatencyMetric:
        if self.slo is not None and self.histogram is HistogramKind.NATIVE:
            raise spec_error(
                "native_slo", NATIVE_SLO_MESSAGE, at=".slo", hint="drop slo, or use histogram: classic"
            )
        return self


class ScoreRange(ApiModel):
    """The range valid predictions fall in; mass outside it is a sanity failure.

    ``min`` must be below ``max``: an empty range (or a reversed one) would call every score
    out of range and roll back every candidate.
    """

    model_config = cel_rules(
        cel_rule("self.min < self.max", "range.min must be less than range.max", field_path=".min")
    )

    min: WireFloat = Field(description="Lowest valid score; must be less than max.")
    max: WireFloat = Field(description="Highest valid score.")

    @model_validator(mode="after")
    def _ordered(self) -> ScoreRange:
        if not self.min < self.max:
            raise spec_error(
                "empty_range",
                "range.min must be less than range.max",
                at=".min",
                hint=f"min ({self.min}) is not below max ({self.max}); e.g. min: 0, max: 1 for probabilities",
            )
        return self


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
            field_path=".warn",
        )
    )

    buckets: CohortQuery = Field(
        description=(
            "Counter of predictions by bucket ('le') or class label; must use {{version}}, which "
            "selects a cohort."
        )
    )
    by: Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=128)] = Field(
        default="le",
        description=(
            "Label naming the bucket. 'le' (default): a cumulative histogram of scores, judged "
            "by PSI. Any other label: classes, judged by Jensen-Shannon distance."
        ),
    )
    warn: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False), AS_FLOAT] = Field(
        default=0.1, description="Warn level. Default 0.1."
    )
    fail: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False), AS_FLOAT] = Field(
        default=0.25, description="Fail level. Default 0.25."
    )
    on_fail: Literal["hold", "rollback"] = Field(
        default="hold", description="What drift at the fail level does: hold (default) or rollback."
    )
    invalid: CohortQuery | None = Field(
        default=None,
        description="Counter of invalid (NaN, failed) predictions; must use {{version}}. Default none.",
    )
    max_invalid_ratio: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), AS_FLOAT] = Field(
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

    model_config = cel_rules(
        cel_rule("has(self.max) || has(self.min)", "set max, min or both"),
        cel_rule(
            "!has(self.min) || !has(self.max) || self.min <= self.max",
            "guard min must not exceed max",
            field_path=".min",
        ),
    )

    query: CohortQuery = Field(
        description=(
            "PromQL returning one number for the candidate; must use {{version}} (filled with the "
            "candidate's), or it would measure the baseline too."
        )
    )
    max: WireFloat | None = Field(default=None, description="Highest allowed value.")
    min: WireFloat | None = Field(
        default=None,
        description="Lowest allowed value; at most max (equal bounds pin one value, e.g. device info).",
    )
    consecutive: Annotated[int, Field(ge=1, le=100), AS_INT] = Field(
        default=2, description="Breaches in a row that fail the guard. Default 2."
    )

    @model_validator(mode="after")
    def _has_bound(self) -> GuardMetric:
        if self.max is None and self.min is None:
            raise spec_error("guard_bound", "set max, min or both", hint="e.g. max: 70000")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise spec_error(
                "guard_bounds_reversed",
                "guard min must not exceed max",
                at=".min",
                hint=f"no value is both >= {self.min} and <= {self.max}: the guard would always fail",
            )
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

    requests: Annotated[int, Field(ge=1, le=100_000_000), AS_INT] = Field(
        default=500, description="Candidate requests. Default 500."
    )
    errors: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False), AS_FLOAT] = Field(
        default=10,
        description=(
            "Expected candidate events: errors at the larger of baseline rate and margin; requests "
            "above a latency slo at baseline share + margin. Default 10."
        ),
    )
    predictions: Annotated[int, Field(ge=1, le=100_000_000), AS_INT] = Field(
        default=200, description="Candidate predictions for drift. Default 200."
    )


class Analysis(ApiModel):
    """Continuous comparison of candidate and baseline, from warm-up to the end of the rollout."""

    model_config = cel_rules(
        cel_rule(
            "!has(self.interval) || !self.interval.matches('^[0-9hms]+$') "
            "|| duration(self.interval) >= duration('10s')",
            "interval must be at least 10s",
            field_path=".interval",
        ),
        cel_rule(
            "has(self.prometheus) || ((!has(self.metrics) || size(self.metrics) == 0) "
            "&& !has(self.readyQuery))",
            "prometheus is required when metrics or readyQuery are set",
            field_path=".prometheus",
        ),
    )

    prometheus: PrometheusSource | None = Field(
        default=None,
        description="Prometheus to query; required when metrics or readyQuery are set.",
    )
    interval: PositiveDuration = Field(
        default=Duration("1m"), description="Time between looks (>= 10s). Default 1m."
    )
    warmup: Duration = Field(
        default=Duration("2m"),
        description="Wait after the candidate is ready before samples count. Default 2m.",
    )
    alpha: Annotated[float, Field(gt=0, le=0.5, allow_inf_nan=False), AS_FLOAT] = Field(
        default=0.05,
        description="False-rollback rate for the whole rollout, however often it looks. Default 0.05.",
    )
    error_budget: Annotated[int, Field(ge=0, le=1000), AS_INT] = Field(
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
    ready_query: CohortQuery | None = Field(
        default=None,
        description=(
            "PromQL that is true (non-zero) once the candidate serves from the right device, e.g. "
            'min(model_device_info{version="{{version}}", device!="cpu"}); must use {{version}}. '
            "Default none."
        ),
    )
    variables: Annotated[
        dict[
            Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN, max_length=64)],
            Annotated[str, StringConstraints(pattern=VARIABLE_VALUE_PATTERN, max_length=253)],
        ],
        AfterValidator(_not_reserved),
        CelRules(
            (
                cel_rule(
                    "self.all(k, !(k in " + str(list(RESERVED_VARIABLES)) + "))",
                    RESERVED_MESSAGE,
                ),
            )
        ),
    ] = Field(
        default_factory=dict,
        max_length=32,
        description=(
            "Extra template variables for queries ({{name}}), at most 32. Names are identifiers "
            "(not version, interval or namespace); values are 1-253 letters, digits, '_', ':' and '-'. "
            "Regex metacharacters, '.' included, are refused: a value also lands inside =~ "
            "matchers, where '.*' would read other teams' series."
        ),
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
        default=Duration("5m"),
        description=(
            "Wait before scaling the losing version to 0: the baseline after promotion, the candidate "
            "after a rollback, abort or failure. Default 5m."
        ),
    )
    drain: Duration = Field(
        default=Duration("10s"),
        description="Wait after moving traffic away from a version before scaling it to 0. Default 10s.",
    )


AcknowledgeableWarning = Literal[
    "AcceleratorPlacementChanged",
    "ReadinessProbeTCPOnly",
    "StartupProbeMissing",
    "ProgressDeadlineTooShort",
    "TerminationGraceTooShort",
    "ResourceRequestsMissing",
    "AutoscalerBounds",
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
    max_restarts: Annotated[int, Field(ge=0, le=1000), AS_INT] = Field(
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

    step: Annotated[int, Field(ge=0, lt=MAX_STEPS), AS_INT] = Field(description="Index into spec.steps.")
    version: LabelValue = Field(
        description=(
            "Candidate version approved (required; set by the CLI). Another version's approval is "
            "ignored, so an approval left in the spec never passes a gate of a later candidate."
        ),
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


SAME_VERSION_MESSAGE = (
    "baseline and candidate must be different versions: a version compared with itself always passes"
)


AUTOSCALER_REPLICAS_MESSAGE = (
    "the replicas router sizes both Deployments itself (pods are the traffic): an autoscaler "
    "would undo every baseline scale-down, so spec.autoscaler needs the gatewayAPI router"
)


CAPACITY_REPLICAS_MESSAGE = (
    "spec.capacity needs a weight router (gatewayAPI): with the replicas router the pods are the "
    "traffic, so a baseline shrunk for the budget would change the split"
)
CAPACITY_AUTOSCALER_MESSAGE = (
    "spec.capacity and spec.autoscaler cannot be set together: the autoscaler owns the baseline's "
    "size, and the budget would have to shrink it"
)


ISTIO_HEADER_ROUTE_MESSAGE = (
    "setHeaderRoute with the istio router needs traffic.istio.route (the route by name): the header "
    "route is inserted before it, which would shift a routeIndex"
)


KSERVE_STEPS_MESSAGE = (
    "the kserve router can neither mirror nor route by header (canaryTrafficPercent is a weight): "
    "setMirror and setHeaderRoute steps need the gatewayAPI router"
)
KSERVE_SIZING_MESSAGE = (
    "with the kserve router Knative's autoscaler sizes each revision: spec.autoscaler, "
    "spec.capacity and a number in candidate.replicas cannot be set"
)
KSERVE_DEPLOYMENTS_MESSAGE = (
    "with the kserve router baseline.deployment and candidate.deployment name revision Deployments, "
    "<revision>-deployment"
)
KSERVE_DEPLOYMENTS_CEL = (
    "!has(self.traffic.kserve) || (has(self.baseline.deployment) && has(self.candidate.deployment) "
    "&& self.baseline.deployment.endsWith('-deployment') "
    "&& self.candidate.deployment.endsWith('-deployment'))"
)


def _workload_cel(side: str) -> str:
    """CEL for :attr:`ModelRef.workload_deployment` of ``self.<side>``."""
    ref = f"self.{side}"
    predictor = f"{ref}.inferenceService + '{KSERVE_PREDICTOR_SUFFIX}'"
    return f"(has({ref}.deployment) ? {ref}.deployment : {predictor})"


class ModelRolloutSpec(ApiModel):
    """What to roll out, how to shift traffic, how to judge it — and the intents."""

    model_config = cel_rules(
        *(
            cel_rule(
                f"!has(self.candidate.{field}) || "
                f"{_workload_cel('baseline')} != {_workload_cel('candidate')}",
                "baseline and candidate must be different Deployments",
                field_path=f".candidate.{field}",
            )
            for field in ("deployment", "inferenceService")
        ),
        cel_rule(
            "self.baseline.version != self.candidate.version",
            SAME_VERSION_MESSAGE,
            field_path=".candidate.version",
        ),
        cel_rule(
            "!has(self.approvals) || self.approvals.all(a, a.step < size(self.steps))",
            "each approval must name a step index of spec.steps",
            field_path=".approvals",
        ),
        cel_rule(
            "!has(self.traffic.replicas) || !has(self.candidate.replicas) "
            "|| type(self.candidate.replicas) == string",
            'the replicas router sets candidate replicas itself: candidate.replicas must be "auto"',
            field_path=".candidate.replicas",
        ),
        cel_rule(
            "!has(self.traffic.replicas) || !has(self.autoscaler)",
            AUTOSCALER_REPLICAS_MESSAGE,
            field_path=".autoscaler",
        ),
        cel_rule(
            "!has(self.traffic.replicas) || !self.steps.exists(s, has(s.setMirror) || has(s.setHeaderRoute))",
            MIRROR_REPLICAS_MESSAGE,
            field_path=".steps",
        ),
        cel_rule(
            "!has(self.capacity) || !has(self.traffic.replicas)",
            CAPACITY_REPLICAS_MESSAGE,
            field_path=".capacity",
        ),
        cel_rule(
            "!has(self.capacity) || !has(self.autoscaler)",
            CAPACITY_AUTOSCALER_MESSAGE,
            field_path=".capacity",
        ),
        cel_rule(
            "!has(self.traffic.istio) || !has(self.traffic.istio.routeIndex) "
            "|| !self.steps.exists(s, has(s.setHeaderRoute))",
            ISTIO_HEADER_ROUTE_MESSAGE,
            field_path=".traffic.istio.routeIndex",
        ),
        cel_rule(
            "!has(self.traffic.kserve) || !self.steps.exists(s, has(s.setMirror) || has(s.setHeaderRoute))",
            KSERVE_STEPS_MESSAGE,
            field_path=".steps",
        ),
        cel_rule(
            "!has(self.traffic.kserve) || (!has(self.autoscaler) && !has(self.capacity) "
            "&& (!has(self.candidate.replicas) || type(self.candidate.replicas) == string))",
            KSERVE_SIZING_MESSAGE,
            field_path=".traffic.kserve",
        ),
        cel_rule(KSERVE_DEPLOYMENTS_CEL, KSERVE_DEPLOYMENTS_MESSAGE, field_path=".candidate.deployment"),
    )

    baseline: ModelRef = Field(
        description="The version serving now (after the first rollout: status.stableVersion)."
    )
    candidate: CandidateRef = Field(
        description=(
            "The version to roll out; its version and Deployment must differ from the baseline's "
            "(a version compared with itself always passes). Changing it starts a rollout."
        )
    )
    traffic: Traffic = Field(description="The router that splits traffic. Exactly one.")
    autoscaler: AutoscalerRef | None = Field(
        default=None,
        description=(
            "The autoscaler of the baseline: while it rolls out the candidate follows the baseline's "
            "autoscaled size, and on promotion the autoscaler moves to the candidate "
            "(docs/autoscalers.md). Not with the replicas router. Default: none."
        ),
    )
    capacity: Capacity | None = Field(
        default=None,
        description=(
            "A budget (maxSurge) for the rollout's pods: the baseline shrinks as the candidate grows. "
            "Needs the gatewayAPI router; not with spec.autoscaler. Default: none (the baseline "
            "stays full size)."
        ),
    )
    steps: tuple[Step, ...] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        description=(
            "The plan, run in order. It starts with a step that sends the candidate requests "
            "(setWeight, setMirror above 0 or setHeaderRoute), and weights must not decrease. "
            "After the last step the candidate gets 100%."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
                    "setWeight values must not decrease from one step to the next",
                ),
                cel_rule(FIRST_STEP_CEL, FIRST_STEP_MESSAGE),
            ]
        },
    )
    analysis: Analysis = Field(
        default_factory=Analysis, description="How candidate and baseline are compared."
    )
    progress_deadline: PositiveDuration = Field(
        default=Duration("20m"),
        description="Candidate Ready (model loaded, on its device) within this (more than 0s). Default 20m.",
    )
    max_duration: PositiveDuration = Field(
        default=Duration("6h"),
        description="Longest a rollout may take (more than 0s); past it the rollout rolls back. Default 6h.",
    )
    scale_down: ScaleDown = Field(default_factory=ScaleDown, description="Scaling of the losing version.")
    guardrails: Guardrails = Field(default_factory=Guardrails, description="ML guardrails.")
    paused: WireBool = Field(
        default=False, description="Intent: hold at the current step (analysis keeps running)."
    )
    abort: Abort | None = Field(default=None, description="Intent: abort now (rollouts abort).")
    approvals: tuple[Approval, ...] = Field(
        default=(),
        max_length=MAX_APPROVALS,
        description="Intents: approvals, each passing the gate or releasing the hold at one step.",
    )
    retry: Retry | None = Field(default=None, description="Intent: retry after a rollback or abort.")
    notifications: tuple[NotificationRoute, ...] = Field(
        default=(),
        max_length=MAX_NOTIFIERS,
        description=(
            "Notifiers of the cluster (ConfigMap model-rollouts-notifications) to tell about this "
            "rollout, each with the events it wants. Default: none."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["notifier"]},
    )

    @field_validator("notifications")
    @classmethod
    def _one_route_per_notifier(cls, routes: tuple[NotificationRoute, ...]) -> tuple[NotificationRoute, ...]:
        """A notifier named twice would get each event twice (the API server refuses it too)."""
        seen: set[str] = set()
        for index, route in enumerate(routes):
            if route.notifier in seen:
                raise spec_error(
                    "duplicate_notifier",
                    f"notifier {route.notifier!r} is named twice",
                    at=f"[{index}].notifier",
                    hint="name each notifier once and list all its events in its 'events'",
                )
            seen.add(route.notifier)
        return routes

    @field_validator("steps")
    @classmethod
    def _weights_non_decreasing(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        """Weights only go up, and traffic moves before anything is judged or approved.

        Why the first step must send the candidate requests (a setWeight, a setMirror above 0 or
        a setHeaderRoute): at weight 0 with neither mirror nor header route the candidate has no
        traffic, so an analyze step compares nothing, and an approve step would take the rollout
        from 0 to its next weight — or, in ``[approve]``, straight to 100% — on one click. Only
        the first step is checked (as the CRD's rule can): ``[setMirror: 50, setMirror: 0,
        analyze]`` passes and its analyze step waits for evidence that never comes.
        """
        if steps and not steps[0].sends_candidate_requests:
            raise spec_error(
                "first_step",
                FIRST_STEP_MESSAGE,
                hint="start the plan with e.g. - setWeight: 5, or - setMirror: 50 to judge mirrored requests",
            )
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
        if self.baseline.workload_deployment == self.candidate.workload_deployment:
            raise spec_error(
                "same_deployment",
                "baseline and candidate must be different Deployments",
                at=f".candidate.{'inferenceService' if self.candidate.inference_service else 'deployment'}",
                hint="each version runs in its own Deployment, e.g. fraud-scorer-v1 and fraud-scorer-v2",
            )
        if self.baseline.version == self.candidate.version:
            raise spec_error(
                "same_version",
                SAME_VERSION_MESSAGE,
                at=".candidate.version",
                hint="candidate.version names the new model; baseline.version the one serving now",
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
        if self.traffic.replicas is not None and self.autoscaler is not None:
            raise spec_error(
                "autoscaler_with_replicas_router",
                AUTOSCALER_REPLICAS_MESSAGE,
                at=".autoscaler",
                hint="route with gatewayAPI, or remove spec.autoscaler and the autoscaler for the rollout",
            )
        if self.traffic.replicas is not None:
            for index, step in enumerate(self.steps):
                if step.set_mirror is not None or step.set_header_route is not None:
                    kind = "setMirror" if step.set_mirror is not None else "setHeaderRoute"
                    raise spec_error(
                        "mirror_with_replicas_router",
                        MIRROR_REPLICAS_MESSAGE,
                        at=f".steps[{index}].{kind}",
                        hint="route with gatewayAPI (or istio), or remove the step",
                    )
        if self.capacity is not None and self.traffic.replicas is not None:
            raise spec_error(
                "capacity_with_replicas_router",
                CAPACITY_REPLICAS_MESSAGE,
                at=".capacity",
                hint="route with gatewayAPI, or remove spec.capacity",
            )
        if self.capacity is not None and self.autoscaler is not None:
            raise spec_error(
                "capacity_with_autoscaler",
                CAPACITY_AUTOSCALER_MESSAGE,
                at=".capacity",
                hint="remove spec.capacity (the autoscaler sizes the baseline) or spec.autoscaler",
            )
        istio = self.traffic.istio
        if istio is not None and istio.route_index is not None:
            for index, step in enumerate(self.steps):
                if step.set_header_route is not None:
                    raise spec_error(
                        "istio_header_route_by_index",
                        ISTIO_HEADER_ROUTE_MESSAGE,
                        at=".traffic.istio.routeIndex",
                        hint=f"name the http route (route: NAME) for routeIndex, or remove steps[{index}]",
                    )
        if self.traffic.kserve is not None:
            self._kserve_fits()
        return self

    def _kserve_fits(self) -> None:
        """What the kserve router cannot do, refused as the CRD's rules refuse it."""
        for index, step in enumerate(self.steps):
            if step.set_mirror is not None or step.set_header_route is not None:
                kind = "setMirror" if step.set_mirror is not None else "setHeaderRoute"
                raise spec_error(
                    "mirror_with_kserve_router",
                    KSERVE_STEPS_MESSAGE,
                    at=f".steps[{index}].{kind}",
                    hint="remove the step, or route two raw-mode InferenceServices with gatewayAPI",
                )
        if (
            self.autoscaler is not None
            or self.capacity is not None
            or isinstance(self.candidate.replicas, int)
        ):
            raise spec_error(
                "sizing_with_kserve_router",
                KSERVE_SIZING_MESSAGE,
                at=".traffic.kserve",
                hint="remove spec.autoscaler, spec.capacity and candidate.replicas (or write auto); "
                "set minReplicas/maxReplicas on the predictor",
            )
        for role, ref in (("baseline", self.baseline), ("candidate", self.candidate)):
            if ref.deployment is None or not ref.deployment.endswith(KSERVE_REVISION_DEPLOYMENT_SUFFIX):
                raise spec_error(
                    "kserve_revision_deployment",
                    KSERVE_DEPLOYMENTS_MESSAGE,
                    at=f".{role}.deployment",
                    hint="the InferenceService's status.components.predictor names the revisions: "
                    "latestRolledoutRevision for the baseline, latestCreatedRevision for the candidate, "
                    "each then -deployment (e.g. fraud-scorer-predictor-00002-deployment)",
                )


__all__ = [
    "DURATION_HINT",
    "KSERVE_PREDICTOR_SUFFIX",
    "Abort",
    "Analysis",
    "AnalyzeStep",
    "Approval",
    "ApproveStep",
    "AutoscalerKind",
    "AutoscalerRef",
    "CandidateRef",
    "Capacity",
    "DriftMetric",
    "ErrorRateMetric",
    "GatewayAPIRouter",
    "GuardMetric",
    "Guardrails",
    "HeaderMatch",
    "HeaderMatchType",
    "HeaderRoute",
    "IstioDestination",
    "IstioRouter",
    "KServeRouter",
    "LatencyMetric",
    "MaxSurge",
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
    "WorkloadKind",
]
