"""Deletion, billing and arrears: the cascades between backups, images and money, over the real processes."""

import time
from decimal import Decimal
from typing import Any

import pytest
from huaweicloudsdkcbr.v1 import DeleteBackupRequest, ShowBackupRequest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import GlanceDeleteImageRequest, GlanceDeleteImageRequestBody, GlanceShowImageRequest

from ims_shared.events.backups import VaultLockChanged
from tests.e2e.harness import (
    ALPHA,
    AP,
    CN,
    DELTA,
    EPSILON,
    System,
    account_of,
    backup_created,
    bill_lines,
    billing,
    cbr,
    create_image,
    events_of,
    eventually,
    ims,
    integration_signer,
    known_backup,
    produce,
    wait_job,
)

pytestmark = pytest.mark.e2e
BIG_GB = 500_000_000  # with the e2e price this costs 0.5 million per second: arrears within seconds


def image_from(system: System, backup_id: str, **kwargs: Any) -> str:
    client = ims(system, **kwargs)
    job = wait_job(client, create_image(client, backup_id=backup_id))
    assert job.status == "SUCCESS", job.fail_reason
    return str(job.entities.image_id)


def gone(call: Any, request: Any) -> bool:
    try:
        call(request)
    except ClientRequestException as exc:
        return exc.status_code == 404
    return False


def delete_image(system: System, image_id: str, delete_backup: bool) -> None:
    body = GlanceDeleteImageRequestBody(delete_backup=delete_backup)
    ims(system).glance_delete_image(GlanceDeleteImageRequest(image_id=image_id, body=body))


def test_deleting_an_image_with_its_backup_deletes_the_backup_and_stops_its_charges(system: System) -> None:
    backup = known_backup(system)
    image_id = image_from(system, backup.backup_id)
    delete_image(system, image_id, delete_backup=True)
    assert gone(ims(system).glance_show_image, GlanceShowImageRequest(image_id=image_id))
    eventually(
        lambda: gone(cbr(system).show_backup, ShowBackupRequest(backup_id=backup.backup_id)),
        what="backup-service to delete the backup",
    )
    deleted = [
        e for e in events_of(system, "ims.cn-north-4.backups", "BackupDeleted") if e["subject"] == backup.backup_id
    ]
    assert [e["data"]["reason"] for e in deleted] == ["image_deleted"]
    charged = eventually(lambda: _lines_of(system, backup.backup_id, "backup_storage"), what="the final charge")
    time.sleep(2.5)  # two more rating periods pass
    assert _lines_of(system, backup.backup_id, "backup_storage") == charged


def test_deleting_an_image_without_its_backup_keeps_the_backup_billed_and_usable(system: System) -> None:
    backup = known_backup(system)
    image_id = image_from(system, backup.backup_id)
    zero_rated = eventually(lambda: _lines_of(system, backup.backup_id, "full_ecs_image"), what="the image line")
    assert [(line["image_id"], Decimal(line["amount"])) for line in zero_rated] == [(image_id, Decimal(0))]
    delete_image(system, image_id, delete_backup=False)
    assert cbr(system).show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup.status == "available"
    before = len(_lines_of(system, backup.backup_id, "backup_storage"))
    eventually(lambda: len(_lines_of(system, backup.backup_id, "backup_storage")) > before + 1, what="more charges")
    second = eventually(lambda: _new_image(system, backup.backup_id), what="a new image from the kept backup")
    assert second != image_id


def _new_image(system: System, backup_id: str) -> str | None:
    client = ims(system)
    try:
        job = wait_job(client, create_image(client, backup_id=backup_id))
    except ClientRequestException:
        return None  # image-service has not seen the deletion yet
    return str(job.entities.image_id) if job.status == "SUCCESS" else None


