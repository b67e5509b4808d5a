"""The autoscaler handover, rule by rule (docs/autoscalers.md): the pure decisions, preflight.

The decisions are tables like tests/unit/test_decide.py (whose helpers they use): a situation
— spec, status, what was observed, including the autoscaler as the cache shows it — and the
decision expected. The end-to-end proof with the real HPA controller is
tests/e2e/test_autoscalers.py; the ScaledObject's move on a real API server (KEDA's CRDs, not
its operator) is tests/integration/test_scaled_objects.py.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollouts.api.lint import lint_object
from rollouts.api.spec import AutoscalerKind
from rollouts.api.status import AutoscalerStatus, ModelRolloutStatus, Result, Verdict
from rollouts.controller.core.decide import decide
from rollouts.controller.core.observed import AutoscalerMove, DeploymentState, Evidence, Observed
from rollouts.controller.shell.fetch import World, named_autoscaler
from rollouts.controller.shell.trim import trim_autoscaler
from rollouts.guardrails.autoscalers import Autoscaler, autoscaler_of
from rollouts.guardrails.preflight import Rule, Severity, preflight
from tests.unit.test_decide import analysis, at, observed, reasons, running, spec_of, stamp

HPA = {"kind": "HorizontalPodAutoscaler", "name": "model"}
ON_BASELINE = Autoscaler(name="model", target="model-v1", min_replicas=2, max_replicas=10)
ON_CANDIDATE = replace(ON_BASELINE, target="model-v2")
MOVED = AutoscalerStatus(kind="HorizontalPodAutoscaler", name="model", target="model-v2", moved_at=stamp(30))
GUARDRAILS = Path(__file__).parents[2] / "examples" / "guardrails"


def autoscaled(
    autoscaler: Autoscaler | None = ON_BASELINE,
    baseline: int = 6,
    candidate: DeploymentState | None = None,
    **kwargs: Any,
) -> Observed:
    """The baseline at the autoscaler's size ``baseline`` (the rollout started at 4)."""
    seen = observed(baseline_replicas=baseline, candidate=candidate, **kwargs)
    return replace(seen, autoscaler=autoscaler)


def promoted(ready: int = 4, **facts: Any) -> ModelRolloutStatus:
    """Promoted at minute 30 (scaleDown.delay 5m), ``ready`` of the candidate's 6 pods Ready."""
    candidate = DeploymentState("model-v2", replicas=6, ready=ready)
    seen = autoscaled(share=1.0, candidate=candidate)
    done = decide(spec_of(autoscaler=HPA), running(step=5, weight=100), seen, at(30))
    assert done.status.outcome is not None and done.status.outcome.result is Result.SUCCEEDED
    return done.status.model_copy(update=facts)


# --- while the autoscaler sizes the baseline -----------------------------------------------------


@pytest.mark.parametrize(
    ("step", "weight", "candidate"),
    [(0, 10, 1), (3, 50, 3), (5, 100, 6)],
)
def test_the_candidate_follows_the_baselines_current_size_and_the_baseline_is_left_alone(
    step: int, weight: int, candidate: int
) -> None:
    status = running(step=step, weight=weight)  # started with 4 baseline replicas; the HPA made it 6
    decision = decide(spec_of(autoscaler=HPA), status, autoscaled(share=weight / 100), at(10))
    assert decision.candidate_replicas == candidate  # ceil(6 x weight / 100)
    assert decision.baseline_replicas is None  # the autoscaler sizes it
    assert decision.autoscaler_move is None


def test_the_candidate_never_follows_the_baseline_below_its_size_at_the_start() -> None:
    """At 50% the baseline serves half the load, and a load-driven HPA halves it: 4 -> 2."""
    decision = decide(
        spec_of(autoscaler=HPA), running(step=3, weight=50), autoscaled(baseline=2, share=0.5), at(10)
    )
    assert decision.candidate_replicas == 2  # ceil(4 x 50%), not ceil(2 x 50%)
    assert decision.baseline_replicas is None


def test_without_an_autoscaler_named_the_plan_uses_the_size_at_the_start() -> None:
    """What the handover fixes: the controller would pull an autoscaled baseline back to 4."""
    decision = decide(spec_of(), running(step=3, weight=50), autoscaled(autoscaler=None, share=0.5), at(10))
    assert (decision.baseline_replicas, decision.candidate_replicas) == (4, 2)


