import inspect
import re
from pathlib import Path

import pytest

from ims_docgen import asyncapi
from ims_docgen.asyncapi import document, render
from ims_shared.event_auth import AUTH_HEADER, authorization
from ims_shared.events import EVENT_TYPES
from ims_shared.events.envelope import produced_by

COMMITTED = Path(__file__).resolve().parents[4] / "docs" / "asyncapi.json"


def test_committed_asyncapi_document_is_current() -> None:
    assert COMMITTED.read_text() == render(), "docs/asyncapi.json is stale: run `make asyncapi` and commit it"


def test_every_event_type_is_documented_on_its_channel() -> None:
    doc = document()
    documented = {name for channel in doc["channels"].values() for name in channel["messages"]}
    assert documented == set(EVENT_TYPES)
    assert doc["channels"]["backups"]["address"] == "ims.{region}.backups"
    assert "BackupArrears" in doc["channels"]["billing"]["messages"]


def test_each_messages_producers_are_the_models() -> None:
    doc = document()
    for name, cls in EVENT_TYPES.items():
        message = doc["components"]["messages"][name]
        assert message["x-producers"]["services"] == sorted(cls.producers.services), name
        assert message["x-producers"]["tenants"] is cls.producers.tenants, name
        assert "credentials file" in message["x-producers"]["integrations"]
        assert message["x-topic"] == doc["channels"][cls.topic_kind.value]["address"]
        for service in cls.producers.services:
            assert service in message["description"]
        assert ("tenant's own systems" in message["description"]) is cls.producers.tenants


def test_the_send_operations_list_each_producers_types_on_their_channel() -> None:
    doc = document()
    sent: dict[tuple[str, str], set[str]] = {}
    for operation in doc["operations"].values():
        assert operation["action"] == "send"
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        producer = operation["x-producer"]
        who = producer.get("name", producer["kind"])
        names = {ref["$ref"].rsplit("/", 1)[1] for ref in operation["messages"]}
        assert names <= set(doc["channels"][channel]["messages"]), operation
        sent[(who, channel)] = names
    expected: dict[tuple[str, str], set[str]] = {}
    for name, cls in EVENT_TYPES.items():
        channel = cls.topic_kind.value
        for who in [*cls.producers.services, *(["tenant"] if cls.producers.tenants else []), "integration"]:
            expected.setdefault((who, channel), set()).add(name)
    assert sent == expected


def test_the_producers_are_read_from_the_models_not_restated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EVENT_TYPES["BackupDeleted"], "producers", produced_by("image-service", tenants=True))
    message = document()["components"]["messages"]["BackupDeleted"]
    assert message["x-producers"]["services"] == ["image-service"] and message["x-producers"]["tenants"] is True
    source = inspect.getsource(asyncapi)
    services = {s for cls in EVENT_TYPES.values() for s in cls.producers.services}
    assert not [s for s in services if s in source], "the generator names a service: read it from the models"


def test_every_message_carries_the_signature_header_and_its_scheme_is_described() -> None:
    doc = document()
    headers = doc["components"]["schemas"]["RecordHeaders"]
    assert headers["required"] == [AUTH_HEADER]
    scheme = headers["properties"][AUTH_HEADER]
    value = authorization("AK", "secret", b"{}")
    assert re.fullmatch(scheme["pattern"], value)
    assert "HMAC-SHA256" in scheme["description"] and "credentials file" in scheme["description"]
    assert "unauthenticated" in headers["description"] and "forbidden" in headers["description"]
    for message in doc["components"]["messages"].values():
        assert message["headers"] == {"$ref": "#/components/schemas/RecordHeaders"}
