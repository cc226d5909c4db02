"""Hostile records: what a broken or malicious producer can put on a topic, signed with a key the consumers accept.

Each ``Hostile`` is a record's value, the kind it belongs to, and what a consumer that reads it must do: dead-letter
it (``refused``) with a reason that is the contract's, or, for the few values a lenient reader may take (a string
just under the record limit in a string field), either handle it or dead-letter it; never fail in a handler.

Values are written as raw JSON text: a placeholder string is put where the hostile part goes, the document is
serialised, and the placeholder's JSON is replaced by the fragment (JSON nested 10,000 deep, ``NaN``, an integer of
5,000 digits, an escaped lone surrogate), which no serialiser would write.
"""

import copy
import functools
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ims_shared.events import EVENT_TYPES
from ims_shared.events.registry import MAX_EVENT_BYTES
from ims_shared.tenants import load_tenants
from ims_shared.topics import TopicKind, topic_for

CN, OTHER_REGION = "cn-north-4", "ap-southeast-1"
CATALOG = load_tenants(None)
TENANTS = {t.name: t for t in CATALOG.tenants}
ALPHA_PROJECT = TENANTS["alpha"].projects[CN]
PLACEHOLDER = "\u2603hostile\u2603"
_QUOTED = json.dumps(PLACEHOLDER, ensure_ascii=False).encode()
# What a dead letter's reason starts with when the contract refused the record (parse_event and authorize).
CONTRACT_REASONS = (
    "not JSON",
    "a CloudEvent must be a JSON object",
    "invalid CloudEvent envelope",
    "invalid ",  # invalid <Type> data
    "unknown event type",
    "event of ",  # ... bytes exceeds the limit
    "empty message",
    "forbidden",
)
ENVELOPE_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "region", "projectid", "data")


@dataclass(frozen=True)
class Hostile:
    kind: str
    name: str
    value: bytes
    refused: bool = True  # False: a reader may also take it (then it must be handled, not fail)
    reason: str = ""  # what the dead letter's reason must contain, when it says more than the contract's prefix


# -- documents ---------------------------------------------------------------------------------------------------
def _schema_value(schema: dict[str, Any], defs: dict[str, Any], full: bool) -> Any:
    """The simplest value the schema accepts; ``full``: with every optional property and an item in every array."""
    if "$ref" in schema:
        return _schema_value(defs[schema["$ref"].rsplit("/", 1)[1]], defs, full)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _schema_value(options[0], defs, full)
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date-time":
            return datetime.now(UTC).isoformat()
        return FREE * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if kind == "array":
        return [_schema_value(schema.get("items", {}), defs, full)] if full else []
    required = set(schema.get("required", ()))
    properties = schema.get("properties", {})
    return {k: _schema_value(v, defs, full) for k, v in properties.items() if full or k in required}


FREE = "x"  # what a free string of the contract is made of, in a generated event


@functools.cache
def schema_of(event_type: str) -> dict[str, Any]:
    return EVENT_TYPES[event_type].model_json_schema()


def minimal_data(event_type: str, full: bool = False) -> dict[str, Any]:
    """A valid ``data`` of ``event_type`` with only its required fields (``full``: every field), each at its simplest
    (ids made unique)."""
    schema = schema_of(event_type)
    data = _schema_value(schema, schema.get("$defs", {}), full)
    for field, value in data.items():
        if field.endswith("_id") and value == FREE:
            data[field] = f"hostile-{uuid.uuid4().hex[:12]}"
    if "account_id" in data:
        data["account_id"] = TENANTS["alpha"].account_id
    if "destination_region" in data:
        data["destination_region"] = OTHER_REGION
    if "source_region" in data:
        data["source_region"] = OTHER_REGION
    EVENT_TYPES[event_type].model_validate(data)
    return data


def free_strings(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The paths of a generated ``data``'s free strings (not an enumeration's member, not a date)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from free_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from free_strings(item, (*path, index))
    elif isinstance(value, str) and (value.startswith("hostile-") or set(value) == {FREE}):
        yield path


def document(
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    project: str = ALPHA_PROJECT,
    region: str = CN,
    full: bool = False,
) -> dict[str, Any]:
    data = minimal_data(event_type, full) if data is None else data
    model = EVENT_TYPES[event_type]
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/hostile",
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "subject": str(data.get(model.key_field, "")) or None,
        "region": region,
        "projectid": project,
        "data": data,
    }


