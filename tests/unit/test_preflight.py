"""Preflight: each rule on a realistic GPU Deployment, acknowledgements, and ``rollouts preflight``.

Every case starts from the example baseline (examples/guardrails/baseline.yaml), builds the
candidate by renaming it and applying one edit, and asserts the exact findings: rule and path.
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from rollouts.api.resource import ModelRollout
from rollouts.api.spec import AcknowledgeableWarning, ModelRolloutSpec
from rollouts.cli.main import app
from rollouts.guardrails.preflight import Rule, Severity, preflight

EXAMPLES = Path(__file__).parents[2] / "examples" / "guardrails"
DOCS = Path(__file__).parents[2] / "docs" / "guardrails.md"
BASELINE_FILE = EXAMPLES / "baseline.yaml"
ROLLOUT_FILE = EXAMPLES / "rollout.yaml"

CONTAINER = "spec.template.spec.containers[0]"
POD = "spec.template.spec"

Edit = Callable[[dict[str, Any]], None]


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _rollout_spec(edit: Edit | None = None) -> ModelRolloutSpec:
    rollout = _load(ROLLOUT_FILE)
    if edit is not None:
        edit(rollout["spec"])
    return ModelRollout.model_validate(rollout).spec


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _server(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod(deployment)["containers"][0]
    return container


def _drop(resource: str) -> Edit:
    def apply(deployment: dict[str, Any]) -> None:
        del _server(deployment)["resources"]["limits"][resource]

    return apply


_no_gpu = _drop("nvidia.com/gpu")


def _gpus(count: int | str, resource: str = "nvidia.com/gpu") -> Edit:
    """Replace the server's nvidia.com/gpu limit with ``count`` of ``resource``."""

    def apply(deployment: dict[str, Any]) -> None:
        _no_gpu(deployment)
        _server(deployment)["resources"]["limits"][resource] = count

    return apply


def _gpu_in_requests_only(deployment: dict[str, Any]) -> None:
    _no_gpu(deployment)
    _server(deployment)["resources"]["requests"]["nvidia.com/gpu"] = 1


def _sidecar(resources: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "log-shipper",
        "image": "registry.example.com/infra/log-shipper:3.1",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}} if resources is None else resources,
    }


def _add_sidecar(resources: dict[str, Any] | None = None) -> Edit:
    def apply(deployment: dict[str, Any]) -> None:
        _pod(deployment)["containers"].append(_sidecar(resources))

    return apply


def _gpu_moved_to_sidecar(deployment: dict[str, Any]) -> None:
    _no_gpu(deployment)
    _add_sidecar({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"nvidia.com/gpu": 1}})(
        deployment
    )


def _renamed(keep_gpu: bool) -> Edit:
    def apply(deployment: dict[str, Any]) -> None:
        _server(deployment)["name"] = "server"
        if not keep_gpu:
            _no_gpu(deployment)

    return apply


