"""deploy/rbac's admission policy on a real API server: each request is judged by the requester's rights.

The manifests are applied as shipped (``kubectl apply -k deploy/rbac``). The identities are
ServiceAccounts with tokens, bound by RoleBindings in the test's namespace — in none of the
example groups, which is how the group-keyed policy this replaces was bypassed:

- ``pipeline``: the ``model-rollouts-ci`` ClusterRole, plus what its own deploy step holds:
  ``update`` on the scale of model-v1, model-v2 and model-v3, ``patch`` on the HTTPRoute
  ``model``, ``get`` on the Secret ``prom-token``;
- ``oncall``: the ``model-rollouts-oncall`` ClusterRole.

Next to them stand what they must not reach: ``other-team``, an unrelated Deployment with 2
replicas, the HTTPRoute ``other`` and the Secret ``other-secret``. The admin is the test bed's
``system:masters`` certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rollouts.controller.shell.notifier import CONFIG_MAPS
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    Forbidden,
    Kube,
    KubeError,
    KubeObject,
    NotFound,
    PatchType,
    connect,
)
from rollouts.testbed import LocalCluster
from tests.integration.test_cli_commands import GATED, rollouts
from tests.support.controller import wait_for
from tests.support.identities import (
    deploy_rules,
    grant,
    service_account_kubeconfig,
    service_account_subject,
    wait_allowed,
)
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

REPOSITORY = Path(__file__).resolve().parents[2]
SECRETS_RESOURCE = "secrets"
PROMETHEUS = {
    "address": "http://prometheus.monitoring:9090",
    "bearerTokenSecret": {"name": "prom-token", "key": "token"},
}


@pytest.fixture
def app(testbed: LocalCluster, kube: Kube, namespace: str) -> str:
    """The team's model (v1 serving, v2 to roll out, a gated rollout by the admin), and someone else's."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(DEPLOYMENTS, model_deployment("other-team", "v7", replicas=2, app="other"), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    kube.create(HTTP_ROUTES, http_route("other", "other-team", "other-team"), namespace)
    for secret in ("prom-token", "other-secret"):
        made = testbed.kubectl(
            "-n", namespace, "create", "secret", "generic", secret, "--from-literal=token=t0ken"
        )
        assert made.returncode == 0, made.stderr
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
    return namespace


@pytest.fixture
def pipeline(testbed: LocalCluster, app: str, roles: None, tmp_path: Path) -> Path:
    """A CI ServiceAccount, bound to model-rollouts-ci by a RoleBinding, with its deploy rights."""
    namespace = app
    token = service_account_kubeconfig(testbed, namespace, "pipeline", tmp_path)
    account = service_account_subject(namespace, "pipeline")
    bind_cluster_role(testbed, namespace, "model-rollouts-ci", account)
    grant(testbed, namespace, "pipeline-deploys", deploy_rules(secrets=("prom-token",)), account)
    wait_allowed(token, "release", "modelrollouts", namespace, group="rollouts.modelops.io")
    wait_allowed(
        token, "update", "deployments", namespace, group="apps", subresource="scale", name="model-v3"
    )
    wait_allowed(token, "patch", "httproutes", namespace, group="gateway.networking.k8s.io", name="model")
    wait_allowed(token, "get", SECRETS_RESOURCE, namespace, name="prom-token")
    policy_in_force(token, namespace)
    return token


@pytest.fixture
def oncall(testbed: LocalCluster, app: str, roles: None, tmp_path: Path) -> Path:
    """An on-call ServiceAccount, bound to model-rollouts-oncall by a RoleBinding."""
    token = service_account_kubeconfig(testbed, app, "oncall", tmp_path)
    bind_cluster_role(testbed, app, "model-rollouts-oncall", service_account_subject(app, "oncall"))
    wait_allowed(token, "approve", "modelrollouts", app, group="rollouts.modelops.io")
    return token