def encoded(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def render(doc: dict[str, Any], path: tuple[str, ...], fragment: bytes) -> bytes:
    """``doc`` as JSON text with ``fragment`` (raw JSON text) at ``path`` (an attribute that may not exist yet)."""
    doc = copy.deepcopy(doc)
    at = doc
    for step in path[:-1]:
        at = at[step]
    at[path[-1]] = PLACEHOLDER
    text = encoded(doc)
    assert text.count(_QUOTED) == 1
    return text.replace(_QUOTED, fragment)


def string_field(event_type: str) -> str:
    """A required string field of ``event_type``'s data (the key field when it is one)."""
    model = EVENT_TYPES[event_type]
    schema = schema_of(event_type)
    for name in [model.key_field, *schema.get("required", ())]:
        if schema["properties"].get(name, {}).get("type") == "string" and "format" not in schema["properties"][name]:
            return name
    raise AssertionError(f"{event_type} has no required string field")


def integer_field(event_type: str) -> str | None:
    for name, prop in schema_of(event_type)["properties"].items():
        if prop.get("type") == "integer":
            return name
    return None


def locations(event_type: str) -> dict[str, tuple[str, ...]]:
    """Where a hostile value goes: a named envelope attribute, an extension attribute, a field of the data (a string
    one), an attribute the data does not define."""
    return {
        "attribute": ("subject",),
        "extension": ("hostileext",),
        "data field": ("data", string_field(event_type)),
        "data extra": ("data", "hostile_extra"),
    }


# -- the kinds -----------------------------------------------------------------------------------------------------
SHAPES = ("arrays", "objects", "mixed")


def nested(depth: int, shape: str) -> bytes:
    """A JSON value ``depth`` containers deep."""
    if shape == "arrays":
        return b"[" * depth + b"]" * depth
    if shape == "objects":
        return b'{"n":' * depth + b"0" + b"}" * depth
    half, odd = divmod(depth, 2)
    return b'[{"n":' * half + (b"[]" if odd else b"0") + b"}]" * half


def nesting(event_type: str, depths: tuple[int, ...]) -> Iterator[Hostile]:
    for depth in depths:
        for shape in SHAPES:
            yield Hostile("nesting", f"{shape} {depth} deep as the record", nested(depth, shape))
            for where, path in locations(event_type).items():
                value = render(document(event_type), path, nested(depth, shape))
                yield Hostile("nesting", f"{shape} {depth} deep in the {where}", value)


def _incompressible(length: int) -> str:
    return secrets.token_hex(length // 2 + 1)[:length]


def strings(event_type: str) -> Iterator[Hostile]:
    """Strings of about a megabyte: just under the record limit (a reader may take one where a string may be long)
    and just over it, in every place."""
    room = MAX_EVENT_BYTES - len(encoded(document(event_type))) - 64
    places = {
        **locations(event_type),
        "id": ("id",),
        "source": ("source",),
        "projectid": ("projectid",),
        "region": ("region",),
        "data key": ("data", PLACEHOLDER),
    }
    for where, path in places.items():
        for size, label in ((room, "under"), (MAX_EVENT_BYTES + 1, "over")):
            text, doc = _incompressible(size), document(event_type)
            if where == "data key":
                value = encoded(doc | {"data": doc["data"] | {text: 1}})
            else:
                value = render(doc, path, json.dumps(text).encode())
            over = len(value) > MAX_EVENT_BYTES
            assert over == (label == "over"), (where, label, len(value))
            yield Hostile(
                "megabyte strings",
                f"{len(value):,} bytes, {label} the limit, in the {where}",
                value,
                refused=over,
                reason="exceeds the limit" if over else "",
            )


def long_strings(event_type: str, length: int) -> Iterator[Hostile]:
    """A string of ``length`` characters (within the record limit) in every free string of the data and in every
    envelope attribute that is one: refused by the contract or handled, never failing in a handler (an index
    refuses a row over 8 kB)."""
    for path in free_strings(minimal_data(event_type, full=True)):
        doc = document(event_type, full=True)
        at: Any = doc["data"]
        for step in path[:-1]:
            at = at[step]
        at[path[-1]] = _incompressible(length)
        label = ".".join(str(step) for step in path)
        yield Hostile("long strings", f"{length:,} characters in {event_type}.{label}", encoded(doc), refused=False)
    for attribute in ("id", "source", "subject", "region", "projectid", "correlationid", "traceparent", "tracestate"):
        doc = document(event_type, full=True) | {attribute: _incompressible(length)}
        yield Hostile("long strings", f"{length:,} characters in the {attribute}", encoded(doc), refused=False)


HUGE_NUMBERS = {
    "an integer of 4,001 digits": (b"1" + b"0" * 4000, True),
    "an integer of 5,000 digits": (b"9" * 5000, True),
    "a negative integer of 4,300 digits": (b"-" + b"7" * 4300, True),
    "1e400": (b"1e400", True),
    "-1e400": (b"-1e400", True),
    "NaN": (b"NaN", True),
    "Infinity": (b"Infinity", True),
    "-Infinity": (b"-Infinity", True),
    "2**64": (b"18446744073709551616", False),  # a reader may take it as a float
    "1e-400": (b"1e-400", False),  # 0.0
}


def numbers(event_type: str) -> Iterator[Hostile]:
    places = dict(locations(event_type))
    number = integer_field(event_type)
    if number is not None:
        places["integer field"] = ("data", number)
    for label, (literal, refused) in HUGE_NUMBERS.items():
        for where, path in places.items():
            # Where anything goes (an undefined attribute of the data), a number a reader takes is taken.
            must = refused or where in ("attribute", "data field", "extension")
            yield Hostile(
                "huge numbers", f"{label} in the {where}", render(document(event_type), path, literal), refused=must
            )


def encodings(event_type: str) -> Iterator[Hostile]:
    for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"):
        yield Hostile("encoding", f"the record in {codec.upper()}", json.dumps(document(event_type)).encode(codec))
    yield Hostile("encoding", "a UTF-8 byte order mark", b"\xef\xbb\xbf" + encoded(document(event_type)))
    latin = encoded(document(event_type) | {"source": "/caf\u00e9"}).decode().encode("latin-1")
    yield Hostile("encoding", "Latin-1 text", latin)
    text_faults = {  # as raw bytes in a string; or escaped, which a key or an attribute's name may hold too
        "an invalid byte (0xff)": b'"a\xffb"',
        "a truncated sequence": b'"a\xe2\x82b"',
        "an overlong '/'": b'"a\xc0\xafb"',
        "a surrogate encoded in UTF-8 (CESU)": b'"a\xed\xa0\x80b"',
        "a code point beyond U+10FFFF": b'"a\xf4\x90\x80\x80b"',
        "a raw NUL byte": b'"a\x00b"',
        "a raw control character": b'"a\x01b"',
        "a lone high surrogate": b'"a\\ud800b"',
        "a lone low surrogate": b'"\\udfff"',
        "a reversed pair": b'"\\udc00\\ud800"',
        "an escaped NUL": b'"a\\u0000b"',
    }
    for label, fragment in text_faults.items():
        for where, path in locations(event_type).items():
            yield Hostile("encoding", f"{label} in the {where}", render(document(event_type), path, fragment))
        if b"\\u" not in fragment:
            continue
        keyed = encoded(document(event_type)).replace(b'"data": {', b'"data": {' + fragment + b": 1, ", 1)
        yield Hostile("encoding", f"{label} in a key of the data", keyed)
        keyed = encoded(document(event_type)).replace(b'"data": {', fragment + b': 1, "data": {', 1)
        yield Hostile("encoding", f"{label} as an attribute's name", keyed)
    whole = encoded(document(event_type))
    yield Hostile("encoding", "the record cut in the middle", whole[: len(whole) // 2])
    yield Hostile("encoding", "the record twice", encoded(document(event_type)) * 2)
    yield Hostile("encoding", "trailing garbage", encoded(document(event_type)) + b"\x00garbage")
    yield Hostile("encoding", "an empty value", b"")


# -- wrong types -------------------------------------------------------------------------------------------------
WRONG = {
    "string": ("a string", "\u00abnot a value of this field\u00bb"),
    "integer": ("an integer", 7),
    "number": ("a fraction", 1.5),
    "boolean": ("a boolean", True),
    "null": ("null", None),
    "array": ("an array", ["x"]),
    "object": ("an object", {"x": 1}),
}


def _accepts(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """The JSON kinds of ``WRONG`` a property may take, leniently as pydantic reads (an integer takes a boolean,
    a date-time a Unix time); a string only where any string is one (not an enumeration, a date or a number)."""
    if "$ref" in schema:
        return _accepts(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return set().union(*(_accepts(s, defs) for s in schema[key]))
    if "const" in schema or "enum" in schema:
        return set()
    kind = schema.get("type")
    if kind is None:
        return set(WRONG)
    if kind == "string":
        return {"integer", "number"} if "format" in schema else {"string"}
    if kind == "integer":
        return {"integer", "boolean"}
    if kind == "number":
        return {"integer", "number", "boolean"}
    return {kind}


def wrong_types(event_type: str) -> Iterator[Hostile]:
    """Every field of the data and every envelope attribute, given each value of a JSON kind it does not take, and
    every required envelope attribute missing."""
    schema = schema_of(event_type)
    defs = schema.get("$defs", {})
    for field, prop in schema["properties"].items():
        taken = _accepts(prop, defs)
        for kind, (label, value) in WRONG.items():
            if kind not in taken:
                doc = document(event_type)
                data = doc["data"] | {field: value}
                yield Hostile("wrong types", f"{event_type}.{field} as {label}", encoded(doc | {"data": data}))
    # A free string is a valid id, source, region or project (the handlers and the authorisation decide on it).
    envelope_kinds = {a: {"string"} for a in ENVELOPE_ATTRIBUTES}
    envelope_kinds |= {"specversion": set(), "type": set(), "time": {"integer", "number"}}
    envelope_kinds |= {"subject": {"string", "null"}, "data": {"object"}}
    for attribute, taken in envelope_kinds.items():
        for kind, (label, value) in WRONG.items():
            if kind not in taken:
                value = encoded(document(event_type) | {attribute: value})
                yield Hostile("wrong types", f"the envelope's {attribute} as {label}", value)
    for attribute in ("id", "source", "type", "time", "region", "data"):
        missing = {k: v for k, v in document(event_type).items() if k != attribute}
        yield Hostile("wrong types", f"the envelope missing its {attribute}", encoded(missing))


# -- authorised, but not for this ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    """A valid event, signed by ``signer``, on ``topic``: refused (forbidden) by every consumer that handles its
    type, ignored by the others."""

    kind: str
    name: str
    event_type: str
    value: bytes
    topic: str
    signer: str
    reason: str


TOPIC_KINDS = (TopicKind.BACKUPS, TopicKind.IMAGES, TopicKind.REPLICATION, TopicKind.BILLING)
TOPICS = sorted({topic_for(kind, region) for kind in TOPIC_KINDS for region in (CN, OTHER_REGION)})


def owner(event_type: str) -> str:
    return min(EVENT_TYPES[event_type].producers.services)


def own_topic(event_type: str) -> str:
    return topic_for(EVENT_TYPES[event_type].topic_kind, CN)


def forbidden() -> Iterator[Signed]:
    """Every type of the contract on every topic but its own; and signed by a principal that may not produce it:
    a tenant (a service's type, another tenant's project, its own project of another region), an operator
    integration not listed for it, a service that does not own it."""
    beta, alpha = TENANTS["beta"], TENANTS["alpha"]
    for event_type, model in sorted(EVENT_TYPES.items()):
        value = encoded(document(event_type))
        home = own_topic(event_type)
        for topic in TOPICS:
            if topic != home:
                reason = f"forbidden: {event_type} belongs on {home}, not {topic}"
                yield Signed(
                    "every type on every topic",
                    f"{event_type} on {topic}",
                    event_type,
                    value,
                    topic,
                    owner(event_type),
                    reason,
                )
        if not model.producers.tenants:
            yield Signed(
                "a tenant's service type",
                f"alpha's {event_type}",
                event_type,
                value,
                home,
                "alpha",
                f"forbidden: a tenant may not produce {event_type}",
            )
        else:
            for label, project in (
                ("beta's project", beta.projects[CN]),
                ("its project of another region", alpha.projects[OTHER_REGION]),
            ):
                yield Signed(
                    "a tenant naming another project",
                    f"alpha's {event_type} in {label}",
                    event_type,
                    encoded(document(event_type, project=project)),
                    home,
                    "alpha",
                    "forbidden: project",
                )
        for system in CATALOG.integrations:
            if event_type not in system.produces:
                yield Signed(
                    "an integration's unlisted type",
                    f"{system.name}'s {event_type}",
                    event_type,
                    value,
                    home,
                    system.name,
                    f"forbidden: a integration may not produce {event_type}",
                )
        for service in CATALOG.services:
            if service.name not in model.producers.services:
                yield Signed(
                    "a service's foreign type",
                    f"{service.name}'s {event_type}",
                    event_type,
                    value,
                    home,
                    service.name,
                    f"forbidden: a service may not produce {event_type}",
                )
