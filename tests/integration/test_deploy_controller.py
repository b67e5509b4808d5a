"""deploy/controller on a real API server: the controller runs with exactly the shipped roles.

The manifests are applied as shipped (``kubectl apply -k deploy/controller``, and an overlay
that only sets the namespace of ``deploy/controller/namespaced``, as its comment tells users
to). The controller then runs as a process of its own, with the arguments of the shipped
Deployment and a token of the shipped ServiceAccount, and must take a rollout to the end: its
roles cover start-up (no CustomResourceDefinition read), informers, status, scaling, the
HTTPRoute, Events and the leader-election Lease.

Pod Security "restricted", enforced by the shipped namespace, must admit the shipped pod (kwok
plays the kubelet, so the pods are fake; the admission is the API server's own). And the
controller's HTTP ports: ``/metrics`` on loopback only, the probes on every interface.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml

from rollouts.controller.shell.app import serves
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import ISTIO_ROUTE, http_route, model_deployment, virtual_service
from rollouts.local.stack import ISTIO_DESTINATIONS, ISTIO_TRAFFIC
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    EVENTS,
    HORIZONTAL_POD_AUTOSCALERS,
    HTTP_ROUTES,
    LEASES,
    NAMESPACES,
    PODS,
    VIRTUAL_SERVICES,
    Forbidden,
    Kube,
    KubeObject,
    Resource,
    connect,
)
from rollouts.testbed import LocalCluster
from rollouts.testbed.cluster import free_ports
from rollouts.testbed.crds import install_crds
from rollouts.traffic.istio import istio_routing
from tests.integration.test_cli_commands import ROLLOUTS, route_weights
from tests.support.controller import phase, rollout_reader, wait_for
from tests.support.identities import access, service_account_kubeconfig, wait_allowed
from tests.support.need import need
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

REPOSITORY = Path(__file__).resolve().parents[2]
CONTROLLER = REPOSITORY / "deploy" / "controller"
NAMESPACED = CONTROLLER / "namespaced"
HOME = "model-rollouts"  # the namespace deploy/controller installs into
ACCOUNT = "model-rollouts-controller"
SELECTOR = "app.kubernetes.io/name=model-rollouts-controller"


@pytest.fixture(scope="module")
def installed(testbed: LocalCluster, crds: list[str]) -> Iterator[KubeObject]:
    """deploy/controller applied as shipped; its rendered Deployment."""
    applied = testbed.kubectl("apply", "-k", str(CONTROLLER))
    assert applied.returncode == 0, applied.stderr
    yield rendered_deployment(testbed, CONTROLLER)
    testbed.kubectl("delete", "-k", str(CONTROLLER), "--wait=false")


def rendered_deployment(testbed: LocalCluster, kustomization: Path) -> KubeObject:
    """The Deployment of a kustomization, as ``kubectl apply -k`` sends it."""
    built = testbed.kubectl("kustomize", str(kustomization))
    assert built.returncode == 0, built.stderr
    return next(doc for doc in yaml.safe_load_all(built.stdout) if doc["kind"] == "Deployment")


def shipped_arguments(deployment: KubeObject, namespace: str, metrics: int, health: int) -> list[str]:
    """The controller container's args, as the kubelet would run them in ``namespace``.

    ``$(POD_NAMESPACE)`` is expanded; the two ports become free ones (several test runs share
    the machine), every other argument stays as shipped.
    """
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {"--metrics-port=": metrics, "--health-port=": health}
    arguments = []
    for shipped in container["args"]:
        argument = shipped.replace("$(POD_NAMESPACE)", namespace)
        for flag, port in ports.items():
            if argument.startswith(flag):
                argument = f"{flag}{port}"
        arguments.append(argument)
    assert {a.split("=")[0] for a in arguments} >= {"--metrics-port", "--health-port", "--leader-elect"}
    return arguments


@contextmanager
def controller_process(
    arguments: list[str], kubeconfig: Path, log: Path, program: Sequence[str] = (str(ROLLOUTS),)
) -> Iterator[subprocess.Popen[bytes]]:
    """``rollouts controller`` with ``arguments`` as a process, stopped with SIGTERM at the end.

    ``program`` runs ``rollouts``: the installed command, or a command line that runs it in the
    controller image."""
    env = {**os.environ, "POD_NAME": "test-controller"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*program, *arguments, "--kubeconfig", str(kubeconfig)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def http_status(url: str) -> int | str:
    """The HTTP status of a GET, or why there was none."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError) as error:
        return f"unreachable: {getattr(error, 'reason', error)}"


