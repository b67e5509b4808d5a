"""Issue 10 item 18 with the real controller: an unusable Secret value becomes a status message.

Before, a bearer token Secret holding bytes that are not UTF-8 raised UnicodeDecodeError on
every reconcile, and the rollout never got a status. Now the controller writes a status whose
message names the field (``spec.analysis.prometheus.bearerTokenSecret.key``) and the problem,
and never the value; nothing in the rollout's status carries the planted bytes.
"""

from __future__ import annotations

import base64
import json

import pytest

from rollouts.controller.shell.prometheus_source import SECRETS
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, Kube
from rollouts.testbed import LocalCluster
from tests.support.controller import rollout_reader, running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

MARKER = "PLANTED-token-bytes-3e9d"
ANALYSIS = {
    "prometheus": {
        "address": "http://127.0.0.1:9",
        "bearerTokenSecret": {"name": "prom-token", "key": "token"},
    },
    "metrics": [
        {
            "name": "errors",
            "errorRate": {
                "errors": 'model_errors_total{version="{{version}}"}',
                "total": 'model_requests_total{version="{{version}}"}',
            },
        }
    ],
}


def test_a_non_utf8_token_is_a_status_message_naming_the_field(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    planted = b"\xff\xfe" + MARKER.encode()
    kube.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prom-token"},
            "data": {"token": base64.b64encode(planted).decode()},
        },
        namespace,
    )
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(
            MODEL_ROLLOUTS,
            model_rollout(
                "model",
                steps=[{"setWeight": 50}, {"analyze": {"duration": "1m"}}],
                route=None,
                analysis=ANALYSIS,
            ),
            namespace,
        )
        got = wait_for(
            read,
            lambda o: "bearerTokenSecret.key" in str(o.get("status", {}).get("message", "")),
            60,
            "a status message naming the Secret's field",
        )
    message = got["status"]["message"]
    assert "spec.analysis.prometheus.bearerTokenSecret.key" in message
    assert "is not UTF-8 text" in message
    status_text = json.dumps(got["status"])
    assert MARKER not in status_text
    assert base64.b64encode(planted).decode() not in status_text
