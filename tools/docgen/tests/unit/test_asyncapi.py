from pathlib import Path

from ims_docgen.asyncapi import document, render
from ims_shared.events import EVENT_TYPES

COMMITTED = Path(__file__).resolve().parents[4] / "docs" / "asyncapi.json"


def test_committed_asyncapi_document_is_current() -> None:
    assert COMMITTED.read_text() == render(), "docs/asyncapi.json is stale: run `make asyncapi` and commit it"


def test_every_event_type_is_documented_on_its_channel() -> None:
    doc = document()
    documented = {name for channel in doc["channels"].values() for name in channel["messages"]}
    assert documented == set(EVENT_TYPES)
    assert doc["channels"]["backups"]["address"] == "ims.{region}.backups"
    assert "BackupArrears" in doc["channels"]["billing"]["messages"]
