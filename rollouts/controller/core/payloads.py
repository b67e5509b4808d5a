"""What a notification looks like on the wire: a generic JSON webhook, or a Slack message (pure).

Why typed models and not dicts: the payload is an interface receivers code against, so its
fields are declared once here (camelCase, unset fields left out) and tested; a Slack incoming
webhook takes ``{"text": ..., "blocks": [...]}``, where ``text`` is the fallback shown in
notifications and ``blocks`` the message. Nothing here knows a URL or a token: the payload is
rendered from status and spec facts only, which hold neither.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from rollouts.api.notifications import NotificationEvent, NotifierKind
from rollouts.api.status import MetricResult
from rollouts.controller.core.notifications import Notification

HEADLINES = {
    NotificationEvent.STARTED: "started",
    NotificationEvent.WAITING: "is waiting for a person",
    NotificationEvent.ROLLED_BACK: "rolled back",
    NotificationEvent.PROMOTED: "promoted",
    NotificationEvent.ABORTED: "aborted",
    NotificationEvent.FAILED: "failed",
}


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def body(self) -> bytes:
        """The JSON document, camelCase, unset fields left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class RolloutName(_Wire):
    """Which rollout."""

    namespace: str
    name: str


class MetricEvidence(_Wire):
    """A metric judged FAIL and the numbers behind it (status.analysis.metrics[])."""

    name: str
    kind: str
    verdict: str
    effect: float | None = None
    lower: float | None = None
    upper: float | None = None
    log10_e: float | None = None
    p_value: float | None = None
    baseline_samples: int | None = None
    candidate_samples: int | None = None
    reason: str = ""

    @classmethod
    def of(cls, metric: MetricResult) -> MetricEvidence:
        """The evidence of one metric result (its opaque accumulators left out)."""
        return cls.model_validate(metric.model_dump(exclude={"state"}))


class WebhookPayload(_Wire):
    """The generic webhook's JSON document (``type: webhook``)."""

    id: str
    event: NotificationEvent
    time: str
    rollout: RolloutName
    baseline_version: str
    candidate_version: str
    step: int | None = None
    weight: int | None = None
    reason: str
    message: str
    failing_metrics: tuple[MetricEvidence, ...] | None = None
    aborted_by: str | None = None
    abort_reason: str | None = None

    @classmethod
    def of(cls, notification: Notification) -> WebhookPayload:
        """The payload of ``notification``."""
        failing = tuple(MetricEvidence.of(metric) for metric in notification.failing_metrics)
        return cls(
            id=notification.id,
            event=notification.event,
            time=notification.time,
            rollout=RolloutName(namespace=notification.rollout.namespace, name=notification.rollout.name),
            baseline_version=notification.baseline_version,
            candidate_version=notification.candidate_version,
            step=notification.step,
            weight=notification.weight,
            reason=notification.reason,
            message=notification.message,
            failing_metrics=failing or None,
            aborted_by=notification.aborted_by,
            abort_reason=notification.abort_reason,
        )


class SlackText(_Wire):
    """A Slack text object."""

    type: Literal["mrkdwn", "plain_text"] = "mrkdwn"
    text: str


class SlackBlock(_Wire):
    """A Slack layout block: a section, or a context line."""

    type: Literal["section", "context"]
    text: SlackText | None = None
    elements: tuple[SlackText, ...] | None = None


class SlackMessage(_Wire):
    """An incoming-webhook message (``type: slack``)."""

    text: str
    blocks: tuple[SlackBlock, ...]

    @classmethod
    def of(cls, notification: Notification) -> SlackMessage:
        """The message for ``notification``."""
        n = notification
        where = f"{n.rollout.namespace}/{n.rollout.name}"
        headline = f"{where}: {n.candidate_version} {HEADLINES[n.event]} (baseline {n.baseline_version})"
        lines = [f"*{_escape(headline)}*", _escape(n.message)]
        if n.aborted_by is not None:
            lines.append(f"Aborted by {_escape(n.aborted_by)}: {_escape(n.abort_reason or '')}")
        lines.extend(_metric_line(metric) for metric in n.failing_metrics)
        where_now = f"step {n.step}, weight {n.weight}%" if n.step is not None else "not started"
        context = f"{n.event.value} · {n.reason} · {where_now} · {n.time} · event {n.id}"
        return cls(
            text=_escape(f"{headline}: {n.message}"),
            blocks=(
                SlackBlock(type="section", text=SlackText(text="\n".join(lines))),
                SlackBlock(type="context", elements=(SlackText(text=_escape(context)),)),
            ),
        )


def _metric_line(metric: MetricResult) -> str:
    numbers = [
        f"{label} {value:.4g}"
        for label, value in (
            ("effect", metric.effect),
            ("lower", metric.lower),
            ("upper", metric.upper),
            ("log10 e", metric.log10_e),
            ("p", metric.p_value),
        )
        if value is not None
    ]
    samples = f"samples {metric.baseline_samples} vs {metric.candidate_samples}"
    return _escape(f"• {metric.name} ({metric.kind}) FAIL: {', '.join([*numbers, samples])}. {metric.reason}")


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as its documentation asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(kind: NotifierKind, notification: Notification) -> bytes:
    """The request body for a notifier of ``kind``."""
    if kind is NotifierKind.SLACK:
        return SlackMessage.of(notification).body()
    return WebhookPayload.of(notification).body()


__all__ = ["MetricEvidence", "SlackMessage", "WebhookPayload", "render"]
