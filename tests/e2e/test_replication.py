"""Cross-region replication of a full-ECS image, through the official IMS SDK, over the real services.

cn-north-4 -> ap-southeast-1 is a route of the default route table; eu-west-101 is no route.
"""

import json
import uuid
from typing import Any

import pytest
from huaweicloudsdkcbr.v1 import ShowBackupRequest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    CopyImageCrossRegionRequest,
    CopyImageCrossRegionRequestBody,
    CreateWholeImageRequest,
    CreateWholeImageRequestBody,
    GlanceShowImageRequest,
    ImsClient,
    ListImagesRequest,
    ShowJobRequest,
)

from ims_shared.events import AccountStateChanged
from ims_shared.events.replication import BackupCopy, ReplicatedImage, ReplicationRequested
from ims_shared.tenants import Tenant
from tests.e2e.harness import (
    ALPHA,
    AP,
    BETA,
    CN,
    System,
    backup_created,
    cbr,
    events_of,
    eventually,
    ims,
    produce,
    vault_holding,
)

pytestmark = pytest.mark.e2e


def _finished_job(client: ImsClient, job_id: str, timeout_s: float = 45.0) -> Any:
    return eventually(
        lambda: (job := client.show_job(ShowJobRequest(job_id=job_id))).status in ("SUCCESS", "FAIL") and job,
        timeout_s=timeout_s,
        what=f"job {job_id} to end",
    )


def _active_image(system: System, *, size_gb: int = 60, tenant: Tenant = ALPHA) -> tuple[str, str]:
    """A full-ECS image of ``tenant`` in cn-north-4, made from a CBR backup; returns (image id, backup id)."""
    backup = backup_created(size_gb=size_gb)
    produce(system, backup, tenant=tenant)
    backups = cbr(system, tenant)
    eventually(lambda: backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup, what="the backup")
    client = ims(system, tenant)
    body = CreateWholeImageRequestBody(name=f"web-{size_gb}gb", backup_id=backup.backup_id, whole_image_type="CBR")
    job = _finished_job(client, client.create_whole_image(CreateWholeImageRequest(body=body)).job_id)
    assert job.status == "SUCCESS", job.fail_reason
    return job.entities.image_id, backup.backup_id


def _copy(client: ImsClient, image_id: str, **fields: Any) -> str:
    body = CopyImageCrossRegionRequestBody(
        **{
            "name": "web-replica",
            "description": "copied for the Hong Kong site",
            "region": AP,
            "project_name": AP,
            "vault_id": "v-" + uuid.uuid4().hex[:12],  # refused before the destination's vault matters
            "agency_name": "ims_admin_agency",
            **fields,
        }
    )
    job_id: str = client.copy_image_cross_region(CopyImageCrossRegionRequest(image_id=image_id, body=body)).job_id
    return job_id