def _set(path: str, value: Any) -> Edit:
    """Set a dotted path below the pod spec (``containers.0.readinessProbe``)."""

    def apply(deployment: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = _pod(deployment)
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return apply


def _delete(path: str) -> Edit:
    def apply(deployment: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = _pod(deployment)
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return apply


def _both(*edits: Edit) -> Edit:
    def apply(deployment: dict[str, Any]) -> None:
        for edit in edits:
            edit(deployment)

    return apply


def _cpu_only(deployment: dict[str, Any]) -> None:
    """A CPU model: no GPU, no GPU placement."""
    _no_gpu(deployment)
    del _pod(deployment)["nodeSelector"]
    del _pod(deployment)["tolerations"]


def _deployment_field(key: str, value: Any | None) -> Edit:
    def apply(deployment: dict[str, Any]) -> None:
        if value is None:
            del deployment["spec"][key]
        else:
            deployment["spec"][key] = value

    return apply


def _model_server_second(deployment: dict[str, Any]) -> None:
    """A sidecar listed first; the default-container annotation still names the model server."""
    _pod(deployment)["containers"].insert(0, _sidecar())


@dataclass(frozen=True)
class Case:
    """One candidate edit (and optionally a baseline edit), and the exact findings expected."""

    name: str
    candidate: Edit | None
    expected: list[tuple[Rule, str]]
    baseline: Edit | None = None
    spec: Callable[[], ModelRolloutSpec | None] = field(default=lambda: None)
    message: str = ""


CASES = [
    Case("identical", None, []),
    Case("gpu limit lost", _no_gpu, [(Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources")]),
    Case("gpu zero", _gpus(0), [(Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources")]),
    Case("gpu in requests only counts", _gpu_in_requests_only, []),
    Case("gpu as string counts", _gpus("1"), []),
    Case(
        "fewer gpus",
        _gpus(1),
        [(Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources")],
        baseline=_gpus(2),
        message="asks for 1 nvidia.com/gpu where the baseline's asks for 2",
    ),
    Case("more gpus is fine", _gpus(2), []),
    Case(
        "switched to a MIG slice",
        _gpus(1, "nvidia.com/mig-1g.5gb"),
        [(Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources")],
        message="instead",
    ),
    Case(
        "gpu moved to a sidecar",
        _gpu_moved_to_sidecar,
        [
            (Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources"),
            (Rule.READINESS_PROBE_MISSING, f"{POD}.containers[1].readinessProbe"),
        ],
    ),
    Case(
        "renamed container lost its gpu",
        _renamed(keep_gpu=False),
        [(Rule.ACCELERATOR_MISSING, f"{POD}.containers")],
        message="in total",
    ),
    Case("renamed container kept its gpu", _renamed(keep_gpu=True), []),
    Case(
        "fractional gpu",
        _gpus("500m"),
        [
            (Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources"),
            (Rule.ACCELERATOR_AMOUNT_INVALID, f"{CONTAINER}.resources.limits"),
        ],
    ),
    Case("cpu model on both sides", None, [], baseline=_cpu_only),
    Case(
        "configured accelerator lost",
        _drop("example.com/fpga"),
        [(Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources")],
        baseline=_gpus(1, "example.com/fpga"),
        spec=lambda: _rollout_spec(
            lambda spec: spec["guardrails"].update(acceleratorResources=["example.com/fpga"])
        ),
    ),
    Case(
        "unlisted resource is not an accelerator",
        _no_gpu,
        [],
        spec=lambda: _rollout_spec(
            lambda spec: spec["guardrails"].update(acceleratorResources=["example.com/fpga"])
        ),
    ),
    Case(
        "nodeSelector changed",
        _set("nodeSelector", {"nvidia.com/gpu.product": "Tesla-T4"}),
        [(Rule.ACCELERATOR_PLACEMENT_CHANGED, f"{POD}.nodeSelector")],
        message='nvidia.com/gpu.product: "NVIDIA-L4" -> "Tesla-T4"',
    ),
    Case(
        "toleration lost",
        _delete("tolerations"),
        [(Rule.ACCELERATOR_PLACEMENT_CHANGED, f"{POD}.tolerations")],
        message='missing {"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}',
    ),
    Case(
        "tolerations reordered are the same",
        _set(
            "tolerations",
            [
                {"key": "spot", "operator": "Exists"},
                {"effect": "NoSchedule", "operator": "Exists", "key": "nvidia.com/gpu"},
            ],
        ),
        [],
        baseline=_set(
            "tolerations",
            [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "spot", "operator": "Exists"},
            ],
        ),
    ),
    Case(
        "node affinity added",
        _set(
            "affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                        ]
                    }
                }
            },
        ),
        [(Rule.ACCELERATOR_PLACEMENT_CHANGED, f"{POD}.affinity.nodeAffinity")],
    ),
    Case("pod anti-affinity is not placement on hardware", _set("affinity", {"podAntiAffinity": {}}), []),
    Case(
        "runtime class lost",
        _delete("runtimeClassName"),
        [(Rule.ACCELERATOR_PLACEMENT_CHANGED, f"{POD}.runtimeClassName")],
        baseline=_set("runtimeClassName", "nvidia"),
        message='"nvidia" -> (unset)',
    ),
    Case(
        "placement of a cpu model is not checked",
        _set("nodeSelector", {"pool": "b"}),
        [],
        baseline=_cpu_only,
    ),
    Case(
        "no readiness probe",
        _delete("containers.0.readinessProbe"),
        [(Rule.READINESS_PROBE_MISSING, f"{CONTAINER}.readinessProbe")],
    ),
    Case(
        "tcp readiness",
        _set("containers.0.readinessProbe", {"tcpSocket": {"port": "http"}}),
        [(Rule.READINESS_PROBE_TCP_ONLY, f"{CONTAINER}.readinessProbe.tcpSocket")],
    ),
    Case(
        "exec readiness is trusted",
        _set("containers.0.readinessProbe", {"exec": {"command": ["/bin/model-ready"]}}),
        [],
    ),
    Case(
        "grpc readiness is trusted",
        _set("containers.0.readinessProbe", {"grpc": {"port": 8081}}),
        [],
    ),
    Case(
        "liveness without startup probe",
        _delete("containers.0.startupProbe"),
        [(Rule.STARTUP_PROBE_MISSING, f"{CONTAINER}.startupProbe")],
        message="within 30s of starting, but the rollout allows 20m",
    ),
    Case(
        "liveness patient enough needs no startup probe",
        _both(
            _delete("containers.0.startupProbe"),
            _set("containers.0.livenessProbe.initialDelaySeconds", 1200),
        ),
        [],
    ),
    Case(
        "no liveness, no startup probe",
        _both(_delete("containers.0.startupProbe"), _delete("containers.0.livenessProbe")),
        [],
    ),
    Case(
        "sidecar without probes is not the model server",
        _add_sidecar(),
        [],
    ),
    Case(
        "default-container annotation picks the model server of a cpu model",
        _both(_model_server_second, _delete("containers.1.readinessProbe")),
        [(Rule.READINESS_PROBE_MISSING, "spec.template.spec.containers[1].readinessProbe")],
        baseline=_cpu_only,
    ),
    Case(
        "first container serves when nothing says otherwise",
        _delete("containers.0.readinessProbe"),
        [(Rule.READINESS_PROBE_MISSING, f"{CONTAINER}.readinessProbe")],
        baseline=_cpu_only,
    ),
    Case(
        "deployment progress deadline default",
        _deployment_field("progressDeadlineSeconds", None),
        [(Rule.PROGRESS_DEADLINE_TOO_SHORT, "spec.progressDeadlineSeconds")],
        message="after 600s (the default)",
    ),
    Case(
        "deployment progress deadline equal to the rollout's",
        _deployment_field("progressDeadlineSeconds", 1200),
        [],
    ),
    Case(
        "deployment progress deadline shorter than a longer rollout deadline",
        None,
        [(Rule.PROGRESS_DEADLINE_TOO_SHORT, "spec.progressDeadlineSeconds")],
        spec=lambda: _rollout_spec(lambda spec: spec.update(progressDeadline="45m")),
    ),
    Case(
        "grace shorter than the baseline's",
        _delete("terminationGracePeriodSeconds"),
        [(Rule.TERMINATION_GRACE_TOO_SHORT, f"{POD}.terminationGracePeriodSeconds")],
        message="30s to finish requests in flight, less than the baseline's 60s",
    ),
    Case(
        "grace shorter than ten times the slo",
        None,
        [(Rule.TERMINATION_GRACE_TOO_SHORT, f"{POD}.terminationGracePeriodSeconds")],
        spec=lambda: _rollout_spec(lambda spec: spec["analysis"]["metrics"][1]["latency"].update(slo=20)),
        message="less than 200s, 10 x the latency slo of 20s",
    ),
    Case("grace covers ten times the slo", None, [], spec=_rollout_spec),
    Case(
        "no cpu or memory requests",
        _delete("containers.0.resources.requests"),
        [(Rule.RESOURCE_REQUESTS_MISSING, f"{CONTAINER}.resources.requests")],
        message="requests no cpu",
    ),
    Case(
        "memory limit stands for the memory request",
        _delete("containers.0.resources.requests.memory"),
        [],
    ),
    Case(
        "sidecar without requests",
        _add_sidecar({}),
        [(Rule.RESOURCE_REQUESTS_MISSING, "spec.template.spec.containers[1].resources.requests")],
        message="requests no cpu or memory",
    ),
]


def _deployments(case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    baseline = _load(BASELINE_FILE)
    if case.baseline is not None:
        case.baseline(baseline)
    candidate = copy.deepcopy(baseline)
    candidate["metadata"]["name"] = "fraud-scorer-v2"
    if case.candidate is not None:
        case.candidate(candidate)
    return baseline, candidate


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_rule(case: Case) -> None:
    baseline, candidate = _deployments(case)
    report = preflight(case.spec(), baseline, candidate)
    assert sorted((f.rule, f.path) for f in report.findings) == sorted(case.expected), [
        f.render() for f in report.findings
    ]
    for finding in report.findings:
        assert finding.message and finding.fix
    if case.message:
        assert any(case.message in f.message for f in report.findings), [f.message for f in report.findings]


def test_missing_gpu_request_names_the_container_resources() -> None:
    """Acceptance: PreflightFailed naming spec.template.spec.containers[0].resources."""
    baseline, candidate = _deployments(Case("no gpu", _no_gpu, []))
    report = preflight(None, baseline, candidate)
    assert not report.passed
    (error,) = report.errors
    assert error.rule is Rule.ACCELERATOR_MISSING
    assert error.path == "spec.template.spec.containers[0].resources"
    assert "nvidia.com/gpu: 1" in error.fix
    assert report.summary().startswith(
        "candidate Deployment fraud-scorer-v2: spec.template.spec.containers[0].resources:"
    )


def test_errors_come_first_and_summary_counts_the_rest() -> None:
    edit = _both(_no_gpu, _delete("containers.0.readinessProbe"), _delete("terminationGracePeriodSeconds"))
    baseline, candidate = _deployments(Case("many", edit, []))
    report = preflight(None, baseline, candidate)
    assert [f.severity for f in report.findings] == [Severity.ERROR, Severity.ERROR, Severity.WARNING]
    assert report.summary().endswith("(and 1 more error)")
    assert report.counts() == "2 errors, 1 warning"


def test_acknowledged_warning_is_reported_but_not_counted() -> None:
    baseline, candidate = _deployments(
        Case("tcp", _set("containers.0.readinessProbe", {"tcpSocket": {}}), [])
    )
    spec = _rollout_spec(lambda spec: spec["guardrails"].update(acknowledge=["ReadinessProbeTCPOnly"]))
    report = preflight(spec, baseline, candidate)
    (finding,) = report.findings
    assert finding.acknowledged
    assert report.passed
    assert report.warnings == ()
    assert report.acknowledged == (finding,)
    assert "(acknowledged)" in finding.render()
    assert report.counts() == "0 errors, 0 warnings, 1 acknowledged"


def test_errors_cannot_be_acknowledged() -> None:
    with pytest.raises(ValidationError, match="ReadinessProbeTCPOnly"):
        _rollout_spec(lambda spec: spec["guardrails"].update(acknowledge=["AcceleratorMissing"]))


def test_malformed_manifest_is_judged_not_crashed_on() -> None:
    report = preflight(None, {"kind": "Deployment"}, {"spec": {"template": {"spec": {"containers": ["x"]}}}})
    assert report.candidate == "<unnamed>"
    assert {f.rule for f in report.findings} == {
        Rule.READINESS_PROBE_MISSING,
        Rule.RESOURCE_REQUESTS_MISSING,
        Rule.PROGRESS_DEADLINE_TOO_SHORT,
    }


@pytest.mark.parametrize("rule", list(Rule), ids=str)
def test_rule_names_are_acknowledgeable_and_documented(rule: Rule) -> None:
    assert rule.severity in set(Severity)
    if rule.severity is Severity.WARNING:
        _rollout_spec(lambda spec: spec["guardrails"].update(acknowledge=[str(rule)]))
    assert f"`{rule}`" in DOCS.read_text(), f"docs/guardrails.md does not document {rule}"


# --- rollouts preflight ------------------------------------------------------------------------

EXAMPLE_OUTCOMES = {
    "candidate.yaml": (0, []),
    "candidate-no-gpu.yaml": (1, [(Rule.ACCELERATOR_MISSING, f"{CONTAINER}.resources")]),
    "candidate-no-readiness-probe.yaml": (1, [(Rule.READINESS_PROBE_MISSING, f"{CONTAINER}.readinessProbe")]),
    "candidate-tcp-readiness.yaml": (
        0,
        [(Rule.READINESS_PROBE_TCP_ONLY, f"{CONTAINER}.readinessProbe.tcpSocket")],
    ),
    "candidate-new-node-pool.yaml": (0, [(Rule.ACCELERATOR_PLACEMENT_CHANGED, f"{POD}.nodeSelector")]),
}


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["preflight", *args])


def test_every_example_candidate_has_an_expected_outcome() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("candidate*.yaml")) == sorted(EXAMPLE_OUTCOMES)


@pytest.mark.parametrize("name", sorted(EXAMPLE_OUTCOMES))
def test_cli_on_example_manifests(name: str) -> None:
    exit_code, findings = EXAMPLE_OUTCOMES[name]
    result = _invoke("-f", str(EXAMPLES / name), "--baseline", str(BASELINE_FILE), "-o", "json")
    assert result.exit_code == exit_code, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is (exit_code == 0)
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [(str(r), p) for r, p in findings]


def test_cli_table_output() -> None:
    result = _invoke("-f", str(EXAMPLES / "candidate-no-gpu.yaml"), "--baseline", str(BASELINE_FILE))
    assert result.exit_code == 1
    assert "error: AcceleratorMissing: spec.template.spec.containers[0].resources" in result.output
    assert "fix: set nvidia.com/gpu: 1" in result.output
    assert "preflight failed: fraud-scorer-v2 against fraud-scorer-v1: 1 error, 0 warnings" in result.output


def test_cli_rollout_acknowledges_warnings() -> None:
    result = _invoke(
        "-f",
        str(EXAMPLES / "candidate-new-node-pool.yaml"),
        "--baseline",
        str(BASELINE_FILE),
        "--rollout",
        str(ROLLOUT_FILE),
        "-o",
        "yaml",
    )
    assert result.exit_code == 0, result.output
    report = yaml.safe_load(result.stdout)
    assert report["acknowledged"] == 1
    assert report["findings"][0]["acknowledged"] is True


def test_cli_reads_list_documents_and_stdin(tmp_path: Path) -> None:
    candidate = _load(EXAMPLES / "candidate-no-gpu.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [candidate]}))
    assert _invoke("-f", str(listed), "--baseline", str(BASELINE_FILE)).exit_code == 1
    piped = CliRunner().invoke(
        app,
        ["preflight", "-f", "-", "--baseline", str(BASELINE_FILE)],
        input=(EXAMPLES / "candidate.yaml").read_text(),
    )
    assert piped.exit_code == 0, piped.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read file"),
        ("kind: [", "not valid YAML/JSON"),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: fraud-scorer}\n",
            "expected one Deployment or InferenceService, found 0",
        ),
    ],
)
def test_cli_unreadable_candidate_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "candidate.yaml"
    if content is not None:
        path.write_text(content)
    result = _invoke("-f", str(path), "--baseline", str(BASELINE_FILE))
    assert result.exit_code == 2
    assert message in result.output


def test_cli_rollout_must_name_the_deployments(tmp_path: Path) -> None:
    rollout = _load(ROLLOUT_FILE)
    rollout["spec"]["candidate"]["deployment"] = "fraud-scorer-v3"
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(rollout))
    result = _invoke(
        "-f", str(EXAMPLES / "candidate.yaml"), "--baseline", str(BASELINE_FILE), "--rollout", str(path)
    )
    assert result.exit_code == 2
    assert "the rollout's candidate is Deployment fraud-scorer-v3" in result.output


def _inference_service(tmp_path: Path) -> Path:
    """The example's candidate InferenceService (fraud-scorer-v2) alone in a file."""
    documents = yaml.safe_load_all((EXAMPLES.parent / "kserve" / "raw-inferenceservices.yaml").read_text())
    (isvc,) = [
        d for d in documents if d["kind"] == "InferenceService" and d["metadata"]["name"] == "fraud-scorer-v2"
    ]
    path = tmp_path / "isvc.yaml"
    path.write_text(yaml.safe_dump(isvc))
    return path


def test_cli_judges_a_candidate_inference_services_predictor_at_its_own_fields(tmp_path: Path) -> None:
    """As the controller does (rollouts.guardrails.inference_services): spec.predictor, not a Deployment."""
    result = _invoke("-f", str(_inference_service(tmp_path)), "--baseline", str(BASELINE_FILE), "-o", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["candidate"] == "fraud-scorer-v2"
    errors = [(f["rule"], f["path"]) for f in report["findings"] if f["severity"] == "error"]
    assert errors == [(str(Rule.READINESS_PROBE_MISSING), "spec.predictor.model.readinessProbe")]


def test_cli_rollout_must_name_the_candidate_inference_service(tmp_path: Path) -> None:
    rollout = _load(ROLLOUT_FILE)
    rollout["spec"]["candidate"] = {"inferenceService": "fraud-scorer-v2", "version": "v2"}
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(rollout))
    candidate = str(_inference_service(tmp_path))
    named = _invoke("-f", candidate, "--baseline", str(BASELINE_FILE), "--rollout", str(path))
    assert named.exit_code == 1, named.output  # judged: the readinessProbe error
    rollout["spec"]["candidate"]["inferenceService"] = "fraud-scorer-v3"
    path.write_text(yaml.safe_dump(rollout))
    other = _invoke("-f", candidate, "--baseline", str(BASELINE_FILE), "--rollout", str(path))
    assert other.exit_code == 2
    assert "the rollout's candidate is InferenceService fraud-scorer-v3" in other.output


def test_cli_invalid_rollout_exits_2(tmp_path: Path) -> None:
    rollout = _load(ROLLOUT_FILE)
    rollout["spec"]["progressDeadline"] = "twenty minutes"
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(rollout))
    result = _invoke(
        "-f", str(EXAMPLES / "candidate.yaml"), "--baseline", str(BASELINE_FILE), "--rollout", str(path)
    )
    assert result.exit_code == 2
    assert "spec.progressDeadline" in result.output


def test_the_spec_accepts_exactly_the_warning_rules_for_acknowledgement() -> None:
    warnings = {rule.value for rule in Rule if rule.severity is Severity.WARNING}
    assert set(typing.get_args(AcknowledgeableWarning)) == warnings
