"""``rollouts get [NAME] [-A] [--watch]``: where rollouts stand, and why, at a glance.

Without a name: a table, one row per rollout. With a name: the whole picture of that rollout
(:func:`rollouts.cli.views.rollout_view`). ``-o json|yaml`` prints the objects as the API server
returns them (a ``List`` for several), for scripts.

``--watch`` follows the API server's watch (no polling). On a terminal the view is redrawn in
place (rich Live); when stdout is not a terminal — a pipe, a CI log — it prints one plain line
per change instead, without colour or cursor movement, and with -o json|yaml one document per
change. It runs until interrupted.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer
import yaml
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from rollouts.cli.app import app
from rollouts.cli.kube_options import (
    ClusterCommand,
    ContextOption,
    KubeconfigOption,
    NamespaceOption,
    Seen,
    cluster,
    follow,
    show,
    stdout,
)
from rollouts.cli.output import OUTPUT_OPTION, OutputFormat, emit_data
from rollouts.cli.views import progress_key, progress_line, rollout_view, rollouts_table
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.runtime.informer import object_key
from rollouts.runtime.kube import KubeObject


def _now() -> datetime:
    return datetime.now(UTC)


def _as_data(rollouts: list[KubeObject], name: str | None) -> KubeObject:
    """One object for a name, else a ``List`` as kubectl prints it."""
    if name is not None:
        return rollouts[0]
    return {"apiVersion": "v1", "kind": "List", "items": rollouts}


def _render(rollouts: dict[str, KubeObject], name: str | None, all_namespaces: bool) -> RenderableType:
    if name is not None:
        return rollout_view(rollouts[next(iter(rollouts))]) if rollouts else Text(f"{name} was deleted")
    if not rollouts:
        return Text("no rollouts found", style="dim")
    return rollouts_table(list(rollouts.values()), _now(), namespaces=all_namespaces)


def _emit_document(rollout: KubeObject, output: OutputFormat) -> None:
    """One watched change as one JSON line or one YAML document, flushed for the reader."""
    if output is OutputFormat.JSON:
        sys.stdout.write(json.dumps(rollout, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write("---\n" + yaml.safe_dump(rollout, sort_keys=False))
    sys.stdout.flush()


def _watch_live(console: Console, feed: Iterator[Seen], name: str | None, all_namespaces: bool) -> None:
    """Redraw the view in place after every change (a terminal)."""
    rollouts: dict[str, KubeObject] = {}
    with Live(_render(rollouts, name, all_namespaces), console=console, auto_refresh=False) as live:
        for seen in feed:
            key = object_key(seen.rollout)
            if seen.type == "DELETED":
                rollouts.pop(key, None)
            else:
                rollouts[key] = seen.rollout
            live.update(_render(rollouts, name, all_namespaces), refresh=True)


def _watch_lines(console: Console, feed: Iterator[Seen], output: OutputFormat) -> None:
    """One line (or document) per change that matters (a pipe or a log)."""
    shown: dict[str, tuple[object, ...]] = {}
    for seen in feed:
        key = object_key(seen.rollout)
        if seen.type == "DELETED":
            shown.pop(key, None)
            console.print(f"{_now():%Y-%m-%dT%H:%M:%SZ} {key} deleted", markup=False)
            continue
        if shown.get(key) == progress_key(seen.rollout):
            continue
        shown[key] = progress_key(seen.rollout)
        if output is OutputFormat.TABLE:
            console.print(progress_line(seen.rollout, _now()), markup=False)
        else:
            _emit_document(seen.rollout, output)


@app.command(cls=ClusterCommand)
def get(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="One rollout; all in the namespace when left out.")
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Rollouts of every namespace.")
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow changes until interrupted.")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Show rollouts: a table, or one rollout's steps, weights, readiness and evidence."""
    if name is not None and all_namespaces:
        raise typer.BadParameter("name one rollout or ask for --all-namespaces, not both")
    console = stdout()
    with cluster(kubeconfig, context, namespace) as target:
        scope = None if all_namespaces else target.namespace
        if watch:
            feed = follow(target.kube, scope, name)
            with contextlib.suppress(KeyboardInterrupt):  # the way a watch ends
                if console.is_terminal and output is OutputFormat.TABLE:
                    _watch_live(console, feed, name, all_namespaces)
                else:
                    _watch_lines(console, feed, output)
            return
        if name is not None:
            rollouts = [target.kube.get(MODEL_ROLLOUTS, name, target.namespace)]
        else:
            rollouts = target.kube.list(MODEL_ROLLOUTS, scope).items
    if output is not OutputFormat.TABLE:
        emit_data(_as_data(rollouts, name), output)
    elif not rollouts:
        where = "any namespace" if all_namespaces else f"namespace {target.namespace}"
        console.print(f"no rollouts found in {where}", markup=False)
    else:
        show(_render({object_key(rollout): rollout for rollout in rollouts}, name, all_namespaces))
