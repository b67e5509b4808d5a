"""The Helm chart (deploy/helm/model-rollouts): it reproduces the kustomize manifests, refuses bad
values naming the field, and installs, upgrades and uninstalls on a real API server.

Renders are compared with ``kubectl kustomize`` of deploy/controller and deploy/rbac, the
manifests the rest of the suite proves by use (tests/integration/test_deploy_controller.py): the
chart's RBAC must be exactly theirs. The chart reads that RBAC from copies of the manifests, so
the first test here fails as soon as a copy differs from its original (``make chart`` fixes it).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from rollouts.runtime.kube import DEPLOYMENTS, NAMESPACES, Kube, KubeObject, NotFound, Resource
from rollouts.testbed import Binaries, LocalCluster, MissingBinariesError, find_helm, versions
from rollouts.testbed.cluster import free_ports
from tests.integration.test_deploy_controller import (
    app_with_a_rollout,
    assert_rolled_out,
    controller_process,
    shipped_arguments,
    wait_ready,
)
from tests.support.controller import wait_for
from tests.support.helm import (
    CHART,
    REPOSITORY,
    install,
    of_kind,
    one,
    render,
    run_helm,
    service_account_token_kubeconfig,
    shipped,
)
from tests.support.identities import access, wait_allowed

RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False)
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", namespaced=True)
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
HOME = "model-rollouts"
"""Release name and namespace that give the kustomize names (deploy/controller's namespace)."""

ALL_ON: dict[str, Any] = {
    "rbac": {"scope": "cluster", "secretNamespaces": ["ml", "fraud"]},
    "metrics": {"service": {"enabled": True}, "networkPolicy": {"enabled": True}},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": ALERTS.is_file()},
    "grafanaDashboard": {"enabled": DASHBOARD.is_file()},
    "podDisruptionBudget": {"enabled": True},
    "roles": {name: {"enabled": True} for name in ("ci", "oncall", "oncallDirect", "owner")},
    "admissionPolicy": {"enabled": True},
}
ALL_OFF: dict[str, Any] = {
    "replicaCount": 1,
    "leaderElection": {"enabled": False},
    "metrics": {"service": {"enabled": False}, "networkPolicy": {"enabled": False}},
    "podDisruptionBudget": {"enabled": False},
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "cluster-wide": {},
    "namespaced": {"rbac": {"scope": "namespaced", "namespaces": ["ml", "fraud"]}},
    "all-on": ALL_ON,
    "all-off": ALL_OFF,
    "ha": {"replicaCount": 2, "leaderElection": {"enabled": True}},
}


def kustomized(binaries: Binaries, path: str) -> list[KubeObject]:
    """``kubectl kustomize`` of a folder under the repository: what ``kubectl apply -k`` sends."""
    built = subprocess.run(
        [str(binaries.kubectl), "kustomize", str(REPOSITORY / path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def without_labels(obj: KubeObject) -> KubeObject:
    """The object as far as the chart must reproduce it: its labels may only gain the chart's."""
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "labels"}}


def assert_reproduces(
    rendered: list[KubeObject], originals: list[KubeObject], kinds: tuple[str, ...]
) -> None:
    """Every original object of ``kinds`` is rendered, equal but for labels the chart adds."""
    for original in (o for o in originals if o["kind"] in kinds):
        mine = one(
            rendered, original["kind"], original["metadata"]["name"], original["metadata"].get("namespace")
        )
        assert without_labels(mine) == without_labels(original), original["metadata"]["name"]
        assert mine["metadata"]["labels"].items() >= original["metadata"].get("labels", {}).items()


def controller_container(deployment: KubeObject) -> KubeObject:
    """The Deployment's one container."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["controller"]
    return dict(containers[0])


def writes(rule: KubeObject) -> bool:
    """Whether an RBAC rule grants anything beyond reading."""
    return not set(rule["verbs"]) <= {"get", "list", "watch"}


# ---- the chart's copies ------------------------------------------------------------------------


def test_the_charts_copies_are_byte_equal_to_their_originals() -> None:
    copies = sorted(p for folder in ("crds", "deploy") for p in (CHART / folder).rglob("*") if p.is_file())
    relative = [copy.relative_to(CHART) for copy in copies]
    assert Path("crds/modelrollout.yaml") in relative
    stale = [
        str(path) for path in relative if (CHART / path).read_bytes() != (REPOSITORY / path).read_bytes()
    ]
    assert stale == [], f"the chart's copies differ from the originals: {stale}; run `make chart`"


# ---- helm lint and helm template ---------------------------------------------------------------


@pytest.mark.parametrize("values", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_helm_lint_passes(helm_binary: Path, values: dict[str, Any]) -> None:
    linted = run_helm(helm_binary, "lint", "--strict", str(CHART), values=values)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("values", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_every_controller_pod_is_restricted_and_probed(helm_binary: Path, values: dict[str, Any]) -> None:
    rendered = render(helm_binary, values)
    deployments = of_kind(rendered, "Deployment")
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = controller_container(deployment)
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        health = next(p["containerPort"] for p in container["ports"] if p["name"] == "health")
        assert f"--health-port={health}" in container["args"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["resources"]["limits"]["memory"]
        assert (
            pod["serviceAccountName"]
            == one(rendered, "ServiceAccount", HOME + "-controller")["metadata"]["name"]
        )


def test_the_deployment_is_the_kustomize_one(helm_binary: Path, testbed_binaries: Binaries) -> None:
    """Same pod security, resources, probes, environment and arguments as deploy/controller
    (the chart only names its Lease and sets the Lease timing and log level explicitly, and
    exposes /metrics to its Service)."""
    applied = one(kustomized(testbed_binaries, "deploy/controller"), "Deployment", HOME + "-controller")
    mine = one(render(helm_binary, {}, HOME, HOME), "Deployment", HOME + "-controller", HOME)
    assert mine["spec"]["replicas"] == applied["spec"]["replicas"]
    for key in ("securityContext", "serviceAccountName", "terminationGracePeriodSeconds"):
        assert mine["spec"]["template"]["spec"][key] == applied["spec"]["template"]["spec"][key], key
    original, container = controller_container(applied), controller_container(mine)
    for key in ("securityContext", "resources", "env", "readinessProbe", "livenessProbe"):
        assert container[key] == original[key], key
    added = {"--lease-name", "--lease-duration", "--renew-deadline", "--retry-period", "--log-level"}
    added |= {"--metrics-bind-address"}
    assert [a for a in container["args"] if a.split("=")[0] not in added] == original["args"]
    assert "--lease-name=model-rollouts-controller" in container["args"]  # the default Lease name


def test_cluster_wide_rbac_is_exactly_deploy_controller(
    helm_binary: Path, testbed_binaries: Binaries
) -> None:
    rendered = render(helm_binary, {}, HOME, HOME)
    applied = kustomized(testbed_binaries, "deploy/controller")
    assert_reproduces(rendered, applied, (*RBAC_KINDS, "ServiceAccount"))
    extra = {(o["kind"], o["metadata"]["name"]) for o in rendered if o["kind"] in RBAC_KINDS}
    extra -= {(o["kind"], o["metadata"]["name"]) for o in applied}
    assert extra == set()  # by default, not one right more
    # The secrets ClusterRole is rendered and bound nowhere, as shipped.
    assert not [b for b in of_kind(rendered, "RoleBinding") if b["roleRef"]["name"].endswith("-secrets")]


def test_namespaced_rbac_is_exactly_deploy_controller_namespaced(
    helm_binary: Path, testbed_binaries: Binaries, tmp_path: Path
) -> None:
    """deploy/controller/namespaced in namespace ml (the overlay its comment describes) and the
    chart released in ml watching ml: the same objects and rules."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": "ml",
                "resources": [os.path.relpath(REPOSITORY / "deploy/controller/namespaced", overlay)],
            }
        )
    )
    applied = kustomized(testbed_binaries, str(overlay))
    rendered = render(helm_binary, {"rbac": {"scope": "namespaced", "namespaces": ["ml"]}}, HOME, "ml")
    assert_reproduces(rendered, applied, (*RBAC_KINDS, "ServiceAccount"))
    assert (
        "--namespace=ml" in controller_container(one(rendered, "Deployment", HOME + "-controller-ml"))["args"]
    )