def _lines_of(system: System, backup_id: str, kind: str, tenant: Any = None) -> list[dict[str, Any]]:
    lines = bill_lines(system, tenant) if tenant else bill_lines(system, _alpha())
    return [line for line in lines if line["backup_id"] == backup_id and line["kind"] == kind]


def _alpha() -> Any:
    from tests.e2e.harness import ALPHA

    return ALPHA


def test_deleting_an_image_being_created_stops_it_and_leaves_nothing_half_made(system: System) -> None:
    backup = known_backup(system)
    client = ims(system)
    job_id = create_image(client, backup_id=backup.backup_id)
    job = eventually(lambda: (j := _job(client, job_id)).status == "RUNNING" and j, what="saving", timeout_s=10)
    image_id = job.entities.image_id
    delete_image(system, image_id, delete_backup=True)
    ended = wait_job(client, job_id)
    assert (ended.status, ended.error_code) == ("FAIL", "IMG.0204")
    eventually(lambda: gone(cbr(system).show_backup, ShowBackupRequest(backup_id=backup.backup_id)), what="backup gone")
    time.sleep(2.5)  # longer than the build time: the builder must not finish a deleted image
    assert gone(client.glance_show_image, GlanceShowImageRequest(image_id=image_id))
    created = [e for e in events_of(system, "ims.cn-north-4.images", "ImageCreated") if e["subject"] == image_id]
    assert created == []


def _job(client: Any, job_id: str) -> Any:
    from huaweicloudsdkims.v2 import ShowJobRequest

    return client.show_job(ShowJobRequest(job_id=job_id))


def test_a_backup_deletion_that_keeps_failing_is_retried_then_visible(system: System) -> None:
    backup = known_backup(system)
    produce(system, VaultLockChanged(vault_id=backup.vault_id, locked=True))
    time.sleep(1)
    backups = cbr(system)
    backups.delete_backup(DeleteBackupRequest(backup_id=backup.backup_id))
    failed = eventually(
        lambda: (
            (b := backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup).status == "error_deleting"
            and b
        ),
        what="the deletion to give up after its retries",
    )
    assert failed.status == "error_deleting"
    events = [
        e
        for e in events_of(system, "ims.cn-north-4.backups", "BackupDeletionFailed")
        if e["subject"] == backup.backup_id
    ]
    assert len(events) == 1 and events[0]["data"]["attempts"] == 3 and "locked" in events[0]["data"]["error"]
    produce(system, VaultLockChanged(vault_id=backup.vault_id, locked=False))
    time.sleep(1)
    backups.delete_backup(DeleteBackupRequest(backup_id=backup.backup_id))
    eventually(lambda: gone(backups.show_backup, ShowBackupRequest(backup_id=backup.backup_id)), what="deleted")


def test_arrears_release_deletes_backups_and_their_images_in_every_region(system: System) -> None:
    big = backup_created(size_gb=BIG_GB)
    produce(system, big, tenant=DELTA)
    other = backup_created()
    produce(system, other, tenant=DELTA, region=AP)
    cn_image = image_from(system, big.backup_id, tenant=DELTA)
    eventually(
        lambda: cbr(system, DELTA, AP).show_backup(ShowBackupRequest(backup_id=other.backup_id)).backup, what="ap"
    )
    ap_image = image_from(system, other.backup_id, tenant=DELTA, region=AP)

    states = []
    for state in ("grace", "frozen", "released"):
        account = eventually(lambda s=state: (a := account_of(system, DELTA))["state"] == s and a, what=state)
        states.append(account["state"])
        if state == "frozen":
            probe = backup_created()
            produce(system, probe, tenant=DELTA)
            code = eventually(lambda p=probe: _refusal(system, p.backup_id), what="IMG.0239 while frozen")
            assert code == "IMG.0239"
    assert states == ["grace", "frozen", "released"]
    assert Decimal(account["balance"]) < 0

    for client, image_id in ((ims(system, DELTA), cn_image), (ims(system, DELTA, AP), ap_image)):
        eventually(
            lambda c=client, i=image_id: gone(c.glance_show_image, GlanceShowImageRequest(image_id=i)), what="image"
        )
    eventually(lambda: gone(cbr(system, DELTA).show_backup, ShowBackupRequest(backup_id=big.backup_id)), what="backup")
    deleted = [e for e in events_of(system, "ims.cn-north-4.images", "ImageDeleted") if e["subject"] == cn_image]
    assert [e["data"]["reason"] for e in deleted] == ["arrears"]
    arrears = [
        e for e in events_of(system, "ims.billing", "BackupArrears") if e["data"]["account_id"] == DELTA.account_id
    ]
    assert {(e["data"]["backup_id"], e["region"]) for e in arrears} >= {(big.backup_id, CN), (other.backup_id, AP)}

    settled = eventually(lambda: _settled_balance(system), what="charges to stop", timeout_s=20)
    time.sleep(2.5)
    assert Decimal(account_of(system, DELTA)["balance"]) == settled