def test_before_readiness_the_baseline_is_left_alone_too() -> None:
    status = running(step=0, weight=0, candidate_ready_at=None)
    decision = decide(spec_of(autoscaler=HPA), status, autoscaled(ready=False), at(1))
    assert decision.baseline_replicas is None
    assert decision.candidate_replicas == 1  # first weight 10% of 6


# --- promotion: the move -------------------------------------------------------------------------


def test_the_move_waits_until_the_candidate_is_ready_at_the_baselines_size() -> None:
    short = DeploymentState("model-v2", replicas=6, ready=5)
    waiting = decide(spec_of(autoscaler=HPA), promoted(), autoscaled(share=1.0, candidate=short), at(31))
    assert waiting.status.autoscaler is None
    assert waiting.autoscaler_move is None
    assert (waiting.baseline_replicas, waiting.candidate_replicas) == (None, 6)
    full = DeploymentState("model-v2", replicas=6, ready=6)
    moving = decide(spec_of(autoscaler=HPA), waiting.status, autoscaled(share=1.0, candidate=full), at(32))
    record = moving.status.autoscaler
    assert record is not None and (record.name, record.target, record.moved_at) == (
        "model",
        "model-v2",
        stamp(32),
    )
    assert "AutoscalerMoved" in reasons(moving)
    assert moving.autoscaler_move == AutoscalerMove(name="model", source="model-v1", target="model-v2")
    assert (moving.baseline_replicas, moving.candidate_replicas) == (None, None)


def test_a_promotion_with_the_candidate_ready_moves_in_the_same_decision() -> None:
    status = promoted(ready=6)
    record = status.autoscaler
    assert record is not None and record.target == "model-v2"
    assert [event for event in status.history if event.reason == "AutoscalerMoved"]


def test_the_move_is_re_applied_after_a_crash_until_the_autoscaler_names_the_candidate() -> None:
    """Status recorded the move; the patch never landed: every reconcile asks for it again."""
    status = promoted(autoscaler=MOVED)
    first = decide(spec_of(autoscaler=HPA), status, autoscaled(share=1.0), at(31))
    again = decide(spec_of(autoscaler=HPA), first.status, autoscaled(share=1.0), at(31.5))
    move = AutoscalerMove(name="model", source="model-v1", target="model-v2")
    assert first.autoscaler_move == again.autoscaler_move == move
    assert first.status.autoscaler == again.status.autoscaler == MOVED  # recorded once, not again
    assert "AutoscalerMoved" not in reasons(first) + reasons(again)
    done = decide(spec_of(autoscaler=HPA), again.status, autoscaled(ON_CANDIDATE, share=1.0), at(32))
    assert done.autoscaler_move is None


def test_the_baseline_scales_down_only_once_the_autoscaler_has_left_it() -> None:
    status = promoted(autoscaler=MOVED)
    unmoved = decide(spec_of(autoscaler=HPA), status, autoscaled(share=1.0), at(36))  # past the delay
    assert unmoved.baseline_replicas is None
    assert unmoved.status.scaled_down_at is None
    assert "still sizes model-v1" in unmoved.status.message
    after = DeploymentState("model-v2", replicas=7, ready=7)  # the HPA sizes it now
    seen = autoscaled(ON_CANDIDATE, share=1.0, candidate=after)
    during = decide(spec_of(autoscaler=HPA), status, seen, at(32))
    assert (during.baseline_replicas, during.candidate_replicas) == (None, None)
    down = decide(spec_of(autoscaler=HPA), status, seen, at(36))
    assert (down.baseline_replicas, down.candidate_replicas) == (0, None)
    assert "ScaledDown" in reasons(down)


# --- other ends: nothing moves -------------------------------------------------------------------


def _rolled_back(status: ModelRolloutStatus, seen: Observed) -> ModelRolloutStatus:
    look = Evidence(analysis=analysis(Verdict.FAIL, 6), rollback=("errors",))
    return decide(spec_of(autoscaler=HPA), status, replace(seen, evidence=look), at(6)).status


def _aborted(status: ModelRolloutStatus, seen: Observed) -> ModelRolloutStatus:
    spec = spec_of(autoscaler=HPA, abort={"reason": "bad", "version": "v2"})
    return decide(spec, status, seen, at(6)).status


