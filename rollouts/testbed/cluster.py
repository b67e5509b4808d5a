"""A real, local Kubernetes control plane with fake (kwok) nodes, started in seconds.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as separate
processes on loopback ports the OS hands out, each in its own session, with logs in
``log_dir``; they die with the process that started them unless
``ClusterConfig.die_with_owner`` is False (rollouts.testbed.process has the rules). Deployments
roll out through the real controllers and scheduler; kwok plays the kubelet, so pods on its
nodes become Running and Ready without containers, and the scheduler sees each node's
allocatable (``nvidia.com/gpu`` included) exactly as on a real cluster.

Identities are client certificates from the test bed's CA; RBAC authorization stays on, so
``kubeconfig_for("alice", ["oncall"])`` gives a user whose rights are what the test grants.
kube-controller-manager runs every default controller (``--controllers=*``) with its own
credentials (``--use-service-account-credentials=false``), which is why its certificate is in
``system:masters``; namespace deletion, garbage collection, service-account tokens and the
node-lifecycle controller (which lifts the ``not-ready`` taint) all work as on a cluster.

With ``ClusterConfig.audit_log`` the API server keeps an audit log of the writes a controller
makes (:func:`audit_policy`); :meth:`LocalCluster.audit_events` reads it, e.g. to tell which
controller process made each write from its User-Agent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.config import new_client_from_config

from rollouts.api import resource as model_rollout
from rollouts.testbed.binaries import Binaries, find_binaries
from rollouts.testbed.pki import CertificateAuthority, KeyPair, service_account_keys, write_kubeconfig
from rollouts.testbed.process import ProcessRecord, deferred_signals, spawn, stop
from rollouts.testbed.state import SavedTestbed, state_root

GPU = "nvidia.com/gpu"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
AUDIT_LOG = "kube-apiserver-audit.log"
"""The audit log's name in the log folder (with ``ClusterConfig.audit_log``)."""
LOG_TAIL_LINES = 25
KEPT_LOG_DIRS = 10
"""Default log folders (``<state root>/logs/<name>``) kept from earlier test beds."""


class TestbedError(RuntimeError):
    """The test bed could not start (or a component died); the message names the log to read."""

    __test__ = False  # an exception, not a pytest test class