def test_namespaced_mode_watches_each_listed_namespace_with_roles_only(helm_binary: Path) -> None:
    rendered = render(helm_binary, SCENARIOS["namespaced"], HOME, HOME)
    shipped_role = one(
        [
            o
            for o in yaml.safe_load_all((REPOSITORY / "deploy/controller/namespaced/rbac.yaml").read_text())
            if o
        ],
        "Role",
        HOME + "-controller",
    )
    for watched in ("ml", "fraud"):
        role = one(rendered, "Role", HOME + "-controller", watched)
        assert role["rules"] == shipped_role["rules"]
        binding = one(rendered, "RoleBinding", HOME + "-controller", watched)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": HOME + "-controller", "namespace": HOME}
        ]
        deployment = one(rendered, "Deployment", f"{HOME}-controller-{watched}", HOME)
        arguments = controller_container(deployment)["args"]
        assert f"--namespace={watched}" in arguments
        assert f"--lease-name={HOME}-controller-{watched}" in arguments
    # Cluster-wide: nothing but reading nodes; no ClusterRole touches rollouts or writes anything.
    cluster_roles = of_kind(rendered, "ClusterRole")
    assert [r["metadata"]["name"] for r in cluster_roles] == [HOME + "-controller-nodes"]
    for role in cluster_roles:
        for rule in role["rules"]:
            assert not writes(rule), rule
            assert "rollouts.modelops.io" not in rule["apiGroups"], rule
    assert [b["roleRef"]["name"] for b in of_kind(rendered, "ClusterRoleBinding")] == [
        HOME + "-controller-nodes"
    ]
    selectors = [d["spec"]["selector"]["matchLabels"] for d in of_kind(rendered, "Deployment")]
    assert len({tuple(sorted(s.items())) for s in selectors}) == 2  # each Deployment its own pods


