"""Notifications with the real controller process and real HTTP receivers on loopback.

Each test runs ``rollouts controller`` as a process of its own (its log captured), with the
ConfigMap and Secret model-rollouts-notifications in the test's namespace, and receivers that
record every request: a promotion sends Started and Promoted exactly once; a receiver that
answers 500 gets the same event again until it answers 200; one that is down (port closed) gets
it once it is up; a controller stopped mid-rollout and started again neither drops nor repeats
an event (counted by the X-Model-Rollouts-Event-Id header). URLs and tokens appear in no log
line, status or Event. Tests synchronise on requests received and status changes, never on
time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollouts.api.notifications import NotifierKind
from rollouts.controller.shell.notifier import CONFIG_MAPS, NotifierConfigs, NotifierUnusableError
from rollouts.controller.shell.prometheus_source import SECRETS
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, EVENTS, Kube, KubeObject, PatchType, connect
from rollouts.testbed import LocalCluster
from rollouts.testbed.cluster import free_ports
from tests.integration.test_deploy_controller import controller_process, wait_ready
from tests.support.controller import phase, rollout_reader, wait_for
from tests.support.identities import access, bind, service_account_kubeconfig, wait_allowed
from tests.support.receiver import Received, Receiver, accepted_by_id
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

BASE_RBAC = Path(__file__).resolve().parents[2] / "deploy" / "controller" / "base" / "rbac.yaml"
ACCOUNT = "model-rollouts-controller"

TOKEN = "PLANTED-notify-token-5c1f2e"
PATH_SECRET = "PLANTED-hook-path-9a7b3d"
NAME = "model-rollouts-notifications"


def configure(kube: Kube, namespace: str, notifiers: dict[str, tuple[str, int]]) -> None:
    """The ConfigMap and Secret: each notifier (name → (type, port)) posts to a secret path."""
    listed = [
        {"name": name, "type": kind, "urlKey": f"{name}-url", "tokenKey": "token"}
        for name, (kind, _) in notifiers.items()
    ]
    urls = {f"{name}-url": f"http://127.0.0.1:{port}/{PATH_SECRET}" for name, (_, port) in notifiers.items()}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME}}
    kube.create(CONFIG_MAPS, {**config, "data": {"notifiers.yaml": yaml.safe_dump(listed)}}, namespace)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": NAME}}
    kube.create(SECRETS, {**secret, "stringData": {**urls, "token": TOKEN}}, namespace)


def start_rollout(
    kube: Kube, namespace: str, steps: list[dict[str, Any]], routes: list[dict[str, Any]]
) -> None:
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    rollout = model_rollout("model", steps=steps, route=None, notifications=routes)
    kube.create(MODEL_ROLLOUTS, rollout, namespace)


@contextmanager
def controller(testbed: LocalCluster, namespace: str, log: Path) -> Iterator[None]:
    (health,) = free_ports(1)
    arguments = [
        "controller",
        f"--namespace={namespace}",
        f"--notifications-namespace={namespace}",
        f"--health-port={health}",
        "--log-format=json",
    ]
    with controller_process(arguments, testbed.kubeconfig, log) as process:
        wait_ready(health, process, log)
        yield
    assert process.returncode == 0, log.read_text()


def record(obj: KubeObject, notifier: str) -> dict[str, Any]:
    """status.notifications[] of ``notifier`` ({} when absent)."""
    for entry in obj.get("status", {}).get("notifications", []):
        if entry.get("notifier") == notifier:
            return dict(entry)
    return {}


def sent_through(notifier: str, event_id: str) -> Any:
    return lambda obj: record(obj, notifier).get("throughEventId") == event_id


def of_event(received: list[Received], event: str) -> list[Received]:
    return [request for request in received if request.body.get("event") == event]


def assert_no_credentials(kube: Kube, namespace: str, logs: list[Path]) -> None:
    status = json.dumps(rollout_reader(kube, "model", namespace)().get("status", {}))
    events = json.dumps([event.get("message") for event in kube.list(EVENTS, namespace).items])
    for where, text in [("status", status), ("events", events)] + [(str(p), p.read_text()) for p in logs]:
        assert TOKEN not in text, where
        assert PATH_SECRET not in text, where


def test_a_promotion_sends_started_and_promoted_exactly_once(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    log = tmp_path / "controller.log"
    read = rollout_reader(kube, "model", namespace)
    with Receiver() as audit, Receiver() as slack:
        configure(kube, namespace, {"audit": ("webhook", audit.port), "oncall": ("slack", slack.port)})
        with controller(testbed, namespace, log):
            start_rollout(
                kube,
                namespace,
                [{"setWeight": 50}],
                [
                    {"notifier": "audit", "events": ["Started", "Promoted"]},
                    {"notifier": "oncall", "events": ["Promoted", "RolledBack"]},
                ],
            )
            got = audit.wait(lambda r: len(of_event(r, "Promoted")) >= 1, 90, "Promoted at the audit hook")
            promoted = of_event(got, "Promoted")[0]
            wait_for(read, sent_through("audit", promoted.event_id), 30, "the audit record in status")
            (message,) = slack.wait(lambda r: len(r) >= 1, 30, "the Slack message")
            done = wait_for(read, sent_through("oncall", message.event_id), 30, "the oncall record")
    assert phase(done) == "Succeeded"
    assert [request.body["event"] for request in audit.received] == ["Started", "Promoted"]
    assert accepted_by_id(audit.received) == {request.event_id: 1 for request in audit.received}
    assert promoted.body["rollout"] == {"namespace": namespace, "name": "model"}
    assert (promoted.body["baselineVersion"], promoted.body["candidateVersion"]) == ("v1", "v2")
    assert promoted.headers["Authorization"] == f"Bearer {TOKEN}"
    assert promoted.path == f"/{PATH_SECRET}"
    assert message.event_id == promoted.event_id  # one event, one id, whichever receiver
    assert set(message.body) == {"text", "blocks"}
    assert f"{namespace}/model: v2 promoted" in message.body["text"]
    assert len(slack.received) == 1
    assert_no_credentials(kube, namespace, [log])


def test_a_receiver_answering_500_and_one_down_for_a_while_both_get_the_event(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    log = tmp_path / "controller.log"
    read = rollout_reader(kube, "model", namespace)
    (late_port,) = free_ports(1)  # nothing listens there until the test says so
    with Receiver(answers=[500, 500]) as flaky:
        configure(kube, namespace, {"flaky": ("webhook", flaky.port), "late": ("webhook", late_port)})
        with controller(testbed, namespace, log):
            start_rollout(
                kube,
                namespace,
                [{"setWeight": 50}, {"approve": {}}],
                [{"notifier": "flaky", "events": ["Started"]}, {"notifier": "late", "events": ["Started"]}],
            )
            tries = flaky.wait(lambda r: len(r) >= 3, 60, "two 500s and a retry")
            wait_for(read, sent_through("flaky", tries[0].event_id), 30, "the flaky record")
            wait_for(
                read,
                lambda o: record(o, "late").get("lastError") == "connection failed",
                60,
                "the late notifier's error in status",
            )
            with Receiver(port=late_port) as late:
                (received,) = late.wait(lambda r: len(r) >= 1, 90, "the event once the receiver is up")
                done = wait_for(read, sent_through("late", received.event_id), 30, "the late record")
    assert [request.answered for request in tries] == [500, 500, 200]
    assert {request.event_id for request in tries} == {tries[0].event_id}  # the same id every try
    assert received.event_id == tries[0].event_id
    assert len(late.received) == 1
    assert "lastError" not in record(done, "late")
    assert_no_credentials(kube, namespace, [log])


def test_a_controller_restart_neither_drops_nor_repeats(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    read = rollout_reader(kube, "model", namespace)
    (port,) = free_ports(1)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    configure(kube, namespace, {"audit": ("webhook", port)})
    events = ["Started", "Waiting", "Promoted"]
    with controller(testbed, namespace, logs[0]):
        with Receiver(port=port) as first:
            start_rollout(
                kube,
                namespace,
                [{"setWeight": 50}, {"approve": {}}],
                [{"notifier": "audit", "events": events}],
            )
            got = first.wait(lambda r: len(of_event(r, "Waiting")) >= 1, 90, "Waiting at the gate")
            wait_for(read, sent_through("audit", of_event(got, "Waiting")[0].event_id), 30, "the record")
        # The receiver is down now: the promotion's event cannot be sent before the restart.
        approval = {"step": 1, "version": "v2"}
        kube.patch(MODEL_ROLLOUTS, "model", {"spec": {"approvals": [approval]}}, PatchType.MERGE, namespace)
        wait_for(
            read,
            lambda o: phase(o) == "Succeeded" and record(o, "audit").get("lastError") == "connection failed",
            60,
            "promotion with its event pending",
        )
    with Receiver(port=port) as second, controller(testbed, namespace, logs[1]):
        (promoted,) = second.wait(lambda r: len(r) >= 1, 90, "Promoted after the restart")
        wait_for(read, sent_through("audit", promoted.event_id), 30, "the record after the restart")
    received = first.received + second.received
    assert [request.body["event"] for request in received] == events
    assert accepted_by_id(received) == {request.event_id: 1 for request in received}
    assert len({request.event_id for request in received}) == 3
    assert_no_credentials(kube, namespace, logs)


def test_an_abort_says_who_and_why(testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path) -> None:
    log = tmp_path / "controller.log"
    read = rollout_reader(kube, "model", namespace)
    with Receiver() as oncall:
        configure(kube, namespace, {"oncall": ("webhook", oncall.port)})
        with controller(testbed, namespace, log):
            start_rollout(
                kube,
                namespace,
                [{"setWeight": 50}, {"approve": {}}],
                [{"notifier": "oncall", "events": ["Waiting", "Aborted"]}],
            )
            (waiting,) = oncall.wait(lambda r: len(r) >= 1, 90, "Waiting at the approve step")
            abort = {"reason": "p99 doubled", "requestedBy": "alice@example.com", "version": "v2"}
            kube.patch(MODEL_ROLLOUTS, "model", {"spec": {"abort": abort}}, PatchType.MERGE, namespace)
            aborted = oncall.wait(lambda r: len(r) >= 2, 60, "Aborted")[1]
            wait_for(read, sent_through("oncall", aborted.event_id), 30, "the record")
    assert (waiting.body["event"], waiting.body["step"], waiting.body["weight"]) == ("Waiting", 1, 50)
    assert aborted.body["event"] == "Aborted"
    assert (aborted.body["abortedBy"], aborted.body["abortReason"]) == ("alice@example.com", "p99 doubled")
    assert len(oncall.received) == 2


def test_the_shipped_role_reads_exactly_the_two_named_objects(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """deploy/controller/base: get on the ConfigMap and Secret model-rollouts-notifications only."""
    shipped = [doc for doc in yaml.safe_load_all(BASE_RBAC.read_text()) if doc["metadata"]["name"] == NAME]
    assert {doc["kind"] for doc in shipped} == {"Role", "RoleBinding"}
    token = service_account_kubeconfig(testbed, namespace, ACCOUNT, tmp_path)
    for doc in shipped:
        doc["metadata"]["namespace"] = namespace
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
    bind(testbed, *shipped)
    wait_allowed(token, "get", "configmaps", namespace, name=NAME)
    for resource in ("configmaps", "secrets"):
        assert access(token, "get", resource, namespace, name=NAME)
        assert not access(token, "get", resource, namespace, name="something-else")
        assert not access(token, "list", resource, namespace)
        assert not access(token, "watch", resource, namespace)
        assert not access(token, "update", resource, namespace, name=NAME)
    reader = connect(str(token))
    try:
        configs = NotifierConfigs(reader, namespace)
        with pytest.raises(NotifierUnusableError, match=f"ConfigMap {namespace}/{NAME} not found"):
            configs.target("audit")
        configure(kube, namespace, {"audit": ("webhook", 9)})
        target = configs.target("audit")  # both objects read with the shipped rights alone
    finally:
        reader.close()
    assert target.kind is NotifierKind.WEBHOOK
    assert target.token == TOKEN
    assert TOKEN not in repr(target) and PATH_SECRET not in repr(target)
