"""A leader paused mid-write, with real processes: none of its writes lands after its successor's.

Two ``rollouts controller`` processes campaign for one Lease (identities ``a`` and ``b``, short
lease timings) on a test bed of their own that keeps an API server audit log. Two rollouts keep
writing — one with the replicas router (scale writes), one with the Gateway API router (route
writes), both status — because the test approves each gate they reach. Once ``a`` leads and has
written all three kinds, the test approves a gate, waits for ``a``'s status write for it (so ``a``
is on its way to the route and scale writes of that step) and SIGSTOPs ``a``; ``b`` takes the
Lease and writes all three kinds; then ``a`` gets SIGCONT and must notice the lost Lease and exit.

The audit log names the process behind each write (the controller's User-Agent carries its
identity, docs/runtime.md). The property (issue 14): every write of ``a`` that the server accepted
completed before ``b``'s first accepted write to the same object. Whether ``a`` was stopped
between its write guard and its request is luck; the assertion message reports what happened
to ``a``'s writes after it resumed (refused with 409, or never sent because the guard refused).
The per-write cases are proven deterministically in tests/integration/test_ha_preconditions.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HTTP_ROUTES,
    NAMESPACES,
    Kube,
    KubeError,
    PatchType,
    Resource,
    connect,
)
from rollouts.runtime.leader import current_holder
from rollouts.testbed import Binaries, ClusterConfig, LocalCluster, MissingBinariesError, install_crds
from rollouts.testbed.crds import gateway_api_crd_files
from tests.support.need import need
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAMESPACE = "ha"
LEASE = "model-rollouts-controller"
TIMING = ("--lease-duration=6", "--renew-deadline=4", "--retry-period=0.5")
"""Short, but with room for a loaded machine: a leader that misses renewals for 4 s steps down."""
WEIGHTS = (20, 50, 60, 67, 75, 80)
"""With 2 baseline replicas the replicas router gives the candidate 1, 2, 3, 4, 6, 8: each step scales."""
STEPS: list[dict[str, Any]] = [
    *[
        {"setWeight": weight} if kind == "set" else {"approve": {}}
        for weight in WEIGHTS
        for kind in ("set", "gate")
    ],
    {"setWeight": 100},
]
SCALED, ROUTED = "scaled", "routed"
USER_AGENT = re.compile(r"^model-rollouts-controller/\S+ \((?P<identity>[^)]*)\)$")
KINDS = ("status", "route", "scale")
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)


# --- the audit log, read as writes by process ------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One write the audit log recorded, of a controller process."""

    identity: str
    kind: str  # status, route, scale, lease or other
    obj: tuple[str, str, str]  # resource, namespace, name
    code: int
    received: datetime
    completed: datetime

    @property
    def accepted(self) -> bool:
        return self.code < 300


def _kind(ref: dict[str, Any]) -> str:
    resource, subresource = ref.get("resource"), ref.get("subresource")
    if resource == "modelrollouts" and subresource == "status":
        return "status"
    if resource == "httproutes" and subresource is None:
        return "route"
    if resource == "deployments" and subresource == "scale":
        return "scale"
    return "lease" if resource == "leases" else "other"


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def controller_writes(cluster: LocalCluster) -> list[Write]:
    """Every write by a controller process (by its User-Agent) in :data:`NAMESPACE`, in log order."""
    writes = []
    for event in cluster.audit_events():
        agent = USER_AGENT.match(event.get("userAgent", ""))
        ref = event.get("objectRef", {})
        if agent is None or ref.get("namespace") != NAMESPACE:
            continue
        writes.append(
            Write(
                identity=agent["identity"],
                kind=_kind(ref),
                obj=(ref["resource"], ref["namespace"], ref.get("name", "")),
                code=int(event.get("responseStatus", {}).get("code", 0)),
                received=_time(event["requestReceivedTimestamp"]),
                completed=_time(event["stageTimestamp"]),
            )
        )
    return writes


def accepted_kinds(writes: list[Write], identity: str, after: datetime | None = None) -> set[str]:
    """The kinds of which ``identity`` made an accepted write (received after ``after``)."""
    return {
        w.kind
        for w in writes
        if w.identity == identity and w.accepted and (after is None or w.received > after)
    }


def _counts(writes: list[Write], identity: str) -> str:
    """``14 accepted writes (status 5, route 3, scale 4, lease 2, other 0)`` for ``identity``."""
    mine = [w for w in writes if w.identity == identity and w.accepted]
    kinds = ", ".join(f"{kind} {sum(w.kind == kind for w in mine)}" for kind in (*KINDS, "lease", "other"))
    return f"{len(mine)} accepted writes ({kinds})"


