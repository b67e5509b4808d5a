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
import zipfile
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


def _find(component: str, cache: Path, version: str | None = None) -> Path | str | None:
    """The binary's path; a sentence if the path given for it is wrong; None if not built.

    ``version``: the cached build to look for (default: the pinned version of ``component``).
    """
    explicit = os.environ.get(_env_name(component))
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
        return f"{_env_name(component)}={explicit} is not an executable file"
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / component).is_file() and os.access(Path(assets) / component, os.X_OK):
        return (Path(assets) / component).resolve()
    built = cache / component / (version or _COMPONENT_VERSIONS[component])
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


def find_helm(cache: Path | None = None) -> Path:
    """Helm 4, by the same lookup order as the test bed's binaries (TESTBED_HELM, ...).

    Not part of :class:`Binaries`: the test bed never runs it, only the chart tests do, so a
    missing helm must not stop every other cluster test.
    """
    return _find_tool("helm", versions.HELM, cache)


def find_helm3(cache: Path | None = None) -> Path:
    """Helm 3 (installed as ``helm3``; TESTBED_HELM3 ...): the chart works with Helm 3 and 4."""
    return _find_tool("helm3", versions.HELM_3, cache)


def find_kserve_manager(cache: Path | None = None) -> Path:
    """KServe's controller (``kserve-manager``; TESTBED_KSERVE_MANAGER ...), for the KServe tests only."""
    return _find_tool("kserve-manager", versions.KSERVE, cache)


def _find_tool(component: str, version: str, cache: Path | None) -> Path:
    """A binary only some tests run, or :class:`MissingBinariesError` saying how to get it."""
    cache = cache or cache_root()
    result = _find(component, cache, version)
    if isinstance(result, Path):
        return result
    problem = result or f"not built in {cache}: {component} {version}"
    raise MissingBinariesError(
        f"{problem}. Run `{BUILD_COMMAND}` (or point {_env_name(component)} at a {component} binary)"
    )


@dataclass(frozen=True)
class PrometheusBuild:
    """The test bed's Prometheus 3.x build: server and promtool of one release."""

    version: str
    prometheus: Path
    promtool: Path


def find_prometheus3(cache: Path | None = None) -> PrometheusBuild:
    """Prometheus 3.x and its promtool, from ``TESTBED_PROMETHEUS3_DIR`` or the cache.

    Not part of :class:`Binaries`, like helm: only the Prometheus tests run it, against it and
    the system's 2.x, so a missing build must not stop the cluster tests.
    """
    explicit = os.environ.get("TESTBED_PROMETHEUS3_DIR")
    folder = Path(explicit) if explicit else (cache or cache_root()) / "prometheus3" / versions.PROMETHEUS_3
    programs = (folder / "prometheus", folder / "promtool")
    if all(path.is_file() and os.access(path, os.X_OK) for path in programs) and (
        explicit or (folder / "BUILD-INFO").is_file()
    ):
        return PrometheusBuild(versions.PROMETHEUS_3, programs[0].resolve(), programs[1].resolve())
    where = f"TESTBED_PROMETHEUS3_DIR={explicit} holds no" if explicit else f"not built in {folder}:"
    raise MissingBinariesError(
        f"{where} prometheus and promtool {versions.PROMETHEUS_3}. Run `{BUILD_COMMAND}` "
        "(or point TESTBED_PROMETHEUS3_DIR at a folder holding both)"
    )


def go_module_dir(module: str, version: str) -> Path:
    """The unpacked folder of a Go module (``go mod download -json``; offline once cached)."""
    return _downloaded(module, version, "Dir")


def go_module_file(module: str, version: str, path: str) -> str:
    """One text file of a Go module, read from the module zip in the module cache.

    From the zip, not the unpacked folder: Go unpacks a module only when the running toolchain
    meets the module's ``go`` line (KEDA v2.21.1 asks for a newer Go than the test bed builds
    with, though only its CRD files are wanted here), while the zip is downloaded and checked
    against the checksum database either way.
    """
    archive = _downloaded(module, version, "Zip")
    with zipfile.ZipFile(archive) as files:
        return files.read(f"{module}@{version}/{path}").decode()


def _downloaded(module: str, version: str, field: str) -> Path:
    """``field`` (Dir, Zip) of ``go mod download -json``: a module Go refuses still has its Zip."""
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
    if field not in info:
        detail = info.get("Error") or result.stderr.strip() or result.stdout.strip()
        raise MissingBinariesError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info[field])
