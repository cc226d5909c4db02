"""The CloudEvents 1.0 envelope (structured JSON mode) with the ``region`` and ``projectid`` extensions."""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ims_shared.topics import TopicKind
from ims_shared.tracing import trace_context

INT4_MAX = 2**31 - 1
Int4 = Annotated[int, Field(ge=-INT4_MAX - 1, le=INT4_MAX)]
"""Every integer of the contract: what PostgreSQL's ``integer`` column holds (checked by pydantic-core itself)."""
ID_LENGTH = 64
Id = Annotated[str, Field(max_length=ID_LENGTH)]
"""Every identifier of the contract (of a resource, a job, a project, an account, a region): at most 64 characters.
Ids are keys of indexes, and PostgreSQL refuses an index row over 8 kB: a longer id would fail in a handler."""
# Set in a validation's context by a reader that has established from the raw JSON that no string in it needs the
# check below (``ims_shared.events.registry``): the walk over the model's strings is then skipped.
TEXT_CHECKED = "ims.text_checked"


MAX_DEPTH = 32
"""How deeply the values of an event may nest: far more than the contract needs, far less than a parser's stack."""


def storable(value: Any, depth: int = 0) -> Any:
    """``value`` if PostgreSQL can store its text: no NUL character and no unpaired surrogate in a string (in lists
    and dicts too), nested at most ``MAX_DEPTH`` deep. Checked in the contract, so that such an event is refused with
    its reason instead of failing in a handler. Integers are bounded by their type, ``Int4``."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a NUL character cannot be stored")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("not valid Unicode (an unpaired surrogate)") from exc
    elif isinstance(value, list | tuple | dict):
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            for key, item in value.items():
                storable(key, depth + 1)
                storable(item, depth + 1)
        else:
            for item in value:
                storable(item, depth + 1)
    return value


def check_storable(fields: Iterable[tuple[str, Any]], info: ValidationInfo) -> None:
    """Every one of the named values is storable, or ValueError naming the field (unless the reader has checked the
    document's text already)."""
    if info.context and info.context.get(TEXT_CHECKED):
        return
    for name, value in fields:
        try:
            storable(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


class ContractModel(BaseModel):
    """Base of every model of the contract's data: every field must be storable (see ``storable``; integers are
    ``Int4``). One check per model, not a validator per field: a field validator is a call into Python for every
    field of every event read, which was a third of the time a consumer spent parsing an event."""

    @model_validator(mode="after")
    def _storable(self, info: ValidationInfo) -> Self:
        check_storable(self.__dict__.items(), info)
        return self


@dataclass(frozen=True)
class Producers:
    """Who may produce an event type (``ims_shared.event_auth`` checks every record against it): the services that
    own it, and whether a tenant's own systems may produce it for the tenant's projects. An operator integration
    may produce the types its entry of the credentials file lists."""

    services: frozenset[str]
    tenants: bool = False


def produced_by(*services: str, tenants: bool = False) -> Producers:
    return Producers(frozenset(services), tenants)


class EventData(ContractModel):
    """Base of every event's ``data``. Subclasses name their topic family, the field that is the Kafka key, and who
    may produce them."""

    model_config = ConfigDict(extra="ignore")

    topic_kind: ClassVar[TopicKind]
    key_field: ClassVar[str]
    producers: ClassVar[Producers]

    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))


_CHECKED_ATTRIBUTES = ("id", "source", "type", "subject", "region", "projectid", "correlationid")
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")


def check_extensions(extensions: dict[str, Any]) -> None:
    """CloudEvents' rule for extension attributes: a name of lower-case ASCII letters and digits, a value of one of
    its types (a string, an integer of 32 bits, a boolean), never an object or an array (which could nest, or be a
    number no reader holds)."""
    for name, value in extensions.items():
        if not _EXTENSION_NAME.fullmatch(name):
            raise ValueError(f"extension attribute {name[:40]!r}: a name is lower-case letters and digits")
        if isinstance(value, bool | str) or (isinstance(value, int) and -INT4_MAX - 1 <= value <= INT4_MAX):
            continue
        raise ValueError(f"extension attribute {name!r}: a string, an integer of 32 bits or a boolean")


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: str = Field(default="1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=1024)
    type: str = Field(min_length=1, max_length=256)
    time: datetime
    subject: Annotated[str, Field(max_length=256)] | None = None
    datacontenttype: str = Field(default="application/json", max_length=256)
    region: Id = Field(min_length=1)
    projectid: Id = ""
    correlationid: Annotated[str, Field(max_length=256)] | None = None
    traceparent: Annotated[str, Field(max_length=512)] | None = None
    tracestate: Annotated[str, Field(max_length=512)] | None = None
    data: dict[str, Any]

    @model_validator(mode="after")
    def _storable(self, info: ValidationInfo) -> Self:
        extensions = self.model_extra or {}
        check_extensions(extensions)
        if not (info.context and info.context.get(TEXT_CHECKED)):
            check_storable([*((name, getattr(self, name)) for name in _CHECKED_ATTRIBUTES), *extensions.items()], info)
        return self

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
