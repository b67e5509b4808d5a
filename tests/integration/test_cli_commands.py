"""The ``rollouts`` commands against a real kube-apiserver and the real controller.

Each command runs as a user would run it — in-process through typer's runner for most, as a
subprocess where the process matters (a pipe instead of a terminal, the kubectl plugin, two
commands racing) — on real ModelRollouts that the real controller (tests.support.controller)
moves through approve gates. No Prometheus: the plans use setWeight and approve steps, which is
all the intents need.
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from rollouts.api.resource import ModelRollout
from rollouts.cli.intents import approvals_patch
from rollouts.cli.kube_options import follow
from rollouts.cli.main import app
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HTTP_ROUTES, Kube, PatchTestFailed, PatchType
from rollouts.testbed import LocalCluster
from tests.support.controller import WeightRecorder, phase, rollout_reader, running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

GATED = [{"setWeight": 20}, {"approve": {}}, {"setWeight": 60}, {"setWeight": 100}]
ROLLOUTS = Path(sys.executable).parent / "rollouts"


def rollouts(kubeconfig: Path, namespace: str, *args: str) -> Result:
    """Run one command in-process, as the given kubeconfig's user, in ``namespace``."""
    return CliRunner().invoke(app, [*args, "--kubeconfig", str(kubeconfig), "-n", namespace])


def rollouts_process(kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one command as a process of its own: its stdout holds nothing but its own output.

    (In-process, a controller running on a thread of the test logs into the same stdout.)
    """
    command = [str(ROLLOUTS), *args, "--kubeconfig", str(kubeconfig), "-n", namespace]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def create_gated_rollout(
    kube: Kube, namespace: str, route: str | None = "model", steps: list[dict[str, Any]] = GATED
) -> None:
    """Baseline, candidate, an HTTPRoute on the baseline, and a rollout with an approve gate at step 1.

    With ``route`` None the rollout uses the replicas router instead of the HTTPRoute.
    """
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=steps, route=route), namespace)


def at_gate(kube: Kube, namespace: str) -> dict[str, Any]:
    return wait_for(
        rollout_reader(kube, "model", namespace),
        lambda o: o.get("status", {}).get("currentStep") == 1,
        60,
        "the approve gate at step 1",
    )


@contextmanager
def stopped_at_gate(
    testbed: LocalCluster, kube: Kube, namespace: str, route: str | None = "model"
) -> Iterator[None]:
    """A rollout the controller took to its approve gate before stopping."""
    create_gated_rollout(kube, namespace, route)
    with running_controller(testbed.kubeconfig, namespace):
        at_gate(kube, namespace)
    yield


def route_weights(kube: Kube, namespace: str) -> dict[str, int]:
    route = kube.get(HTTP_ROUTES, "model", namespace)
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


# --- get -----------------------------------------------------------------------------------------


def test_get_shows_the_table_one_rollout_and_machine_output(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    with stopped_at_gate(testbed, kube, namespace):
        table = rollouts(testbed.kubeconfig, namespace, "get")
        one = rollouts(testbed.kubeconfig, namespace, "get", "model")
        everywhere = rollouts(testbed.kubeconfig, namespace, "get", "-A")
        as_json = rollouts(testbed.kubeconfig, namespace, "get", "-o", "json")
        as_yaml = rollouts(testbed.kubeconfig, namespace, "get", "model", "-o", "yaml")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "PHASE",
        "STEP",
        "WEIGHT",
        "EFFECTIVE",
        "VERDICT",
        "CANDIDATE",
        "AGE",
        "MESSAGE",
    ]
    assert row.split()[:7] == ["model", "Progressing", "1", "approve", "20%", "20%", "—"]
    assert "waiting for approval of step 1" in row
    assert f"{namespace}/model  Progressing   v1 → v2" in one.stdout
    assert "weight 20% (router reports 20%)" in one.stdout
    assert "▶ 1 approve (manual gate)" in one.stdout
    assert "✓ 0 setWeight 20%" in one.stdout
    assert "\x1b" not in one.stdout  # no colour when not on a terminal
    assert any(line.split()[:2] == [namespace, "model"] for line in everywhere.stdout.splitlines())
    listed = yaml.safe_load(as_json.stdout)
    assert (listed["kind"], [item["metadata"]["name"] for item in listed["items"]]) == ("List", ["model"])
    assert yaml.safe_load(as_yaml.stdout)["status"]["currentStep"] == 1


class Lines:
    """The lines a subprocess writes, read on a thread so the test can wait for one without hanging."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self._queue.put(line) for line in stream], daemon=True).start()

    def until(self, text: str, timeout: float = 60) -> list[str]:
        """The next lines, up to the first containing ``text``; AssertionError after ``timeout``."""
        read: list[str] = []
        while not read or text not in read[-1]:
            try:
                read.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout:.0f}s; read: {read}") from None
        return read


