"""Notifications: what a rollout subscribes to, what status records as sent, how notifiers are set up.

Three shapes, one vocabulary (:class:`NotificationEvent`):

- ``spec.notifications`` (:class:`NotificationRoute`): a rollout names the cluster's notifiers it
  wants and, for each, the events. ``events`` is required and has no default: a rollout pages
  nobody it did not name, for nothing it did not ask for. (Not ``on``: YAML 1.1, which kubectl
  and PyYAML read, turns an unquoted ``on`` key into ``true``.)
- ``status.notifications`` (rollouts.api.status.NotifierRecord): per notifier, the last event
  done with (sent, or older than the subscription). Status is the controller's only memory, so after a
  restart the events still to send are derived again from ``status.history`` and this record
  (rollouts.controller.core.notifications); nothing is kept only in memory.
- The cluster-wide ConfigMap (:class:`NotifiersConfig`): each notifier's kind and which keys of
  the Secret hold its URL and token. URLs and tokens live only in the Secret: never in a spec,
  status, Event or log line (docs/notifications.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from rollouts.api.base import ApiModel, ShortName

CONFIG_NAME = "model-rollouts-notifications"
"""The ConfigMap (notifiers) and the Secret (their URLs and tokens), in the controller's namespace."""
CONFIG_KEY = "notifiers.yaml"
"""The ConfigMap key holding the list of notifiers."""
MAX_NOTIFIERS = 8
"""Notifiers one rollout may name (and the status records kept)."""
MAX_CONFIGURED = 64
"""Notifiers the ConfigMap may define."""


class NotificationEvent(StrEnum):
    """What a notification is about."""

    STARTED = "Started"
    """A rollout started (a new candidate, a retry, a candidate changed mid-rollout)."""
    WAITING = "Waiting"
    """Progress waits for a person: an approve step was reached, or a hold was raised."""
    ROLLED_BACK = "RolledBack"
    """The rollout rolled back (harm, maxDuration, a failing or deleted candidate, errorBudget)."""
    PROMOTED = "Promoted"
    """The candidate is the stable version."""
    ABORTED = "Aborted"
    """Someone aborted the rollout."""
    FAILED = "Failed"
    """The candidate never became ready within progressDeadline."""


class NotifierKind(StrEnum):
    """The wire format a notifier's receiver expects."""

    WEBHOOK = "webhook"
    """A generic JSON document (rollouts.controller.core.payloads.WebhookPayload)."""
    SLACK = "slack"
    """A Slack incoming webhook (``text`` and ``blocks``)."""


SecretKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
"""A key of a Secret's data."""


class NotificationRoute(ApiModel):
    """One notifier this rollout notifies, and on which events."""

    notifier: ShortName = Field(
        description="Name of a notifier in the ConfigMap model-rollouts-notifications of the controller."
    )
    events: tuple[NotificationEvent, ...] = Field(
        min_length=1,
        max_length=len(NotificationEvent),
        description=(
            "Events to notify (no default: name each): Started, Waiting (an approve step or a hold "
            "waits for a person), RolledBack, Promoted, Aborted, Failed."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class NotifierConfig(ApiModel):
    """One notifier of the ConfigMap: its kind and where its URL and token are in the Secret."""

    name: ShortName = Field(description="The name rollouts give in spec.notifications[].notifier.")
    type: NotifierKind = Field(description="webhook (generic JSON) or slack (incoming webhook).")
    url_key: SecretKey = Field(description="Key of the Secret model-rollouts-notifications holding the URL.")
    token_key: SecretKey | None = Field(
        default=None,
        description="Key of the Secret holding a token sent as 'Authorization: Bearer <token>'.",
    )
    events: tuple[NotificationEvent, ...] | None = Field(
        default=None,
        max_length=len(NotificationEvent),
        description="Events this notifier accepts at most (default: whatever the rollouts ask).",
    )


class NotifiersConfig(ApiModel):
    """The ConfigMap's ``notifiers.yaml``: a list of notifiers."""

    notifiers: tuple[NotifierConfig, ...] = Field(default=(), max_length=MAX_CONFIGURED)

    def named(self, name: str) -> NotifierConfig | None:
        """The notifier called ``name``, if configured."""
        return next((notifier for notifier in self.notifiers if notifier.name == name), None)


__all__ = [
    "CONFIG_KEY",
    "CONFIG_NAME",
    "MAX_NOTIFIERS",
    "NotificationEvent",
    "NotificationRoute",
    "NotifierConfig",
    "NotifierKind",
    "NotifiersConfig",
]
