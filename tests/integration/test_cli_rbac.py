"""deploy/rbac on a real API server: what the CI and on-call roles let each group do, field by field.

The manifests are applied as shipped (``kubectl apply -k deploy/rbac``). Users are client
certificates from the test bed's CA, in the groups the example bindings name; each acts
through the real CLI, kubectl or the CI example script, and RBAC and the
ValidatingAdmissionPolicy answer. The policy asks the authorizer, not the groups: the CI user
also holds what its own deploy step would (:func:`pipeline_deploys`), because naming a
Deployment or an HTTPRoute in a rollout needs the right to scale or patch it. The same rules for
ServiceAccounts bound by RoleBindings: test_admission_policy.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Forbidden, Kube, KubeObject, connect
from rollouts.testbed import LocalCluster
from tests.integration.test_cli_commands import GATED, ROLLOUTS, rollouts, route_weights, stopped_at_gate
from tests.support.controller import phase, rollout_reader, running_controller, wait_for
from tests.support.identities import deploy_rules, grant, user_subject, wait_allowed
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

REPOSITORY = Path(__file__).resolve().parents[2]
CI_SCRIPT = REPOSITORY / "examples" / "ci" / "rollout.sh"
NEW_CANDIDATE = '{"spec": {"candidate": {"deployment": "model-v3", "version": "v3"}}}'


@pytest.fixture
def ci(testbed: LocalCluster, roles: None) -> Path:
    return testbed.kubeconfig_for("pipeline", groups=["model-rollouts:ci"])


@pytest.fixture
def oncall(testbed: LocalCluster, roles: None) -> Path:
    return testbed.kubeconfig_for("olivia", groups=["model-rollouts:oncall"])


def pipeline_deploys(testbed: LocalCluster, namespace: str, ci: Path) -> None:
    """What the pipeline's deploy step holds: scaling its Deployments, patching its HTTPRoute."""
    grant(testbed, namespace, "pipeline-deploys", deploy_rules(), user_subject("pipeline"))
    wait_allowed(ci, "patch", "httproutes", namespace, group="gateway.networking.k8s.io", name="model")
    wait_allowed(ci, "update", "deployments", namespace, group="apps", subresource="scale", name="model-v3")


def policy_in_force(ci: Path, namespace: str) -> None:
    """Wait until the API server enforces the policy (it loads policies from a watch)."""
    with connect(str(ci)) as kube:

        def create_with_an_intent() -> KubeObject:
            probe = model_rollout("probe", steps=GATED, approvals=[{"step": 1, "version": "v2"}])
            try:
                kube.create(MODEL_ROLLOUTS, probe, namespace, dry_run=True)
            except Forbidden as refused:
                return {"refused": refused.message}
            return {"refused": ""}

        wait_for(
            create_with_an_intent, lambda o: "ValidatingAdmissionPolicy" in o["refused"], 30, "the policy"
        )


def test_oncall_approves_and_aborts_ci_does_not(
    testbed: LocalCluster, kube: Kube, namespace: str, ci: Path, oncall: Path
) -> None:
    with stopped_at_gate(testbed, kube, namespace):
        policy_in_force(ci, namespace)
        ci_promote = rollouts(ci, namespace, "promote", "model")
        ci_abort = rollouts(ci, namespace, "abort", "model", "--reason", "a pipeline must not")
        approved = rollouts(oncall, namespace, "promote", "model")
        aborted = rollouts(oncall, namespace, "abort", "model", "--reason", "p99 alarm", "--direct")
    assert (ci_promote.exit_code, ci_abort.exit_code) == (3, 3)
    refusal = f"error: forbidden to patch modelrollouts.rollouts.modelops.io model in namespace {namespace}"
    assert refusal in ci_promote.stderr
    assert refusal in ci_abort.stderr
    assert (
        "pipeline may not change spec.approvals of ModelRollout model: "
        "that needs the verb 'approve' on modelrollouts.rollouts.modelops.io (see deploy/rbac/README.md)"
        in ci_promote.stderr
    )
    assert "pipeline may not change spec.abort of ModelRollout model" in ci_abort.stderr
    assert "that needs the verb 'abort'" in ci_abort.stderr
    assert approved.exit_code == 0, approved.output
    assert "approved by olivia: passes the approve gate at step 1" in approved.stdout
    assert aborted.exit_code == 0, aborted.output
    assert route_weights(kube, namespace) == {"model-v1": 100, "model-v2": 0}  # oncall-direct.yaml
    spec = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]
    assert spec["abort"]["requestedBy"] == "olivia"
    assert [approval["requestedBy"] for approval in spec["approvals"]] == ["olivia"]