def wait_ready(health: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the controller's /readyz says 200 (leading, caches synced)."""

    def probe() -> KubeObject:
        assert process.poll() is None, f"the controller exited {process.returncode}:\n{log.read_text()}"
        return {"status": http_status(f"http://127.0.0.1:{health}/readyz")}

    wait_for(probe, lambda o: o["status"] == 200, 60, "the controller to be ready")


def app_with_a_rollout(kube: Kube, namespace: str) -> None:
    """Baseline (2 replicas) under an HPA, candidate (0), an HTTPRoute on the baseline, a
    one-step rollout that hands the HPA over (so the roles' autoscaler rules are exercised)."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "model-v1"}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "model"},
        "spec": {"scaleTargetRef": target, "minReplicas": 2, "maxReplicas": 4},
    }
    kube.create(HORIZONTAL_POD_AUTOSCALERS, hpa, namespace)
    autoscaler = {"kind": "HorizontalPodAutoscaler", "name": "model"}
    kube.create(
        MODEL_ROLLOUTS, model_rollout("model", steps=[{"setWeight": 50}], autoscaler=autoscaler), namespace
    )


def assert_rolled_out(kube: Kube, namespace: str, log: Path) -> None:
    """The rollout promoted: status, route weights and Events all written by the controller."""
    wait_for(rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Succeeded", 90, "promotion")
    wait_for(
        lambda: {"weights": route_weights(kube, namespace)},
        lambda o: o["weights"] == {"model-v1": 0, "model-v2": 100},
        30,
        "the route to follow",
    )
    wait_for(
        lambda: kube.get(HORIZONTAL_POD_AUTOSCALERS, "model", namespace),
        lambda o: o["spec"]["scaleTargetRef"]["name"] == "model-v2",
        30,
        "the HPA moved to the candidate",
    )
    events = kube.list(EVENTS, namespace).items
    assert any(e.get("involvedObject", {}).get("kind") == "ModelRollout" for e in events)
    # An RBAC refusal names the user; other 403s (a namespace being deleted by another test,
    # seen by a controller watching every namespace) are not about the roles.
    refused = [line for line in log.read_text().splitlines() if "system:serviceaccount:" in line]
    assert refused == [], "\n".join(refused)


def test_the_controller_pod_is_admitted_under_pod_security_restricted(
    testbed: LocalCluster, kube: Kube, installed: KubeObject
) -> None:
    namespace = kube.get(NAMESPACES, HOME)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # The enforcement is real: a pod without the restricted settings is refused here.
    plain = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    with pytest.raises(Forbidden, match="violates PodSecurity"):
        kube.create(PODS, plain, HOME, dry_run=True)
    replicas = installed["spec"]["replicas"]
    pods = wait_for(
        lambda: {"items": kube.list(PODS, HOME, label_selector=SELECTOR).items},
        lambda o: len(o["items"]) == replicas,
        60,
        "the controller's pods to be admitted",
    )
    for pod in pods["items"]:
        security = pod["spec"]["securityContext"]
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert security["runAsNonRoot"] is True
    deployment = kube.get(DEPLOYMENTS, installed["metadata"]["name"], HOME)
    failures = [
        c for c in deployment.get("status", {}).get("conditions", []) if c["type"] == "ReplicaFailure"
    ]
    assert failures == []


def test_the_controller_runs_with_exactly_the_shipped_cluster_roles(
    testbed: LocalCluster, kube: Kube, namespace: str, installed: KubeObject, tmp_path: Path
) -> None:
    token = service_account_kubeconfig(testbed, HOME, ACCOUNT, tmp_path)
    wait_allowed(token, "list", "modelrollouts", group="rollouts.modelops.io")
    # What start-up used to need and the role does not grant:
    assert not access(token, "get", "customresourcedefinitions", group="apiextensions.k8s.io")
    # Secrets only where a namespace's owners bound the secrets role (none here).
    assert not access(token, "get", "secrets", namespace)
    # The Lease watch (a standby sees a release at once) in its own namespace only; never delete.
    assert access(token, "watch", "leases", HOME, group="coordination.k8s.io")
    assert not access(token, "watch", "leases", namespace, group="coordination.k8s.io")
    assert not access(token, "delete", "leases", HOME, group="coordination.k8s.io")
    app_with_a_rollout(kube, namespace)
    metrics, health = free_ports(2)
    arguments = shipped_arguments(installed, HOME, metrics, health)
    log = tmp_path / "controller.log"
    with controller_process(arguments, token, log) as process:
        wait_ready(health, process, log)
        assert_rolled_out(kube, namespace, log)
        # /metrics answers on loopback only; the probes-only port on every interface, and
        # serves nothing but the probes. (127.0.0.2 is another loopback address: a server
        # bound to 127.0.0.1 refuses it, one bound to 0.0.0.0 answers.)
        assert http_status(f"http://127.0.0.1:{metrics}/metrics") == 200
        assert str(http_status(f"http://127.0.0.2:{metrics}/metrics")).startswith("unreachable")
        assert http_status(f"http://127.0.0.2:{health}/healthz") == 200
        assert http_status(f"http://127.0.0.2:{health}/readyz") == 200
        assert http_status(f"http://127.0.0.2:{health}/metrics") == 404
        lease = kube.get(LEASES, "model-rollouts-controller", HOME)
        assert lease["spec"]["holderIdentity"]
    assert process.returncode == 0, log.read_text()


def test_the_shipped_cluster_roles_route_through_an_istio_virtual_service(
    testbed: LocalCluster, kube: Kube, namespace: str, installed: KubeObject, tmp_path: Path
) -> None:
    install_crds(kube.api_client, modelrollout=False, gateway_api=False, istio=True)
    token = service_account_kubeconfig(testbed, HOME, ACCOUNT, tmp_path)
    wait_allowed(token, "patch", "virtualservices", namespace, group="networking.istio.io")
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(VIRTUAL_SERVICES, virtual_service("model", "model", "v1", "v2"), namespace)
    rollout = model_rollout("model", steps=[{"setWeight": 50}], traffic=ISTIO_TRAFFIC)
    kube.create(MODEL_ROLLOUTS, rollout, namespace)
    metrics, health = free_ports(2)
    log = tmp_path / "controller.log"
    with controller_process(shipped_arguments(installed, HOME, metrics, health), token, log) as process:
        wait_ready(health, process, log)
        wait_for(rollout_reader(kube, "model", namespace), lambda o: phase(o) == "Succeeded", 90, "promotion")
        wait_for(
            lambda: kube.get(VIRTUAL_SERVICES, "model", namespace),
            lambda vs: istio_routing(vs, ISTIO_ROUTE, *ISTIO_DESTINATIONS).share == 1.0,
            30,
            "the VirtualService to follow",
        )
    refused = [line for line in log.read_text().splitlines() if "system:serviceaccount:" in line]
    assert refused == [], "\n".join(refused)


def test_the_shipped_cluster_roles_read_and_patch_inference_services_and_nothing_more(
    testbed: LocalCluster, namespace: str, installed: KubeObject, tmp_path: Path
) -> None:
    """An informer (InferenceServices as baseline/candidate) and JSON patches (docs/kserve.md)."""
    token = service_account_kubeconfig(testbed, HOME, ACCOUNT, tmp_path)
    wait_allowed(token, "patch", "inferenceservices", namespace, group="serving.kserve.io")
    for verb in ("get", "list", "watch"):
        assert access(token, verb, "inferenceservices", namespace, group="serving.kserve.io"), verb
    for verb in ("update", "delete", "create"):
        assert not access(token, verb, "inferenceservices", namespace, group="serving.kserve.io"), verb


def test_the_secrets_role_is_bound_per_namespace_as_documented(
    testbed: LocalCluster, namespace: str, installed: KubeObject, tmp_path: Path
) -> None:
    token = service_account_kubeconfig(testbed, HOME, ACCOUNT, tmp_path)
    assert not access(token, "get", "secrets", namespace)
    # The command in deploy/controller/rbac.yaml and README.md:
    bound = testbed.kubectl(
        "-n",
        namespace,
        "create",
        "rolebinding",
        "model-rollouts-controller-secrets",
        "--clusterrole=model-rollouts-controller-secrets",
        f"--serviceaccount={HOME}:{ACCOUNT}",
    )
    assert bound.returncode == 0, bound.stderr
    wait_allowed(token, "get", "secrets", namespace)
    assert not access(token, "list", "secrets", namespace)
    assert not access(token, "get", "secrets", "default")


def test_the_namespaced_controller_needs_no_cluster_wide_rights_but_reading_nodes(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": namespace,
                "resources": [os.path.relpath(NAMESPACED, overlay)],
            }
        )
    )
    applied = testbed.kubectl("apply", "-k", str(overlay))
    assert applied.returncode == 0, applied.stderr
    try:
        token = service_account_kubeconfig(testbed, namespace, ACCOUNT, tmp_path)
        wait_allowed(token, "list", "modelrollouts", namespace, group="rollouts.modelops.io")
        wait_allowed(token, "list", "nodes")
        assert not access(token, "list", "modelrollouts", group="rollouts.modelops.io")  # all namespaces
        assert not access(token, "list", "deployments", "default", group="apps")
        assert not access(token, "get", "secrets", "default")
        assert not access(token, "get", "nodes")
        app_with_a_rollout(kube, namespace)
        deployment = rendered_deployment(testbed, overlay)
        metrics, health = free_ports(2)
        arguments = shipped_arguments(deployment, namespace, metrics, health)
        assert f"--namespace={namespace}" in arguments
        log = tmp_path / "controller.log"
        with controller_process(arguments, token, log) as process:
            wait_ready(health, process, log)
            assert_rolled_out(kube, namespace, log)
        assert process.returncode == 0, log.read_text()
    finally:
        testbed.kubectl("delete", "-k", str(overlay), "--wait=false")


def test_start_up_learns_what_is_served_by_listing_in_its_scope(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    nobody = service_account_kubeconfig(testbed, namespace, "default", tmp_path)  # granted nothing
    missing = Resource("example.invalid", "v1", "things", "Thing", namespaced=True)
    with connect(str(nobody)) as unprivileged:
        assert serves(kube, HTTP_ROUTES, namespace)
        assert serves(kube, HTTP_ROUTES, None)
        assert not serves(kube, missing, namespace)  # 404: not installed
        assert not serves(unprivileged, HTTP_ROUTES, namespace)  # 403: a warning, no informer, no exit


class _Forwarder:
    """A loopback TCP port that refuses connections until opened, then forwards to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def open(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.5)
        self._start(self._accept)

    def close(self) -> None:
        """Stop accepting, then close every socket; a connection accepted while closing is
        closed by the accept loop itself (it registers under the same lock), so none leaks."""
        with self._lock:
            self._stop.set()
            sockets = [*self._sockets, *([self._server] if self._server else [])]
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in list(self._threads):
            thread.join(timeout=10)

    def _start(self, target: Callable[..., None], *args: socket.socket) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._stop.is_set():
                    client.close()
                    return
                upstream = socket.create_connection(self.target)
                self._sockets += [client, upstream]
                self._start(self._pipe, client, upstream)
                self._start(self._pipe, upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_a_controller_started_before_the_api_server_answers_waits_for_it(
    testbed: LocalCluster, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """Found by the safety campaign: an API server down at start-up made the controller exit 3
    (CrashLoopBackOff in a cluster). It now waits, says so, and works once the server answers."""
    server = urllib.parse.urlsplit(testbed.server)
    forwarder = _Forwarder((server.hostname or "127.0.0.1", server.port or 443))
    config = yaml.safe_load(testbed.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{forwarder.port}"
    kubeconfig = tmp_path / "late.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    log = tmp_path / "controller.log"
    app_with_a_rollout(kube, namespace)
    arguments = ["controller", f"--namespace={namespace}", "--log-format=json"]
    with controller_process(arguments, kubeconfig, log) as process:
        wait_for(
            lambda: {"log": log.read_text()},
            lambda seen: "API server unreachable at start-up" in seen["log"],
            30,
            "the controller to say it waits for the API server",
        )
        assert process.poll() is None, log.read_text()
        forwarder.open()
        try:
            done = wait_for(
                lambda: kube.get(MODEL_ROLLOUTS, "model", namespace),
                lambda o: o.get("status", {}).get("phase") == "Succeeded",
                90,
                "the rollout, once the server answers",
            )
        finally:
            forwarder.close()
    assert done["status"]["stableVersion"] == "v2"


@pytest.fixture(scope="module")
def image() -> str:
    """The controller image, built from the Dockerfile by hack/image/build.sh (buildah)."""
    tools = ("buildah", "mmdebstrap")
    need(all(shutil.which(tool) for tool in tools), " and ".join(tools), "make system")
    built = subprocess.run(
        ["bash", str(REPOSITORY / "hack" / "image" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-5000:]
    return built.stdout.split()[0]


@contextmanager
def image_container(image: str) -> Iterator[str]:
    """A working container of ``image`` (buildah's), removed at the end."""
    made = subprocess.run(
        ["buildah", "from", "--pull-never", image], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    container = made.stdout.strip()
    try:
        yield container
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def in_image(container: str, *options: str) -> list[str]:
    """The command line that runs ``rollouts`` in ``container`` on the host's network.

    ``buildah run --isolation chroot``: ``podman run`` fails on this machine (setrlimit) and no
    Docker engine runs here; the image's own user, entrypoint directory and environment apply."""
    return [
        "buildah",
        "run",
        "--isolation",
        "chroot",
        "--network",
        "host",
        *options,
        container,
        "--",
        "rollouts",
    ]


def test_the_image_holds_the_runtime_only_and_says_which_build_it_is(image: str) -> None:
    with image_container(image) as container:
        said = subprocess.run(
            [*in_image(container), "version", "-o", "json"], capture_output=True, text=True, check=False
        )
        assert said.returncode == 0, said.stderr
        info = json.loads(said.stdout)
        head = subprocess.run(
            ["git", "-C", str(REPOSITORY), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert info["commit"] == head.stdout.strip()
        assert info["python"].startswith("3.11")
        probe = (
            "import importlib.util as u, os; "
            "print(os.getuid(), [m for m in ('rollouts.local', 'rollouts.testbed', 'pip', 'pytest', "
            "'cryptography') if u.find_spec(m)])"
        )
        shell = [*in_image(container)[:-1], "python3", "-c", probe]
        checked = subprocess.run(shell, capture_output=True, text=True, check=False)
        assert checked.stdout.split(maxsplit=1) == ["65532", "[]\n"], checked.stderr


def test_the_controller_runs_from_the_image_with_the_shipped_roles(
    testbed: LocalCluster, kube: Kube, namespace: str, installed: KubeObject, image: str, tmp_path: Path
) -> None:
    token = service_account_kubeconfig(testbed, HOME, ACCOUNT, tmp_path)
    wait_allowed(token, "list", "modelrollouts", group="rollouts.modelops.io")
    # The container gets its own copy of the kubeconfig and CA, owned by the image's user.
    config = yaml.safe_load(token.read_text())
    inside = tmp_path / "config"
    inside.mkdir()
    for cluster in config["clusters"]:
        shutil.copy(cluster["cluster"]["certificate-authority"], inside / "ca.crt")
        cluster["cluster"]["certificate-authority"] = "/config/ca.crt"
    (inside / "kubeconfig").write_text(yaml.safe_dump(config))
    app_with_a_rollout(kube, namespace)
    metrics, health = free_ports(2)
    arguments = shipped_arguments(installed, HOME, metrics, health)
    log = tmp_path / "controller.log"
    with image_container(image) as container:
        copied = subprocess.run(
            ["buildah", "copy", "--chown", "65532:65532", container, str(inside), "/config"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert copied.returncode == 0, copied.stderr
        program = in_image(container, "--env", "POD_NAME=image-controller")
        with controller_process(arguments, Path("/config/kubeconfig"), log, program) as process:
            wait_ready(health, process, log)
            assert_rolled_out(kube, namespace, log)
            lease = kube.get(LEASES, "model-rollouts-controller", HOME)
            assert lease["spec"]["holderIdentity"] == "image-controller"
