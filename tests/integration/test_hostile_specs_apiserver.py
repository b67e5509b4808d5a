"""The hostile-spec corpus against a real kube-apiserver: each manifest is refused at its field.

Every case of :data:`tests.cases.hostile.HOSTILE` is created with ``fieldValidation=Strict`` (as
the CLI and kubectl send it) in the committed CRD, and must be refused with a cause that names
the case's field — the same field ``rollouts lint`` names (tests/unit/test_hostile_specs.py),
or, where the server reports the enclosing map or list, the field the corpus records for it.
No case is left to the controller: all of them are expressible in the schema and CEL rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from rollouts.api.resource import GROUP, PLURAL, VERSION
from tests.cases.hostile import HOSTILE, Hostile

pytestmark = pytest.mark.cluster

_UNKNOWN_FIELD = re.compile(r'unknown field "([^"]+)"')


def refused_fields(error: ApiException) -> list[tuple[str, str]]:
    """(field, message) for each reason the server gave; strict decoding names fields in its text."""
    body: dict[str, Any] = json.loads(error.body or "{}")
    causes = body.get("details", {}).get("causes") or []
    found = [(str(cause.get("field", "")), str(cause.get("message", ""))) for cause in causes]
    texts = [body.get("message", "")] + [message for _, message in found]
    found += [(field, text) for text in texts for field in _UNKNOWN_FIELD.findall(text)]
    return found


def names(field: str, wanted: str) -> bool:
    """The server names ``wanted`` itself, or a key inside it (strict decoding, on an object
    written where a number belongs, reports the object's unknown key)."""
    return field == wanted or field.startswith((f"{wanted}.", f"{wanted}["))


@pytest.fixture
def rollouts_api(api_client: ApiClient, crds: list[str]) -> CustomObjectsApi:
    assert f"{PLURAL}.{GROUP}" in crds
    return CustomObjectsApi(api_client)


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.name)
def test_hostile_rollout_is_refused_at_its_field(
    rollouts_api: CustomObjectsApi, namespace: str, case: Hostile
) -> None:
    with pytest.raises(ApiException) as refused:
        rollouts_api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, case.rollout(), field_validation="Strict"
        )
    assert refused.value.status in (400, 422), refused.value.body
    reasons = refused_fields(refused.value)
    assert any(names(field, case.server_field) for field, _ in reasons), (
        f"no reason names {case.server_field}: {reasons}"
    )
