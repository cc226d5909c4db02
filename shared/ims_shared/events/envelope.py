"""The CloudEvents 1.0 envelope (structured JSON mode) with the ``region`` and ``projectid`` extensions."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ims_shared.topics import TopicKind
from ims_shared.tracing import trace_context

INT4_MAX = 2**31 - 1


def storable(value: Any) -> Any:
    """``value`` if PostgreSQL can store it: no NUL character and no unpaired surrogate in a string, no integer
    beyond an ``integer`` column's range. Checked in the contract, so that such an event is refused with its reason
    instead of failing in a handler."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a NUL character cannot be stored")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("not valid Unicode (an unpaired surrogate)") from exc
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not -INT4_MAX - 1 <= value <= INT4_MAX:
            raise ValueError(f"integer out of range: at most {INT4_MAX}")
    elif isinstance(value, list | tuple):
        for item in value:
            storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    return value


class ContractModel(BaseModel):
    """Base of every model of the contract's data: every field must be storable (see ``storable``)."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


class EventData(ContractModel):
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

    @field_validator("id", "source", "type", "subject", "region", "projectid", "correlationid", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)

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
