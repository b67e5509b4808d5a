"""KServe's own controller on the test bed, in raw (``Standard``) deployment mode.

The manager is KServe's ``cmd/manager`` at :data:`rollouts.testbed.versions.KSERVE`, built from
the Go module by hack/testbed/build.sh (``kserve-manager``). It runs as KServe's Helm chart runs
it, with what it needs and nothing more:

- the CRDs its controllers watch (InferenceService, ServingRuntime, ClusterServingRuntime,
  TrainedModel, InferenceGraph, ClusterStorageContainer), from the module's config/crd/full;
- the ``inferenceservice-config`` ConfigMap of the module's config/configmap, in the ``kserve``
  namespace, with ``defaultDeploymentMode: Standard`` (raw Deployments; no Knative here);
- a serving certificate for its webhook server (which must start), issued by the test bed's
  own CA into a private ``$TMPDIR`` (controller-runtime reads ``$TMPDIR/k8s-webhook-server``).
  No webhook configuration is registered with the API server, so KServe's defaulting and
  validating webhooks do not run: InferenceServices are stored as written.

Decision — raw mode only: serverless mode needs Knative Serving (its CRDs, controller,
activator, autoscaler and a networking layer), which the test bed does not build; the kserve
router's tests stand in for it (docs/kserve.md).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from kubernetes.client import ApiClient

from rollouts.runtime.kube import (
    CONFIG_MAPS,
    INFERENCE_SERVICES,
    NAMESPACES,
    AlreadyExists,
    Kube,
    NotFound,
    PatchType,
)
from rollouts.testbed import versions
from rollouts.testbed.binaries import find_kserve_manager, go_module_dir
from rollouts.testbed.cluster import free_ports
from rollouts.testbed.crds import KSERVE_MODULE, install_crds
from rollouts.testbed.pki import CertificateAuthority
from rollouts.testbed.process import start_process, stop_process

KSERVE_NAMESPACE = "kserve"
CONFIG_MAP = "inferenceservice-config"
MANAGER_CRDS = (
    "config/crd/full/serving.kserve.io_inferenceservices.yaml",
    "config/crd/full/serving.kserve.io_servingruntimes.yaml",
    "config/crd/full/serving.kserve.io_clusterservingruntimes.yaml",
    "config/crd/full/serving.kserve.io_trainedmodels.yaml",
    "config/crd/full/serving.kserve.io_inferencegraphs.yaml",
    "config/crd/full/clusterstoragecontainer/serving.kserve.io_clusterstoragecontainers.yaml",
)
READY_TIMEOUT_SECONDS = 120.0
FINALIZER = "inferenceservice.finalizers"
"""The finalizer KServe's manager puts on each InferenceService it reconciles (v0.20.0,
pkg/controller/v1beta1/inferenceservice/controller.go), and takes off when it has cleaned up."""


def inference_service_config(version: str = versions.KSERVE) -> dict[str, Any]:
    """KServe's own ``inferenceservice-config`` ConfigMap, switched to raw (Standard) mode."""
    text = (go_module_dir(KSERVE_MODULE, version) / "config/configmap/inferenceservice.yaml").read_text()
    (config_map,) = [doc for doc in yaml.safe_load_all(text) if doc and doc.get("kind") == "ConfigMap"]
    deploy = json.loads(config_map["data"]["deploy"])
    deploy["defaultDeploymentMode"] = "Standard"
    config_map["data"]["deploy"] = json.dumps(deploy)
    config_map["metadata"] = {"name": CONFIG_MAP, "namespace": KSERVE_NAMESPACE}
    return dict(config_map)


class KServeController:
    """KServe's manager running against the test bed until :meth:`stop` (a context manager)."""

    def __init__(self, kubeconfig: Path, api_client: ApiClient, kube: Kube, workdir: Path) -> None:
        self._kubeconfig, self._api_client, self._kube, self._workdir = kubeconfig, api_client, kube, workdir
        self._popen: subprocess.Popen[bytes] | None = None
        self.log = workdir / "kserve-manager.log"

    def start(self) -> KServeController:
        """Install what the manager needs, start it, and wait until it reports ready."""
        manager = find_kserve_manager()
        module = go_module_dir(KSERVE_MODULE, versions.KSERVE)
        install_crds(
            self._api_client,
            modelrollout=False,
            gateway_api=False,
            files=tuple(module / path for path in MANAGER_CRDS),
            timeout=300,
        )
        try:
            self._kube.create(NAMESPACES, {"metadata": {"name": KSERVE_NAMESPACE}})
            self._kube.create(CONFIG_MAPS, inference_service_config(), KSERVE_NAMESPACE)
        except AlreadyExists:
            pass  # a second manager on the same test bed reuses them
        tmp = self._workdir / "tmp"
        certs = tmp / "k8s-webhook-server" / "serving-certs"
        certs.mkdir(parents=True, exist_ok=True)
        CertificateAuthority(certs).serving("tls", ["localhost"], ["127.0.0.1"])
        webhook, probe = free_ports(2)
        env = {
            **os.environ,
            "KUBECONFIG": str(self._kubeconfig),
            "TMPDIR": str(tmp),
            "POD_NAMESPACE": KSERVE_NAMESPACE,
        }
        argv = [
            str(manager),
            "--metrics-addr=0",
            f"--health-probe-addr=127.0.0.1:{probe}",
            f"--webhook-port={webhook}",
        ]
        self._popen = start_process(argv, self.log, env=env)
        self._wait_ready(probe)
        return self

    def _wait_ready(self, port: int) -> None:
        popen = self._popen
        assert popen is not None  # started just before
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise RuntimeError(f"kserve-manager exited with {popen.returncode}; see {self.log}")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.2)
        raise TimeoutError(f"kserve-manager not ready after {READY_TIMEOUT_SECONDS:.0f}s; see {self.log}")

    def stop(self) -> None:
        """Stop the manager, then take its finalizer off every InferenceService.

        Its CRDs and objects stay, like KServe's after an uninstall. Its finalizer does not:
        with no manager left to remove it, an InferenceService deleted later (by its test's
        namespace going, or by its CRD's deletion) would never go, and would hold that
        namespace and that CRD in deletion for good; the next install of the CRD on this test
        bed would wait on it (the fresh-clone suite met exactly this).
        """
        if self._popen is None:
            return
        stop_process(self._popen)
        self._popen = None
        self._release_finalizers()

    def _release_finalizers(self) -> None:
        try:
            held = self._kube.list(INFERENCE_SERVICES).items
        except NotFound:
            return  # the CRD is gone, and with it every InferenceService
        for isvc in held:
            finalizers = isvc["metadata"].get("finalizers") or []
            if FINALIZER not in finalizers:
                continue
            path = f"/metadata/finalizers/{finalizers.index(FINALIZER)}"
            release = [{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}]
            name, namespace = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
            with contextlib.suppress(NotFound):  # deleted since the list
                self._kube.patch(INFERENCE_SERVICES, name, release, PatchType.JSON, namespace)

    def __enter__(self) -> KServeController:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