@pytest.fixture
def owner(testbed: LocalCluster, app: str, roles: None, tmp_path: Path) -> Path:
    """One of the rollouts' owners: model-rollouts-owner by a RoleBinding, and no Secrets."""
    token = service_account_kubeconfig(testbed, app, "owner", tmp_path)
    bind_cluster_role(testbed, app, "model-rollouts-owner", service_account_subject(app, "owner"))
    wait_allowed(token, "edit-plan", "modelrollouts", app, group="rollouts.modelops.io")
    return token


def bind_cluster_role(testbed: LocalCluster, namespace: str, role: str, subject: KubeObject) -> None:
    """A RoleBinding of a shipped ClusterRole, as deploy/rbac/README.md suggests for one namespace."""
    kind = subject["kind"].lower()
    who = f"{subject['namespace']}:{subject['name']}" if kind == "serviceaccount" else subject["name"]
    made = testbed.kubectl(
        "-n",
        namespace,
        "create",
        "rolebinding",
        f"{role}-{subject['name']}",
        f"--clusterrole={role}",
        f"--{kind}={who}",
    )
    assert made.returncode == 0, made.stderr


def policy_in_force(kubeconfig: Path, namespace: str) -> None:
    """Wait until the API server enforces the policy (it loads policies from a watch)."""
    probe = model_rollout("probe", steps=GATED, approvals=[{"step": 1, "version": "v2"}])
    answers: list[str] = []
    with connect(str(kubeconfig)) as kube:

        def create_with_an_intent() -> KubeObject:
            try:
                kube.create(MODEL_ROLLOUTS, probe, namespace, dry_run=True)
                answers.append("created")
            except KubeError as refusal:
                answers.append(f"{type(refusal).__name__}: {refusal.message}")
            return {"refused": answers[-1]}

        try:
            wait_for(
                create_with_an_intent, lambda o: "ValidatingAdmissionPolicy" in o["refused"], 30, "the policy"
            )
        except AssertionError as late:
            raise AssertionError(f"{late}; last answer: {answers[-1:]}") from None


def merge(kubeconfig: Path, namespace: str, patch: dict[str, Any], name: str = "model") -> KubeObject:
    """A merge patch of a rollout as the kubeconfig's identity."""
    with connect(str(kubeconfig)) as kube:
        return kube.patch(MODEL_ROLLOUTS, name, patch, PatchType.MERGE, namespace)


def create(kubeconfig: Path, namespace: str, rollout: KubeObject) -> KubeObject:
    with connect(str(kubeconfig)) as kube:
        return kube.create(MODEL_ROLLOUTS, rollout, namespace)


def refused(call: Any, *args: Any) -> str:
    """The policy's message for a call that must be refused."""
    with pytest.raises(Forbidden) as refusal:
        call(*args)
    message = refusal.value.message
    assert "ValidatingAdmissionPolicy 'model-rollouts-field-owners'" in message, message
    return message


def spec(patch: dict[str, Any]) -> dict[str, Any]:
    return {"spec": patch}


