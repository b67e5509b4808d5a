"""The README's "Install with Helm" commands, run as written on a fresh test bed.

A new user copies that block into a shell: so does this test. Each command is read from the
README (continuation lines joined, comments dropped), ``kubectl``, ``helm`` and ``promtool``
are the test bed's (kubectl and helm from its cache, promtool from the system), and each must
exit 0, in order, on a fresh API server of its own (the chart's cluster-scoped objects and CRD
would meet the other tests' on the shared one). The cluster has the Gateway API CRDs, as the
block says it needs. Then the controller runs with the chart Deployment's arguments and a token
of the chart's ServiceAccount alone, and writes the first rollout's status: the install works
for that rollout, not only for Helm.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.prometheus import find_binary
from rollouts.runtime.kube import DEPLOYMENTS, connect
from rollouts.testbed import Binaries, ClusterConfig, LocalCluster, install_crds
from rollouts.testbed.cluster import free_ports
from tests.integration.test_deploy_controller import controller_process, shipped_arguments, wait_ready
from tests.support.controller import wait_for
from tests.support.helm import REPOSITORY, run_helm, service_account_token_kubeconfig
from tests.support.need import need

pytestmark = pytest.mark.cluster

README = REPOSITORY / "README.md"
SECTION = "## Install with Helm"


def readme_commands() -> list[str]:
    """The first bash block of the README's install section, one command per entry."""
    section = README.read_text().split(SECTION, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no bash block under {SECTION!r}"
    joined = block.group(1).replace("\\\n", " ")
    commands = [line.split(" #", 1)[0].strip() for line in joined.splitlines()]
    return [command for command in commands if command and not command.startswith("#")]


@pytest.fixture
def fresh(testbed_binaries: Binaries, tmp_path: Path) -> Iterator[LocalCluster]:
    """A test bed of the test's own, with the Gateway API CRDs only (the chart brings its CRD)."""
    with LocalCluster(ClusterConfig(log_dir=tmp_path / "logs"), testbed_binaries) as cluster:
        kube = connect(str(cluster.kubeconfig))
        try:
            install_crds(kube.api_client, modelrollout=False)
        finally:
            kube.close()
        yield cluster


def test_every_install_command_in_the_readme_runs_and_the_first_rollout_is_reconciled(
    fresh: LocalCluster, helm_binary: Path, tmp_path: Path
) -> None:
    promtool = find_binary("promtool")
    need(promtool is not None, "promtool", "apt-get install prometheus")
    tools = {"kubectl": str(fresh.binaries.kubectl), "helm": str(helm_binary), "promtool": str(promtool)}
    home = tmp_path / "home"
    home.mkdir()
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(fresh.kubeconfig)}
    commands = readme_commands()
    assert [shlex.split(c)[0] for c in commands].count("helm") == 1, commands
    for command in commands:
        words = shlex.split(command)
        assert words[0] in tools, f"the README runs {words[0]!r}, which this test does not provide"
        done = subprocess.run(
            [tools[words[0]], *words[1:]],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    kube = connect(str(fresh.kubeconfig))
    try:
        deployment = kube.get(DEPLOYMENTS, "model-rollouts-controller", "model-rollouts")
        token = service_account_token_kubeconfig(
            kube.api_client, fresh, "model-rollouts", "model-rollouts-controller", tmp_path
        )
        metrics, health = free_ports(2)
        arguments = shipped_arguments(deployment, "model-rollouts", metrics, health)
        log = tmp_path / "controller.log"
        with controller_process(arguments, token, log) as process:
            wait_ready(health, process, log)
            seen = wait_for(
                lambda: kube.get(MODEL_ROLLOUTS, "fraud-scorer", "ml"),
                lambda rollout: bool(rollout.get("status", {}).get("phase")),
                60,
                "the first rollout's status, written by the chart's controller",
            )
        assert seen["status"]["phase"] in ("Pending", "Progressing"), seen["status"]
        refused = [line for line in log.read_text().splitlines() if "forbidden" in line.lower()]
        assert refused == [], "\n".join(refused)
    finally:
        kube.close()
        run_helm(
            helm_binary, "uninstall", "model-rollouts", "-n", "model-rollouts", kubeconfig=fresh.kubeconfig
        )
