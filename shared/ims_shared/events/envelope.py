"""The CloudEvents 1.0 envelope (structured JSON mode) with the ``region`` and ``projectid`` extensions."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ims_shared.topics import TopicKind
from ims_shared.tracing import trace_context


class EventData(BaseModel):
    """Base of every event's ``data``. Subclasses name their topic family and the field that is the Kafka key."""

    model_config = ConfigDict(extra="ignore")

    topic_kind: ClassVar[TopicKind]
    key_field: ClassVar[str]

    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: str = Field(default="1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    region: str = Field(min_length=1)
    projectid: str = ""
    correlationid: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    data: dict[str, Any]

    def trace_carrier(self) -> dict[str, str]:
        return {k: v for k, v in (("traceparent", self.traceparent), ("tracestate", self.tracestate)) if v}


def new_event_id() -> str:
    return str(uuid.uuid4())


def derived_id(event_id: str, purpose: str) -> str:
    """A deterministic id derived from an event id, so a redelivered request creates nothing new."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ims:{purpose}:{event_id}"))


def make_event(
    data: EventData,
    *,
    source: str,
    region: str,
    project_id: str,
    event_id: str | None = None,
    correlation_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    event_id = event_id or new_event_id()
    context = trace_context()
    return CloudEvent(
        traceparent=context.get("traceparent"),
        tracestate=context.get("tracestate"),
        id=event_id,
        source=source,
        type=type(data).__name__,
        time=time or datetime.now(UTC),
        subject=data.aggregate_id(),
        region=region,
        projectid=project_id,
        correlationid=correlation_id or event_id,
        data=data.model_dump(mode="json"),
    )