def test_a_ci_service_account_cannot_act_for_a_person_nor_rewrite_the_plan(
    kube: Kube, app: str, pipeline: Path
) -> None:
    namespace = app
    approve = refused(merge, pipeline, namespace, spec({"approvals": [{"step": 1, "version": "v2"}]}))
    abort = refused(merge, pipeline, namespace, spec({"abort": {"reason": "the pipeline decides"}}))
    steps = refused(merge, pipeline, namespace, spec({"steps": [{"setWeight": 100}]}))
    analysis = refused(
        merge, pipeline, namespace, spec({"progressDeadline": "1h", "steps": [{"setWeight": 100}]})
    )
    prefilled = refused(
        create,
        pipeline,
        namespace,
        model_rollout("sneaky", steps=GATED, approvals=[{"step": 1, "version": "v2"}]),
    )
    user = f"system:serviceaccount:{namespace}:pipeline"
    assert f"{user} may not change spec.approvals of ModelRollout model" in approve
    assert "needs the verb 'approve' on modelrollouts.rollouts.modelops.io" in approve
    assert "needs the verb 'abort'" in abort
    assert "may not change spec.steps of ModelRollout model: that needs the verb 'edit-plan'" in steps
    assert "spec.progressDeadline" in analysis  # every plan field the request changes, in any order
    assert "spec.steps" in analysis
    assert f"{user} may not set spec.approvals of ModelRollout sneaky" in prefilled
    stored = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]
    assert "approvals" not in stored
    assert "abort" not in stored
    assert stored["steps"] == GATED
    with pytest.raises(NotFound):
        kube.get(MODEL_ROLLOUTS, "sneaky", namespace)
    # Its own job it still does: a new candidate, and new rollouts (intents left out, or empty).
    merge(pipeline, namespace, spec({"candidate": {"deployment": "model-v3", "version": "v3"}}))
    create(pipeline, namespace, model_rollout("plain", steps=GATED, paused=False, approvals=[]))
    assert kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]["candidate"]["deployment"] == "model-v3"


def test_a_ci_service_account_cannot_make_the_controller_its_deputy(
    kube: Kube, app: str, pipeline: Path
) -> None:
    namespace = app
    theirs = {"deployment": "other-team", "version": "v7"}
    as_candidate = refused(
        create, pipeline, namespace, model_rollout("deputy", steps=GATED, candidate=("other-team", "v7"))
    )
    as_baseline = refused(merge, pipeline, namespace, spec({"baseline": theirs}))
    changed_candidate = refused(merge, pipeline, namespace, spec({"candidate": theirs}))
    route = refused(merge, pipeline, namespace, spec({"traffic": {"gatewayAPI": {"httpRoute": "other"}}}))
    istio = {
        "virtualService": "other",
        "route": "primary",
        "baseline": {"host": "a"},
        "candidate": {"host": "b"},
    }
    mesh = refused(create, pipeline, namespace, model_rollout("mesh", steps=GATED, traffic={"istio": istio}))
    autoscaler = refused(
        create, pipeline, namespace, model_rollout("scaler", steps=GATED, autoscaler={"name": "other"})
    )
    keda = {"kind": "ScaledObject", "name": "other"}
    scaled_object = refused(create, pipeline, namespace, model_rollout("keda", steps=GATED, autoscaler=keda))
    stolen = {**PROMETHEUS, "bearerTokenSecret": {"name": "other-secret", "key": "token"}}
    secret = refused(
        create, pipeline, namespace, model_rollout("thief", steps=GATED, analysis={"prometheus": stolen})
    )
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "gone",
        "uid": "4f3c2a10-0000-4000-8000-000000000001",
    }
    owned = refused(merge, pipeline, namespace, {"metadata": {"ownerReferences": [owner]}})
    assert (
        "may not name Deployment other-team in ModelRollout deputy: the controller would scale it"
        in as_candidate
    )
    assert "needs 'update' or 'patch' on its deployments/scale" in as_candidate
    assert "may not name Deployment other-team in ModelRollout model" in as_baseline
    assert "may not name Deployment other-team in ModelRollout model" in changed_candidate
    assert "may not route ModelRollout model through HTTPRoute other" in route
    assert "may not route ModelRollout mesh through VirtualService other" in mesh
    assert "needs 'patch' on that virtualservice" in mesh
    assert "may not name HorizontalPodAutoscaler other in ModelRollout scaler" in autoscaler
    assert "needs 'patch' on that horizontalpodautoscaler" in autoscaler
    assert "may not name ScaledObject other in ModelRollout keda" in scaled_object
    assert "needs 'patch' on that scaledobject" in scaled_object
    assert "naming Secret other-secret" in secret
    assert "needs 'get' on the Secret" in secret
    assert "may not add metadata.ownerReferences to ModelRollout model" in owned
    assert "needs the verb 'delete'" in owned
    assert kube.get(DEPLOYMENTS, "other-team", namespace)["spec"]["replicas"] == 2
    stored = kube.get(MODEL_ROLLOUTS, "model", namespace)
    assert "ownerReferences" not in stored["metadata"]
    assert stored["spec"]["candidate"]["deployment"] == "model-v2"
    # What it may read, it may name.
    create(pipeline, namespace, model_rollout("mine", steps=GATED, analysis={"prometheus": PROMETHEUS}))


