"""The creation rules of a full-ECS image, without I/O."""

import pytest

from image_service.domain import (
    BackupFacts,
    ImageRequest,
    check_account,
    check_backup,
    check_configured,
    check_one_image_per_backup,
    check_stopped_ecs_not_started,
    export_refused,
    image_deletion_reason,
    in_region_copy_refused,
    koogallery_refused,
    provisioning_plan,
    validate_request,
)
from image_service.members import check_not_made_from_shared_backup
from ims_shared.refusal import Refusal
from ims_shared.tenants import TagPolicy

DISKS = [
    {"volume_id": "v1", "device": "/dev/vda", "size_gb": 40, "bootable": True},
    {"volume_id": "v2", "device": "/dev/vdb", "size_gb": 100, "bootable": False},
]


def backup(**overrides: object) -> BackupFacts:
    values: dict[str, object] = {
        "backup_id": "b1",
        "project_id": "p1",
        "status": "available",
        "resource_type": "OS::Nova::Server",
        "resource_id": "ecs-1",
        "size_gb": 140,
        "server": {"os_type": "Linux", "configured": True, "state": "ACTIVE"},
        "disks": DISKS,
    }
    values.update(overrides)
    return BackupFacts(**values)  # type: ignore[arg-type]


def code_of(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(Refusal) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    return caught.value.code


def validate(**fields: object) -> list[dict[str, str]]:
    request = ImageRequest(**{"name": "img", "backup_id": "b1", **fields})  # type: ignore[arg-type]
    return validate_request(request, policy=TagPolicy(), enterprise_projects=("ep-1",))


def test_a_source_is_required() -> None:
    assert code_of(validate, backup_id=None) == "IMG.0019"


@pytest.mark.parametrize("name", ["", " lead", "trail ", "x" * 129, "semi;colon", "a/b"])
def test_bad_names(name: str) -> None:
    assert code_of(validate, name=name) == "IMG.0001"


@pytest.mark.parametrize("name", ["a", "web tier.v2_prod-1", "x" * 128])
def test_good_names(name: str) -> None:
    assert validate(name=name) == []


def test_tags_and_image_tags_are_exclusive_and_normalised() -> None:
    assert validate(tags=["env.prod"]) == [{"key": "env", "value": "prod"}]
    assert code_of(validate, tags=["a.b"], image_tags=[{"key": "a", "value": "b"}]) == "IMG.0001"
    assert code_of(validate, tags=["no-separator"]) == "IMG.0001"
    assert code_of(validate, image_tags=[{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]) == "IMG.0001"


def test_tag_policy_requires_keys_and_values() -> None:
    policy = TagPolicy(required_keys=("cc",), allowed_values={"cc": ("rnd",)})
    request = ImageRequest(name="img", backup_id="b1", image_tags=[{"key": "cc", "value": "ops"}])
    assert code_of(validate_request, request, policy=policy, enterprise_projects=()) == "IMG.0001"
    ok = ImageRequest(name="img", backup_id="b1", image_tags=[{"key": "cc", "value": "rnd"}])
    assert validate_request(ok, policy=policy, enterprise_projects=()) == [{"key": "cc", "value": "rnd"}]


def test_enterprise_projects_default_or_enabled() -> None:
    assert validate(enterprise_project_id="0") == []
    assert validate(enterprise_project_id="ep-1") == []
    assert code_of(validate, enterprise_project_id="ep-2") == "IMG.0001"


def test_description_ram_and_type() -> None:
    assert code_of(validate, description="a\rb") == "IMG.0001"
    assert code_of(validate, min_ram=2048, max_ram=1024) == "IMG.0001"
    assert code_of(validate, whole_image_type="CSBS") == "IMG.0001"
    assert code_of(validate, backup_id=None, instance_id="ecs-1") == "IMG.0001"  # vault_id missing


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (None, "IMG.0020"),
        (backup(project_id="other"), "IMG.0020"),
        (backup(deleted=True), "IMG.0020"),
        (backup(resource_type="OS::Cinder::Volume"), "IMG.0198"),
        (backup(status="creating"), "IMG.0032"),
        (backup(disks=[DISKS[1]]), "IMG.0195"),
        (backup(server={"os_type": None}), "IMG.0195"),
    ],
)
def test_backup_checks(facts: BackupFacts | None, code: str) -> None:
    assert code_of(check_backup, facts, "p1") == code


def test_a_usable_backup_passes() -> None:
    assert check_backup(backup(), "p1").backup_id == "b1"


def test_unconfigured_server_points_to_the_guide() -> None:
    with pytest.raises(Refusal) as caught:
        check_configured(backup(server={"os_type": "Linux", "configured": False}))
    assert caught.value.code == "IMG.0202" and "How Do I Configure an ECS" in caught.value.message


def test_frozen_and_released_accounts_cannot_create() -> None:
    check_account("normal")
    check_account("grace")
    check_account(None)
    assert code_of(check_account, "frozen") == "IMG.0239"
    assert code_of(check_account, "released") == "IMG.0239"


def test_provisioning_plan_restores_all_disks_for_a_new_server_and_only_the_system_disk_for_an_os_change() -> None:
    plan = provisioning_plan(DISKS)
    assert [d["volume_id"] for d in plan["create_server"]["data_disks"]] == ["v2"]
    assert plan["change_os"]["data_disks"] == []
    assert [d["volume_id"] for d in plan["change_os"]["system_disk"]] == ["v1"]


def test_one_backup_makes_one_image() -> None:
    check_one_image_per_backup("b1", backup_has_image=False)
    assert code_of(check_one_image_per_backup, "b1", backup_has_image=True) == "IMG.0029"


def test_starting_an_ecs_that_was_stopped_for_its_backup_fails_the_creation() -> None:
    assert code_of(check_stopped_ecs_not_started, "ecs-1", "SHUTOFF", "ACTIVE") == "IMG.0203"
    check_stopped_ecs_not_started("ecs-1", "ACTIVE", "ACTIVE")  # it was running: its backup was taken running
    check_stopped_ecs_not_started("ecs-1", "SHUTOFF", "SHUTOFF")
    check_stopped_ecs_not_started("ecs-1", None, "ACTIVE")


def test_an_image_goes_with_its_backup_and_arrears_are_named() -> None:
    assert image_deletion_reason("arrears") == "arrears"
    assert image_deletion_reason("user") == "backup_deleted"
    assert image_deletion_reason("image_deleted") == "backup_deleted"


def test_an_image_of_a_shared_backup_cannot_be_shared() -> None:
    check_not_made_from_shared_backup("i1", None)
    assert code_of(check_not_made_from_shared_backup, "i1", "p-owner") == "IMG.0135"


def test_what_a_full_ecs_image_can_never_do() -> None:
    assert [refusal().code for refusal in (export_refused, in_region_copy_refused, koogallery_refused)] == [
        "IMG.0128",
        "IMG.0130",
        "IMG.0131",
    ]
