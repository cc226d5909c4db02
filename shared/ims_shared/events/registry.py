"""Every event type of the contract, and parsing of raw Kafka values into typed events."""

import json

from pydantic import ValidationError

from ims_shared.events.backups import BackupCreated, BackupDeleted, BackupDeletionFailed, ServerStateChanged
from ims_shared.events.billing import AccountStateChanged, BackupArrears
from ims_shared.events.envelope import CloudEvent, EventData
from ims_shared.events.images import ImageCreated, ImageCreationFailed, ImageDeleted, ImageRequested

MAX_EVENT_BYTES = 1024 * 1024

EVENT_TYPES: dict[str, type[EventData]] = {
    cls.__name__: cls
    for cls in (
        BackupCreated,
        BackupDeleted,
        BackupDeletionFailed,
        ServerStateChanged,
        ImageRequested,
        ImageCreated,
        ImageCreationFailed,
        ImageDeleted,
        BackupArrears,
        AccountStateChanged,
    )
}


class ContractError(ValueError):
    """A message that is not a valid event of the contract. It goes to the dead-letter topic."""


def register(cls: type[EventData]) -> type[EventData]:
    EVENT_TYPES[cls.__name__] = cls
    return cls


def parse_event(raw: bytes | None) -> tuple[CloudEvent, EventData]:
    """Parse a Kafka value into its envelope and typed data, or raise ``ContractError`` saying why not."""
    if raw is None:
        raise ContractError("empty message (tombstone) is not an event")
    if len(raw) > MAX_EVENT_BYTES:
        raise ContractError(f"event of {len(raw)} bytes exceeds the limit of {MAX_EVENT_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ContractError("a CloudEvent must be a JSON object")
    try:
        envelope = CloudEvent.model_validate(document)
    except ValidationError as exc:
        raise ContractError(f"invalid CloudEvent envelope: {_short(exc)}") from exc
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise ContractError(f"unknown event type {envelope.type!r}")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise ContractError(f"invalid {envelope.type} data: {_short(exc)}") from exc
    return envelope, data


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
    )