def _refusal(client: ImsClient, image_id: str, **fields: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as raised:
        _copy(client, image_id, **fields)
    assert raised.value.status_code == 400, raised.value.error_msg
    return raised.value


def _raw(response: Any) -> dict[str, Any]:
    document = json.loads(response.raw_content)
    assert isinstance(document, dict)
    return document


def _data_of(system: System, topic: str, event_type: str, **match: str) -> list[dict[str, Any]]:
    """The events of ``event_type`` on ``topic`` whose data has the fields in ``match``."""
    return [e for e in events_of(system, topic, event_type) if all(e["data"].get(k) == v for k, v in match.items())]


@pytest.fixture(scope="module")
def replicated(system: System) -> dict[str, Any]:
    """An image of alpha replicated from cn-north-4 to ap-southeast-1; the finished job in cn-north-4."""
    image_id, backup_id = _active_image(system)
    source = ims(system, ALPHA, CN)
    job_id = _copy(source, image_id, vault_id=vault_holding(system, [], region=AP))
    job = _finished_job(source, job_id)
    return {"image_id": image_id, "backup_id": backup_id, "job_id": job_id, "job": job}


def test_the_job_succeeds_in_the_source_region(replicated: dict[str, Any]) -> None:
    job = replicated["job"]
    assert job.status == "SUCCESS", f"{job.error_code}: {job.fail_reason}"
    assert job.job_type == "imsCrossRegionCopyWholeImageJob"
    assert job.entities.image_id and job.entities.image_id != replicated["image_id"]
    assert job.entities.image_name == "web-replica"


def test_the_replica_is_active_in_the_destination_with_the_destination_project(
    system: System, replicated: dict[str, Any]
) -> None:
    replica_id = replicated["job"].entities.image_id
    destination = ims(system, ALPHA, AP)
    shown = destination.glance_show_image(GlanceShowImageRequest(image_id=replica_id))
    assert shown.status == "active"
    assert shown.name == "web-replica"
    assert shown.owner == ALPHA.projects[AP]
    assert shown.min_disk == 40
    assert shown.os_type == "Linux"
    raw = _raw(shown)
    assert raw["__whole_image"] == "true"
    assert raw["__replicated_from_region"] == CN
    assert raw["__replicated_from_image_id"] == replicated["image_id"]
    assert [d["size_gb"] for d in raw["__disks"]] == [40, 10]

    listed = destination.list_images(ListImagesRequest(imagetype="private")).images
    assert replica_id in [i.id for i in listed]

    # Not an image of the source region, and not the source image renamed.
    source = ims(system, ALPHA, CN)
    with pytest.raises(ClientRequestException) as missing:
        source.glance_show_image(GlanceShowImageRequest(image_id=replica_id))
    assert missing.value.status_code == 404
    assert source.glance_show_image(GlanceShowImageRequest(image_id=replicated["image_id"])).status == "active"


def test_the_replica_records_its_origin(system: System, replicated: dict[str, Any]) -> None:
    replica_id = replicated["job"].entities.image_id
    recorded = _data_of(system, f"ims.{AP}.replication", "ReplicaRecorded", replica_image_id=replica_id)
    assert len(recorded) == 1
    assert recorded[0]["data"]["source_region"] == CN
    assert recorded[0]["data"]["source_image_id"] == replicated["image_id"]
    assert recorded[0]["projectid"] == ALPHA.projects[AP]


def test_the_backup_copy_is_a_backup_of_the_destination_billed_there(
    system: System, replicated: dict[str, Any]
) -> None:
    replica_id = replicated["job"].entities.image_id
    shown = _raw(ims(system, ALPHA, AP).glance_show_image(GlanceShowImageRequest(image_id=replica_id)))
    copy_id = shown["__backup_id"]
    assert copy_id != replicated["backup_id"]

    created = _data_of(system, f"ims.{AP}.backups", "BackupCreated", backup_id=copy_id)
    assert len(created) == 1
    assert created[0]["projectid"] == ALPHA.projects[AP]
    assert created[0]["region"] == AP
    assert created[0]["data"]["replicated_from_region"] == CN
    assert created[0]["data"]["replicated_from_backup_id"] == replicated["backup_id"]

    backups = cbr(system, ALPHA, AP)
    copy = eventually(
        lambda: (
            (b := backups.show_backup(ShowBackupRequest(backup_id=copy_id)).backup).extend_info.os_images_data and b
        ),
        what="backup-service of ap-southeast-1 to show the copy with its image",
    )
    assert copy.project_id == ALPHA.projects[AP]
    assert copy.status == "available"
    assert [d.image_id for d in copy.extend_info.os_images_data] == [replica_id]


def test_a_replica_cannot_be_replicated_again(system: System, replicated: dict[str, Any]) -> None:
    replica_id = replicated["job"].entities.image_id
    refused = _refusal(ims(system, ALPHA, AP), replica_id, region=CN, project_name=CN)
    assert refused.error_code == "IMG.0244"
    assert CN in refused.error_msg and "cannot be replicated across regions again" in refused.error_msg


def test_a_region_without_a_route_is_refused_with_the_workaround(system: System, replicated: dict[str, Any]) -> None:
    refused = _refusal(ims(system), replicated["image_id"], region="eu-west-101", project_name="eu-west-101")
    assert refused.error_code == "IMG.0240"
    message = refused.error_msg
    assert "eu-west-101" in message and f"{CN} -> {AP}" in message
    assert "create an ECS from the full-ECS image" in message
    assert "system disk image" in message and "data disk images" in message


def test_the_source_region_itself_is_refused(system: System, replicated: dict[str, Any]) -> None:
    refused = _refusal(ims(system), replicated["image_id"], region=CN, project_name=CN)
    assert refused.error_code == "IMG.0241"
    assert "within its region" in refused.error_msg


def test_a_missing_vault_is_refused(system: System, replicated: dict[str, Any]) -> None:
    body = CopyImageCrossRegionRequestBody(name="no-vault", region=AP, project_name=AP, agency_name="ims_admin_agency")
    with pytest.raises(ClientRequestException) as raised:
        ims(system).copy_image_cross_region(CopyImageCrossRegionRequest(image_id=replicated["image_id"], body=body))
    assert raised.value.status_code == 400
    assert raised.value.error_code == "IMG.0249"
    assert "vault_id is required" in raised.value.error_msg


def test_an_image_over_the_size_limit_is_refused(system: System) -> None:
    image_id, _ = _active_image(system, size_gb=200)
    refused = _refusal(ims(system), image_id)
    assert refused.error_code == "IMG.0242"
    assert "128 GB" in refused.error_msg


def test_a_frozen_account_cannot_replicate(system: System) -> None:
    # Over the size limit: refused either way, so probing creates no job. Frozen is checked first.
    image_id, _ = _active_image(system, tenant=BETA, size_gb=200)
    client = ims(system, BETA)
    assert _refusal(client, image_id).error_code == "IMG.0242"

    produce(system, AccountStateChanged(account_id=BETA.account_id, state="frozen", balance="-5"), tenant=BETA)
    try:
        frozen = eventually(
            lambda: (e := _refusal(client, image_id)).error_code == "IMG.0239" and e, what="the frozen state to apply"
        )
        assert "frozen" in frozen.error_msg
    finally:
        produce(system, AccountStateChanged(account_id=BETA.account_id, state="normal", balance="5"), tenant=BETA)
    eventually(lambda: _refusal(client, image_id).error_code == "IMG.0242", what="the account to be normal again")


def test_another_tenants_image_is_not_found(system: System, replicated: dict[str, Any]) -> None:
    with pytest.raises(ClientRequestException) as raised:
        _copy(ims(system, BETA, CN), replicated["image_id"])
    assert raised.value.status_code == 404


def test_a_copy_into_no_vault_of_the_destination_project_fails_the_job(system: System) -> None:
    image_id, _ = _active_image(system, size_gb=20)
    source = ims(system, ALPHA, CN)
    betas = vault_holding(system, [], tenant=BETA, region=AP)  # a vault there, but not alpha's
    small = vault_holding(system, [], region=AP, size_gb=10)
    for vault_id, code in ((betas, "BackupService.6105"), (small, "BackupService.6114")):
        job = _finished_job(source, _copy(source, image_id, vault_id=vault_id))
        assert (job.status, job.error_code) == ("FAIL", code), job.fail_reason
        assert vault_id in job.fail_reason


def test_a_replica_refused_in_the_destination_leaves_nothing_behind(system: System, replicated: dict[str, Any]) -> None:
    """The destination refuses the image after the backup copy was made: the copy is rolled back, the job fails."""
    job_id = str(uuid.uuid4())
    replica_id = str(uuid.uuid4())
    request = ReplicationRequested(
        job_id=job_id,
        source_image_id=replicated["image_id"],
        source_backup_id=replicated["backup_id"],
        destination_region=AP,
        replica_image_id=replica_id,
        name="bad <name>",  # an outside producer skipped the API's checks; the destination still refuses it
        vault_id=vault_holding(system, [], region=AP),
        image=ReplicatedImage(name="web", min_disk=40, size_gb=60, os_type="Linux"),
        backup=BackupCopy(name="backup-of-ecs", resource_id="ecs-1", size_gb=60),
    )
    produce(system, request, tenant=ALPHA, region=CN)

    failed = eventually(
        lambda: _data_of(system, f"ims.{CN}.replication", "ReplicationFailed", job_id=job_id),
        what="the job to fail in the source region",
    )
    assert failed[0]["data"]["error_code"] == "IMG.0001"
    assert "name" in failed[0]["data"]["reason"]

    copy_id = _data_of(system, f"ims.{AP}.replication", "ReplicaFailed", job_id=job_id)[0]["data"]["replica_backup_id"]
    created = _data_of(system, f"ims.{AP}.backups", "BackupCreated", backup_id=copy_id)
    assert [e["projectid"] for e in created] == [ALPHA.projects[AP]]
    deleted = eventually(
        lambda: _data_of(system, f"ims.{AP}.backups", "BackupDeleted", backup_id=copy_id),
        what="the backup copy to be rolled back",
    )
    assert deleted[0]["data"]["reason"] == "replication_rollback"

    with pytest.raises(ClientRequestException) as no_backup:
        cbr(system, ALPHA, AP).show_backup(ShowBackupRequest(backup_id=copy_id))
    assert no_backup.value.status_code == 404
    with pytest.raises(ClientRequestException) as no_image:
        ims(system, ALPHA, AP).glance_show_image(GlanceShowImageRequest(image_id=replica_id))
    assert no_image.value.status_code == 404
    assert not _data_of(system, f"ims.{AP}.replication", "ReplicaRecorded", job_id=job_id)
