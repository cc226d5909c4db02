import json
from datetime import UTC, datetime

import annotated_types
import pytest
from pydantic import ValidationError

from ims_shared.events import (
    EVENT_TYPES,
    BackupCreated,
    BackupDisk,
    ContractError,
    ImageRequested,
    ImageTag,
    ServerInfo,
    derived_id,
    make_event,
    parse_event,
)
from ims_shared.events.registry import MAX_EVENT_BYTES, UnwantedEvent
from ims_shared.regions import RouteTable
from ims_shared.topics import all_topics, dead_letter_topic


def _backup() -> BackupCreated:
    return BackupCreated(
        backup_id="b-1",
        vault_id="v-1",
        name="nightly",
        resource_id="ecs-1",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        size_gb=40,
    )


def _raw(**overrides: object) -> bytes:
    event = make_event(_backup(), source="/t", region="cn-north-4", project_id="p1").model_dump(mode="json")
    event.update(overrides)
    return json.dumps(event).encode()


def test_a_valid_event_round_trips_with_its_extensions() -> None:
    envelope, data = parse_event(_raw())
    assert envelope.specversion == "1.0"
    assert envelope.type == "BackupCreated"
    assert envelope.region == "cn-north-4" and envelope.projectid == "p1"
    assert envelope.subject == "b-1"
    assert isinstance(data, BackupCreated) and data.backup_id == "b-1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json {", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (None, "tombstone"),
        (_raw(type="NoSuchEvent"), "unknown event type"),
        (_raw(data={"backup_id": "b-1"}), "invalid BackupCreated data"),
        (_raw(specversion="0.3"), "envelope"),
        (_raw(id=""), "envelope"),
        (b"{" + b" " * MAX_EVENT_BYTES + b"}", "exceeds the limit"),
        (_raw(data=_backup().model_dump(mode="json") | {"name": "night\x00ly"}), "NUL character"),
        (_raw(data=_backup().model_dump(mode="json") | {"size_gb": 2**31}), "less than or equal to 2147483647"),
        (
            _raw(data=_backup().model_dump(mode="json") | {"size_gb": "2_147_483_648"}),
            "less than or equal to 2147483647",
        ),
        (_raw(data=_backup().model_dump(mode="json") | {"size_gb": 1e10}), "less than or equal to 2147483647"),
        (
            _raw(
                data=_backup().model_dump(mode="json")
                | {"disks": [{"volume_id": "v\x00", "device": "/dev/vda", "size_gb": 1}]}
            ),
            "NUL",
        ),
        (_raw(data=_backup().model_dump(mode="json") | {"vault_id": "v-\ud800"}), "vault_id: .*unicode"),
        (_raw(id="evt\x00"), "NUL character"),
        (_raw(subject="b-1\ud800"), "subject: .*unicode"),
        # What the standard library reads and orjson does not: JSON is UTF-8, without NaN, Infinity or numbers no
        # float holds.
        (_raw().decode().encode("utf-16"), "not JSON"),
        (_raw().decode().encode("utf-32"), "not JSON"),
        (b"\xef\xbb\xbf" + _raw(), "not JSON: Unexpected UTF-8 BOM"),
        (_raw().replace(b'"size_gb": 40', b'"size_gb": NaN'), "NaN is not a JSON number"),
        (_raw().replace(b'"size_gb": 40', b'"size_gb": -Infinity'), "-Infinity is not a JSON number"),
        (_raw().replace(b'"size_gb": 40', b'"size_gb": 1e400'), "beyond the range of a float"),
        (_raw().replace(b'"size_gb": 40', b'"size_gb": 1' + b"0" * 5000), "beyond the range of a float"),
        # Nested deeper than MAX_DEPTH anywhere, as orjson reads it (under its own limit of 1024) or not.
        (_raw().replace(b'"size_gb": 40', b'"size_gb": 40, "x": ' + b"[" * 33 + b"]" * 33), "nested more than 32"),
        (_raw().replace(b'"size_gb": 40', b'"size_gb": 40, "x": ' + b"[" * 3000 + b"]" * 3000), "nested too"),
        # What the data holds besides its type's fields, and extension attributes, are no less the event's.
        (_raw(data=_backup().model_dump(mode="json") | {"x": "\ud800"}), "unpaired surrogate"),
        (_raw(data=_backup().model_dump(mode="json") | {"x": {"\x00": 1}}), "NUL character"),
        (_raw(ext="\x00"), "NUL character"),
        (_raw(ext=[1]), "extension attribute 'ext': a string, an integer of 32 bits or a boolean"),
        (_raw(ext=2**31), "extension attribute 'ext'"),
        (_raw(ext=1.5), "extension attribute 'ext'"),
        (_raw(Ext="x"), "a name is lower-case letters and digits"),
        # Ids fit an index.
        (_raw(projectid="p" * 65), "projectid: String should have at most 64 characters"),
        (_raw(data=_backup().model_dump(mode="json") | {"resource_id": "r" * 65}), "resource_id: String should"),
    ],
)
def test_messages_that_break_the_contract_say_why(raw: bytes | None, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        parse_event(raw)


def test_extension_attributes_of_the_cloudevents_types_are_read() -> None:
    envelope, _ = parse_event(_raw(ext="x", count=7, flag=True))
    assert envelope.model_extra == {"ext": "x", "count": 7, "flag": True}


def test_every_integer_of_the_contract_fits_an_integer_column() -> None:
    models = {m for m in EVENT_TYPES.values()} | {BackupDisk, ServerInfo, ImageTag}
    for model in models:
        for name, field in model.model_fields.items():
            if field.annotation is not int:
                continue
            lower = [m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)]
            upper = [m.le for m in field.metadata if isinstance(m, annotated_types.Le)]
            assert lower and lower[-1] >= -(2**31), f"{model.__name__}.{name} has no lower bound"  # the last wins
            assert upper and upper[-1] <= 2**31 - 1, f"{model.__name__}.{name} has no upper bound"


