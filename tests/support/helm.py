"""The Helm chart (deploy/helm/model-rollouts) for tests: helm itself, rendering, and the shipped
kustomize manifests the chart must reproduce.

helm comes from the test bed's cache (``make testbed`` builds it) or ``TESTBED_HELM``; without it
the tests skip with that fix, and fail under ``CI=true`` (tests/support/need.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient, AuthenticationV1TokenRequest, CoreV1Api, V1TokenRequestSpec

from rollouts.runtime.kube import KubeObject
from rollouts.testbed import LocalCluster, MissingBinariesError, find_helm
from rollouts.testbed.binaries import find_helm3
from tests.support.identities import token_kubeconfig
from tests.support.need import need

REPOSITORY = Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "deploy" / "helm" / "model-rollouts"


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """helm 4, located like the test bed's binaries (a pytest plugin: tests/conftest.py)."""
    return _located(find_helm, "helm")


@pytest.fixture(scope="session")
def helm3_binary() -> Path:
    """Helm 3 (the chart works with 3 and 4), located like helm."""
    return _located(find_helm3, "helm 3")


def _located(find: Callable[[], Path], what: str) -> Path:
    """``find()``'s binary; missing: skipped locally, failed under CI=true (tests/support/need.py)."""
    try:
        return find()
    except MissingBinariesError as missing:
        need(False, what, str(missing))
        raise


def run_helm(
    helm: Path, *arguments: str, kubeconfig: Path | None = None, values: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """``helm ARGUMENTS`` (values, if any, as a values file on stdin), never raising on failure.

    HOME (where client-go keeps its discovery cache) and HELM_CACHE_HOME and friends point into a
    throw-away folder: the chart needs no repository, and a test must not read or write the
    user's ~/.kube or ~/.config/helm (nor, with no HOME at all, a .kube in the working directory).
    """
    command = [str(helm), *arguments]
    if kubeconfig is not None:
        command.append(f"--kubeconfig={kubeconfig}")
    if values is not None:
        command.append("--values=-")
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "model-rollouts-helm-home"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return subprocess.run(
        command,
        input=yaml.safe_dump(values) if values is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env=environment,
    )


def render(
    helm: Path, values: dict[str, Any], release: str = "model-rollouts", namespace: str = "ops"
) -> list[KubeObject]:
    """The objects ``helm template`` renders for ``values`` (the CRD included), in order."""
    rendered = run_helm(
        helm, "template", release, str(CHART), f"--namespace={namespace}", "--include-crds", values=values
    )
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def shipped(*paths: str) -> list[KubeObject]:
    """The objects of kustomize manifests under the repository (the originals, not the chart's copies)."""
    objects: list[KubeObject] = []
    for path in paths:
        objects += [doc for doc in yaml.safe_load_all((REPOSITORY / path).read_text()) if doc]
    return objects


def one(objects: list[KubeObject], kind: str, name: str, namespace: str | None = None) -> KubeObject:
    """The object of that kind and name (and namespace), which must be there exactly once."""
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, (
        f"{len(found)} {kind} {name} in {[(o['kind'], o['metadata']['name']) for o in objects]}"
    )
    return found[0]


def of_kind(objects: list[KubeObject], kind: str) -> list[KubeObject]:
    """Every object of that kind."""
    return [o for o in objects if o["kind"] == kind]


def install(
    helm: Path, testbed: LocalCluster, release: str, namespace: str, values: dict[str, Any], *more: str
) -> subprocess.CompletedProcess[str]:
    """``helm upgrade --install`` of the chart on the test bed, waiting until every object is ready.

    The CRD is the test bed's own (the ``crds`` fixture installed it, and Helm never upgrades a
    CRD), so ``--skip-crds``; kwok plays the kubelet, so the controller pods are Ready at once
    without running anything, and ``--wait`` waits for exactly that.
    """
    return run_helm(
        helm,
        *("upgrade", "--install", release, str(CHART), f"--namespace={namespace}"),
        *("--skip-crds", "--wait", "--timeout=120s", *more),
        kubeconfig=testbed.kubeconfig,
        values=values,
    )


def service_account_token_kubeconfig(
    api_client: ApiClient, testbed: LocalCluster, namespace: str, account: str, folder: Path
) -> Path:
    """A kubeconfig with nothing but a bound token of ServiceAccount ``namespace/account``, from
    the TokenRequest API: every call made with it is authorised by that account's roles alone."""
    request = AuthenticationV1TokenRequest(spec=V1TokenRequestSpec(expiration_seconds=3600))
    answer = CoreV1Api(api_client).create_namespaced_service_account_token(account, namespace, request)
    assert answer.status is not None and answer.status.token, "the TokenRequest API returned no token"
    return token_kubeconfig(testbed, namespace, account, answer.status.token, folder)
