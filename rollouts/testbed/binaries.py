"""Where the test bed's binaries are: explicit paths, then KUBEBUILDER_ASSETS, then the cache.

hack/testbed/build.sh fills the cache ``<cache>/<component>/<version>/`` and writes
``BUILD-INFO`` last, so a component is complete exactly when that file exists. This module
applies the same lookup order as the script, so whatever the build reused or skipped, the
launcher finds the same file. Gateway API CRDs are not copied anywhere: they are read from the
Go module cache, pinned by version, through ``go mod download -json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rollouts.testbed import versions

BUILD_COMMAND = "make testbed"
"""What fixes a missing binary (it runs hack/testbed/build.sh)."""


class MissingBinariesError(RuntimeError):
    """Some test-bed binaries are neither provided nor built; the message says which and how."""


def cache_root() -> Path:
    """``${MODEL_ROLLOUTS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/model-rollouts}/testbed``."""
    base = os.environ.get("MODEL_ROLLOUTS_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "model-rollouts"
    )
    return Path(base) / "testbed"


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every executable and file the launcher starts or reads."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    kwok_stages: Path

    def executables(self) -> tuple[Path, ...]:
        """Every program the launcher may start (a leftover process runs one of these)."""
        return (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kube_scheduler, self.kwok)


_COMPONENT_VERSIONS = {
    "etcd": versions.ETCD,
    "kube-apiserver": versions.KUBERNETES,
    "kube-controller-manager": versions.KUBERNETES,
    "kube-scheduler": versions.KUBERNETES,
    "kubectl": versions.KUBERNETES,
    "kwok": versions.KWOK,
}


def _env_name(component: str) -> str:
    return "TESTBED_" + component.upper().replace("-", "_")


def _find(component: str, cache: Path) -> Path | str | None:
    """The binary's path; a sentence if the path given for it is wrong; None if not built."""
    explicit = os.environ.get(_env_name(component))
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
        return f"{_env_name(component)}={explicit} is not an executable file"
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / component).is_file() and os.access(Path(assets) / component, os.X_OK):
        return (Path(assets) / component).resolve()
    built = cache / component / _COMPONENT_VERSIONS[component]
    return (built / component).resolve() if (built / "BUILD-INFO").is_file() else None


def find_binaries(cache: Path | None = None) -> Binaries:
    """Locate every binary; raise :class:`MissingBinariesError` naming all that are missing."""
    cache = cache or cache_root()
    found: dict[str, Path] = {}
    problems: list[str] = []
    unbuilt: list[str] = []
    for component, version in _COMPONENT_VERSIONS.items():
        result = _find(component, cache)
        if isinstance(result, Path):
            found[component] = result
        elif result is None:
            unbuilt.append(f"{component} {version}")
        else:
            problems.append(result)
    stages = cache / "kwok-stages" / versions.KWOK / "stages.yaml"
    if not stages.is_file():
        unbuilt.append(f"kwok-stages {versions.KWOK}")
    if unbuilt:
        problems.append(f"not built in {cache}: {', '.join(unbuilt)}")
    if problems:
        raise MissingBinariesError(
            "; ".join(problems) + f". Run `{BUILD_COMMAND}` (or point TESTBED_<COMPONENT> or "
            "KUBEBUILDER_ASSETS at existing binaries)"
        )
    return Binaries(
        etcd=found["etcd"],
        kube_apiserver=found["kube-apiserver"],
        kube_controller_manager=found["kube-controller-manager"],
        kube_scheduler=found["kube-scheduler"],
        kubectl=found["kubectl"],
        kwok=found["kwok"],
        kwok_stages=stages,
    )


def go_module_dir(module: str, version: str) -> Path:
    """The unpacked folder of a Go module (``go mod download -json``; offline once cached)."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if go is None:
        raise MissingBinariesError(f"Go is needed to read {module}@{version} from the module cache")
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    try:
        info = json.loads(result.stdout)
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        detail = info.get("Error") or result.stderr.strip() or result.stdout.strip()
        raise MissingBinariesError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info["Dir"])