def test_events_made_in_code_are_checked_as_those_read() -> None:
    with pytest.raises(ValidationError, match="name: a NUL character"):
        BackupCreated.model_validate(_backup().model_dump() | {"name": "a\x00"})
    with pytest.raises(ValidationError, match="unicode string"):
        BackupDisk(volume_id="v", device="/dev/\udc00", size_gb=1)
    with pytest.raises(ValidationError, match="greater than or equal to -2147483648"):
        ImageRequested(name="n", backup_id="b", min_ram=-(2**31) - 1)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        BackupDisk(volume_id="v", size_gb=0)  # a field's own bound is kept beside the column's


def test_a_reader_that_does_not_want_a_type_of_the_contract_skips_it_unvalidated() -> None:
    with pytest.raises(UnwantedEvent) as skipped:
        parse_event(_raw(data={"not": "validated"}), wanted={"ImageRequested"})
    assert skipped.value.event_type == "BackupCreated"
    with pytest.raises(ContractError, match="unknown event type"):
        parse_event(_raw(type="NoSuchEvent"), wanted={"ImageRequested"})
    with pytest.raises(ContractError, match="invalid BackupCreated data"):
        parse_event(_raw(data={"backup_id": "b-1"}), wanted={"BackupCreated"})
    with pytest.raises(ContractError, match="envelope"):
        parse_event(_raw(type=["BackupCreated"]), wanted={"ImageRequested"})


def test_every_named_event_of_the_contract_is_registered() -> None:
    for name in ("BackupCreated", "ImageRequested", "BackupArrears", "ImageDeleted", "ImageCreated", "BackupDeleted"):
        assert name in EVENT_TYPES


def test_derived_ids_are_deterministic_per_event_and_purpose() -> None:
    assert derived_id("e1", "image") == derived_id("e1", "image")
    assert derived_id("e1", "image") != derived_id("e1", "job")
    assert derived_id("e1", "image") != derived_id("e2", "image")


def test_image_requested_is_keyed_by_image_id() -> None:
    event = ImageRequested(image_id="i-1", name="n", backup_id="b-1")
    assert event.aggregate_id() == "i-1"


def test_topics_and_dead_letter_twins() -> None:
    topics = all_topics(["cn-north-4", "ap-southeast-1"])
    assert "ims.cn-north-4.backups" in topics and "ims.ap-southeast-1.replication" in topics
    assert "ims.billing" in topics and dead_letter_topic("ims.billing") in topics
    assert all(t.endswith(".dlt") or dead_letter_topic(t) in topics for t in topics)


def test_route_table_is_directional() -> None:
    routes = RouteTable.parse("cn-north-4:ap-southeast-1")
    assert routes.allows("cn-north-4", "ap-southeast-1")
    assert not routes.allows("ap-southeast-1", "cn-north-4")
    assert not routes.allows("cn-north-4", "eu-west-101")
