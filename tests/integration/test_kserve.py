"""The kserve router against a real API server with KServe's own InferenceService CRD.

What is exercised: KServe's full InferenceService CRD (rollouts.testbed.versions.KSERVE, from
the Go module zip) on the real API server, its schema included, so every spec and status this
module writes is one KServe's API accepts; the router's JSON patches on
``spec.predictor.canaryTrafficPercent`` with their ``test`` ops; its reads of the traffic in
``status.components.predictor.traffic``.

What is not: KServe's controller and Knative (docs/kserve.md says why). The status they would
write is written by tests/support/kserve.py, a stand-in that computes it from the
InferenceService's real spec the way KServe v0.20.0 does; each test calls it where KServe would
reconcile, so the tests synchronise on those writes, not on time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import inference_service, model_deployment
from rollouts.routers.base import RouterTarget
from rollouts.routers.kserve import KServeRouter
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    INFERENCE_SERVICES,
    Kube,
    KubeObject,
    PatchType,
    Resource,
)
from rollouts.testbed import LocalCluster, versions
from rollouts.testbed.crds import kserve_crd_text
from rollouts.traffic.base import RouterError
from rollouts.traffic.kserve import revision_share
from tests.integration.test_cli_commands import rollouts
from tests.support.cluster import crds_for_a_module
from tests.support.controller import (
    ShareRecorder,
    condition,
    phase,
    rollout_reader,
    running_controller,
    wait_for,
)
from tests.support.kserve import Revisions, ServerlessStandIn, reconcile_serverless
from tests.support.workloads import model_rollout

NAME = "fraud-scorer"
V1, V2, V3 = (f"{NAME}-predictor-0000{n}" for n in (1, 2, 3))
MODEL_V2 = "gs://models/fraud-scorer/2026-11-20"


@pytest.fixture(scope="module")
def kserve_crds(api_client: ApiClient) -> Iterator[list[str]]:
    """The CRDs, installed for this module's tests and removed after them."""
    yield from crds_for_a_module(
        api_client, f"the KServe {versions.KSERVE} CRDs", kserve_crd_text, kserve=True
    )


pytestmark = pytest.mark.usefixtures("kserve_crds")


def _rolled_out_v1(kube: Kube, namespace: str) -> None:
    """Revision 1 serving 100%, then a new model applied with canaryTrafficPercent 0 (revision 2)."""
    kube.create(INFERENCE_SERVICES, inference_service(NAME, "gs://models/fraud-scorer/2026-11-01"), namespace)
    reconcile_serverless(kube, namespace, NAME, Revisions(created=V1, ready=V1))
    new_model: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/predictor/model/storageUri", "value": MODEL_V2},
        {"op": "add", "path": "/spec/predictor/canaryTrafficPercent", "value": 0},
    ]
    kube.patch(INFERENCE_SERVICES, NAME, new_model, PatchType.JSON, namespace)


def _router(kube: Kube, namespace: str, read: KubeObject | None = None) -> KServeRouter:
    def cached(resource: Resource, name: str) -> KubeObject | None:
        return read

    target = RouterTarget(
        kube=kube,
        namespace=namespace,
        baseline=f"{V1}-deployment",
        candidate=f"{V2}-deployment",
        read=None if read is None else cached,
    )
    return KServeRouter(target, NAME)


def _percent(kube: Kube, namespace: str) -> object:
    return kube.get(INFERENCE_SERVICES, NAME, namespace)["spec"]["predictor"].get("canaryTrafficPercent")


def test_the_share_follows_what_kserve_reports_not_what_was_asked(kube: Kube, namespace: str) -> None:
    _rolled_out_v1(kube, namespace)
    not_ready = Revisions(created=V2, ready=V1)
    reconcile_serverless(kube, namespace, NAME, not_ready)
    router = _router(kube, namespace)
    assert router.get_weight() == 0.0

    router.set_weight(25)
    assert _percent(kube, namespace) == 25
    reconcile_serverless(kube, namespace, NAME, not_ready)
    assert router.get_weight() == 0.0, "Knative routes latestRevision to the latest ready revision: v1"

    reconcile_serverless(kube, namespace, NAME, Revisions(created=V2, ready=V2))
    assert router.get_weight() == 0.25
    router.set_weight(25)  # already there: no write
    assert kube.get(INFERENCE_SERVICES, NAME, namespace)["metadata"]["generation"] == 3

    router.set_weight(100)
    isvc = reconcile_serverless(kube, namespace, NAME, Revisions(created=V2, ready=V2))
    assert router.get_weight() == 1.0
    predictor = isvc["status"]["components"]["predictor"]
    assert (predictor["latestRolledoutRevision"], predictor["previousRolledoutRevision"]) == (V2, V1)