@dataclass(frozen=True)
class NodeSpec:
    """One fake node: its name, allocatable resources and labels."""

    name: str
    cpu: str = "16"
    memory: str = "64Gi"
    pods: int = 110
    gpus: int = 0
    resources: Mapping[str, str] = field(default_factory=dict)
    """Further allocatable resources, e.g. ``{"nvidia.com/mig-1g.10gb": "7"}``."""
    labels: Mapping[str, str] = field(default_factory=dict)

    def allocatable(self) -> dict[str, str]:
        """The node's allocatable (and capacity): cpu, memory, pods, GPUs and ``resources``."""
        allocatable = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}
        if self.gpus:
            allocatable[GPU] = str(self.gpus)
        allocatable.update(self.resources)
        return allocatable

    def manifest(self) -> dict[str, Any]:
        """The Node object; kwok's node-initialize stage keeps the status we give it."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
        }
        if self.gpus:
            labels["nvidia.com/gpu.present"] = "true"
        labels.update(self.labels)
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "status": {"allocatable": self.allocatable(), "capacity": self.allocatable()},
        }


PROJECT_STAGES = tuple(sorted((Path(__file__).parent / "stages").glob("*.yaml")))
"""kwok stages of this project, loaded after kwok's own: pods labelled
``model-rollouts.modelops.io/crash-loop=true`` report a crash-looping container (pod-crash-loop.yaml)."""

DEFAULT_NODES = (
    NodeSpec("kwok-gpu-0", cpu="32", memory="128Gi", gpus=2),
    NodeSpec("kwok-cpu-0"),
)
"""One GPU node (2 × nvidia.com/gpu) and one CPU-only node."""


@dataclass(frozen=True)
class ClusterConfig:
    """How to start a test bed; every field has a default that suits the tests."""

    nodes: tuple[NodeSpec, ...] = DEFAULT_NODES
    name: str = ""
    """Names the folder ``<state root>/<name>``; empty: a unique name."""
    state_root: Path | None = None
    """Default: :func:`rollouts.testbed.state.state_root`."""
    log_dir: Path | None = None
    """Where component logs go and stay after stop; default ``<state root>/logs/<name>``."""
    timeout: float = 90.0
    """Seconds for the whole start, nodes Ready included."""
    die_with_owner: bool = True
    """True: the components die with the process that starts them, even if it is killed outright
    (see rollouts.testbed.process). False for a test bed that outlives its launcher
    (``rollouts testbed up``): only :meth:`LocalCluster.stop` or ``rollouts testbed down`` end it."""
    controller_manager_args: tuple[str, ...] = ()
    """Extra kube-controller-manager flags, e.g. :data:`FLEET_CONTROLLER_MANAGER_ARGS`."""
    audit_log: bool = False
    """Have the API server write an audit log of the controller's writes (:func:`audit_policy`)
    to ``<log dir>/kube-apiserver-audit.log``, read by :meth:`LocalCluster.audit_events`. Off by
    default: every write then costs a line of JSON, which most tests never read."""


def audit_policy() -> dict[str, Any]:
    """An audit.k8s.io/v1 Policy: who wrote what, for the objects a controller writes.

    Level ``Metadata`` (user, User-Agent, verb, object, response code, timestamps; no bodies)
    for create, update, patch and delete of ModelRollouts and their status, Deployments and
    their scale, HTTPRoutes and Leases; nothing for any other request. One event per request,
    at ``ResponseComplete`` (``RequestReceived`` is omitted).
    """
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {
                "level": "Metadata",
                "verbs": ["create", "update", "patch", "delete"],
                "resources": [
                    {
                        "group": model_rollout.GROUP,
                        "resources": [model_rollout.PLURAL, f"{model_rollout.PLURAL}/status"],
                    },
                    {"group": "apps", "resources": ["deployments", "deployments/scale"]},
                    {"group": "gateway.networking.k8s.io", "resources": ["httproutes"]},
                    {"group": "coordination.k8s.io", "resources": ["leases"]},
                ],
            },
            {"level": "None"},
        ],
    }


FLEET_CONTROLLER_MANAGER_ARGS = ("--kube-api-qps=400", "--kube-api-burst=800")
"""For benches that make thousands of pods or Deployments: at kube-controller-manager's default
20 requests a second, 20,000 pods take 17 minutes to appear."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1, as the OS hands them out."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class _Http:
    """Just enough HTTPS to wait for health endpoints and create nodes, before any client exists."""

    def __init__(self, ca: Path, client: KeyPair) -> None:
        self._context = ssl.create_default_context(cafile=str(ca))
        self._context.load_cert_chain(str(client.cert), str(client.key))

    def call(self, url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        """(status, parsed JSON or text); status 0 when nothing answered."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=5) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError):
            return 0, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def node_is_ready(node: Mapping[str, Any]) -> bool:
    """Ready=True and no longer tainted not-ready (only then does the scheduler use it)."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(taint.get("key") == NOT_READY_TAINT for taint in taints)


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` newest subfolders of ``folder`` (old test beds' logs)."""
    if folder.is_dir():
        children = sorted((c for c in folder.iterdir() if c.is_dir()), key=lambda c: c.stat().st_mtime)
        for old in children[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


def _quiet(_message: str) -> None:
    """The default progress callback: say nothing."""


class LocalCluster:
    """A test bed: start it, use its kubeconfig, stop it (also as a context manager)."""

    def __init__(self, config: ClusterConfig | None = None, binaries: Binaries | None = None) -> None:
        self.config = config or ClusterConfig()
        self.name = self.config.name or f"tb-{os.getpid()}-{secrets.token_hex(3)}"
        root = self.config.state_root or state_root()
        self.workdir = root / self.name
        self.log_dir = self.config.log_dir or root / "logs" / self.name
        self._binaries = binaries
        self._records: list[ProcessRecord] = []
        self._owned: dict[int, subprocess.Popen[bytes]] = {}
        self._argv: dict[str, list[str]] = {}
        self._state: SavedTestbed | None = None
        self._http: _Http | None = None

    # ---- use -------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (user ``testbed-admin``, group ``system:masters``)."""
        return self.workdir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        """The API server's URL."""
        if self._state is None:
            raise TestbedError(f"test bed {self.name} is not started")
        return self._state.server

    @property
    def binaries(self) -> Binaries:
        """The binaries this test bed runs (kubectl included)."""
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    @property
    def processes(self) -> tuple[ProcessRecord, ...]:
        """Every component started, in start order."""
        return tuple(self._records)

    def logs(self) -> dict[str, Path]:
        """Each component's log file, by component name."""
        return {record.name: Path(record.log) for record in self._records}

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (written only with ``ClusterConfig.audit_log``)."""
        return self.log_dir / AUDIT_LOG

    def audit_events(self) -> list[dict[str, Any]]:
        """Every audit event written so far, oldest first, as parsed JSON (audit.k8s.io/v1 Event).

        A line the API server is still writing (no newline yet) is left for the next call.
        """
        if not self.config.audit_log:
            raise TestbedError(f"test bed {self.name} keeps no audit log (ClusterConfig.audit_log)")
        try:
            text = self.audit_log.read_text()
        except FileNotFoundError:
            return []
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def api_client(self, kubeconfig: Path | None = None) -> ApiClient:
        """A kubernetes ApiClient for the admin (default) or for any kubeconfig of this test bed."""
        path = str(kubeconfig or self.kubeconfig)
        client: ApiClient = new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]
        return client

    def kubeconfig_for(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for ``user`` in ``groups``, with a client certificate from the test bed CA."""
        digest = hashlib.sha256("\0".join(groups).encode()).hexdigest()[:8]
        stem = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', user)}-{digest}"
        ca = CertificateAuthority(self.workdir / "pki")
        client = ca.client(f"users/{stem}", user, list(groups))
        return write_kubeconfig(
            self.workdir / "users" / f"{stem}.kubeconfig", self.server, ca.pair.cert, client, user
        )

    def kubectl(self, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the test bed's kubectl against it; output captured, exit status not checked."""
        command = [str(self.binaries.kubectl), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    def add_node(self, spec: NodeSpec, timeout: float = 30.0) -> None:
        """Create one more fake node and wait until the scheduler may use it."""
        self._create_node(spec)
        if self._state is not None:
            self._state.nodes.append(spec.name)
            self._state.save()
        self._wait(
            f"node {spec.name} Ready", lambda: self._nodes_ready([spec.name]), time.monotonic() + timeout
        )

    # ---- start and stop --------------------------------------------------------------------

    def start(self, progress: Callable[[str], None] = _quiet) -> LocalCluster:
        """Start every component and wait until all nodes are Ready; on failure stop what started."""
        existing = SavedTestbed.load(self.workdir)
        if existing is not None and existing.running():
            raise TestbedError(f"test bed {self.name!r} is already running (state: {self.workdir})")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        if self.config.log_dir is None:
            _prune(self.log_dir.parent, keep=KEPT_LOG_DIRS)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*.log"):
            old.unlink()
        try:
            self._start(self.binaries, progress)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every recorded process (by PID and start time) and remove the working folder.

        Logs stay in :attr:`log_dir`. Safe to call twice, and after a failed start.
        """
        with deferred_signals():  # a signal now must not leave the folder without its processes
            stop(reversed(self._records), self._owned)
            self._owned.clear()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self, component: str, timeout: float = 60.0) -> None:
        """Stop one component and start it again with the same flags (a fault for tests).

        Its state survives: etcd keeps its data folder, the API server its certificates. Returns
        once the API server answers ``/readyz`` again (for any component: the cluster is usable).
        """
        records = [record for record in self._records if record.name == component]
        if not records or component not in self._argv:
            raise TestbedError(f"test bed {self.name} has no running {component}")
        with deferred_signals():
            stop(records, self._owned)
            self._records = [record for record in self._records if record.name != component]
            for record in records:
                self._owned.pop(record.pid, None)
        self._spawn(component, self._argv[component])
        self._wait(
            "kube-apiserver /readyz", lambda: self._ok(f"{self.server}/readyz"), time.monotonic() + timeout
        )

    def running(self) -> list[ProcessRecord]:
        """The components still alive."""
        return [record for record in self._records if record.is_running()]

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @classmethod
    def attach(cls, name: str, root: Path | None = None) -> LocalCluster | None:
        """The test bed ``name`` that some process started, from its state file; None if none."""
        root = root or state_root()
        saved = SavedTestbed.load(root / name)
        if saved is None:
            return None
        cluster = cls(ClusterConfig(name=name, state_root=root, log_dir=Path(saved.log_dir)))
        cluster._state = saved
        cluster._records = list(saved.processes)
        return cluster

    # ---- internals -------------------------------------------------------------------------

    def _start(self, binaries: Binaries, progress: Callable[[str], None]) -> None:
        began = time.monotonic()
        deadline = began + self.config.timeout
        etcd_port, peer_port, api_port, kcm_port, scheduler_port = free_ports(5)
        pki = self.workdir / "pki"
        ca = CertificateAuthority(pki)
        serving = ca.serving(
            "kube-apiserver",
            [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ["127.0.0.1", KUBERNETES_SERVICE_IP],
        )
        sa = service_account_keys(pki)
        server = f"https://127.0.0.1:{api_port}"
        admin = ca.client("admin", "testbed-admin", ["system:masters"])
        write_kubeconfig(self.kubeconfig, server, ca.pair.cert, admin, "testbed-admin")
        kubeconfigs = {
            # With --use-service-account-credentials=false every controller acts as the
            # controller-manager itself, which the bootstrap role system:kube-controller-manager
            # does not cover; a test bed gives it the masters group instead of per-controller SAs.
            "kube-controller-manager": ca.client(
                "kube-controller-manager", "system:kube-controller-manager", ["system:masters"]
            ),
            # The scheduler's bootstrap role and bindings exist for exactly this user.
            "kube-scheduler": ca.client("kube-scheduler", "system:kube-scheduler", []),
            # kwok writes node and pod status and node leases: a kubelet's rights and more.
            "kwok": ca.client("kwok", "kwok", ["system:masters"]),
        }
        for component, client in kubeconfigs.items():
            write_kubeconfig(
                self.workdir / f"{component}.kubeconfig", server, ca.pair.cert, client, component
            )
        self._http = _Http(ca.pair.cert, admin)
        self._state = SavedTestbed(
            name=self.name,
            workdir=str(self.workdir),
            log_dir=str(self.log_dir),
            server=server,
            kubeconfig=str(self.kubeconfig),
            owner_pid=os.getpid(),
            nodes=[node.name for node in self.config.nodes],
        )
        self._state.save()

        def ready(what: str) -> None:
            progress(f"{what} ({time.monotonic() - began:.1f}s)")

        audit: list[str] = []
        if self.config.audit_log:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(json.dumps(audit_policy(), indent=2))  # JSON is YAML
            audit = [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",  # written as each request completes, not batched
            ]

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(binaries.etcd),
                "--name=testbed",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=testbed={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd /health", lambda: self._ok(f"{etcd_url}/health"), deadline)
        ready("etcd ready")

        self._spawn(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={self.workdir / 'kube-apiserver'}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.pair.cert}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                *audit,
            ],
        )
        self._wait("kube-apiserver /readyz", lambda: self._ok(f"{server}/readyz"), deadline)
        ready("kube-apiserver ready")

        common = ["--bind-address=127.0.0.1", "--leader-elect=false"]
        kcm_config = self.workdir / "kube-controller-manager.kubeconfig"
        kcm_serving = ca.serving("kube-controller-manager-serving", ["localhost"], ["127.0.0.1"])
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries.kube_controller_manager),
                *common,
                f"--kubeconfig={kcm_config}",
                f"--authentication-kubeconfig={kcm_config}",
                f"--authorization-kubeconfig={kcm_config}",
                f"--secure-port={kcm_port}",
                f"--tls-cert-file={kcm_serving.cert}",
                f"--tls-private-key-file={kcm_serving.key}",
                "--controllers=*",
                # kwok renews the fake nodes' leases; an API server restart (a campaign fault)
                # stops that for a while, and the default 50 s grace then marked every node
                # and pod NotReady. Nodes here fail only when a test says so.
                "--node-monitor-grace-period=10m",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={ca.pair.cert}",
                f"--cluster-signing-cert-file={ca.pair.cert}",
                f"--cluster-signing-key-file={ca.pair.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                *self.config.controller_manager_args,
            ],
        )
        scheduler_config = self.workdir / "kube-scheduler.kubeconfig"
        scheduler_serving = ca.serving("kube-scheduler-serving", ["localhost"], ["127.0.0.1"])
        self._spawn(
            "kube-scheduler",
            [
                str(binaries.kube_scheduler),
                *common,
                f"--kubeconfig={scheduler_config}",
                f"--authentication-kubeconfig={scheduler_config}",
                f"--authorization-kubeconfig={scheduler_config}",
                f"--secure-port={scheduler_port}",
                f"--tls-cert-file={scheduler_serving.cert}",
                f"--tls-private-key-file={scheduler_serving.key}",
            ],
        )
        self._spawn(
            "kwok",
            [
                str(binaries.kwok),
                f"--kubeconfig={self.workdir / 'kwok.kubeconfig'}",
                f"--config={binaries.kwok_stages}",
                *(f"--config={stage}" for stage in PROJECT_STAGES),
                "--manage-all-nodes=true",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                "--node-lease-duration-seconds=40",
            ],
        )
        for node in self.config.nodes:
            self._create_node(node)
        self._wait(
            "kube-controller-manager /healthz",
            lambda: self._ok(f"https://127.0.0.1:{kcm_port}/healthz"),
            deadline,
        )
        self._wait(
            "kube-scheduler /healthz",
            lambda: self._ok(f"https://127.0.0.1:{scheduler_port}/healthz"),
            deadline,
        )
        ready("controller-manager and scheduler healthy")
        names = [node.name for node in self.config.nodes]
        self._wait(f"nodes {', '.join(names)} Ready", lambda: self._nodes_ready(names), deadline)
        ready(f"{len(names)} node{'s' if len(names) != 1 else ''} Ready")

    def _spawn(self, name: str, argv: list[str]) -> None:
        # Deferred: a component started is a component recorded, in memory and in the state file.
        with deferred_signals():
            started = spawn(
                name, argv, self.log_dir / f"{name}.log", die_with_owner=self.config.die_with_owner
            )
            self._records.append(started.record)
            self._owned[started.record.pid] = started.popen
            self._argv[name] = list(argv)
            if self._state is not None:
                self._state.processes = list(self._records)
                self._state.save()

    def _ok(self, url: str) -> bool:
        assert self._http is not None
        status, _ = self._http.call(url)
        return status == 200

    def _create_node(self, spec: NodeSpec) -> None:
        assert self._http is not None
        status, body = self._http.call(f"{self.server}/api/v1/nodes", "POST", spec.manifest())
        if status != 201:
            raise TestbedError(f"creating node {spec.name} failed: HTTP {status}: {body}")

    def _nodes_ready(self, names: Sequence[str]) -> bool:
        assert self._http is not None
        status, body = self._http.call(f"{self.server}/api/v1/nodes")
        if status != 200 or not isinstance(body, dict):
            return False
        ready = {item["metadata"]["name"] for item in body.get("items", []) if node_is_ready(item)}
        return set(names) <= ready

    def _wait(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        """Poll ``check`` until true; fail fast, with the log's end, if a component exits."""
        while not check():
            for record in self._records:
                popen = self._owned.get(record.pid)
                code = popen.poll() if popen is not None else None
                if code is not None:
                    raise TestbedError(
                        f"{record.name} exited with status {code} while waiting for {what}; "
                        f"log {record.log} ends with:\n{_log_tail(Path(record.log))}"
                    )
            if time.monotonic() > deadline:
                raise TestbedError(
                    f"timed out after {self.config.timeout:.0f}s waiting for {what}; logs: {self.log_dir}"
                )
            time.sleep(0.1)