def _listed(writes: list[Write], code: int) -> str:
    """``2 (route, scale)``: how many of ``writes`` got ``code`` (any 2xx for 200), and their kinds."""
    matching = [w for w in writes if (w.accepted if code == 200 else w.code == code)]
    return f"{len(matching)} ({', '.join(sorted(w.kind for w in matching)) or 'none'})"


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.1) -> None:
    """Poll ``check`` until it holds; fail, saying what, at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- the pieces: a test bed, the controllers, the approver -----------------------------------


@pytest.fixture
def audited(testbed_binaries: Binaries, tmp_path: Path) -> Iterator[LocalCluster]:
    """A test bed of this test's own, keeping an audit log, with the CRDs installed."""
    try:
        gateway_api_crd_files()
    except MissingBinariesError as missing:  # needs Go, to read the module cache
        need(False, "the Gateway API CRDs", str(missing))
    cluster = LocalCluster(ClusterConfig(log_dir=tmp_path / "testbed-logs", audit_log=True), testbed_binaries)
    with cluster:
        client = cluster.api_client()
        try:
            install_crds(client)
        finally:
            client.close()  # type: ignore[no-untyped-call]
        yield cluster


@contextmanager
def controller(cluster: LocalCluster, identity: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``rollouts controller --leader-elect`` as ``identity`` ($POD_NAME), killed if still running."""
    command = [
        sys.executable,
        "-m",
        "rollouts.cli.main",
        "controller",
        f"--kubeconfig={cluster.kubeconfig}",
        f"--namespace={NAMESPACE}",
        "--leader-elect",
        f"--lease-namespace={NAMESPACE}",
        *TIMING,
        "--log-format=json",
    ]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "POD_NAME": identity},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # a stopped process dies of SIGKILL too
            process.wait(timeout=30)


class Approver:
    """Approves every approve gate the rollouts wait at, while :attr:`on` is set (a thread)."""

    def __init__(self, kube: Kube, names: tuple[str, ...]) -> None:
        self.kube, self.names = kube, names
        self.on = threading.Event()
        self.approved = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def approve_now(self) -> int:
        """Approve the gate each rollout waits at (if any); how many approvals were written."""
        written = 0
        for name in self.names:
            try:
                rollout = self.kube.get(MODEL_ROLLOUTS, name, NAMESPACE)
            except KubeError:
                continue
            step = int(rollout.get("status", {}).get("currentStep") or 0)
            approvals = rollout["spec"].get("approvals") or []
            at_gate = step < len(STEPS) and "approve" in STEPS[step]
            if not at_gate or any(a.get("step") == step for a in approvals):
                continue
            approval = {"step": step, "version": "v2", "requestedAt": format_timestamp(datetime.now(UTC))}
            patch = {"spec": {"approvals": [*approvals, approval]}}
            try:
                self.kube.patch(MODEL_ROLLOUTS, name, patch, PatchType.MERGE, NAMESPACE)
            except KubeError:
                continue  # read again on the next round
            written += 1
        self.approved += written
        return written

    def _run(self) -> None:
        while not self._done.wait(0.2):
            if self.on.is_set():
                self.approve_now()


def _setup(kube: Kube) -> None:
    kube.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
    wait_until(  # pods are refused until the serviceaccount controller made "default"
        "ServiceAccount default", lambda: _exists(kube, SERVICE_ACCOUNTS, "default"), 60
    )
    for name in (SCALED, ROUTED):
        kube.create(DEPLOYMENTS, model_deployment(f"{name}-v1", "v1", replicas=2, app=name), NAMESPACE)
        kube.create(DEPLOYMENTS, model_deployment(f"{name}-v2", "v2", replicas=0, app=name), NAMESPACE)
    kube.create(HTTP_ROUTES, http_route(ROUTED, f"{ROUTED}-v1", f"{ROUTED}-v2"), NAMESPACE)


def _exists(kube: Kube, resource: Resource, name: str) -> bool:
    try:
        kube.get(resource, name, NAMESPACE)
    except KubeError:
        return False
    return True


def _rollout(name: str, *, routed: bool) -> dict[str, Any]:
    return model_rollout(
        name,
        steps=STEPS,
        baseline=(f"{name}-v1", "v1"),
        candidate=(f"{name}-v2", "v2"),
        route=ROUTED if routed else None,
    )


# --- the test --------------------------------------------------------------------------------


def test_a_paused_leader_never_writes_after_its_successor(audited: LocalCluster, tmp_path: Path) -> None:
    logs = {identity: tmp_path / f"controller-{identity}.log" for identity in ("a", "b")}
    with connect(str(audited.kubeconfig)) as kube:
        _setup(kube)
        with (
            controller(audited, "a", logs["a"]) as a,
            Approver(kube, (SCALED, ROUTED)) as approver,
        ):
            wait_until(
                "a to hold the Lease",
                lambda: current_holder(kube, LEASE, NAMESPACE) == "a",
                120,
                interval=0.25,
            )
            with controller(audited, "b", logs["b"]) as b:
                kube.create(MODEL_ROLLOUTS, _rollout(SCALED, routed=False), NAMESPACE)
                kube.create(MODEL_ROLLOUTS, _rollout(ROUTED, routed=True), NAMESPACE)
                wait_until(  # the first step alone writes all three
                    "a to write status, route and scale",
                    lambda: accepted_kinds(controller_writes(audited), "a") >= set(KINDS),
                    180,
                )
                # Pause a mid-step: approve a gate, and stop a right after its status write for it
                # (status goes first; the route and scale writes of the step follow).
                wait_until("a gate to approve", lambda: approver.approve_now() > 0, 120, interval=0.2)
                approved_at = datetime.now(UTC)
                wait_until(
                    "a's status write after the approval",
                    lambda: "status" in accepted_kinds(controller_writes(audited), "a", approved_at),
                    60,
                    interval=0.01,
                )
                os.kill(a.pid, signal.SIGSTOP)
                stopped_at = datetime.now(UTC)
                log_at_stop = logs["a"].stat().st_size
                approver.on.set()  # the rollouts keep moving, under b now
                try:
                    wait_until(
                        "b to take the Lease",
                        lambda: current_holder(kube, LEASE, NAMESPACE) == "b",
                        60,
                        interval=0.1,
                    )
                    wait_until(
                        "b to write status, route and scale",
                        lambda: accepted_kinds(controller_writes(audited), "b") >= set(KINDS),
                        180,
                    )
                finally:
                    approver.on.clear()
                    os.kill(a.pid, signal.SIGCONT)
                resumed_at = datetime.now(UTC)
                try:
                    a_status = a.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    pytest.fail("a, resumed after losing the Lease, did not exit within 60 s")
                assert b.poll() is None, f"b exited ({b.returncode}); log: {logs['b']}"
                assert current_holder(kube, LEASE, NAMESPACE) == "b"
                os.killpg(b.pid, signal.SIGTERM)
                b.wait(timeout=60)

    a_log = logs["a"].read_text(errors="replace")
    assert a_status == 1, f"a exited {a_status}, not 1 (lost the Lease); log: {logs['a']}"
    assert "lost leadership" in a_log[log_at_stop:], f"a's log does not say it lost the Lease: {logs['a']}"
    writes = controller_writes(audited)
    assert {w.identity for w in writes} == {"a", "b"}, "writes not attributed to a and b by User-Agent"

    first_by_b: dict[tuple[str, str, str], datetime] = {}
    for w in writes:
        if w.identity == "b" and w.accepted and w.obj not in first_by_b:
            first_by_b[w.obj] = w.completed
    late = [
        w
        for w in writes
        if w.identity == "a" and w.accepted and w.obj in first_by_b and w.completed >= first_by_b[w.obj]
    ]

    after_resume = [w for w in writes if w.identity == "a" and w.received >= resumed_at]
    in_flight = [w for w in writes if w.identity == "a" and w.received < stopped_at < w.completed]
    refused_by_guard = sum(
        1
        for line in a_log[log_at_stop:].splitlines()
        if "NotLeader" in line or "no longer holds the leader Lease" in line
    )
    report = (
        f"a: {_counts(writes, 'a')} before the pause; in flight at SIGSTOP {len(in_flight)}; "
        f"after SIGCONT: {_listed(after_resume, 409)} sent and refused with 409, "
        f"{_listed(after_resume, 200)} sent and accepted, {refused_by_guard} reconcile(s) stopped by "
        f"the write guard before sending; b: {_counts(writes, 'b')}; gates approved {approver.approved}; "
        f"audit log {audited.audit_log}"
    )
    print(report)  # shown with -s or -rA: the counts, whatever the outcome
    assert late == [], f"a's writes landed after b's first write to the same object: {late}; {report}"
    for kind in KINDS:
        checked = [w for w in writes if w.identity == "a" and w.accepted and w.kind == kind]
        assert any(w.obj in first_by_b for w in checked), f"no {kind} object written by both; {report}"