def test_ci_changes_the_candidate_oncall_does_not(
    testbed: LocalCluster, kube: Kube, namespace: str, ci: Path, oncall: Path
) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
    pipeline_deploys(testbed, namespace, ci)
    policy_in_force(ci, namespace)
    patch = ("patch", "modelrollout", "model", "-n", namespace, "--type=merge", "-p", NEW_CANDIDATE)
    by_oncall = testbed.kubectl(*patch, kubeconfig=oncall)
    by_ci = testbed.kubectl(*patch, kubeconfig=ci)
    plan = '{"spec": {"steps": [{"setWeight": 100}]}}'
    ci_plan = testbed.kubectl(
        "patch", "modelrollout", "model", "-n", namespace, "--type=merge", "-p", plan, kubeconfig=ci
    )
    ci_reads = rollouts(ci, namespace, "get", "model")
    assert by_oncall.returncode == 1
    assert (
        "olivia may not change spec.candidate of ModelRollout model: "
        "that needs the verb 'release' on modelrollouts.rollouts.modelops.io"
    ) in by_oncall.stderr
    assert by_ci.returncode == 0, by_ci.stderr
    assert kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]["candidate"]["version"] == "v3"
    assert ci_plan.returncode == 1  # the plan and its gates are the owners'
    assert "pipeline may not change spec.steps of ModelRollout model: that needs the verb 'edit-plan'" in (
        ci_plan.stderr
    )
    assert kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]["steps"] == GATED
    assert ci_reads.exit_code == 0, ci_reads.output


def test_ci_creates_rollouts_but_not_with_intents(testbed: LocalCluster, namespace: str, ci: Path) -> None:
    pipeline_deploys(testbed, namespace, ci)
    policy_in_force(ci, namespace)
    with connect(str(ci)) as kube:
        kube.create(MODEL_ROLLOUTS, model_rollout("plain", steps=GATED), namespace)
        with pytest.raises(
            Forbidden, match=r"pipeline may not set spec\.approvals of ModelRollout sneaky: .* verb 'approve'"
        ):
            kube.create(
                MODEL_ROLLOUTS,
                model_rollout("sneaky", steps=GATED, approvals=[{"step": 1, "version": "v2"}]),
                namespace,
            )


def test_the_ci_example_rolls_one_version_out_after_another(
    testbed: LocalCluster, kube: Kube, namespace: str, ci: Path
) -> None:
    for deployment, version, replicas in (
        ("model-v1", "v1", 2),
        ("model-v2", "v2", 0),
        ("model-v3", "v3", 0),
    ):
        kube.create(DEPLOYMENTS, model_deployment(deployment, version, replicas=replicas), namespace)
    route = http_route("model", "model-v1", "model-v2")
    route["spec"]["rules"][0]["backendRefs"].append({"name": "model-v3", "port": 80, "weight": 0})
    kube.create(HTTP_ROUTES, route, namespace)
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=[{"setWeight": 50}]), namespace)
    pipeline_deploys(testbed, namespace, ci)
    path = os.pathsep.join((str(testbed.binaries.kubectl.parent), str(ROLLOUTS.parent), os.environ["PATH"]))
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(ci), "ROLLOUT_TIMEOUT": "60s"}
    script = [str(CI_SCRIPT), namespace, "model", "model-v3", "v3"]
    with running_controller(testbed.kubeconfig, namespace):
        wait_for(
            rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Succeeded", 60, "v2 promoted"
        )
        ran = subprocess.run(script, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.endswith("promoted v3\n")
    spec = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]
    assert (spec["baseline"], spec["candidate"]) == (
        {"deployment": "model-v2", "version": "v2"},
        {"deployment": "model-v3", "version": "v3"},
    )
    backends = spec["traffic"]["gatewayAPI"]
    assert (backends["baselineBackend"], backends["candidateBackend"]) == ("model-v2", "model-v3")
    assert route_weights(kube, namespace) == {"model-v1": 0, "model-v2": 0, "model-v3": 100}