def test_reset_sends_everything_back_to_the_rolled_out_revision(kube: Kube, namespace: str) -> None:
    _rolled_out_v1(kube, namespace)
    ready = Revisions(created=V2, ready=V2)
    reconcile_serverless(kube, namespace, NAME, ready)
    router = _router(kube, namespace)
    router.set_weight(50)
    reconcile_serverless(kube, namespace, NAME, ready)
    assert router.get_weight() == 0.5

    router.reset()
    assert _percent(kube, namespace) == 0
    reconcile_serverless(kube, namespace, NAME, ready)
    assert router.get_weight() == 0.0


def test_a_newer_predictor_applied_since_the_read_is_detected_not_overwritten(
    kube: Kube, namespace: str
) -> None:
    _rolled_out_v1(kube, namespace)
    stale = reconcile_serverless(kube, namespace, NAME, Revisions(created=V2, ready=V2))
    newer = [{"op": "replace", "path": "/spec/predictor/model/storageUri", "value": f"{MODEL_V2}-fix"}]
    kube.patch(INFERENCE_SERVICES, NAME, newer, PatchType.JSON, namespace)
    reconcile_serverless(kube, namespace, NAME, Revisions(created=V3, ready=V2))

    router = _router(kube, namespace, read=stale)  # a cache that has not seen revision 3
    with pytest.raises(RouterError, match=f"latest revision is {V3}"):
        router.set_weight(25)  # the `test` on generation fails; the live retry sees revision 3
    assert _percent(kube, namespace) == 0
    # Someone sends the newer revision traffic by hand; an abort (``abort --direct`` reads live)
    # still gets through: 0 sends the latest revision nothing, whichever it is.
    by_hand: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/predictor/canaryTrafficPercent", "value": 30}
    ]
    kube.patch(INFERENCE_SERVICES, NAME, by_hand, PatchType.JSON, namespace)
    _router(kube, namespace).reset()
    assert _percent(kube, namespace) == 0


def test_mirrors_and_header_routes_are_refused(kube: Kube, namespace: str) -> None:
    router = _router(kube, namespace)
    router.set_mirror(0)
    router.set_header_route(())
    with pytest.raises(RouterError, match="cannot mirror"):
        router.set_mirror(10)


def _serverless_rollout(
    name: str,
    steps: list[dict[str, Any]],
    revisions: tuple[str, str] = (V1, V2),
    versions: tuple[str, str] = ("v1", "v2"),
) -> dict[str, Any]:
    """A rollout with the kserve router from the revision ``revisions[0]`` to ``revisions[1]``."""
    rollout = model_rollout(
        name,
        steps=steps,
        baseline=(f"{revisions[0]}-deployment", versions[0]),
        candidate=(f"{revisions[1]}-deployment", versions[1]),
        traffic={"kserve": {"inferenceService": NAME}},
    )
    return rollout  # no sizes: Knative's autoscaler sizes the revisions (platform_sizes)


