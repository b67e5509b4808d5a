"""Pytest plugin: the local Kubernetes test bed as fixtures, and a check that none is left running.

Fixtures:

- ``testbed_binaries`` (session): the located binaries (for tests that start their own);
- ``testbed`` (session): a started :class:`~rollouts.testbed.LocalCluster` with one GPU node
  (2 × nvidia.com/gpu) and one CPU node, both Ready;
- ``api_client`` (session): a kubernetes ApiClient for its admin;
- ``kube`` (session): a :class:`~rollouts.runtime.kube.Kube` client for its admin;
- ``crds`` (session): the ModelRollout and Gateway API CRDs installed, their names;
- ``namespace`` (per test): a fresh namespace whose ``default`` ServiceAccount exists, deleted
  after the test.

Tests using any of them get the ``cluster`` marker, so ``-m "not cluster"`` leaves them out.
Without the binaries they skip with the fix (``make testbed``); under ``CI=true`` they fail.

Unless the caller chose a state directory (hack/run-tests.sh does), the session gets a fresh
one, so that every test bed started during the run, by the fixtures or by a ``rollouts testbed
up`` subprocess, is found at the end. A test bed process still running when the session ends
fails the run (and is stopped); a failed test's report names the component logs.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, ApiextensionsV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from rollouts.runtime.kube import Kube, connect
from rollouts.testbed import (
    STATE_DIR_VARIABLE,
    Binaries,
    ClusterConfig,
    LocalCluster,
    MissingBinariesError,
    find_binaries,
    find_leftovers,
    install_crds,
    stop_leftovers,
    versions,
)
from rollouts.testbed.crds import gateway_api_crd_files
from tests.support.need import need

CLUSTER_FIXTURES = frozenset({"testbed_binaries", "testbed", "api_client", "crds", "namespace"})
_OWN_STATE_DIR = pytest.StashKey[Path]()
_started: list[LocalCluster] = []


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(STATE_DIR_VARIABLE):
        root = Path(tempfile.mkdtemp(prefix="model-rollouts-testbed-"))
        os.environ[STATE_DIR_VARIABLE] = str(root)
        config.stash[_OWN_STATE_DIR] = root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


def missing_problem(check: Callable[[], object]) -> str:
    """Why ``check`` cannot find what it looks for (its error message); empty if it can."""
    try:
        check()
    except MissingBinariesError as missing:
        return str(missing)
    return ""


@pytest.fixture(scope="session")
def testbed_binaries() -> Binaries:
    problem = missing_problem(find_binaries)
    need(not problem, "the local Kubernetes test bed", problem)
    return find_binaries()


@pytest.fixture(scope="session")
def testbed(testbed_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(ClusterConfig(log_dir=tmp_path_factory.mktemp("testbed-logs")), testbed_binaries)
    _started.append(cluster)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def api_client(testbed: LocalCluster) -> Iterator[ApiClient]:
    client = testbed.api_client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def kube(testbed: LocalCluster) -> Iterator[Kube]:
    with connect(str(testbed.kubeconfig)) as client:
        yield client


@pytest.fixture(scope="session")
def crds(api_client: ApiClient) -> list[str]:
    problem = missing_problem(gateway_api_crd_files)  # needs Go, to read the module cache
    need(not problem, f"the Gateway API {versions.GATEWAY_API} CRDs", problem)
    return install_crds(api_client)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api_client: ApiClient) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{secrets.token_hex(3)}"
    core = CoreV1Api(api_client)
    core.create_namespace(body={"metadata": {"name": name, "labels": {"testbed.modelops.io/test": "true"}}})
    deadline = time.monotonic() + 30
    while True:  # pods are refused until the serviceaccount controller made "default"
        try:
            core.read_namespaced_service_account("default", name)
            break
        except ApiException as error:
            if error.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if report.failed and _started and CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
        cluster = _started[-1]
        lines = [f"{name}: {path}" for name, path in cluster.logs().items()]
        report.sections.append(("test bed logs", f"component logs in {cluster.log_dir}\n" + "\n".join(lines)))
    return report


@pytest.hookimpl(trylast=True)  # after pytest's own sessionfinish has torn the fixtures down
def pytest_sessionfinish(session: pytest.Session) -> None:
    own_root = session.config.stash.get(_OWN_STATE_DIR, None)
    found = {
        record.pid: record
        for cluster in _started
        for record in find_leftovers(cluster.workdir, list(cluster.processes))
    }
    if own_root is not None:
        found.update({record.pid: record for record in find_leftovers(own_root)})
    leftovers = list(found.values())
    if leftovers:
        stop_leftovers(leftovers)
        names = ", ".join(f"{record.name} (pid {record.pid})" for record in leftovers)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"test-bed processes were left running after the tests (now stopped): {names}"
        if reporter is not None:
            reporter.write("\n")
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if own_root is not None:
        shutil.rmtree(own_root, ignore_errors=True)
        os.environ.pop(STATE_DIR_VARIABLE, None)


def crds_for_a_module(
    api_client: ApiClient, what: str, source: Callable[[], object], **install: bool
) -> Iterator[list[str]]:
    """Third-party CRDs installed for one module's tests and deleted after them, so the modules
    after it run on a cluster without them again. ``source`` reads the CRDs (it needs Go, for
    the module cache): missing, the tests fail under CI=true. A CRD still being deleted when
    another module installs it is waited out by install_crds."""
    problem = missing_problem(source)
    need(not problem, what, problem)
    names = install_crds(api_client, modelrollout=False, gateway_api=False, **install)
    yield names
    for name in names:
        ApiextensionsV1Api(api_client).delete_custom_resource_definition(name)
