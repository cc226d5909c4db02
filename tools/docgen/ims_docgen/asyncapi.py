"""The AsyncAPI 3.0 document of the event contract, generated from the pydantic models.

``python -m ims_docgen.asyncapi > docs/asyncapi.json``; a test fails when the committed file is stale.

For each event type: its topic (the channel), its schema, the ``ims-authorization`` header every record carries,
and who may produce it, read from the model (``EventData.producers``): the services that own it, whether a tenant's
own systems may (for the tenant's projects only), and that an operator integration may produce the types its entry
of the credentials file lists. Each is also a ``send`` operation per producer and channel.
"""

import json
from typing import Any

from ims_shared.event_auth import ALGORITHM, AUTH_HEADER
from ims_shared.events import EVENT_TYPES, CloudEvent, EventData
from ims_shared.topics import BILLING_TOPIC, DEAD_LETTER_SUFFIX, TopicKind

HEADERS_SCHEMA = "RecordHeaders"
TENANTS = (
    "a tenant's own systems, for the tenant's projects only (the event's projectid must be the tenant's project in "
    "the event's region)"
)
INTEGRATIONS = (
    "an operator integration (an outside system of the operator's), for any project, if its entry of the credentials "
    "file lists the type"
)


def _channel_address(kind: TopicKind) -> str:
    return BILLING_TOPIC if kind is TopicKind.BILLING else "ims.{region}." + kind.value


def _producers(cls: type[EventData]) -> dict[str, Any]:
    producers = cls.producers
    return {
        "services": sorted(producers.services),
        "tenants": producers.tenants,
        "integrations": "the types listed in the integration's entry of the credentials file",
    }


def _who(cls: type[EventData]) -> str:
    producers = cls.producers
    owners = sorted(producers.services)
    who = [f"{', '.join(owners)} (the owning service{'s' if len(owners) > 1 else ''})"]
    if producers.tenants:
        who.append(TENANTS)
    who.append(INTEGRATIONS)
    return "May be produced by " + "; ".join(who) + "."


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"The Kafka headers every record of the contract carries. A consumer checks `{AUTH_HEADER}` "
        "before anything else: a record without it, malformed, signed with an unknown key or whose signature does "
        f"not match goes to '<topic>{DEAD_LETTER_SUFFIX}' with `dlt-reason` unauthenticated; one whose principal may "
        "not produce its type, on this topic or for this project, with `dlt-reason` forbidden (and `dlt-principal`).",
        "required": [AUTH_HEADER],
        "properties": {
            AUTH_HEADER: {
                "type": "string",
                "pattern": f"^{ALGORITHM} Access=[^,\\s]+, Signature=[0-9a-f]{{64}}$",
                "examples": [f"{ALGORITHM} Access=DEVALPHAAK0000000001, Signature={'0' * 64}"],
                "description": f"`{ALGORITHM} Access=<access key>, Signature=<hex>`: the hexadecimal HMAC-SHA256 of "
                "the record's whole value (the structured CloudEvent, as bytes), keyed with the secret key of the "
                "access key's principal in the credentials file: a tenant, an operator integration or a service.",
            },
            "traceparent": {"type": "string", "description": "W3C trace context of the producer, when it has one."},
        },
    }


def document() -> dict[str, Any]:
    envelope = CloudEvent.model_json_schema()
    envelope["properties"].pop("data", None)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventEnvelope": envelope, HEADERS_SCHEMA: _headers_schema()}
    for kind in TopicKind:
        names = sorted(n for n, cls in EVENT_TYPES.items() if cls.topic_kind is kind)
        channel: dict[str, Any] = {
            "address": _channel_address(kind),
            "description": f"Events of the {kind.value} family. The Kafka key is the aggregate id; unparseable, "
            f"contract-breaking, unauthenticated or forbidden records go to '<topic>{DEAD_LETTER_SUFFIX}'.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        }
        if kind is not TopicKind.BILLING:
            channel["parameters"] = {"region": {"description": "A deployed region, e.g. cn-north-4"}}
        channels[kind.value] = channel
        operations.update(_send_operations(kind, names))
        for name in names:
            cls = EVENT_TYPES[name]
            data_schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
            for def_name, definition in data_schema.pop("$defs", {}).items():
                schemas[def_name] = definition
            schemas[name] = data_schema
            messages[name] = {
                "name": name,
                "title": name,
                "summary": (cls.__doc__ or name).strip().splitlines()[0],
                "description": f"On {_channel_address(kind)}. {_who(cls)}",
                "contentType": "application/cloudevents+json",
                "headers": {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the {cls.key_field}"}}},
                "x-topic": _channel_address(kind),
                "x-producers": _producers(cls),
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEventEnvelope"},
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": name},
                                "data": {"$ref": f"#/components/schemas/{name}"},
                            },
                            "required": ["data"],
                        },
                    ]
                },
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Full-ECS images from CBR backups: event contract",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (structured JSON) with the extension attributes region and projectid. "
            f"Every record is signed by its producer in its `{AUTH_HEADER}` header ({ALGORITHM} over the record's "
            "value), and each type may be produced only by those its message's `x-producers` names, on its own "
            "topic (`x-topic`); the `send` operations list the same per producer.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _send_operations(kind: TopicKind, names: list[str]) -> dict[str, Any]:
    """One ``send`` operation per producer of the channel's types: each owning service, the tenants' systems, and
    the operator's integrations."""

    def operation(summary: str, producer: dict[str, str], sent: list[str]) -> dict[str, Any]:
        return {
            "action": "send",
            "channel": {"$ref": f"#/channels/{kind.value}"},
            "summary": summary,
            "x-producer": producer,
            "messages": [{"$ref": f"#/channels/{kind.value}/messages/{n}"} for n in sent],
        }

    operations: dict[str, Any] = {}
    services = sorted({s for n in names for s in EVENT_TYPES[n].producers.services})
    for service in services:
        owned = [n for n in names if service in EVENT_TYPES[n].producers.services]
        summary = f"{service} produces the {kind.value} events it owns."
        operations[f"{service}-sends-{kind.value}"] = operation(summary, {"kind": "service", "name": service}, owned)
    by_tenants = [n for n in names if EVENT_TYPES[n].producers.tenants]
    if by_tenants:
        summary = f"Produced by {TENANTS}."
        operations[f"tenant-sends-{kind.value}"] = operation(summary, {"kind": "tenant"}, by_tenants)
    summary = f"Produced by {INTEGRATIONS}."
    operations[f"integration-sends-{kind.value}"] = operation(summary, {"kind": "integration"}, names)
    return operations


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
