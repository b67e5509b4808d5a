"""Install the CRDs the tests and the demo need: ModelRollout, Gateway API (standard channel), KEDA, KServe.

The ModelRollout CRD is read from crds/modelrollout.yaml, the file users apply (``make lint``
checks it matches the models). Gateway API CRDs come from the Go module cache, pinned to
:data:`rollouts.testbed.versions.GATEWAY_API`; nothing third-party is committed. Only the
CustomResourceDefinitions of that folder are installed: its ``safe-upgrades``
ValidatingAdmissionPolicy guards CRD upgrades on long-lived clusters, not a throw-away one.
KEDA's ScaledObject CRD comes the same way, pinned to :data:`rollouts.testbed.versions.KEDA`,
on request only: a test bed without it is a cluster without KEDA, which the controller must
run on too. KServe's InferenceService CRD likewise (:data:`rollouts.testbed.versions.KSERVE`,
the full schema of ``config/crd/full``), on request only; and Istio's VirtualService and
DestinationRule (:data:`rollouts.testbed.versions.ISTIO`, from istio.io/api's generated CRD
file, the other Istio kinds left out), on request only.

Installation waits until each CRD is Established and its resource is served, so the caller can
create objects at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient, ApiextensionsV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

import rollouts
from rollouts.testbed import versions
from rollouts.testbed.binaries import go_module_dir, go_module_file

MODELROLLOUT_CRD = Path(rollouts.__file__).resolve().parent.parent / "crds" / "modelrollout.yaml"
"""The committed ModelRollout CRD (in a source checkout)."""


def gateway_api_crd_files(version: str = versions.GATEWAY_API) -> list[Path]:
    """The standard-channel CRD files of sigs.k8s.io/gateway-api at ``version``."""
    folder = go_module_dir("sigs.k8s.io/gateway-api", version) / "config" / "crd" / "standard"
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no CRD files in {folder}")
    return files


KEDA_MODULE = "github.com/kedacore/keda/v2"
KEDA_SCALED_OBJECT_CRD = "config/crd/bases/keda.sh_scaledobjects.yaml"


def keda_crd_text(version: str = versions.KEDA) -> str:
    """The ScaledObject CRD of KEDA at ``version`` (the kind a rollout names), from the module zip."""
    return go_module_file(KEDA_MODULE, version, KEDA_SCALED_OBJECT_CRD)


KSERVE_MODULE = "github.com/kserve/kserve"
KSERVE_INFERENCE_SERVICE_CRD = "config/crd/full/serving.kserve.io_inferenceservices.yaml"


def kserve_crd_text(version: str = versions.KSERVE) -> str:
    """The InferenceService CRD of KServe at ``version``, full schema, from the module zip."""
    return go_module_file(KSERVE_MODULE, version, KSERVE_INFERENCE_SERVICE_CRD)


ISTIO_MODULE = "istio.io/api"
ISTIO_CRDS = "kubernetes/customresourcedefinitions.gen.yaml"
ISTIO_KINDS = ("VirtualService", "DestinationRule")
"""The Istio kinds a rollout names (a VirtualService's route, a DestinationRule's subsets)."""


def istio_crd_text(version: str = versions.ISTIO) -> str:
    """The VirtualService and DestinationRule CRDs of istio.io/api at ``version``, from the module zip."""
    crds = [
        crd
        for crd in _crds_in(go_module_file(ISTIO_MODULE, version, ISTIO_CRDS))
        if crd["spec"]["names"]["kind"] in ISTIO_KINDS
    ]
    return yaml.safe_dump_all(crds)


def _crds_in(manifest: str) -> list[dict[str, Any]]:
    documents = yaml.safe_load_all(manifest)
    return [
        doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]


def _apply(api: Any, crd: dict[str, Any], timeout: float) -> None:
    """Create the CRD, or replace the one of that name (keeping its resourceVersion).

    A CRD of that name that is being deleted (its custom resources are still being removed) is
    waited out and then created anew: replacing it would install a CRD that vanishes moments
    later, with every object made of it.
    """
    name = crd["metadata"]["name"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            api.create_custom_resource_definition(body=crd)
            return
        except ApiException as error:
            if error.status != 409:
                raise
        try:
            existing = api.read_custom_resource_definition(name)
        except ApiException as error:
            if error.status == 404:
                continue  # deleted since: create it
            raise
        if existing.metadata.deletion_timestamp is None:
            version = existing.metadata.resource_version
            body = {**crd, "metadata": {**crd["metadata"], "resourceVersion": version}}
            api.replace_custom_resource_definition(name, body=body)
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {name} still being deleted after {timeout:.0f}s")
        time.sleep(0.2)


def _established(api: Any, name: str) -> bool:
    crd = api.read_custom_resource_definition(name)
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def _served(client: ApiClient, crd: dict[str, Any]) -> bool:
    """The API server answers a list of the CRD's resource (discovery has caught up)."""
    spec = crd["spec"]
    version = next(v["name"] for v in spec["versions"] if v.get("served", True))
    try:
        CustomObjectsApi(client).list_cluster_custom_object(
            spec["group"], version, spec["names"]["plural"], limit=1
        )
    except ApiException:
        return False
    return True


def install_crds(
    client: ApiClient,
    *,
    modelrollout: bool = True,
    gateway_api: bool = True,
    keda: bool = False,
    kserve: bool = False,
    istio: bool = False,
    files: tuple[Path, ...] = (),
    timeout: float = 60.0,
) -> list[str]:
    """Install (or update) CRDs and wait until each is served; the names of those installed.

    ``modelrollout``: crds/modelrollout.yaml; ``gateway_api``: the Gateway API standard channel
    from the Go module cache; ``keda``: KEDA's ScaledObject, from the module cache too; ``kserve``:
    KServe's InferenceService, the same way; ``istio``: Istio's VirtualService and
    DestinationRule, the same way;
    ``files``: any further CRD manifests.
    """
    paths = list(files)
    if modelrollout:
        paths.append(MODELROLLOUT_CRD)
    if gateway_api:
        paths.extend(gateway_api_crd_files())
    manifests = [path.read_text() for path in paths] + ([keda_crd_text()] if keda else [])
    manifests += [kserve_crd_text()] if kserve else []
    manifests += [istio_crd_text()] if istio else []
    crds = [crd for manifest in manifests for crd in _crds_in(manifest)]
    api = ApiextensionsV1Api(client)
    for crd in crds:
        _apply(api, crd, timeout)
    deadline = time.monotonic() + timeout
    pending = list(crds)
    while pending:
        pending = [
            crd
            for crd in pending
            if not (_established(api, crd["metadata"]["name"]) and _served(client, crd))
        ]
        if pending and time.monotonic() > deadline:
            names = ", ".join(crd["metadata"]["name"] for crd in pending)
            raise TimeoutError(f"CRDs not established after {timeout:.0f}s: {names}")
        if pending:
            time.sleep(0.1)
    return [crd["metadata"]["name"] for crd in crds]