def test_a_ci_service_account_may_route_only_through_an_inference_service_it_may_patch(
    testbed: LocalCluster, app: str, pipeline: Path
) -> None:
    """The kserve router writes canaryTrafficPercent: naming the InferenceService needs 'patch' on it."""
    namespace = app
    revisions = ("model-predictor-00001-deployment", "model-predictor-00002-deployment")
    grant(
        testbed,
        namespace,
        "pipeline-serves",
        [
            {
                "apiGroups": ["apps"],
                "resources": ["deployments/scale"],
                "resourceNames": list(revisions),
                "verbs": ["update"],
            },
            {
                "apiGroups": ["serving.kserve.io"],
                "resources": ["inferenceservices"],
                "resourceNames": ["model"],
                "verbs": ["patch"],
            },
        ],
        service_account_subject(namespace, "pipeline"),
    )
    wait_allowed(pipeline, "patch", "inferenceservices", namespace, group="serving.kserve.io", name="model")

    def kserve_rollout(name: str, inference_service: str) -> KubeObject:
        traffic = {"kserve": {"inferenceService": inference_service}}
        return model_rollout(
            name, steps=GATED, baseline=(revisions[0], "v1"), candidate=(revisions[1], "v2"), traffic=traffic
        )

    theirs = refused(create, pipeline, namespace, kserve_rollout("serverless", "other"))
    assert "may not route ModelRollout serverless through InferenceService other" in theirs
    assert "needs 'patch' on that inferenceservice" in theirs
    create(pipeline, namespace, kserve_rollout("mine", "model"))


def test_a_ci_service_account_may_name_only_inference_services_it_may_patch(
    testbed: LocalCluster, app: str, pipeline: Path
) -> None:
    """baseline/candidate.inferenceService: the controller patches their minReplicas/maxReplicas."""
    namespace = app
    grant(
        testbed,
        namespace,
        "pipeline-sizes",
        [
            {
                "apiGroups": ["serving.kserve.io"],
                "resources": ["inferenceservices"],
                "resourceNames": ["m1", "m2"],
                "verbs": ["patch"],
            }
        ],
        service_account_subject(namespace, "pipeline"),
    )
    wait_allowed(pipeline, "patch", "inferenceservices", namespace, group="serving.kserve.io", name="m2")

    def sized(name: str, candidate: str) -> KubeObject:
        rollout = model_rollout(
            name, steps=GATED, baseline=("m1-predictor", "v1"), candidate=("m2-predictor", "v2")
        )
        rollout["spec"] |= {
            "baseline": {"inferenceService": "m1", "version": "v1"},
            "candidate": {"inferenceService": candidate, "version": "v2"},
        }
        return rollout

    theirs = refused(create, pipeline, namespace, sized("theirs", "other"))
    assert "may not name InferenceService other in ModelRollout theirs" in theirs
    assert "needs 'patch' on that inferenceservice" in theirs
    create(pipeline, namespace, sized("mine", "m2"))