@pytest.mark.parametrize("end", [_rolled_back, _aborted], ids=["rollback", "abort"])
def test_nothing_moves_on_rollback_or_abort(end: Any) -> None:
    seen = autoscaled(share=0.1)
    status = end(running(step=1, weight=10), seen)
    assert status.outcome is not None and status.outcome.result is not Result.SUCCEEDED
    later = decide(spec_of(autoscaler=HPA), status, seen, at(12))
    assert later.status.autoscaler is None
    assert later.autoscaler_move is None
    assert later.baseline_replicas is None  # not restored to 4: the autoscaler keeps it
    assert later.candidate_replicas == 0


def test_a_rollback_brings_a_shrunk_baseline_back_until_the_candidates_scale_down() -> None:
    """The HPA shrank the baseline while the candidate took traffic; all of it comes back now."""
    shrunk = autoscaled(baseline=2, share=0.1)
    status = _rolled_back(running(step=1, weight=10), shrunk)
    during = decide(spec_of(autoscaler=HPA), status, shrunk, at(7))
    assert during.baseline_replicas == 4  # the size at the start, as without an autoscaler
    down = decide(spec_of(autoscaler=HPA), during.status, shrunk, at(12))
    assert down.status.scaled_down_at is not None and down.candidate_replicas == 0
    after = decide(spec_of(autoscaler=HPA), down.status, shrunk, at(13))
    assert after.baseline_replicas is None  # the autoscaler's alone again


def test_a_new_rollout_forgets_the_last_move() -> None:
    status = promoted(autoscaler=MOVED)
    spec = spec_of(
        autoscaler=HPA,
        baseline={"deployment": "model-v2", "version": "v2"},
        candidate={"deployment": "model-v3", "version": "v3"},
    )
    seen = replace(autoscaled(ON_CANDIDATE), baseline=DeploymentState("model-v2", replicas=7, ready=7))
    started = decide(spec, status, seen, at(40))
    assert started.status.autoscaler is None
    assert started.baseline_replicas is None  # the autoscaler now sizes model-v2, the baseline


# --- preflight -----------------------------------------------------------------------------------


def _deployments() -> tuple[dict[str, Any], dict[str, Any]]:
    baseline: dict[str, Any] = yaml.safe_load((GUARDRAILS / "baseline.yaml").read_text())
    baseline["metadata"]["name"] = "model-v1"
    baseline["spec"]["replicas"] = 4
    candidate = copy.deepcopy(baseline)
    candidate["metadata"]["name"] = "model-v2"
    return baseline, candidate


def _autoscaler_findings(spec_changes: dict[str, Any], *autoscalers: Autoscaler) -> list[tuple[Rule, str]]:
    baseline, candidate = _deployments()
    report = preflight(spec_of(**spec_changes), baseline, candidate, autoscalers)
    return [(f.rule, f.path) for f in report.findings if f.rule.value.startswith("Autoscaler")]


def test_preflight_passes_the_named_autoscaler_of_the_baseline() -> None:
    assert _autoscaler_findings({"autoscaler": HPA}, ON_BASELINE) == []


@pytest.mark.parametrize(
    ("autoscalers", "path"),
    [((), "spec.autoscaler.name"), ((ON_CANDIDATE,), "spec.autoscaler.name")],
    ids=["missing", "on-the-candidate"],
)
def test_preflight_refuses_a_named_autoscaler_that_does_not_size_the_baseline(
    autoscalers: tuple[Autoscaler, ...], path: str
) -> None:
    assert _autoscaler_findings({"autoscaler": HPA}, *autoscalers) == [(Rule.AUTOSCALER_UNUSABLE, path)]
    assert Rule.AUTOSCALER_UNUSABLE.severity is Severity.ERROR


def test_preflight_refuses_another_autoscaler_on_the_candidate() -> None:
    other = Autoscaler(name="other", target="model-v2", min_replicas=1, max_replicas=3)
    found = _autoscaler_findings({"autoscaler": HPA}, ON_BASELINE, other)
    assert found == [(Rule.AUTOSCALER_CONFLICT, "spec.autoscaler")]
    assert Rule.AUTOSCALER_CONFLICT.severity is Severity.ERROR