@pytest.mark.usefixtures("crds")
def test_the_controller_walks_canary_traffic_percent_and_promotes(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    """The whole loop with the kserve router: the effective weight is what KServe reports.

    The revisions' Deployments are made here as Knative would make them and sized as its
    autoscaler would; the controller sizes neither (the kserve model's ``platform_sizes``), not
    at a step, not after the promotion's scale-down delay (docs/kserve.md).
    """
    _rolled_out_v1(kube, namespace)
    reconcile_serverless(kube, namespace, NAME, Revisions(created=V2, ready=V2))
    for revision, version in ((V1, "v1"), (V2, "v2")):
        kube.create(DEPLOYMENTS, model_deployment(f"{revision}-deployment", version, replicas=2), namespace)
    rollout = _serverless_rollout("model", [{"setWeight": 20}, {"setWeight": 60}, {"setWeight": 100}])
    share = ShareRecorder(
        kube, INFERENCE_SERVICES, NAME, namespace, lambda isvc: revision_share(isvc, V1, V2)
    )
    read = rollout_reader(kube, "model", namespace)
    with (
        ServerlessStandIn(kube, NAME, namespace, Revisions(created=V2, ready=V2)),
        share,
        running_controller(testbed.kubeconfig, namespace),
    ):
        kube.create(MODEL_ROLLOUTS, rollout, namespace)
        done = wait_for(read, lambda o: phase(o) in ("Succeeded", "Failed", "RolledBack"), 90, "the outcome")
        assert phase(done) == "Succeeded", done.get("status")
        wait_for(read, lambda o: o["status"].get("scaledDownAt"), 30, "the scale-down, left to Knative")
    assert share.weights == [0, 20, 60, 100]
    for revision in (V1, V2):  # Knative's sizes, as the test made them
        assert kube.get(DEPLOYMENTS, f"{revision}-deployment", namespace)["spec"]["replicas"] == 2
    predictor = kube.get(INFERENCE_SERVICES, NAME, namespace)["status"]["components"]["predictor"]
    assert predictor["latestRolledoutRevision"] == V2


@pytest.mark.usefixtures("crds")
def test_two_rollouts_on_one_inference_service_do_not_fight(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    """The InferenceService is claimed like a route: the later rollout touches nothing."""
    _rolled_out_v1(kube, namespace)
    reconcile_serverless(kube, namespace, NAME, Revisions(created=V2, ready=V2))
    v4 = f"{NAME}-predictor-00004"
    for revision, version in ((V1, "v1"), (V2, "v2"), (V3, "v3"), (v4, "v4")):
        kube.create(DEPLOYMENTS, model_deployment(f"{revision}-deployment", version, replicas=2), namespace)
    first = rollout_reader(kube, "first", namespace)
    second = rollout_reader(kube, "second", namespace)
    with (
        ServerlessStandIn(kube, NAME, namespace, Revisions(created=V2, ready=V2)),
        running_controller(testbed.kubeconfig, namespace),
    ):
        kube.create(
            MODEL_ROLLOUTS, _serverless_rollout("first", [{"setWeight": 20}, {"approve": {}}]), namespace
        )
        wait_for(first, lambda o: o.get("status", {}).get("currentStep") == 1, 60, "first at its gate")
        others = _serverless_rollout("second", [{"setWeight": 100}], (V3, v4), ("v3", "v4"))
        kube.create(MODEL_ROLLOUTS, others, namespace)
        blocked = wait_for(second, lambda o: condition(o, "Conflict").get("status") == "True", 30, "Conflict")
    message = condition(blocked, "Conflict")["message"]
    assert "ModelRollout first" in message and f"InferenceService {NAME}" in message
    assert blocked["status"].get("candidateVersion") is None  # it never started
    assert _percent(kube, namespace) == 20


@pytest.mark.usefixtures("crds")
def test_abort_direct_sets_canary_traffic_percent_to_zero_without_a_controller(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _rolled_out_v1(kube, namespace)
    ready = Revisions(created=V2, ready=V2)
    reconcile_serverless(kube, namespace, NAME, ready)
    _router(kube, namespace).set_weight(40)
    reconcile_serverless(kube, namespace, NAME, ready)
    kube.create(MODEL_ROLLOUTS, _serverless_rollout("model", [{"setWeight": 40}]), namespace)
    aborted = rollouts(testbed.kubeconfig, namespace, "abort", "model", "--reason", "bad scores", "--direct")
    assert aborted.exit_code == 0, aborted.output
    assert _percent(kube, namespace) == 0  # at once, no controller
    assert f"--direct: InferenceService {namespace}/{NAME} now has canaryTrafficPercent 0" in aborted.stdout
    assert "it reported 40% to the candidate" in aborted.stdout


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kserve"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*inferenceservice*.yaml")), ids=lambda p: p.name)
def test_kserves_crd_accepts_the_examples_inference_services(kube: Kube, namespace: str, path: Path) -> None:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc["kind"] == "InferenceService"]
    assert documents
    for document in documents:
        document["metadata"]["namespace"] = namespace
        kube.create(INFERENCE_SERVICES, document, namespace, field_validation="Strict", dry_run=True)


def test_a_missing_inference_service_is_a_router_error(kube: Kube, namespace: str) -> None:
    with pytest.raises(RouterError, match="not found"):
        _router(kube, namespace).get_weight()
