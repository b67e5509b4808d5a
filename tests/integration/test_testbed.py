"""The test bed behaves like a cluster: real controllers, real scheduler, kwok nodes, RBAC.

Nothing here patches a status: Deployments become Available through kube-controller-manager,
pods are bound by kube-scheduler and made Ready by kwok, exactly as the controller under test
will see them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes.client import (
    ApiClient,
    ApiextensionsV1Api,
    AppsV1Api,
    CoreV1Api,
    CustomObjectsApi,
    RbacAuthorizationV1Api,
)
from kubernetes.client.exceptions import ApiException

from rollouts.local.manifests import raw_inference_service
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    INFERENCE_SERVICES,
    NAMESPACES,
    Conflict,
    Kube,
    KubeObject,
    NotFound,
    PatchType,
    connect,
)
from rollouts.testbed import (
    GPU,
    STATE_DIR_VARIABLE,
    Binaries,
    ClusterConfig,
    LocalCluster,
    NodeSpec,
    TestbedError,
    find_leftovers,
    versions,
)
from rollouts.testbed.binaries import find_kserve_manager
from rollouts.testbed.crds import install_crds
from rollouts.testbed.kserve import FINALIZER, KServeController
from tests.support.cluster import missing_problem
from tests.support.need import need

pytestmark = pytest.mark.cluster

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns something other than None (or fail, saying what)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def deployment(name: str, replicas: int, requests: dict[str, str]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "server", "image": "model-server:test", "resources": {"requests": requests}}
                    ]
                },
            },
        },
    }


def pod(name: str, gpus: int) -> dict[str, Any]:
    resources = {"requests": {GPU: str(gpus)}, "limits": {GPU: str(gpus)}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "server", "image": "model-server:test", "resources": resources}]},
    }


def condition(obj: Any, kind: str) -> Any:
    return next((c for c in (obj.status.conditions or []) if c.type == kind), None)


def test_deployment_becomes_available_through_real_controllers(api_client: ApiClient, namespace: str) -> None:
    apps, core = AppsV1Api(api_client), CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("scorer", 3, {"cpu": "500m", "memory": "1Gi"}))

    def available() -> Any:
        current = apps.read_namespaced_deployment_status("scorer", namespace)
        done = condition(current, "Available")
        ready = (done is not None and done.status == "True") and current.status.ready_replicas == 3
        return current if ready else None

    current = eventually("Deployment scorer Available with 3 ready replicas", available)
    assert current.status.available_replicas == 3
    pods = core.list_namespaced_pod(namespace, label_selector="app=scorer").items
    assert len(pods) == 3
    for item in pods:
        assert item.status.phase == "Running"
        assert condition(item, "Ready").status == "True"
        assert item.spec.node_name  # bound by kube-scheduler


def test_gpu_pod_is_scheduled_on_the_gpu_node(api_client: ApiClient, namespace: str) -> None:
    core = CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, pod("one-gpu", gpus=1))

    def running() -> Any:
        current = core.read_namespaced_pod("one-gpu", namespace)
        return current if current.status.phase == "Running" else None

    node = core.read_node(eventually("pod one-gpu Running", running).spec.node_name)
    assert int(node.status.allocatable.get(GPU, "0")) >= 1


def test_pod_wanting_more_gpus_than_any_node_stays_pending(api_client: ApiClient, namespace: str) -> None:
    core = CoreV1Api(api_client)
    # Other suites may add nodes to the shared test bed: ask for more than the largest has.
    most = max(int(node.status.allocatable.get(GPU, "0")) for node in core.list_node().items)
    core.create_namespaced_pod(namespace, pod("too-many-gpus", gpus=most + 1))

    def unschedulable() -> Any:
        current = core.read_namespaced_pod("too-many-gpus", namespace)
        scheduled = condition(current, "PodScheduled")
        return scheduled if scheduled is not None and scheduled.reason == "Unschedulable" else None

    scheduled = eventually("the scheduler to refuse pod too-many-gpus", unschedulable)
    assert scheduled.status == "False"
    assert f"Insufficient {GPU}" in scheduled.message
    time.sleep(1)  # and it does not change its mind
    current = core.read_namespaced_pod("too-many-gpus", namespace)
    assert current.status.phase == "Pending"
    assert current.spec.node_name is None


def test_namespace_deletion_completes(api_client: ApiClient) -> None:
    core, apps = CoreV1Api(api_client), AppsV1Api(api_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    eventually(
        "ServiceAccount doomed/default",
        lambda: _exists(lambda: core.read_namespaced_service_account("default", "doomed")),
    )
    apps.create_namespaced_deployment("doomed", deployment("scorer", 1, {"cpu": "100m"}))
    core.delete_namespace("doomed")
    eventually(
        "namespace doomed to be gone",
        lambda: None if _exists(lambda: core.read_namespace("doomed")) else True,
    )


def _exists(read: Callable[[], object]) -> bool | None:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return True


def _allowed(call: Callable[[], object]) -> bool | None:
    """True once ``call`` succeeds; None while RBAC still refuses (a new binding takes a moment)."""
    try:
        call()
    except ApiException as error:
        if error.status == 403:
            return None
        raise
    return True


def test_kubeconfig_for_a_user_obeys_rbac(
    testbed: LocalCluster, api_client: ApiClient, namespace: str
) -> None:
    alice = testbed.api_client(testbed.kubeconfig_for("alice", ["oncall", "ml-platform"]))
    try:
        with pytest.raises(ApiException) as refused:
            CoreV1Api(alice).list_namespaced_pod(namespace)
        assert refused.value.status == 403
        assert 'User "alice" cannot list resource "pods"' in json.loads(refused.value.body)["message"]

        RbacAuthorizationV1Api(api_client).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "oncall-view"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall"}],
            },
        )
        eventually(
            "alice, through group oncall, to list pods",
            lambda: _allowed(lambda: CoreV1Api(alice).list_namespaced_pod(namespace)),
        )
    finally:
        alice.close()


def test_kubectl_reaches_the_server(testbed: LocalCluster) -> None:
    result = testbed.kubectl("get", "nodes", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert {"node/kwok-cpu-0", "node/kwok-gpu-0"} <= set(result.stdout.split())


def test_a_component_that_dies_fails_the_start_with_its_log(
    testbed_binaries: Binaries, tmp_path: Path
) -> None:
    broken = dataclasses.replace(testbed_binaries, etcd=Path("/bin/false"))
    cluster = LocalCluster(ClusterConfig(nodes=(NodeSpec("n"),), log_dir=tmp_path / "logs"), broken)
    with pytest.raises(TestbedError, match=r"etcd exited with status 1 while waiting for etcd /health; log "):
        cluster.start()
    assert not cluster.running()
    assert not cluster.workdir.exists()
    assert (tmp_path / "logs" / "etcd.log").exists()


@pytest.mark.usefixtures("testbed_binaries")
def test_cli_up_env_down_from_separate_processes(tmp_path: Path) -> None:
    env = {**os.environ, STATE_DIR_VARIABLE: str(tmp_path / "state")}
    cli = [str(Path(sys.executable).with_name("rollouts")), "testbed"]  # the installed command

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], env=env, capture_output=True, text=True, timeout=180, check=False
        )

    up = run("up", "--name", "cli", "--gpu-nodes", "0", "--cpu-nodes", "1", "--no-crds")
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = tmp_path / "state" / "cli" / "admin.kubeconfig"
        assert up.stdout == f"export KUBECONFIG={kubeconfig}\n"
        assert "1 node Ready" in up.stderr
        assert run("env", "--name", "cli").stdout == up.stdout
        cluster = LocalCluster.attach("cli", tmp_path / "state")
        assert cluster is not None
        assert len(cluster.running()) == 5
        nodes = cluster.kubectl("get", "nodes", "-o", "name", kubeconfig=kubeconfig)
        assert nodes.stdout.split() == ["node/kwok-cpu-0"]
        check = run("check")
        assert check.returncode == 1  # a running test bed is what `check` reports
    finally:
        down = run("down", "--name", "cli")
    assert down.returncode == 0, down.stderr
    assert not cluster.running()
    assert not find_leftovers(tmp_path / "state")
    assert run("env", "--name", "cli").returncode == 1
    assert run("check").returncode == 0
    assert (tmp_path / "state" / "logs" / "cli" / "kube-apiserver.log").exists()


def test_the_api_server_restarts_with_its_state(
    testbed: LocalCluster, api_client: ApiClient, namespace: str
) -> None:
    """A fault for the safety campaign: kill the API server and start it with the same flags."""
    core = CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "survives"}, "data": {"k": "v"}})
    before = {record.name: record.pid for record in testbed.running()}
    testbed.restart("kube-apiserver")
    after = {record.name: record.pid for record in testbed.running()}
    assert after["kube-apiserver"] != before["kube-apiserver"]
    assert {name: pid for name, pid in after.items() if name != "kube-apiserver"} == {
        name: pid for name, pid in before.items() if name != "kube-apiserver"
    }
    assert core.read_namespaced_config_map("survives", namespace).data == {"k": "v"}


def test_an_audited_test_bed_records_who_wrote_what(testbed_binaries: Binaries, tmp_path: Path) -> None:
    """ClusterConfig.audit_log: the writes a controller makes, with User-Agent and answer; no reads."""
    config = ClusterConfig(nodes=(NodeSpec("n"),), log_dir=tmp_path / "logs", audit_log=True)
    with LocalCluster(config, testbed_binaries) as cluster:
        with connect(str(cluster.kubeconfig), user_agent="writer/1 (w-1)") as kube:
            kube.create(NAMESPACES, {"metadata": {"name": "audited"}})
            kube.create(DEPLOYMENTS, deployment("scorer", 0, {"cpu": "100m"}), "audited")
            stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}}
            with pytest.raises(Conflict):
                kube.patch(DEPLOYMENTS, "scorer", stale, PatchType.MERGE, "audited", subresource="scale")
            scale = {"spec": {"replicas": 1}}
            kube.patch(DEPLOYMENTS, "scorer", scale, PatchType.MERGE, "audited", subresource="scale")
            kube.get(DEPLOYMENTS, "scorer", "audited")

        def seen() -> list[tuple[str, str, str | None, int]] | None:
            mine = [e for e in cluster.audit_events() if e.get("userAgent") == "writer/1 (w-1)"]
            found = [
                (
                    e["verb"],
                    e["objectRef"]["resource"],
                    e["objectRef"].get("subresource"),
                    e["responseStatus"]["code"],
                )
                for e in mine
            ]
            return found if len(found) >= 3 else None

        assert eventually("the writes in the audit log", seen, timeout=10) == [
            ("create", "deployments", None, 201),
            ("patch", "deployments", "scale", 409),
            ("patch", "deployments", "scale", 200),
        ]  # not the namespace (not audited), not the GET (a read)
        assert {e["stage"] for e in cluster.audit_events()} == {"ResponseComplete"}
    assert cluster.audit_log.exists()  # the log stays, with the other logs


def test_a_crd_installed_while_its_predecessor_is_deleted_is_created_anew(api_client: ApiClient) -> None:
    """install_crds waits out a CRD still being deleted (held here by an object's finalizer)
    instead of replacing it, which would leave a CRD that vanishes moments later."""
    group, plural = "probes.model-rollouts.test", "widgets"
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"plural": plural, "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    manifest = Path(os.environ.get("TMPDIR", "/tmp")) / f"crd-{os.getpid()}.yaml"
    manifest.write_text(json.dumps(crd))
    extensions = ApiextensionsV1Api(api_client)
    objects = CustomObjectsApi(api_client)
    try:
        install_crds(api_client, modelrollout=False, gateway_api=False, files=(manifest,))
        held = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "held", "finalizers": ["test/hold"]},
        }
        objects.create_cluster_custom_object(group, "v1", plural, held)
        extensions.delete_custom_resource_definition(crd["metadata"]["name"])
        terminating = extensions.read_custom_resource_definition(crd["metadata"]["name"])
        assert terminating.metadata.deletion_timestamp is not None
        with ThreadPoolExecutor(1) as pool:
            installing = pool.submit(
                install_crds, api_client, modelrollout=False, gateway_api=False, files=(manifest,)
            )
            release = {"metadata": {"finalizers": None}}
            objects.patch_cluster_custom_object(group, "v1", plural, "held", release)
            installing.result(timeout=120)
        fresh = extensions.read_custom_resource_definition(crd["metadata"]["name"])
        assert fresh.metadata.deletion_timestamp is None
        assert fresh.metadata.uid != terminating.metadata.uid
        objects.create_cluster_custom_object(group, "v1", plural, {**held, "metadata": {"name": "after"}})
        assert objects.get_cluster_custom_object(group, "v1", plural, "after")["metadata"]["name"] == "after"
    finally:
        manifest.unlink(missing_ok=True)
        with contextlib.suppress(ApiException):
            extensions.delete_custom_resource_definition(crd["metadata"]["name"])


def test_an_inference_service_kserve_finalized_can_be_deleted_after_its_manager_stops(
    testbed: LocalCluster, api_client: ApiClient, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """KServe's manager finalizes each InferenceService. Stopped, it leaves none held: else a
    deletion after it (its test's namespace, its CRD) never ends, and the next module's install
    of the CRD waits on it until it times out."""
    problem = missing_problem(find_kserve_manager)
    need(not problem, f"KServe {versions.KSERVE}'s manager", problem)
    with KServeController(testbed.kubeconfig, api_client, kube, tmp_path):
        kube.create(INFERENCE_SERVICES, raw_inference_service("held", "v1"), namespace)

        def finalized() -> KubeObject | None:
            isvc = kube.get(INFERENCE_SERVICES, "held", namespace)
            return isvc if FINALIZER in isvc["metadata"].get("finalizers", []) else None

        eventually("KServe's finalizer on the InferenceService", finalized)
    kube.delete(INFERENCE_SERVICES, "held", namespace)

    def gone() -> bool | None:
        try:
            kube.get(INFERENCE_SERVICES, "held", namespace)
        except NotFound:
            return True
        return None

    assert eventually("the InferenceService deleted", gone, timeout=30)
