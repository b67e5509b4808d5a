"""Identities that are not admins, for tests of the shipped roles and the admission policy.

Two kinds, as on a real cluster: client-certificate users (``LocalCluster.kubeconfig_for``, with
the groups a test names) and ServiceAccounts, which authenticate with a bound token from the
TokenRequest API (``kubectl create token``) — the identity a controller or a CI job in the
cluster has, in no group but ``system:serviceaccounts[:NAMESPACE]``.

RBAC changes reach the authorizer through its informers, a moment after the API server stored
them, so :func:`wait_allowed` waits until the identity's own access review says yes.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import yaml

from rollouts.runtime.kube import SELF_SUBJECT_ACCESS_REVIEWS, KubeObject, connect
from rollouts.testbed import LocalCluster


def service_account_kubeconfig(testbed: LocalCluster, namespace: str, name: str, folder: Path) -> Path:
    """A kubeconfig for ServiceAccount ``namespace/name`` (created if missing), with a 1-hour token."""
    if testbed.kubectl("get", "serviceaccount", name, "-n", namespace).returncode != 0:
        made = testbed.kubectl("create", "serviceaccount", name, "-n", namespace)
        assert made.returncode == 0, made.stderr
    token = testbed.kubectl("create", "token", name, "-n", namespace, "--duration=1h")
    assert token.returncode == 0, token.stderr
    return token_kubeconfig(testbed, namespace, name, token.stdout.strip(), folder)


def token_kubeconfig(testbed: LocalCluster, namespace: str, name: str, token: str, folder: Path) -> Path:
    """A kubeconfig whose only credential is ``token``, for ServiceAccount ``namespace/name``:
    the test bed's server and CA, nothing of the admin's identity."""
    admin = yaml.safe_load(testbed.kubeconfig.read_text())
    user = f"system:serviceaccount:{namespace}:{name}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "testbed", "context": {"cluster": admin["clusters"][0]["name"], "user": user}}],
        "current-context": "testbed",
    }
    path = folder / f"{namespace}-{name}.kubeconfig"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def access(kubeconfig: Path, verb: str, resource: str, namespace: str | None = None, **more: str) -> bool:
    """Whether the kubeconfig's identity may ``verb`` ``resource`` (its own SelfSubjectAccessReview).

    ``more``: ``group``, ``subresource``, ``name`` of the ResourceAttributes.
    """
    attributes: KubeObject = {"verb": verb, "resource": resource, **more}
    if namespace is not None:
        attributes["namespace"] = namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    with connect(str(kubeconfig)) as kube:
        answer = kube.create(SELF_SUBJECT_ACCESS_REVIEWS, review)
    return bool(answer.get("status", {}).get("allowed"))


def wait_allowed(
    kubeconfig: Path,
    verb: str,
    resource: str,
    namespace: str | None = None,
    timeout: float = 30,
    **more: str,
) -> None:
    """Wait until the authorizer grants what a test just bound (RBAC is cached, briefly)."""
    deadline = time.monotonic() + timeout
    while not access(kubeconfig, verb, resource, namespace, **more):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{kubeconfig.name} still may not {verb} {resource} {more} after {timeout:.0f}s"
            )
        time.sleep(0.1)


def deploy_rules(secrets: tuple[str, ...] = ()) -> list[KubeObject]:
    """What a pipeline's own deploy step holds in its namespace, and no more: scaling the app's
    Deployments, patching its HTTPRoute, reading the named Secrets. Naming those objects in a
    rollout needs exactly these rights (the admission policy asks the authorizer)."""
    rules: list[KubeObject] = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "resourceNames": ["model-v1", "model-v2", "model-v3"],
            "verbs": ["update", "patch"],
        },
        {
            "apiGroups": ["gateway.networking.k8s.io"],
            "resources": ["httproutes"],
            "resourceNames": ["model"],
            "verbs": ["patch"],
        },
    ]
    if secrets:
        rules.append(
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": list(secrets), "verbs": ["get"]}
        )
    return rules


def grant(
    testbed: LocalCluster,
    namespace: str,
    name: str,
    rules: list[KubeObject],
    subject: KubeObject,
) -> None:
    """A Role with ``rules`` bound to ``subject`` in ``namespace``, applied by the admin."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [subject],
    }
    bind(testbed, role, binding)


def bind(testbed: LocalCluster, *objects: KubeObject) -> None:
    """Apply RBAC objects as the admin (kubectl apply, from YAML on stdin)."""
    manifest = yaml.safe_dump_all(objects)
    applied = subprocess_apply(testbed, manifest)
    assert applied.returncode == 0, applied.stderr


def subprocess_apply(testbed: LocalCluster, manifest: str) -> subprocess.CompletedProcess[str]:
    """``kubectl apply -f -`` with ``manifest`` on stdin, as the admin."""
    command = [str(testbed.binaries.kubectl), f"--kubeconfig={testbed.kubeconfig}", "apply", "-f", "-"]
    return subprocess.run(command, input=manifest, capture_output=True, text=True, check=False, timeout=60)


def user_subject(name: str) -> KubeObject:
    """A RoleBinding subject for a client-certificate user."""
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def service_account_subject(namespace: str, name: str) -> KubeObject:
    """A RoleBinding subject for a ServiceAccount."""
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}
