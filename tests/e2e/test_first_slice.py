"""The first slice: a BackupCreated from an outside system becomes a full-ECS image through the IMS API."""

import pytest
from huaweicloudsdkcbr.v1 import ListBackupsRequest, ShowBackupRequest
from huaweicloudsdkims.v2 import (
    CreateWholeImageRequest,
    CreateWholeImageRequestBody,
    GlanceShowImageRequest,
    ListImagesRequest,
    ShowJobRequest,
)

from tests.e2e.harness import ALPHA, CN, System, backup_created, cbr, eventually, ims, produce

pytestmark = pytest.mark.e2e


def test_backup_created_becomes_an_active_full_ecs_image(system: System) -> None:
    backup = backup_created()
    produce(system, backup)

    backups = cbr(system)
    shown = eventually(
        lambda: backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup,
        what="backup-service to record the backup",
    )
    assert shown.id == backup.backup_id
    assert shown.resource_type == "OS::Nova::Server"
    listed = backups.list_backups(ListBackupsRequest(resource_id=backup.resource_id)).backups
    assert [b.id for b in listed] == [backup.backup_id]

    client = ims(system)
    body = CreateWholeImageRequestBody(name="full-ecs-from-cbr", backup_id=backup.backup_id, whole_image_type="CBR")
    job_id = client.create_whole_image(CreateWholeImageRequest(body=body)).job_id
    assert job_id

    job = eventually(
        lambda: (j := client.show_job(ShowJobRequest(job_id=job_id))).status in ("SUCCESS", "FAIL") and j,
        what="the job to finish",
    )
    assert job.status == "SUCCESS", job.fail_reason
    assert job.job_type == "imsCreateWholeImageByBackupJob"
    image_id = job.entities.image_id

    image = client.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert image.status == "active"
    assert image.name == "full-ecs-from-cbr"
    assert image.backup_id == backup.backup_id
    assert image.data_origin == f"server_backup,{backup.backup_id}"
    assert image.min_disk == 40

    listed_images = client.list_images(ListImagesRequest(imagetype="private")).images
    assert image_id in [i.id for i in listed_images]

    marked = eventually(
        lambda: backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup.extend_info.os_images_data,
        what="backup-service to record the image made from the backup",
    )
    assert [d.image_id for d in marked] == [image_id]
    assert ALPHA.projects[CN] == shown.project_id
