"""Shards: several controller Deployments split the fleet by a label on each ModelRollout.

Why: one controller's reaction time grows with the rollouts it reconciles (one queue, a few
workers, the Prometheus queries of every look), and its memory with what it caches. Past what
one controller holds comfortably (docs/runtime.md, "Sharding"), run several: each is started
with ``--shard NAME``, has its own Lease, and reconciles only the rollouts labelled
``rollouts.modelops.io/shard=NAME``. The rule, so that every rollout has exactly one owner:

- a rollout labelled ``rollouts.modelops.io/shard=NAME`` belongs to the controller started
  with ``--shard NAME``, and to no other — if none runs, nobody reconciles it (say so in the
  label's value, not by accident: ``rollouts get`` shows it never progresses);
- a rollout without the label (or with an empty value) belongs to the *default* controller,
  the one started without ``--shard`` — so a cluster that never shards never needs the label,
  and a controller started with ``--shard`` never touches an unlabelled rollout.

Moving a rollout to another shard is relabelling it: the old shard's controller stops queueing
it at the change, the new one starts; writes on both sides carry preconditions, so the old
shard's last write cannot land after the new shard's (docs/runtime.md).

Every shard still caches *every* rollout in its scope, and only reconciles its own: the claims
rule (rollouts.controller.core.claims) must see a rollout of another shard naming the same
Deployment or route, or two shards would fight over it. Rollout objects are small; the caches
that grow with a cluster are the Pods and Deployments, which sharding by label does not shrink
— for that, shard by namespace (``--namespace``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SHARD_LABEL = "rollouts.modelops.io/shard"
"""The label on a ModelRollout naming the controller shard that reconciles it."""

DEFAULT_LEASE = "model-rollouts-controller"
"""The Lease of the default (unsharded) controller."""

FIELD_MANAGER = "model-rollouts-controller"
"""The field manager of the default controller's writes (``managedFields`` names it)."""

_SHARD_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


def validate_shard(shard: str) -> str:
    """``shard`` if it can be a label value (and a Lease-name suffix); ValueError otherwise.

    >>> validate_shard("team-a")
    'team-a'
    >>> validate_shard("Team_A")
    Traceback (most recent call last):
    ...
    ValueError: a shard name is lower-case letters, digits and '-' (at most 40), got 'Team_A'
    """
    if not _SHARD_NAME.fullmatch(shard):
        raise ValueError(f"a shard name is lower-case letters, digits and '-' (at most 40), got {shard!r}")
    return shard


def shard_of(labels: Mapping[str, str] | None) -> str | None:
    """The shard a rollout's labels name; None for the default shard (no label, or empty).

    >>> shard_of({"rollouts.modelops.io/shard": "team-a"})
    'team-a'
    >>> shard_of({"app": "fraud"}) is None
    True
    """
    return (labels or {}).get(SHARD_LABEL) or None


def in_shard(labels: Mapping[str, str] | None, shard: str | None) -> bool:
    """Whether a rollout with ``labels`` belongs to the controller started with ``shard``.

    ``shard`` None is the default controller, which takes exactly the unlabelled rollouts.

    >>> in_shard({"rollouts.modelops.io/shard": "team-a"}, "team-a")
    True
    >>> in_shard({"rollouts.modelops.io/shard": "team-a"}, None)
    False
    >>> in_shard({}, None), in_shard({}, "team-a")
    (True, False)
    """
    return shard_of(labels) == shard


def lease_name(shard: str | None, base: str = DEFAULT_LEASE) -> str:
    """The Lease a shard's replicas campaign for: one per shard, so shards lead independently.

    >>> lease_name(None), lease_name("team-a")
    ('model-rollouts-controller', 'model-rollouts-controller-team-a')
    """
    return base if shard is None else f"{base}-{shard}"


def field_manager(shard: str | None) -> str:
    """The field manager of a shard's writes, so ``managedFields`` tells which shard wrote.

    >>> field_manager(None), field_manager("team-a")
    ('model-rollouts-controller', 'model-rollouts-controller-team-a')
    """
    return lease_name(shard, FIELD_MANAGER)