def test_all_options_on_render_deploy_rbac_and_every_extra(
    helm_binary: Path, testbed_binaries: Binaries
) -> None:
    rendered = render(helm_binary, ALL_ON, HOME, HOME)
    # The files themselves, not `kubectl kustomize deploy/rbac` (which transforms nothing there):
    # kustomize re-encodes the policy's folded CEL with extra blank lines, harmless to CEL.
    files = ("ci.yaml", "oncall.yaml", "oncall-direct.yaml", "owner.yaml", "field-owners-policy.yaml")
    shipped_roles = shipped(*(f"deploy/rbac/{name}" for name in files))
    assert_reproduces(
        rendered,
        shipped_roles,
        (
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ),
    )
    for watched in ("ml", "fraud"):
        secrets_binding = one(rendered, "RoleBinding", HOME + "-controller-secrets", watched)
        assert secrets_binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": HOME + "-controller-secrets",
        }
    service = one(rendered, "Service", HOME + "-controller-metrics", HOME)
    deployment = one(rendered, "Deployment", HOME + "-controller", HOME)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert "--metrics-bind-address=0.0.0.0" in controller_container(deployment)["args"]
    monitor = one(rendered, "ServiceMonitor", HOME + "-controller", HOME)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    # Prometheus Operator's job label: the value of that Service label, the job the alerts select.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "model-rollouts-controller"
    policy = one(rendered, "NetworkPolicy", HOME + "-controller", HOME)
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert [rule["ports"][0]["port"] for rule in policy["spec"]["ingress"]] == ["metrics", "health"]
    assert "from" in policy["spec"]["ingress"][0] and "from" not in policy["spec"]["ingress"][1]


def test_notifications_are_read_from_two_named_objects_of_the_release_namespace_only(
    helm_binary: Path,
) -> None:
    """Whatever the scope, the notifications Role is base/rbac.yaml's: in the release namespace,
    on the ConfigMap and the Secret named model-rollouts-notifications, nothing else."""
    for values in (SCENARIOS["cluster-wide"], SCENARIOS["namespaced"]):
        rendered = render(helm_binary, values, HOME, HOME)
        role = one(rendered, "Role", HOME + "-notifications", HOME)
        assert (
            role["rules"]
            == one(shipped("deploy/controller/base/rbac.yaml"), "Role", HOME + "-notifications")["rules"]
        )
        assert all(rule["resourceNames"] == ["model-rollouts-notifications"] for rule in role["rules"])
        named = [r for r in of_kind(rendered, "Role") if r["metadata"]["name"] == HOME + "-notifications"]
        assert [r["metadata"]["namespace"] for r in named] == [HOME]  # not in the watched namespaces