def test_preflight_refuses_an_autoscaler_on_the_baseline_the_spec_does_not_name() -> None:
    baseline, candidate = _deployments()
    report = preflight(spec_of(), baseline, candidate, (ON_BASELINE,))
    assert [(f.rule, f.path) for f in report.errors] == [(Rule.AUTOSCALER_CONFLICT, "spec.autoscaler")]
    assert "name it in spec.autoscaler" in report.summary()


def test_preflight_warns_when_the_bounds_cannot_hold_the_planned_sizes() -> None:
    narrow = replace(ON_BASELINE, min_replicas=1, max_replicas=3)  # the baseline runs 4
    pinned = {"deployment": "model-v2", "version": "v2", "replicas": 12}
    found = _autoscaler_findings({"autoscaler": HPA, "candidate": pinned}, narrow)
    assert found == [(Rule.AUTOSCALER_BOUNDS, "spec.autoscaler")] * 2
    assert Rule.AUTOSCALER_BOUNDS.severity is Severity.WARNING
    guardrails = {"acknowledge": ["AutoscalerBounds"]}
    baseline, candidate = _deployments()
    report = preflight(spec_of(autoscaler=HPA, guardrails=guardrails), baseline, candidate, (narrow,))
    assert report.passed and not report.warnings


# --- the spec -------------------------------------------------------------------------


def test_the_replicas_router_refuses_an_autoscaler_naming_the_field() -> None:
    wire = {
        "apiVersion": "rollouts.modelops.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": "model"},
        "spec": {**spec_of().to_wire(), "traffic": {"replicas": {}}, "autoscaler": HPA},
    }
    rollout, problems = lint_object(wire)
    assert rollout is None
    assert [(p.path, p.severity) for p in problems] == [("spec.autoscaler", "error")]
    assert "replicas router" in problems[0].message


# --- a KEDA ScaledObject -------------------------------------------------------------------------

SCALED_OBJECT = {"kind": "ScaledObject", "name": "model"}
SCALED = Autoscaler("model", "model-v1", min_replicas=2, max_replicas=10, kind=AutoscalerKind.SCALED_OBJECT)
KEDA_HPA = Autoscaler("keda-hpa-model", "model-v1", min_replicas=2, max_replicas=10, owner="model")
"""The HPA KEDA makes for SCALED and keeps on its target: KEDA's, never another autoscaler."""


def _scaled_object_wire(target: str = "model-v1", **target_ref: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "model", "namespace": "ml", "managedFields": [{"manager": "x"}]},
        "spec": {
            "scaleTargetRef": {"name": target, **target_ref},
            "maxReplicaCount": 8,
            "pollingInterval": 30,
        },
        "status": {"hpaName": "keda-hpa-model"},
    }


def test_a_scaled_object_reads_with_kedas_defaults_and_its_target_kind() -> None:
    found = autoscaler_of(trim_autoscaler(_scaled_object_wire()), AutoscalerKind.SCALED_OBJECT)
    assert found == Autoscaler("model", "model-v1", 0, 8, kind=AutoscalerKind.SCALED_OBJECT)
    statefulset = _scaled_object_wire(kind="StatefulSet", apiVersion="apps/v1")
    assert autoscaler_of(statefulset, AutoscalerKind.SCALED_OBJECT).target == ""  # sizes no Deployment


def test_kedas_hpa_names_its_scaled_object_through_its_owner_reference() -> None:
    owner = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "model", "uid": "u"}
    hpa = {
        "metadata": {"name": "keda-hpa-model", "ownerReferences": [owner]},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "model-v1"}, "maxReplicas": 10},
    }
    assert autoscaler_of(trim_autoscaler(hpa)).owner == "model"
    someone_elses = {**owner, "apiVersion": "example.com/v1"}
    assert autoscaler_of({**hpa, "metadata": {"name": "h", "ownerReferences": [someone_elses]}}).owner == ""


@pytest.mark.parametrize(
    "autoscalers",
    [(SCALED, KEDA_HPA), (KEDA_HPA, SCALED), (SCALED,)],
    ids=["with-kedas-hpa", "kedas-hpa-first", "before-keda-made-it"],
)
def test_preflight_passes_a_named_scaled_object_and_ignores_kedas_own_hpa(
    autoscalers: tuple[Autoscaler, ...],
) -> None:
    assert _autoscaler_findings({"autoscaler": SCALED_OBJECT}, *autoscalers) == []


