"""The rules of full-ECS images and the fate of an image job (``decide``): every outcome, every code, and which check
comes first. No I/O."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from image_service.domain import (
    REPLICATION_JOB,
    AwaitBackup,
    BackupFacts,
    FailJob,
    ImageJob,
    ImageRequest,
    JobDecision,
    MakeImage,
    Unchanged,
    check_account,
    check_backup,
    check_configured,
    check_one_image_per_backup,
    check_stopped_ecs_not_started,
    decide,
    export_refused,
    image_deletion_reason,
    image_update,
    in_region_copy_refused,
    koogallery_refused,
    new_image,
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


@pytest.mark.parametrize(
    ("changes", "stored", "message"),
    [
        ({"min_ram": -1}, (0, 0), "min_ram must be between 0 and 1048576 MB"),
        ({"max_ram": 2**31}, (0, 0), "max_ram must be between 0 and 1048576 MB"),
        ({"min_ram": 4096}, (0, 2048), "min_ram (4096 MB) must not be greater than max_ram (2048 MB)"),
        ({"max_ram": 512}, (1024, 0), "min_ram (1024 MB) must not be greater than max_ram (512 MB)"),
        ({"min_ram": 4096, "max_ram": 1024}, (0, 0), "min_ram (4096 MB) must not be greater than max_ram (1024 MB)"),
        ({"min_ram": True}, (0, 0), "min_ram must be an integer (MB); got a boolean"),
        ({"max_ram": 1024.0}, (0, 0), "max_ram must be an integer (MB); got a number with a fraction"),
        ({"max_ram": "1_024"}, (0, 0), "max_ram must be an integer (MB); got a string"),
        ({"max_ram": " 1024"}, (0, 0), "max_ram must be an integer (MB); got a string"),
        ({"max_ram": "2147483648"}, (0, 0), "max_ram must be between 0 and 1048576 MB"),
        ({"min_ram": None}, (0, 0), "min_ram must be an integer (MB); got null"),
        ({"name": 7}, (0, 0), "name must be a string; got an integer"),
        ({"name": " web"}, (0, 0), "name must not start or end with a space"),
        ({"description": {"a": 1}}, (0, 0), "description must be a string; got an object"),
        ({"description": "a\rb"}, (0, 0), "description must not contain carriage returns or angle brackets (< >)"),
    ],
)
def test_an_update_is_validated_as_creation_is(changes: dict[str, Any], stored: tuple[int, int], message: str) -> None:
    with pytest.raises(Refusal) as caught:
        image_update(changes, min_ram=stored[0], max_ram=stored[1])
    assert (caught.value.code, caught.value.message) == ("IMG.0001", message)


def test_an_update_gives_the_columns_it_sets() -> None:
    assert image_update({}, min_ram=0, max_ram=0) == {}
    assert image_update({"min_ram": 1024}, min_ram=0, max_ram=2048) == {"min_ram": 1024}
    # The official SDK types a patch value as a string: digits are the integer.
    assert image_update({"min_ram": "1024"}, min_ram=0, max_ram=2048) == {"min_ram": 1024}
    assert image_update({"max_ram": 0}, min_ram=4096, max_ram=8192) == {"max_ram": 0}  # 0: no limit
    assert image_update({"min_ram": 8192, "max_ram": 16384}, min_ram=0, max_ram=2048) == {
        "min_ram": 8192,
        "max_ram": 16384,
    }
    assert image_update({"name": "web 2", "description": None}, min_ram=0, max_ram=0) == {
        "name": "web 2",
        "description": "",
    }


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


# -- the fate of an image job ------------------------------------------------------------------------------------------
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REQUEST = {
    "name": "web",
    "backup_id": "b1",
    "description": "the web tier",
    "enterprise_project_id": "ep-1",
    "tags": [{"key": "env", "value": "prod"}],
    "min_ram": 1024,
    "max_ram": 4096,
}


def job(**overrides: Any) -> ImageJob:
    values: dict[str, Any] = {
        "job_id": "j1",
        "image_id": "i1",
        "project_id": "p1",
        "backup_id": "b1",
        "request": REQUEST,
        "correlation_id": "c1",
    }
    return ImageJob(**(values | overrides))


def fate(
    the_job: ImageJob | None = None,
    account_state: str | None = "normal",
    the_backup: BackupFacts | None = None,
    *,
    no_backup: bool = False,
    build_s: float = 0,
    **kwargs: Any,
) -> JobDecision:
    return decide(
        the_job or job(),
        account_state,
        None if no_backup else the_backup or backup(),
        build_s=build_s,
        backup_wait_s=30,
        now=NOW,
        **kwargs,
    )


def code(decision: JobDecision) -> str:
    assert isinstance(decision, FailJob), decision
    return decision.refusal.code


def test_with_no_build_time_the_image_is_made_active_at_once_and_the_job_succeeds() -> None:
    decision = fate()
    assert isinstance(decision, MakeImage) and decision.at_once and decision.job_status == "SUCCESS"
    image = decision.image
    assert (image["status"], image["active_at"], image["ready_at"]) == ("active", NOW, None)
    assert [step["status"] for step in image["status_history"]] == ["queued", "saving", "active"]


def test_with_a_build_time_the_image_is_saving_until_ready_and_the_job_runs() -> None:
    decision = fate(build_s=2.5)
    assert isinstance(decision, MakeImage) and not decision.at_once and decision.job_status == "RUNNING"
    image = decision.image
    assert (image["status"], image["active_at"], image["ready_at"]) == ("saving", None, NOW + timedelta(seconds=2.5))
    assert [step["status"] for step in image["status_history"]] == ["queued", "saving"]


def test_the_image_is_what_was_asked_made_of_the_backup() -> None:
    decision = fate()
    assert isinstance(decision, MakeImage)
    image = decision.image
    asked = {k: image[k] for k in ("name", "description", "enterprise_project_id", "tags", "min_ram", "max_ram")}
    assert asked == {k: v for k, v in REQUEST.items() if k != "backup_id"}
    assert (image["image_id"], image["job_id"], image["project_id"], image["backup_id"]) == ("i1", "j1", "p1", "b1")
    assert (image["os_type"], image["os_version"], image["min_disk"], image["size_gb"]) == ("Linux", None, 40, 140)
    assert (image["disks"], image["server_state"], image["resource_id"]) == (DISKS, "ACTIVE", "ecs-1")
    assert image["replicated_from_image_id"] is None


def test_an_unknown_backup_is_waited_for_once_until_the_deadline() -> None:
    decision = fate(no_backup=True)
    assert decision == AwaitBackup(NOW + timedelta(seconds=30)) and decision.job_status == "INIT"
    assert fate(job(wait_until=NOW + timedelta(seconds=1)), no_backup=True) == Unchanged()


def test_a_wait_past_its_deadline_fails_with_img_0020() -> None:
    waited = job(wait_until=NOW - timedelta(seconds=1))
    decision = fate(waited, no_backup=True)
    assert code(decision) == "IMG.0020" and "no BackupCreated within 30 s" in decision.refusal.message
    assert code(fate(waited, "frozen", no_backup=True)) == "IMG.0020"  # the deadline first
    assert isinstance(fate(waited), MakeImage)  # the backup came in time after all


@pytest.mark.parametrize("status", ["RUNNING", "SUCCESS", "FAIL"])
def test_a_job_no_longer_in_init_is_left_alone(status: str) -> None:
    assert fate(job(status=status)) == Unchanged()
    assert fate(job(status=status), refused=Refusal("IMG.0001", "bad name")) == Unchanged()


def test_a_job_of_another_type_is_left_alone() -> None:
    assert fate(job(job_type=REPLICATION_JOB)) == Unchanged()


def test_a_refused_request_fails_before_anything_else() -> None:
    refused = Refusal("IMG.0001", "project p1 belongs to no known tenant")
    assert fate(refused=refused) == FailJob(refused)
    assert fate(account_state="frozen", no_backup=True, refused=refused) == FailJob(refused)


@pytest.mark.parametrize("state", ["frozen", "released"])
def test_a_frozen_account_fails_with_img_0239_even_before_its_backup_is_known(state: str) -> None:
    assert code(fate(account_state=state)) == "IMG.0239"
    assert code(fate(account_state=state, no_backup=True)) == "IMG.0239"
    assert isinstance(fate(account_state="grace"), MakeImage)
    assert isinstance(fate(account_state=None), MakeImage)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (backup(project_id="p2"), "IMG.0020"),
        (backup(deleted=True), "IMG.0020"),
        (backup(resource_type="OS::Cinder::Volume"), "IMG.0198"),
        (backup(status="creating"), "IMG.0032"),
        (backup(disks=[DISKS[1]]), "IMG.0195"),
        (backup(server={"os_type": None}), "IMG.0195"),
        (backup(server={"os_type": "Linux", "configured": False}), "IMG.0202"),
    ],
)
def test_a_backup_the_job_may_not_use_fails_it_with_the_rules_code(facts: BackupFacts, expected: str) -> None:
    assert code(fate(the_backup=facts)) == expected


def test_a_backup_with_a_live_image_fails_the_job_with_img_0029() -> None:
    decision = fate(backup_has_image=True)
    assert code(decision) == "IMG.0029"
    assert "b1 has already been used" in decision.refusal.message
    assert code(fate(the_backup=backup(resource_type="OS::Cinder::Volume"), backup_has_image=True)) == "IMG.0198"


def test_a_job_after_its_decision() -> None:
    waiting = job().after(AwaitBackup(NOW))
    assert (waiting.status, waiting.wait_until) == ("INIT", NOW)
    made = fate(waiting)
    assert isinstance(made, MakeImage)
    assert (waiting.after(made).status, waiting.after(made).wait_until) == ("SUCCESS", None)
    assert waiting.after(FailJob(Refusal("IMG.0020", "gone"))).status == "FAIL"
    assert waiting.after(Unchanged()) == waiting


def test_a_replica_records_the_image_it_copies() -> None:
    image = new_image(
        image_id="r1",
        project_id="p9",
        job_id="rj1",
        asked={"name": "copy"},
        backup=backup(replicated_from_region="cn-north-4"),
        build_s=0,
        now=NOW,
        replica_of="i1",
    )
    assert (image["status"], image["replicated_from_image_id"], image["replicated_from_region"]) == (
        "active",
        "i1",
        "cn-north-4",
    )
    assert image["status_history"] == [{"status": "active", "at": NOW.isoformat(), "replicated_from": "cn-north-4"}]