def test_all_options_off_render_only_the_controller_and_its_own_rights(helm_binary: Path) -> None:
    rendered = render(helm_binary, ALL_OFF, HOME, HOME)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in rendered) == [
        ("ClusterRole", HOME + "-controller"),
        ("ClusterRole", HOME + "-controller-secrets"),
        ("ClusterRoleBinding", HOME + "-controller"),
        ("CustomResourceDefinition", "modelrollouts.rollouts.modelops.io"),
        ("Deployment", HOME + "-controller"),
        ("Role", HOME + "-notifications"),
        ("RoleBinding", HOME + "-notifications"),
        ("ServiceAccount", HOME + "-controller"),
    ]
    arguments = controller_container(one(rendered, "Deployment", HOME + "-controller"))["args"]
    assert not [
        a for a in arguments if a.startswith(("--leader-elect", "--lease-", "--metrics-bind-address"))
    ]


def test_ha_runs_two_replicas_under_a_lease_with_a_disruption_budget(helm_binary: Path) -> None:
    rendered = render(helm_binary, SCENARIOS["ha"], HOME, HOME)
    deployment = one(rendered, "Deployment", HOME + "-controller", HOME)
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in controller_container(deployment)["args"]
    budget = one(rendered, "PodDisruptionBudget", HOME + "-controller", HOME)
    assert budget["spec"] == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}
    # Two replicas without the Lease would be two controllers acting on the same rollouts.
    refused = run_helm(
        helm_binary,
        *("template", HOME, str(CHART)),
        values={"replicaCount": 2, "leaderElection": {"enabled": False}},
    )
    assert refused.returncode != 0
    assert "leaderElection.enabled" in refused.stderr