def test_preflight_refuses_a_named_scaled_object_it_cannot_see_but_not_for_kedas_hpa() -> None:
    """No ScaledObject listed (KEDA's CRDs not readable): unusable, and its HPA no conflict."""
    found = _autoscaler_findings({"autoscaler": SCALED_OBJECT}, KEDA_HPA)
    assert found == [(Rule.AUTOSCALER_UNUSABLE, "spec.autoscaler.name")]


@pytest.mark.parametrize(
    ("other", "kind"),
    [
        (Autoscaler("other", "model-v2", 1, 3), "HorizontalPodAutoscaler"),
        (replace(SCALED, name="other", target="model-v2"), "ScaledObject"),
        (
            replace(KEDA_HPA, name="keda-hpa-other", target="model-v2", owner="other"),
            "HorizontalPodAutoscaler",
        ),
        (replace(SCALED, name="other"), "ScaledObject"),
        (Autoscaler("model", "model-v1", 2, 10), "HorizontalPodAutoscaler"),
    ],
    ids=[
        "hpa-on-the-candidate",
        "scaled-object-on-the-candidate",
        "another-scaled-objects-hpa",
        "scaled-object-on-the-baseline",
        "an-hpa-of-the-same-name",
    ],
)
def test_preflight_refuses_another_autoscaler_beside_a_named_scaled_object(
    other: Autoscaler, kind: str
) -> None:
    baseline, candidate = _deployments()
    spec = spec_of(autoscaler=SCALED_OBJECT)
    report = preflight(spec, baseline, candidate, (SCALED, KEDA_HPA, other))
    assert [(f.rule, f.path) for f in report.errors] == [(Rule.AUTOSCALER_CONFLICT, "spec.autoscaler")]
    assert f"{kind} {other.name} already sizes" in report.summary()


def test_an_unnamed_scaled_object_on_the_baseline_is_one_conflict_not_two() -> None:
    """Its HPA is the ScaledObject's: the finding names the ScaledObject, the object to name."""
    baseline, candidate = _deployments()
    report = preflight(spec_of(), baseline, candidate, (SCALED, KEDA_HPA))
    assert [(f.rule, f.path) for f in report.errors] == [(Rule.AUTOSCALER_CONFLICT, "spec.autoscaler")]
    assert "kind ScaledObject, name model" in report.summary()


def test_a_promotion_records_and_moves_the_scaled_object_never_kedas_hpa() -> None:
    candidate = DeploymentState("model-v2", replicas=6, ready=6)
    seen = autoscaled(SCALED, share=1.0, candidate=candidate)
    done = decide(spec_of(autoscaler=SCALED_OBJECT), running(step=5, weight=100), seen, at(30))
    record = done.status.autoscaler
    assert record is not None and (record.kind, record.name) == (AutoscalerKind.SCALED_OBJECT, "model")
    move = AutoscalerMove("model", "model-v1", "model-v2", kind=AutoscalerKind.SCALED_OBJECT)
    assert done.autoscaler_move == move
    moved = decide(spec_of(autoscaler=SCALED_OBJECT), done.status, autoscaled(SCALED, share=1.0), at(31))
    assert moved.autoscaler_move == move  # re-applied until the ScaledObject names the candidate
    on_candidate = replace(SCALED, target="model-v2")
    assert (
        decide(
            spec_of(autoscaler=SCALED_OBJECT), done.status, autoscaled(on_candidate), at(32)
        ).autoscaler_move
        is None
    )


def test_the_cache_finds_the_named_kind_not_kedas_hpa_nor_an_hpa_of_the_same_name() -> None:
    hpa = {
        "metadata": {"name": "model"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "model-v1"}},
    }
    listed = {AutoscalerKind.HPA: [hpa], AutoscalerKind.SCALED_OBJECT: [_scaled_object_wire()]}
    world = World(deployment=lambda name: None, pods=list, nodes=list, autoscalers=lambda kind: listed[kind])
    found = named_autoscaler(spec_of(autoscaler=SCALED_OBJECT), world)
    assert found is not None and found.kind is AutoscalerKind.SCALED_OBJECT and found.max_replicas == 8