def _refusal(system: System, backup_id: str) -> str | None:
    try:
        create_image(ims(system, DELTA), backup_id=backup_id)
    except ClientRequestException as exc:
        return str(exc.error_code)
    return None


def _settled_balance(system: System) -> Decimal | None:
    first = Decimal(account_of(system, DELTA)["balance"])
    time.sleep(1.5)
    return first if Decimal(account_of(system, DELTA)["balance"]) == first else None


def test_a_top_up_during_grace_restores_the_account_and_deletes_nothing(system: System) -> None:
    big = backup_created(size_gb=BIG_GB)
    produce(system, big, tenant=EPSILON)
    image_id = image_from(system, big.backup_id, tenant=EPSILON)
    eventually(lambda: account_of(system, EPSILON)["state"] == "grace", what="grace")
    client = billing(system, EPSILON)
    try:
        bad = client.post(f"/v1/{client.project_id}/billing/account/top-ups", {"amount": "-5"})
        assert bad.status_code == 400 and bad.json()["error_code"]
        answer = client.post(f"/v1/{client.project_id}/billing/account/top-ups", {"amount": "900000000"})
        assert answer.status_code == 201, answer.text
    finally:
        client.close()
    assert account_of(system, EPSILON)["state"] == "normal"
    time.sleep(7)  # past grace and retention: nothing is frozen or released
    assert account_of(system, EPSILON)["state"] == "normal"
    assert ims(system, EPSILON).glance_show_image(GlanceShowImageRequest(image_id=image_id)).status == "active"
    arrears = [
        e for e in events_of(system, "ims.billing", "BackupArrears") if e["data"]["account_id"] == EPSILON.account_id
    ]
    assert arrears == []


def test_backup_arrears_from_an_outside_billing_system_has_the_same_effect(system: System) -> None:
    """The operator's billing integration (its own key, allowed BackupArrears for any project) names the account."""
    from ims_shared.events import BackupArrears

    backup = known_backup(system)
    image_id = image_from(system, backup.backup_id)
    arrears = BackupArrears(backup_id=backup.backup_id, account_id=ALPHA.account_id, reason="arrears")
    produce(system, arrears, signer=integration_signer("devops"))
    eventually(lambda: gone(cbr(system).show_backup, ShowBackupRequest(backup_id=backup.backup_id)), what="backup")
    eventually(lambda: gone(ims(system).glance_show_image, GlanceShowImageRequest(image_id=image_id)), what="image")
    deleted = [e for e in events_of(system, "ims.cn-north-4.images", "ImageDeleted") if e["subject"] == image_id]
    assert [e["data"]["reason"] for e in deleted] == ["arrears"]
    backup_deleted = [
        e for e in events_of(system, "ims.cn-north-4.backups", "BackupDeleted") if e["subject"] == backup.backup_id
    ]
    assert [e["data"]["reason"] for e in backup_deleted] == ["arrears"]