def test_the_crd_is_the_generated_one(helm_binary: Path) -> None:
    crd = one(render(helm_binary, {}), "CustomResourceDefinition", "modelrollouts.rollouts.modelops.io")
    assert crd == yaml.safe_load((REPOSITORY / "crds" / "modelrollout.yaml").read_text())


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"replicaCount": 0}, "/replicaCount"),
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"rbac": {"scope": "everywhere"}}, "/rbac/scope"),
        ({"rbac": {"scope": "namespaced", "namespaces": []}}, "/rbac/namespaces"),
        ({"rbac": {"scope": "namespaced", "namespaces": ["Not_A_Namespace"]}}, "/rbac/namespaces/0"),
        ({"controller": {"workers": 65}}, "/controller/workers"),
        ({"controller": {"logFormat": "xml"}}, "/controller/logFormat"),
        ({"controller": {"wrokers": 4}}, "wrokers"),
        ({"roles": {"ci": {"subjects": [{"kind": "Robot", "name": "x"}]}}}, "/roles/ci/subjects/0/kind"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_bad_value_fails_naming_the_field(helm_binary: Path, values: dict[str, Any], field: str) -> None:
    refused = run_helm(helm_binary, "template", HOME, str(CHART), values=values)
    assert refused.returncode != 0, refused.stdout[:500]
    assert field in refused.stderr, refused.stderr


def test_the_roles_that_rely_on_the_admission_policy_need_it(helm_binary: Path) -> None:
    refused = run_helm(
        helm_binary, "template", HOME, str(CHART), values={"roles": {"oncall": {"enabled": True}}}
    )
    assert refused.returncode != 0
    assert "admissionPolicy.enabled" in refused.stderr


@pytest.mark.parametrize(
    ("option", "file"),
    [("prometheusRule", ALERTS), ("grafanaDashboard", DASHBOARD)],
    ids=["alerts", "dashboard"],
)
def test_alerts_and_dashboard_come_from_the_charts_files(helm_binary: Path, option: str, file: Path) -> None:
    """Rendered from files/ verbatim when the file is there; refused, naming it, when it is not."""
    values = {option: {"enabled": True}}
    if not file.is_file():
        refused = run_helm(helm_binary, "template", HOME, str(CHART), values=values)
        assert refused.returncode != 0
        assert f"files/{file.name}" in refused.stderr
        return
    rendered = render(helm_binary, values, HOME, HOME)
    if option == "prometheusRule":
        rule = one(rendered, "PrometheusRule", HOME, HOME)
        assert rule["spec"]["groups"] == yaml.safe_load(file.read_text())["groups"]
    else:
        board = one(rendered, "ConfigMap", HOME + "-dashboard", HOME)
        assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert board["data"]["model-rollouts.json"] == file.read_text().rstrip("\n")


# ---- on the test bed -----------------------------------------------------------------------------


def _release() -> str:
    return f"mr-{secrets.token_hex(3)}"


def _absent(kube: Kube, resource: Resource, name: str, namespace: str | None = None) -> KubeObject:
    """For wait_for: {"gone": True} once the object is deleted."""
    try:
        kube.get(resource, name, namespace)
    except NotFound:
        return {"gone": True}
    return {"gone": False}


def watching(kube: Kube, namespace: str) -> KubeObject:
    """The one controller Deployment (released in ``namespace``) that watches ``namespace``."""
    found = kube.list(
        DEPLOYMENTS, namespace, label_selector=f"rollouts.modelops.io/watches={namespace}"
    ).items
    assert len(found) == 1, [d["metadata"]["name"] for d in found]
    return found[0]


def test_install_upgrade_and_uninstall_on_a_real_api_server(
    helm_binary: Path, testbed: LocalCluster, kube: Kube, namespace: str, crds: list[str]
) -> None:
    """Every object of the chart, every option on that needs no other CRD (ServiceMonitor and
    PrometheusRule need the Prometheus Operator's), is accepted by the API server; kwok makes
    the pods Ready, so --wait returns once the Deployment is available."""
    release = _release()
    prefix = f"{release}-model-rollouts"
    values = {
        **ALL_ON,
        "serviceMonitor": {"enabled": False},
        "prometheusRule": {"enabled": False},
        "rbac": {"scope": "cluster", "secretNamespaces": [namespace]},
        "roles": {name: {"enabled": True, "subjects": []} for name in ("ci", "oncall", "oncallDirect")}
        | {"owner": {"enabled": True}},
    }
    installed = install(helm_binary, testbed, release, namespace, values)
    try:
        assert installed.returncode == 0, installed.stderr
        deployment = kube.get(DEPLOYMENTS, prefix + "-controller", namespace)
        assert deployment["status"].get("availableReplicas") == 2
        rules = one(shipped("deploy/controller/rbac.yaml"), "ClusterRole", HOME + "-controller")["rules"]
        assert kube.get(CLUSTER_ROLES, prefix + "-controller")["rules"] == rules
        kube.get(ROLE_BINDINGS, prefix + "-controller-secrets", namespace)

        # Upgrade: one replica, the controller confined to this namespace.
        namespaced = {**values, "replicaCount": 1, "rbac": {"scope": "namespaced", "namespaces": [namespace]}}
        upgraded = install(helm_binary, testbed, release, namespace, namespaced)
        assert upgraded.returncode == 0, upgraded.stderr
        confined = watching(kube, namespace)
        assert confined["spec"]["replicas"] == 1
        assert f"--namespace={namespace}" in controller_container(confined)["args"]
        kube.get(ROLES, prefix + "-controller", namespace)
        for gone in (prefix + "-controller", prefix + "-controller-secrets"):
            assert _absent(kube, CLUSTER_ROLES, gone) == {"gone": True}, gone  # helm deleted it
        wait_for(
            lambda: _absent(kube, DEPLOYMENTS, prefix + "-controller", namespace),
            lambda o: o["gone"],
            30,
            "the cluster-wide Deployment deleted",
        )
    finally:
        uninstalled = run_helm(
            helm_binary,
            "uninstall",
            release,
            f"--namespace={namespace}",
            "--wait",
            kubeconfig=testbed.kubeconfig,
        )
    assert uninstalled.returncode == 0, uninstalled.stderr
    for resource, name, where in (
        (SERVICE_ACCOUNTS, prefix + "-controller", namespace),
        (CLUSTER_ROLES, prefix + "-controller-nodes", None),
        (CLUSTER_ROLES, prefix + "-ci", None),
        (ROLES, prefix + "-controller", namespace),
    ):
        assert _absent(kube, resource, name, where) == {"gone": True}, name
    assert kube.get(NAMESPACES, namespace)  # the release namespace is the user's, never the chart's


def test_the_namespaced_controller_runs_a_rollout_with_the_charts_roles_alone(
    helm_binary: Path,
    testbed: LocalCluster,
    api_client: ApiClient,
    kube: Kube,
    namespace: str,
    crds: list[str],
    tmp_path: Path,
) -> None:
    """The chart's ServiceAccount, a token from the TokenRequest API and nothing else: the
    controller, with the chart's own arguments, takes a rollout to the end in its namespace."""
    release = _release()
    prefix = f"{release}-model-rollouts"
    values = {"replicaCount": 1, "rbac": {"scope": "namespaced", "namespaces": [namespace]}}
    installed = install(helm_binary, testbed, release, namespace, values)
    try:
        assert installed.returncode == 0, installed.stderr
        token = service_account_token_kubeconfig(
            api_client, testbed, namespace, prefix + "-controller", tmp_path
        )
        wait_allowed(token, "list", "modelrollouts", namespace, group="rollouts.modelops.io")
        assert not access(token, "list", "modelrollouts", group="rollouts.modelops.io")  # all namespaces
        assert not access(token, "get", "secrets", "default")
        app_with_a_rollout(kube, namespace)
        deployment = watching(kube, namespace)
        metrics, health = free_ports(2)
        arguments = shipped_arguments(deployment, namespace, metrics, health)
        log = tmp_path / "controller.log"
        with controller_process(arguments, token, log) as process:
            wait_ready(health, process, log)
            assert_rolled_out(kube, namespace, log)
        assert process.returncode == 0, log.read_text()
    finally:
        run_helm(helm_binary, "uninstall", release, f"--namespace={namespace}", kubeconfig=testbed.kubeconfig)


# ---- Helm 3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_helm_3_lints_and_renders_what_helm_4_renders(
    helm_binary: Path, helm3_binary: Path, values: dict[str, Any]
) -> None:
    """The same objects from both majors. Offline, Helm 3 assumes Kubernetes 1.20, which the
    chart's kubeVersion (>= 1.30) refuses, so both render for the test bed's version (docs/install.md)."""
    kube_version = f"--kube-version={versions.KUBERNETES}"
    linted = run_helm(helm3_binary, "lint", "--strict", str(CHART), kube_version, values=values)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    renders = [
        run_helm(helm, "template", HOME, str(CHART), "--include-crds", kube_version, values=values)
        for helm in (helm_binary, helm3_binary)
    ]
    for rendered in renders:
        assert rendered.returncode == 0, rendered.stderr
    four, three = ([doc for doc in yaml.safe_load_all(r.stdout) if doc] for r in renders)
    assert three == four