CTRL_C_DEFAULT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]
"""Runs a command with SIGINT at its default (kept across exec): see the watch test."""


def test_get_watch_prints_one_plain_line_per_change_into_a_pipe(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    create_gated_rollout(kube, namespace)
    command = [
        str(ROLLOUTS),
        "get",
        "model",
        "--watch",
        "--kubeconfig",
        str(testbed.kubeconfig),
        "-n",
        namespace,
    ]
    # Ctrl-C's signal must reach a default handler: a test run started in the background by a
    # shell without job control inherits SIGINT ignored, and so would the watcher.
    with subprocess.Popen(
        CTRL_C_DEFAULT + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watcher:
        assert watcher.stdout is not None
        assert watcher.stderr is not None
        output = Lines(watcher.stdout)
        try:
            first = output.until("Pending")  # the watch is up before anything moves
            with running_controller(testbed.kubeconfig, namespace):
                at_gate(kube, namespace)
                promoted = rollouts(testbed.kubeconfig, namespace, "promote", "model")
                assert promoted.exit_code == 0, promoted.output
                later = output.until("Succeeded")
        finally:
            watcher.send_signal(signal.SIGINT)
            watcher.wait(timeout=30)
        assert watcher.returncode == 0, watcher.stderr.read()
    lines = first + later
    assert "\x1b" not in "".join(lines)
    assert all(line.split()[1] == f"{namespace}/model" for line in lines), lines
    assert " Pending step — weight — (effective —) verdict —" in lines[0]
    assert any(
        " Progressing step 1 approve weight 20% (effective 20%) verdict —" in line for line in lines
    ), lines
    assert " Succeeded step done weight 100% (effective 100%) verdict —" in lines[-1]
    shown = [line.split(": ", 1)[0].split(" ", 1)[1] for line in lines]
    assert all(before != after for before, after in itertools.pairwise(shown))  # one line per change


def test_following_survives_the_server_ending_each_watch(kube: Kube, namespace: str) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
    feed = follow(kube, namespace, "model", watch_seconds=1)
    assert next(feed).type == "ADDED"
    label = {"metadata": {"labels": {"changed": "after-the-first-watch"}}}
    patch_later = threading.Timer(
        2.5, kube.patch, (MODEL_ROLLOUTS, "model", label, PatchType.MERGE, namespace)
    )
    patch_later.start()
    try:
        changed = next(seen for seen in feed if seen.rollout["metadata"].get("labels"))
    finally:
        patch_later.cancel()
    assert (changed.type, changed.rollout["metadata"]["labels"]) == (
        "MODIFIED",
        {"changed": "after-the-first-watch"},
    )


def test_the_kubectl_plugin_runs_the_same_commands(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
    path = f"{ROLLOUTS.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "KUBECONFIG": str(testbed.kubeconfig)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(testbed.binaries.kubectl), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=60)

    listed = kubectl("modelrollout", "get", "-n", namespace)
    helped = kubectl("modelrollout", "promote", "--help")
    missing = kubectl("modelrollout", "wait", "nope", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:3] == ["model", "Pending", "—"]
    assert "Usage: kubectl modelrollout promote [OPTIONS] {NAME}" in helped.stdout
    assert missing.returncode == 3
    assert "ModelRollout nope not found" in missing.stderr
    assert "kubectl modelrollout get -n" in missing.stderr


# --- promote and wait ----------------------------------------------------------------------------


def test_wait_exits_0_when_the_controller_promotes_after_promote(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    create_gated_rollout(kube, namespace)
    with running_controller(testbed.kubeconfig, namespace):
        gate = rollouts(
            testbed.kubeconfig, namespace, "wait", "model", "--for", "approval", "--timeout", "60s"
        )
        promoted = rollouts(testbed.kubeconfig, namespace, "promote", "model")
        done = rollouts(testbed.kubeconfig, namespace, "wait", "model", "--timeout", "60s")
        late = rollouts(testbed.kubeconfig, namespace, "promote", "model")
    assert gate.exit_code == 0, gate.output
    assert f"{namespace}/model reached approval: waiting for approval of step 1" in gate.stdout
    assert promoted.exit_code == 0, promoted.output
    assert "approved by testbed-admin: passes the approve gate at step 1" in promoted.stdout
    assert done.exit_code == 0, done.output
    assert f"{namespace}/model reached succeeded: Succeeded (Promoted)" in done.stdout
    log = done.stdout.splitlines()
    assert any(" Succeeded step done weight 100% " in line for line in log), done.stdout
    assert late.exit_code == 1
    assert "the rollout has ended (Succeeded, Promoted)" in late.stderr
    approvals = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]["approvals"]
    assert [(a["step"], a["version"], a["requestedBy"]) for a in approvals] == [(1, "v2", "testbed-admin")]


def test_promote_full_approves_every_gate_left_once_confirmed(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    steps = [*GATED[:3], {"analyze": {"duration": "10m"}}, {"approve": {}}, {"setWeight": 100}]
    create_gated_rollout(kube, namespace, steps=steps)
    with running_controller(testbed.kubeconfig, namespace):
        at_gate(kube, namespace)
    unconfirmed = rollouts(testbed.kubeconfig, namespace, "promote", "model", "--full")
    confirmed = rollouts(testbed.kubeconfig, namespace, "promote", "model", "--full", "--yes")
    again = rollouts(testbed.kubeconfig, namespace, "promote", "model", "--full", "--yes")
    assert unconfirmed.exit_code == 3
    assert "Harm found by the analysis still rolls the candidate back" in unconfirmed.stdout
    assert "promote --full needs a confirmation: add --yes when not at a terminal" in unconfirmed.stderr
    assert confirmed.exit_code == 0, confirmed.output
    assert "passes analyze step 3 without waiting for a PASS" in confirmed.stdout
    assert again.exit_code == 0
    assert "already approved" in again.stdout
    approvals = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]["approvals"]
    assert [approval["step"] for approval in approvals] == [1, 3, 4]


def test_wait_exits_1_after_an_abort_and_2_on_timeout(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    create_gated_rollout(kube, namespace)
    with running_controller(testbed.kubeconfig, namespace):
        at_gate(kube, namespace)
        timed_out = rollouts(testbed.kubeconfig, namespace, "wait", "model", "--timeout", "2s")
        aborted = rollouts(testbed.kubeconfig, namespace, "abort", "model", "--reason", "p99 alarm")
        waited = rollouts_process(
            testbed.kubeconfig, namespace, "wait", "model", "--timeout", "60s", "-o", "json"
        )
    assert timed_out.exit_code == 2, timed_out.output
    assert f"timed out after 2s waiting for {namespace}/model to reach succeeded" in timed_out.stderr
    assert aborted.exit_code == 0, aborted.output
    assert (
        f"abort of {namespace}/model (candidate v2) requested by testbed-admin: p99 alarm" in aborted.stdout
    )
    assert waited.returncode == 1, waited.stderr
    assert f"{namespace}/model: Aborted (Aborted): aborted by testbed-admin: p99 alarm" in waited.stderr
    assert yaml.safe_load(waited.stdout)["status"]["phase"] == "Aborted"  # -o json: the final object


def test_wait_exits_3_for_a_missing_rollout_a_user_without_rights_and_no_cluster(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED), namespace)
    missing = rollouts(testbed.kubeconfig, namespace, "wait", "nope")
    stranger = testbed.kubeconfig_for("stranger", groups=[])
    refused = rollouts(stranger, namespace, "wait", "model")
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(testbed.kubeconfig.read_text().replace(testbed.server, "https://127.0.0.1:1"))
    nowhere = rollouts(unreachable, namespace, "wait", "model")
    typo = rollouts(testbed.kubeconfig, namespace, "wait", "model", "--for", "done")
    assert (missing.exit_code, refused.exit_code, nowhere.exit_code, typo.exit_code) == (3, 3, 3, 3)
    assert f"ModelRollout nope not found in namespace {namespace}" in missing.stderr
    assert (
        f"forbidden to get modelrollouts.rollouts.modelops.io model in namespace {namespace}"
        in refused.stderr
    )
    assert 'User "stranger" cannot get resource "modelrollouts"' in refused.stderr
    assert "no cluster reachable" in nowhere.stderr
    assert "Invalid value for '--for': 'done': expected one of succeeded" in typo.output


# --- abort ---------------------------------------------------------------------------------------


def test_abort_direct_stops_traffic_while_the_controller_is_down(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    with stopped_at_gate(testbed, kube, namespace):
        assert route_weights(kube, namespace) == {"model-v1": 80, "model-v2": 20}
        aborted = rollouts(
            testbed.kubeconfig, namespace, "abort", "model", "--reason", "bad scores", "--direct"
        )
        assert aborted.exit_code == 0, aborted.output
        assert route_weights(kube, namespace) == {"model-v1": 100, "model-v2": 0}  # at once, no controller
        reset = (
            f"HTTPRoute {namespace}/model now sends 100% to model-v1 and 0% to model-v2, "
            "with no mirror or header route (it sent 20%)"
        )
        assert f"--direct: {reset}" in aborted.stdout
        before = kube.get(MODEL_ROLLOUTS, "model", namespace)
        assert before["status"]["phase"] == "Progressing"  # status is the controller's to write
        with (
            WeightRecorder(kube, "model", namespace, "model-v2") as recorder,
            running_controller(testbed.kubeconfig, namespace),
        ):
            after = wait_for(
                rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Aborted", 30, "abort"
            )
    assert recorder.weights == [0]  # the controller agreed: it never sent traffic back
    assert after["status"]["weight"] == 0
    assert after["status"]["outcome"]["message"] == "aborted by testbed-admin: bad scores"
    assert route_weights(kube, namespace) == {"model-v1": 100, "model-v2": 0}


def test_abort_direct_removes_mirror_and_header_route_while_the_controller_is_down(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    canary = {"name": "x-canary", "value": "internal"}
    steps: list[dict[str, Any]] = [
        {"setMirror": 50},
        {"setHeaderRoute": {"match": [canary]}},
        {"approve": {}},
        {"setWeight": 100},
    ]
    create_gated_rollout(kube, namespace, steps=steps)
    with running_controller(testbed.kubeconfig, namespace):
        gate = wait_for(
            rollout_reader(kube, "model", namespace),
            lambda o: o.get("status", {}).get("currentStep") == 2,
            60,
            "the approve gate at step 2",
        )
    assert (gate["status"]["weight"], gate["status"]["mirror"]) == (0, 50)
    assert gate["status"]["headerRoute"]["match"][0]["name"] == "x-canary"
    rules = kube.get(HTTP_ROUTES, "model", namespace)["spec"]["rules"]
    assert [rule.get("name") for rule in rules] == [None, "model-rollouts-headers-0"]
    assert rules[0]["filters"][0]["requestMirror"]["percent"] == 50
    shown = rollouts(testbed.kubeconfig, namespace, "get", "model")
    assert "mirror 50% of requests, header route x-canary=internal" in shown.stdout

    aborted = rollouts(testbed.kubeconfig, namespace, "abort", "model", "--reason", "bad", "--direct")
    assert aborted.exit_code == 0, aborted.output
    assert "with no mirror or header route (it sent 0%)" in aborted.stdout
    rules = kube.get(HTTP_ROUTES, "model", namespace)["spec"]["rules"]
    assert len(rules) == 1 and "filters" not in rules[0]  # at once, no controller
    with running_controller(testbed.kubeconfig, namespace):
        after = wait_for(
            rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Aborted", 30, "abort"
        )
    assert after["status"].get("mirror") is None and after["status"].get("headerRoute") is None
    rules = kube.get(HTTP_ROUTES, "model", namespace)["spec"]["rules"]
    assert len(rules) == 1 and "filters" not in rules[0]


def test_abort_direct_without_a_mesh_scales_the_candidate_to_zero(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    with stopped_at_gate(testbed, kube, namespace, route=None):
        assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] == 1
        aborted = rollouts(testbed.kubeconfig, namespace, "abort", "model", "--reason", "OOM", "--direct")
        assert aborted.exit_code == 0, aborted.output
        assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] == 0  # at once, no controller
        assert f"--direct: Deployment {namespace}/model-v2 scaled to 0 replicas" in aborted.stdout
        with running_controller(testbed.kubeconfig, namespace):
            after = wait_for(
                rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Aborted", 30, "abort"
            )
    assert after["status"]["weight"] == 0
    assert kube.get(DEPLOYMENTS, "model-v2", namespace)["spec"]["replicas"] == 0


def test_abort_wins_a_race_with_promote(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    with stopped_at_gate(testbed, kube, namespace):
        common = ["--kubeconfig", str(testbed.kubeconfig), "-n", namespace]
        racers = [
            subprocess.Popen(
                [str(ROLLOUTS), *command, *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for command in (["promote", "model"], ["abort", "model", "--reason", "race"])
        ]
        promote, abort = (racer.wait(timeout=60) for racer in racers)
        assert abort == 0
        assert promote in (0, 1)  # 1: it read the abort first and said so
        with running_controller(testbed.kubeconfig, namespace):
            after = wait_for(
                rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Aborted", 30, "abort"
            )
    assert after["status"]["weight"] == 0
    assert route_weights(kube, namespace) == {"model-v1": 100, "model-v2": 0}


def test_approvals_from_one_read_never_overwrite_each_other(kube: Kube, namespace: str) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=[*GATED, {"approve": {}}]), namespace)
    seen = ModelRollout.from_wire(kube.get(MODEL_ROLLOUTS, "model", namespace))
    now = datetime.now(UTC)
    first, second = (approvals_patch(seen, [step], who, now) for step, who in ((1, "ann"), (4, "ben")))
    kube.patch(MODEL_ROLLOUTS, "model", first, PatchType.JSON, namespace)
    with pytest.raises(PatchTestFailed):  # the second click read the same spec: re-read and rebuild
        kube.patch(MODEL_ROLLOUTS, "model", second, PatchType.JSON, namespace)
    fresh = ModelRollout.from_wire(kube.get(MODEL_ROLLOUTS, "model", namespace))
    kube.patch(MODEL_ROLLOUTS, "model", approvals_patch(fresh, [4], "ben", now), PatchType.JSON, namespace)
    approvals = kube.get(MODEL_ROLLOUTS, "model", namespace)["spec"]["approvals"]
    assert [(a["step"], a["requestedBy"]) for a in approvals] == [(1, "ann"), (4, "ben")]


# --- retry, pause, resume ------------------------------------------------------------------------


def test_retry_starts_an_aborted_rollout_over(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    create_gated_rollout(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        at_gate(kube, namespace)
        assert rollouts(testbed.kubeconfig, namespace, "abort", "model", "--reason", "oops").exit_code == 0
        first = wait_for(read, lambda o: phase(o) == "Aborted", 30, "the abort")
        retried = rollouts(testbed.kubeconfig, namespace, "retry", "model")
        again = wait_for(
            read,
            lambda o: o["status"].get("retriedAt") and o["status"].get("currentStep") == 1,
            60,
            "the retry",
        )
        twice = rollouts(testbed.kubeconfig, namespace, "retry", "model")
    assert retried.exit_code == 0, retried.output
    assert "abort" not in again["spec"]
    assert again["spec"]["retry"]["requestedBy"] == "testbed-admin"
    assert phase(again) == "Progressing"
    assert again["status"]["startedAt"] > first["status"]["startedAt"]
    assert twice.exit_code == 1
    assert "nothing to retry: the rollout of v2 has not ended (phase Progressing)" in twice.stderr


def test_pause_holds_and_resume_goes_on(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    create_gated_rollout(kube, namespace)
    with running_controller(testbed.kubeconfig, namespace):
        at_gate(kube, namespace)
        paused = rollouts(testbed.kubeconfig, namespace, "pause", "model")
        waited = rollouts(
            testbed.kubeconfig, namespace, "wait", "model", "--for", "paused", "--timeout", "30s"
        )
        shown = rollouts(testbed.kubeconfig, namespace, "get", "model")
        resumed = rollouts(testbed.kubeconfig, namespace, "resume", "model")
        resumed_again = rollouts(testbed.kubeconfig, namespace, "resume", "model")
        going = rollouts(
            testbed.kubeconfig, namespace, "wait", "model", "--for", "approval", "--timeout", "30s"
        )
    assert (paused.exit_code, waited.exit_code, resumed.exit_code, going.exit_code) == (0, 0, 0, 0)
    assert f"{namespace}/model paused" in paused.stdout
    assert f"{namespace}/model reached paused: paused at step 1 (analysis keeps running)" in waited.stdout
    assert "paused (spec.paused): progress waits; analysis keeps running" in shown.stdout
    assert f"{namespace}/model resumed" in resumed.stdout
    assert f"{namespace}/model was already resumed" in resumed_again.stdout
    assert f"{namespace}/model reached approval: waiting for approval of step 1" in going.stdout
