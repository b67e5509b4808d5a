"""The kind quick start's parts, on the test bed: hack/kind/quickstart.sh itself cannot run here.

No Docker engine runs on the project's machines, so kind cannot start and the script is never
run whole. What it installs is exercised piece by piece instead, so nothing in it is untested:

- examples/kind (Prometheus, the model servers without GPUs, load, the rollout) is applied to a
  real API server with the ModelRollout and Gateway API CRDs, and every object is accepted;
- its Prometheus configuration passes ``promtool check config`` (the test bed's 3.x build);
- the chart renders and validates with exactly the ``--set`` flags the script passes to Helm;
- the script is valid shell.

The image it builds is the Dockerfile tests/integration/test_deploy_controller.py builds and runs
through a rollout; the rollout lints clean (tests/unit/test_lint.py lints every example).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from rollouts.testbed import LocalCluster
from rollouts.testbed.binaries import MissingBinariesError, find_prometheus3
from tests.support.helm import REPOSITORY, render
from tests.support.need import need

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]

SCRIPT = REPOSITORY / "hack" / "kind" / "quickstart.sh"
WORKLOAD = REPOSITORY / "examples" / "kind"


def rendered(testbed: LocalCluster) -> list[dict[str, object]]:
    built = testbed.kubectl("kustomize", str(WORKLOAD))
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def test_the_workload_is_accepted_by_a_real_api_server(testbed: LocalCluster) -> None:
    objects = rendered(testbed)
    kinds = {str(o["kind"]) for o in objects}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "HTTPRoute", "ModelRollout"} <= kinds
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        text = yaml.safe_dump(deployment)
        assert "nvidia.com/gpu" not in text, "kind nodes have no GPU"
    applied = testbed.kubectl("apply", "-k", str(WORKLOAD))
    try:
        assert applied.returncode == 0, applied.stderr
        listed = testbed.kubectl("get", "modelrollout", "fraud-scorer", "-n", "ml", "-o", "name")
        assert listed.stdout.strip() == "modelrollout.rollouts.modelops.io/fraud-scorer", listed.stderr
    finally:
        testbed.kubectl("delete", "-k", str(WORKLOAD), "--wait=false")


def test_prometheus_configuration_passes_promtool(testbed: LocalCluster, tmp_path: Path) -> None:
    # The test bed's Prometheus 3 build: Debian's promtool is built without kubernetes_sd.
    try:
        promtool = find_prometheus3().promtool
    except MissingBinariesError as missing:
        need(False, "Prometheus 3", str(missing))
        raise
    (config_map,) = [o for o in rendered(testbed) if o["kind"] == "ConfigMap"]
    data = config_map["data"]
    assert isinstance(data, dict)
    config = tmp_path / "prometheus.yml"
    config.write_text(data["prometheus.yml"])
    checked = subprocess.run(
        [str(promtool), "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_chart_takes_the_scripts_helm_values(helm_binary: Path) -> None:
    flags = re.findall(r"--set ([\w.]+)=(\S+)", SCRIPT.read_text())
    assert {name for name, _ in flags} >= {"image.repository", "image.tag", "image.pullPolicy"}
    values: dict[str, object] = {}
    for name, value in flags:
        *parents, leaf = name.split(".")
        level = values
        for parent in parents:
            level = level.setdefault(parent, {})  # type: ignore[assignment]
        level[leaf] = int(value) if value.isdigit() else value
    objects = render(helm_binary, values, namespace="model-rollouts")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "model-rollouts:dev"
    assert container["imagePullPolicy"] == "Never"


def test_the_script_is_valid_shell() -> None:
    checked = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
