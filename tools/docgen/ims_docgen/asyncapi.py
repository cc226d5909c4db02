"""The AsyncAPI 3.0 document of the event contract, generated from the pydantic models.

``python -m ims_docgen.asyncapi > docs/asyncapi.json``; a test fails when the committed file is stale.
"""

import json
from typing import Any

from ims_shared.events import EVENT_TYPES, CloudEvent
from ims_shared.topics import BILLING_TOPIC, DEAD_LETTER_SUFFIX, TopicKind


def _channel_address(kind: TopicKind) -> str:
    return BILLING_TOPIC if kind is TopicKind.BILLING else "ims.{region}." + kind.value


def document() -> dict[str, Any]:
    envelope = CloudEvent.model_json_schema()
    envelope["properties"].pop("data", None)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventEnvelope": envelope}
    for kind in TopicKind:
        names = sorted(n for n, cls in EVENT_TYPES.items() if cls.topic_kind is kind)
        channel: dict[str, Any] = {
            "address": _channel_address(kind),
            "description": f"Events of the {kind.value} family. The Kafka key is the aggregate id; "
            f"unparseable or contract-breaking records go to '<topic>{DEAD_LETTER_SUFFIX}'.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        }
        if kind is not TopicKind.BILLING:
            channel["parameters"] = {"region": {"description": "A deployed region, e.g. cn-north-4"}}
        channels[kind.value] = channel
        operations[f"publish-{kind.value}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{kind.value}"},
            "messages": [{"$ref": f"#/channels/{kind.value}/messages/{n}"} for n in names],
        }
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
                "contentType": "application/cloudevents+json",
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the {cls.key_field}"}}},
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
            "description": "CloudEvents 1.0 (structured JSON) with the extension attributes region and projectid.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