def test_an_owner_cannot_send_a_secret_it_may_not_read_to_another_address(
    kube: Kube, app: str, owner: Path, pipeline: Path
) -> None:
    namespace = app
    theirs = {**PROMETHEUS, "bearerTokenSecret": {"name": "other-secret", "key": "token"}}
    kube.create(
        MODEL_ROLLOUTS, model_rollout("admins", steps=GATED, analysis={"prometheus": theirs}), namespace
    )
    elsewhere = spec({"analysis": {"prometheus": {**theirs, "address": "http://attacker.example:9090"}}})
    by_owner = refused(merge, owner, namespace, elsewhere, "admins")
    by_pipeline = refused(merge, pipeline, namespace, elsewhere, "admins")
    assert (
        "may not change spec.analysis.prometheus of ModelRollout admins naming Secret other-secret"
        in by_owner
    )
    assert "needs the verb 'edit-plan'" in by_pipeline  # the plan is the owners' in the first place
    prometheus = kube.get(MODEL_ROLLOUTS, "admins", namespace)["spec"]["analysis"]["prometheus"]
    assert prometheus["address"] == PROMETHEUS["address"]
    # The rest of the plan is the owner's to change.
    merge(
        owner, namespace, spec({"steps": [{"setWeight": 10}, {"approve": {}}, {"setWeight": 100}]}), "admins"
    )


def test_an_oncall_service_account_states_intents_and_nothing_else(
    kube: Kube, app: str, oncall: Path, pipeline: Path
) -> None:
    namespace = app
    paused = rollouts(oncall, namespace, "pause", "model")
    resumed = rollouts(oncall, namespace, "resume", "model")
    ci_pause = rollouts(pipeline, namespace, "pause", "model")
    merge(oncall, namespace, spec({"abort": {"reason": "p99 alarm", "version": "v2"}}))
    merge(oncall, namespace, spec({"approvals": [{"step": 1, "version": "v2"}]}))
    release = refused(
        merge, oncall, namespace, spec({"candidate": {"deployment": "model-v2", "version": "v9"}})
    )
    plan = refused(merge, oncall, namespace, spec({"steps": [*GATED[:2], {"setWeight": 100}]}))
    assert paused.exit_code == 0, paused.output
    assert resumed.exit_code == 0, resumed.output
    assert ci_pause.exit_code == 3, ci_pause.output
    assert "forbidden to patch modelrollouts.rollouts.modelops.io model" in ci_pause.stderr
    assert "needs the verb 'pause'" in ci_pause.stderr
    assert "may not change spec.candidate of ModelRollout model: that needs the verb 'release'" in release
    assert "needs the verb 'edit-plan'" in plan
    stored = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]
    assert stored["abort"]["reason"] == "p99 alarm"
    assert stored["approvals"] == [{"step": 1, "version": "v2"}]
    assert stored["paused"] is False


def test_an_admin_may_do_everything(kube: Kube, app: str, roles: None) -> None:
    namespace = app
    # A real owner: the garbage collector deletes an object whose owner does not exist (an owner
    # made up here was deleted under the test's feet when the collector was quick).
    kept = kube.create(CONFIG_MAPS, {"metadata": {"name": "kept"}, "data": {}}, namespace)
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "kept", "uid": kept["metadata"]["uid"]}
    kube.patch(
        MODEL_ROLLOUTS,
        "model",
        {
            "metadata": {"ownerReferences": [owner]},
            "spec": {
                "candidate": {"deployment": "other-team", "version": "v7"},
                "steps": [{"setWeight": 10}, {"approve": {}}, {"setWeight": 100}],
                "approvals": [{"step": 1, "version": "v7"}],
                "paused": True,
                "analysis": {
                    "prometheus": {**PROMETHEUS, "bearerTokenSecret": {"name": "other-secret", "key": "t"}}
                },
                "traffic": {
                    "gatewayAPI": {
                        "httpRoute": "other",
                        "baselineBackend": "model-v1",
                        "candidateBackend": "other-team",
                    }
                },
            },
        },
        PatchType.MERGE,
        namespace,
    )
    stored = kube.get(MODEL_ROLLOUTS, "model", namespace)
    assert stored["spec"]["candidate"]["deployment"] == "other-team"
    assert stored["metadata"]["ownerReferences"][0]["name"] == "kept"