def test_helm_3_installs_and_uninstalls_on_a_real_api_server(
    helm3_binary: Path, testbed: LocalCluster, kube: Kube, namespace: str, crds: list[str]
) -> None:
    release = _release()
    installed = install(helm3_binary, testbed, release, namespace, {"replicaCount": 1})
    try:
        assert installed.returncode == 0, installed.stderr
        deployment = kube.get(DEPLOYMENTS, f"{release}-model-rollouts-controller", namespace)
        assert deployment["status"].get("availableReplicas") == 1
    finally:
        uninstalled = run_helm(
            helm3_binary,
            "uninstall",
            release,
            f"--namespace={namespace}",
            "--wait",
            kubeconfig=testbed.kubeconfig,
        )
    assert uninstalled.returncode == 0, uninstalled.stderr


# ---- where helm comes from ----------------------------------------------------------------------


def test_helm_is_found_like_the_test_beds_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TESTBED_HELM first, then KUBEBUILDER_ASSETS, then the cache that `make testbed` fills;
    a miss names the pinned version and the fix."""
    monkeypatch.delenv("TESTBED_HELM", raising=False)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    with pytest.raises(MissingBinariesError, match=rf"helm {versions.HELM}.*make testbed"):
        find_helm(tmp_path)
    built = tmp_path / "helm" / versions.HELM
    built.mkdir(parents=True)
    (built / "helm").write_text("#!/bin/sh\n")
    (built / "helm").chmod(0o755)
    with pytest.raises(MissingBinariesError):  # no BUILD-INFO: an unfinished build
        find_helm(tmp_path)
    (built / "BUILD-INFO").write_text("component=helm\n")
    assert find_helm(tmp_path) == (built / "helm").resolve()
    monkeypatch.setenv("TESTBED_HELM", str(tmp_path / "nowhere"))
    with pytest.raises(MissingBinariesError, match="TESTBED_HELM="):
        find_helm(tmp_path)
    monkeypatch.setenv("TESTBED_HELM", str(built / "helm"))
    assert find_helm(tmp_path) == (built / "helm").resolve()
