"""Every event type of the contract, and parsing of raw Kafka values into typed events.

An event type is any public ``EventData`` subclass defined in one of the family modules imported below.
"""

import json
import math
from collections.abc import Container
from typing import Any

import orjson
from pydantic import ValidationError

from ims_shared.events import backups, billing, images, replication
from ims_shared.events.envelope import MAX_DEPTH, TEXT_CHECKED, CloudEvent, EventData, storable

MAX_EVENT_BYTES = 1024 * 1024
FAMILIES = (backups, images, billing, replication)


def _collect() -> dict[str, type[EventData]]:
    types: dict[str, type[EventData]] = {}
    for module in FAMILIES:
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, EventData)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                types[name] = value
    return types


EVENT_TYPES: dict[str, type[EventData]] = _collect()


class ContractError(ValueError):
    """A message that is not a valid event of the contract. It goes to the dead-letter topic."""


class UnwantedEvent(Exception):
    """An event of the contract of a type the reader said it does not want (it is not validated)."""

    def __init__(self, event_type: str) -> None:
        super().__init__(event_type)
        self.event_type = event_type


def parse_event(raw: bytes | None, wanted: Container[str] | None = None) -> tuple[CloudEvent, EventData]:
    """Parse a Kafka value into its envelope and typed data, or raise ``ContractError`` saying why not. With
    ``wanted``, a document naming another type of the contract raises ``UnwantedEvent`` before any validation."""
    if raw is None:
        raise ContractError("empty message (tombstone) is not an event")
    if len(raw) > MAX_EVENT_BYTES:
        raise ContractError(f"event of {len(raw)} bytes exceeds the limit of {MAX_EVENT_BYTES} bytes")
    document, checked = _decode(raw)
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _nested_deeper(document, MAX_DEPTH):
        raise ContractError(f"not JSON this service reads: nested more than {MAX_DEPTH} deep")
    if not isinstance(document, dict):
        raise ContractError("a CloudEvent must be a JSON object")
    event_type = document.get("type")
    if wanted is not None and isinstance(event_type, str) and event_type in EVENT_TYPES and event_type not in wanted:
        raise UnwantedEvent(event_type)
    context = {TEXT_CHECKED: checked}
    try:
        envelope = CloudEvent.model_validate(document, context=context)
    except ValidationError as exc:
        raise ContractError(f"invalid CloudEvent envelope: {_short(exc)}") from exc
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise ContractError(f"unknown event type {envelope.type!r}")
    try:
        data = model.model_validate(envelope.data, context=context)
    except ValidationError as exc:
        raise ContractError(f"invalid {envelope.type} data: {_short(exc)}") from exc
    if not checked:
        try:  # what the data holds besides the type's fields (ignored, but no less the event's)
            storable(envelope.data)
        except ValueError as exc:
            raise ContractError(f"invalid {envelope.type} data: {exc}") from None
    return envelope, data


def _decode(raw: bytes) -> tuple[Any, bool]:
    """The JSON document, and whether its strings are known to be storable. orjson decodes (several times
    faster than the standard library, a large share of a consumer's time per event); what it refuses is decoded
    again by the standard library, which reads unpaired surrogates, so that the contract's check gives that reason,
    or says why it is not JSON. That second reader takes only what orjson would, but for those surrogates: UTF-8
    text (no byte order mark, no UTF-16 or UTF-32, which ``json.loads`` of bytes detects and reads), no ``NaN`` or
    ``Infinity``, no number beyond a float's range (orjson reads an integer beyond 64 bits as a float)."""
    try:
        # orjson refuses unpaired surrogates and raw control characters: only an escaped NUL remains to be checked.
        return orjson.loads(raw), b"\\u0000" not in raw
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8", "surrogatepass")
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer), False
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and what the hooks below refuse
        raise ContractError(f"not JSON: {exc}") from None
    except RecursionError:
        raise ContractError("not JSON this service reads: nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]}... beyond the range of a float")
    return value


def _integer(text: str) -> int | float:
    return int(text) if len(text) <= 20 else _finite(text)


def _nested_deeper(document: Any, limit: int) -> bool:
    """Whether ``document`` has arrays or objects nested more than ``limit`` deep (without recursion)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if items is None:
            continue
        if depth > limit:
            return True
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" if err["loc"] else err["msg"]
        for err in exc.errors()[:5]
    )
