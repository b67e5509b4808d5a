"""The committed ModelRollout CRD, judged by a real kube-apiserver.

Every malformed rollout of the shared corpus is sent with ``fieldValidation=Strict`` (as the CLI
sends it) and must be refused by the part of the server the corpus names: the OpenAPI
``schema`` (types, bounds, patterns, enums, list keys, unknown fields) or a ``cel`` rule of the
CRD, with the corpus's message. The valid rollout is accepted, and status can be written only
through the status subresource.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from rollouts.api.resource import GROUP, PLURAL, VERSION
from rollouts.testbed import LocalCluster
from rollouts.testbed.crds import MODELROLLOUT_CRD
from tests.cases.rollouts import MALFORMED, Malformed, valid_rollout

pytestmark = pytest.mark.cluster


def _rule_messages(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations", []):
            yield rule["message"]
        for child in node.values():
            yield from _rule_messages(child)
    elif isinstance(node, list):
        for child in node:
            yield from _rule_messages(child)


CEL_MESSAGES = frozenset(_rule_messages(yaml.safe_load(MODELROLLOUT_CRD.read_text())))


def refusals(error: ApiException) -> list[tuple[str, str]]:
    """(``field: message``, schema|cel) for each reason the server gave."""
    body = json.loads(error.body)
    causes = body.get("details", {}).get("causes") or []
    # A strict-decoding refusal (unknown fields) is a 400 whose only detail is the message.
    texts = [f"{cause.get('field', '')}: {cause['message']}" for cause in causes] or [body["message"]]
    return [(text, "cel" if any(text.endswith(m) for m in CEL_MESSAGES) else "schema") for text in texts]


@pytest.fixture
def rollouts_api(api_client: ApiClient, crds: list[str]) -> CustomObjectsApi:
    assert f"{PLURAL}.{GROUP}" in crds
    return CustomObjectsApi(api_client)


def create(api: CustomObjectsApi, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict"
    )
    return result


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_malformed_rollout_is_refused_by_the_api_server(
    rollouts_api: CustomObjectsApi, namespace: str, case: Malformed
) -> None:
    with pytest.raises(ApiException) as refused:
        create(rollouts_api, namespace, case.rollout())
    assert refused.value.status in (400, 422)
    reasons = refusals(refused.value)
    matching = [kind for text, kind in reasons if case.server_message in text]
    assert matching, f"no reason mentions {case.server_message!r}: {reasons}"
    assert case.server in matching, f"refused by {matching}, expected {case.server}: {reasons}"


def test_valid_rollout_is_accepted_as_written(rollouts_api: CustomObjectsApi, namespace: str) -> None:
    sent = valid_rollout(namespace=namespace)
    stored = create(rollouts_api, namespace, sent)
    assert stored["spec"] == sent["spec"]  # nothing pruned, nothing defaulted


def test_status_is_written_only_through_the_status_subresource(
    rollouts_api: CustomObjectsApi, namespace: str
) -> None:
    sent = {**valid_rollout(namespace=namespace), "status": {"phase": "Succeeded"}}
    stored = create(rollouts_api, namespace, sent)
    assert "status" not in stored  # dropped on create

    stored["status"] = {"phase": "Succeeded"}
    updated = rollouts_api.replace_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "fraud-scorer", stored, field_validation="Strict"
    )
    assert "status" not in updated  # dropped on update of the main resource

    patched = rollouts_api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "fraud-scorer",
        {"status": {"phase": "Progressing", "currentStep": 1}},
    )
    assert patched["status"] == {"phase": "Progressing", "currentStep": 1}
    assert patched["metadata"]["generation"] == stored["metadata"]["generation"]

    spec_via_status = rollouts_api.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "fraud-scorer", {"spec": {"paused": True}}
    )
    assert "paused" not in spec_via_status["spec"]  # the status subresource ignores spec


def test_short_name_and_printer_columns(
    testbed: LocalCluster, rollouts_api: CustomObjectsApi, namespace: str
) -> None:
    create(rollouts_api, namespace, valid_rollout(namespace=namespace))
    result = testbed.kubectl("get", "mro", "-n", namespace)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "STEP", "WEIGHT", "VERDICT", "AGE"]
    assert row.split()[0] == "fraud-scorer"
