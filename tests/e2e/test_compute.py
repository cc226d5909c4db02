"""Applying for a server: ECSs and their disks from public and full-ECS images, through the official ECS and EVS
SDKs (``huaweicloudsdkecs``, ``huaweicloudsdkevs``) against compute-service, over the real services."""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from huaweicloudsdkcbr.v1 import (
    CheckpointParam,
    CreateCheckpointRequest,
    ListBackupsRequest,
    ShowBackupRequest,
    VaultBackup,
    VaultBackupReq,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import (
    BatchRebootServersRequest,
    BatchRebootServersRequestBody,
    BatchRebootSeversOption,
    BatchStartServersOption,
    BatchStartServersRequest,
    BatchStartServersRequestBody,
    BatchStopServersOption,
    BatchStopServersRequest,
    BatchStopServersRequestBody,
    ChangeServerOsWithCloudInitOption,
    ChangeServerOsWithCloudInitRequest,
    ChangeServerOsWithCloudInitRequestBody,
    ChangeServerOsWithoutCloudInitOption,
    ChangeServerOsWithoutCloudInitRequest,
    ChangeServerOsWithoutCloudInitRequestBody,
    CreatePostPaidServersRequest,
    CreatePostPaidServersRequestBody,
    CreateServersRequest,
    CreateServersRequestBody,
    DeleteServersRequest,
    DeleteServersRequestBody,
    EcsClient,
    ListFlavorsRequest,
    ListServersDetailsRequest,
    NovaDeleteServerRequest,
    PostPaidServer,
    PostPaidServerDataVolume,
    PostPaidServerNic,
    PostPaidServerRootVolume,
    PrePaidServer,
    PrePaidServerDataVolume,
    PrePaidServerExtendParam,
    PrePaidServerNic,
    PrePaidServerRootVolume,
    ServerId,
    ShowJobRequest,
    ShowServerRequest,
    UpdateServerMetadataRequest,
    UpdateServerMetadataRequestBody,
)
from huaweicloudsdkevs.v2 import ListVolumesRequest, ShowVolumeRequest
from huaweicloudsdkims.v2 import (
    BatchAddMembersRequest,
    BatchAddMembersRequestBody,
    BatchUpdateMembersRequest,
    BatchUpdateMembersRequestBody,
    CopyImageCrossRegionRequest,
    CopyImageCrossRegionRequestBody,
    GlanceDeleteImageRequest,
    GlanceDeleteImageRequestBody,
    GlanceShowImageRequest,
    ListImagesRequest,
)
from huaweicloudsdkims.v2 import ShowJobRequest as ImsShowJobRequest

from ims_shared.events import BackupCreated, BackupDisk, ServerInfo
from ims_shared.tenants import Tenant
from tests.e2e.harness import (
    ALPHA,
    AP,
    BETA,
    CN,
    System,
    cbr,
    create_image,
    ecs,
    eventually,
    evs,
    ims,
    produce,
    vault_holding,
    wait_job,
)

pytestmark = pytest.mark.e2e

FLAVOR = "s6.large.2"
SIZES = [("/dev/vda", 50, True, "ESSD"), ("/dev/vdb", 20, False, "SSD"), ("/dev/vdc", 30, False, "SAS")]


def gold(system: System, os_type: str = "Linux", region: str = CN) -> Any:
    images = ims(system, ALPHA, region).list_images(ListImagesRequest(imagetype="gold", os_type=os_type)).images
    assert images, f"no public {os_type} image in {region}"
    return images[0]


def full_image(system: System, tenant: Tenant = ALPHA) -> tuple[str, str]:
    """An active full-ECS image of ``tenant`` in cn-north-4 whose backup has three disks (SIZES): (image, backup)."""
    backup = BackupCreated(
        backup_id=str(uuid.uuid4()),
        vault_id="vault-1",
        name="nightly",
        resource_id=str(uuid.uuid4()),
        resource_name="ecs-source",
        created_at=datetime.now(UTC),
        size_gb=100,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04 server 64bit"),
        disks=[
            BackupDisk(volume_id=str(uuid.uuid4()), device=d, size_gb=s, bootable=b, volume_type=t)
            for d, s, b, t in SIZES
        ],
    )
    produce(system, backup, tenant=tenant)
    backups = cbr(system, tenant)
    eventually(lambda: backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup, what="the backup")
    client = ims(system, tenant)
    job = wait_job(client, create_image(client, backup_id=backup.backup_id, name="web-full"))
    assert job.status == "SUCCESS", job.fail_reason
    image_id = str(job.entities.image_id)
    known_to_compute(system, image_id, tenant)
    return image_id, backup.backup_id


def known_to_compute(system: System, image_id: str, tenant: Tenant = ALPHA, region: str = CN) -> None:
    """Wait until compute-service has learned the image is active (from ImageCreated): a dry run passes."""
    server = PostPaidServer(
        image_ref=image_id, flavor_ref=FLAVOR, name="probe", vpcid="vpc-1", nics=[PostPaidServerNic(subnet_id="s-1")]
    )
    request = CreatePostPaidServersRequest(body=CreatePostPaidServersRequestBody(server=server, dry_run=True))
    client = ecs(system, tenant, region)
    eventually(lambda: client.create_post_paid_servers(request) is not None, what=f"compute-service to know {image_id}")


def post_paid(
    client: EcsClient,
    image_id: str,
    *,
    root: int | None = None,
    data: list[int] | None = None,
    count: int = 1,
    metadata: dict[str, str] | None = None,
    flavor: str = FLAVOR,
) -> tuple[str, list[str]]:
    server = PostPaidServer(
        image_ref=image_id,
        flavor_ref=flavor,
        name="web",
        vpcid="vpc-" + uuid.uuid4().hex[:8],
        nics=[PostPaidServerNic(subnet_id="subnet-1")],
        root_volume=PostPaidServerRootVolume(volumetype="SSD", size=root) if root else None,
        data_volumes=[PostPaidServerDataVolume(volumetype="SSD", size=s) for s in data or []],
        count=count,
        metadata=metadata,
    )
    answer = client.create_post_paid_servers(
        CreatePostPaidServersRequest(body=CreatePostPaidServersRequestBody(server=server))
    )
    return answer.job_id, list(answer.server_ids)


def finished(client: EcsClient, job_id: str, timeout_s: float = 30) -> Any:
    return eventually(
        lambda: (job := client.show_job(ShowJobRequest(job_id=job_id))).status in ("SUCCESS", "FAIL") and job,
        timeout_s=timeout_s,
        what=f"ECS job {job_id} to end",
    )


def running(client: EcsClient, image_id: str, **kw: Any) -> list[str]:
    job_id, ids = post_paid(client, image_id, **kw)
    job = finished(client, job_id)
    assert job.status == "SUCCESS", f"{job.error_code}: {job.fail_reason}"
    return ids


def show(client: EcsClient, server_id: str) -> Any:
    return client.show_server(ShowServerRequest(server_id=server_id)).server


def error_of(call: Any, *args: Any, **kw: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call(*args, **kw)
    return caught.value


def refusal(call: Any, *args: Any, **kw: Any) -> ClientRequestException | None:
    """The SDK's exception for a refused call, or None when the call went through (for ``eventually``)."""
    try:
        call(*args, **kw)
    except ClientRequestException as exc:
        return exc
    return None


def disks_of(system: System, server_id: str, tenant: Tenant = ALPHA, region: str = CN) -> list[Any]:
    volumes = evs(system, tenant, region).list_volumes(ListVolumesRequest(server_id=server_id)).volumes
    return sorted(volumes, key=lambda v: v.attachments[0].device)


def test_catalogs_public_images_and_flavors(system: System) -> None:
    client = ims(system)
    linux, windows = gold(system, "Linux"), gold(system, "Windows")
    assert linux.os_type == "Linux" and windows.os_type == "Windows" and linux.min_disk == 40
    shown = client.glance_show_image(GlanceShowImageRequest(image_id=windows.id))
    assert (shown.name, shown.status, shown.visibility) == (windows.name, "active", "public")
    assert linux.id not in [i.id for i in client.list_images(ListImagesRequest(imagetype="private")).images]
    assert gold(system, region=AP).id != linux.id  # each region has its own
    flavors = ecs(system).list_flavors(ListFlavorsRequest()).flavors
    assert FLAVOR in [f.id for f in flavors] and all(isinstance(f.ram, int) for f in flavors)


def test_a_server_from_a_public_image_builds_then_runs_with_the_disks_asked_for(system: System) -> None:
    client = ecs(system)
    image = gold(system)
    job_id, (server_id,) = post_paid(client, image.id, root=40, data=[10])
    assert show(client, server_id).status == "BUILD"
    job = finished(client, job_id)
    assert (job.status, job.job_type, job.entities.sub_jobs_total) == ("SUCCESS", "createServer", 1)
    (sub,) = job.entities.sub_jobs
    assert (sub.job_type, sub.status, sub.entities.server_id) == ("createSingleServer", "SUCCESS", server_id)
    server = show(client, server_id)
    assert (server.status, server.image.id, server.flavor.id) == ("ACTIVE", image.id, FLAVOR)
    assert server.os_ext_st_spower_state == 1 and server.metadata["full_image_configured"] == "true"
    attached = sorted(server.os_extended_volumesvolumes_attached, key=lambda v: v.device)
    assert [(v.device, v.boot_index) for v in attached] == [("/dev/vda", "0"), ("/dev/vdb", "")]
    system_disk = evs(system).show_volume(ShowVolumeRequest(volume_id=attached[0].id)).volume
    assert (system_disk.size, system_disk.bootable, system_disk.status) == (40, "true", "in-use")
    assert system_disk.attachments[0].server_id == server_id
    assert system_disk.volume_image_metadata["image_id"] == image.id
    listed = client.list_servers_details(ListServersDetailsRequest(limit=1000)).servers
    assert server_id in [s.id for s in listed]


def test_a_server_from_a_full_ecs_image_gets_every_disk_of_the_image(system: System) -> None:
    image_id, backup_id = full_image(system)
    client = ecs(system)
    body = CreateServersRequestBody(
        server=PrePaidServer(
            image_ref=image_id,
            flavor_ref=FLAVOR,
            name="restored",
            vpcid="vpc-1",
            nics=[PrePaidServerNic(subnet_id="subnet-1")],
            root_volume=PrePaidServerRootVolume(volumetype="ESSD", size=60),
            data_volumes=[PrePaidServerDataVolume(volumetype="SSD", size=25)],
            count=2,
            extendparam=PrePaidServerExtendParam(charging_mode="postPaid"),
        )
    )
    answer = client.create_servers(CreateServersRequest(body=body))
    assert len(answer.server_ids) == 2
    job = finished(client, answer.job_id)
    assert job.status == "SUCCESS" and job.entities.sub_jobs_total == 2
    for server_id in answer.server_ids:
        server = show(client, server_id)
        assert server.status == "ACTIVE" and server.image.id == image_id and server.name.startswith("restored-000")
        disks = disks_of(system, server_id)
        assert [(d.attachments[0].device, d.size, d.bootable, d.volume_type) for d in disks] == [
            ("/dev/vda", 60, "true", "ESSD"),
            ("/dev/vdb", 25, "false", "SSD"),
            ("/dev/vdc", 30, "false", "SAS"),
        ]
        assert {d.metadata["restored_from_backup_id"] for d in disks} == {backup_id}
        assert {d.volume_image_metadata["image_id"] for d in disks} == {image_id}


def test_a_disk_smaller_than_the_images_and_other_bad_input_is_refused_with_an_ecs_code(system: System) -> None:
    image_id, _ = full_image(system)
    client = ecs(system)
    small = error_of(post_paid, client, image_id, root=40)
    assert (small.status_code, small.error_code) == (400, "Ecs.0023")
    assert "40 GB" in small.error_msg and "50 GB" in small.error_msg
    small_data = error_of(post_paid, client, image_id, data=[19])
    assert small_data.error_code == "Ecs.0023" and "20 GB" in small_data.error_msg
    assert error_of(post_paid, client, str(uuid.uuid4())).error_code == "Ecs.0020"
    assert error_of(post_paid, client, image_id, flavor="x9.huge").error_code == "Ecs.0024"
    not_shared = error_of(post_paid, ecs(system, BETA), image_id)
    assert (not_shared.status_code, not_shared.error_code) == (400, "Ecs.0020")
    missing = error_of(client.show_server, ShowServerRequest(server_id=str(uuid.uuid4())))
    assert (missing.status_code, missing.error_code) == (404, "Ecs.0114")
    before = client.list_servers_details(ListServersDetailsRequest(limit=1000)).count
    assert before == len(client.list_servers_details(ListServersDetailsRequest(limit=1000)).servers)


def test_an_image_deleted_or_whose_backup_is_gone_is_refused_and_its_servers_keep_running(system: System) -> None:
    image_id, _ = full_image(system)
    client = ecs(system)
    (server_id,) = running(client, image_id)
    body = GlanceDeleteImageRequestBody(delete_backup=True)
    ims(system).glance_delete_image(GlanceDeleteImageRequest(image_id=image_id, body=body))
    refused = eventually(
        lambda: (e := refusal(post_paid, client, image_id)) and e.error_code in ("Ecs.0021", "Ecs.0022") and e,
        what="creation from the deleted image to be refused",
    )
    assert refused.status_code == 400
    assert show(client, server_id).status == "ACTIVE"
    assert len(disks_of(system, server_id)) == 3


def test_power_actions_share_one_path(system: System) -> None:
    client = ecs(system)
    a, b = running(client, gold(system).id, count=2)
    servers = [ServerId(id=a), ServerId(id=b)]
    stop = BatchStopServersRequestBody(os_stop=BatchStopServersOption(servers=servers, type="SOFT"))
    assert finished(client, client.batch_stop_servers(BatchStopServersRequest(body=stop)).job_id).status == "SUCCESS"
    assert {show(client, s).status for s in (a, b)} == {"SHUTOFF"}
    reboot = BatchRebootServersRequestBody(reboot=BatchRebootSeversOption(servers=servers[:1], type="SOFT"))
    conflict = error_of(client.batch_reboot_servers, BatchRebootServersRequest(body=reboot))
    assert (conflict.status_code, conflict.error_code) == (409, "Ecs.0026")
    start = BatchStartServersRequestBody(os_start=BatchStartServersOption(servers=servers))
    client.batch_start_servers(BatchStartServersRequest(body=start))
    assert {show(client, s).status for s in (a, b)} == {"ACTIVE"}
    job = finished(client, client.batch_reboot_servers(BatchRebootServersRequest(body=reboot)).job_id)
    assert job.status == "SUCCESS" and show(client, a).status == "ACTIVE"


def test_a_change_of_os_keeps_the_data_disks(system: System) -> None:
    image_id, backup_id = full_image(system)
    client = ecs(system)
    (server_id,) = running(client, image_id)
    before = disks_of(system, server_id)
    linux = gold(system)
    option = ChangeServerOsWithCloudInitOption(imageid=linux.id, keyname="kp-1", mode="withStopServer")
    request = ChangeServerOsWithCloudInitRequest(
        server_id=server_id, body=ChangeServerOsWithCloudInitRequestBody(os_change=option)
    )
    job = finished(client, client.change_server_os_with_cloud_init(request).job_id)
    assert job.status == "SUCCESS", job.fail_reason
    server = show(client, server_id)
    assert (server.status, server.image.id) == ("ACTIVE", linux.id)
    after = disks_of(system, server_id)
    assert [d.id for d in after] == [d.id for d in before]
    assert after[0].volume_image_metadata["image_id"] == linux.id and "restored_from_backup_id" not in after[0].metadata
    assert [(d.size, d.metadata, d.updated_at) for d in after[1:]] == [
        (d.size, d.metadata, d.updated_at) for d in before[1:]
    ]

    running_refused = error_of(
        client.change_server_os_without_cloud_init,
        ChangeServerOsWithoutCloudInitRequest(
            server_id=server_id,
            body=ChangeServerOsWithoutCloudInitRequestBody(
                os_change=ChangeServerOsWithoutCloudInitOption(imageid=image_id, adminpass="P@ssw0rd!")
            ),
        ),
    )
    assert running_refused.error_code == "Ecs.0027"
    stop = BatchStopServersRequestBody(os_stop=BatchStopServersOption(servers=[ServerId(id=server_id)]))
    client.batch_stop_servers(BatchStopServersRequest(body=stop))
    back = ChangeServerOsWithoutCloudInitRequest(
        server_id=server_id,
        body=ChangeServerOsWithoutCloudInitRequestBody(
            os_change=ChangeServerOsWithoutCloudInitOption(imageid=image_id, adminpass="P@ssw0rd!")
        ),
    )
    job = finished(client, client.change_server_os_without_cloud_init(back).job_id)
    assert job.status == "SUCCESS" and "data disk(s) (20 GB, 30 GB) were not restored" in job.message
    again = disks_of(system, server_id)
    assert again[0].metadata["restored_from_backup_id"] == backup_id
    assert [(d.id, d.metadata, d.updated_at) for d in again[1:]] == [
        (d.id, d.metadata, d.updated_at) for d in before[1:]
    ]


def test_starting_an_ecs_while_its_image_is_made_fails_the_image_job(system: System) -> None:
    client = ecs(system)
    (server_id,) = running(client, gold(system).id)
    stop = BatchStopServersRequestBody(os_stop=BatchStopServersOption(servers=[ServerId(id=server_id)]))
    client.batch_stop_servers(BatchStopServersRequest(body=stop))
    time.sleep(1)  # backup-service learns the state from ServerStateChanged
    images = ims(system)
    job_id = create_image(images, instance_id=server_id, vault_id="vault-1", whole_image_type=None, name="stopped")
    eventually(
        lambda: images.show_job(ImsShowJobRequest(job_id=job_id)).status == "RUNNING",
        what="the image being saved",
        timeout_s=15,
    )
    (backup,) = cbr(system).list_backups(ListBackupsRequest(resource_id=server_id)).backups
    assert backup.status == "available"  # taken while the ECS was SHUTOFF: its image must not see it started
    start = BatchStartServersRequestBody(os_start=BatchStartServersOption(servers=[ServerId(id=server_id)]))
    client.batch_start_servers(BatchStartServersRequest(body=start))
    job = wait_job(images, job_id)
    assert (job.status, job.error_code) == ("FAIL", "IMG.0203")


def test_an_ecs_marked_not_configured_cannot_be_imaged(system: System) -> None:
    client = ecs(system)
    (server_id,) = running(client, gold(system).id, metadata={"full_image_configured": "false"})
    images = ims(system)
    job = wait_job(images, create_image(images, instance_id=server_id, vault_id="vault-1", whole_image_type=None))
    assert (job.status, job.error_code) == ("FAIL", "IMG.0202")
    body = UpdateServerMetadataRequestBody(metadata={"full_image_configured": "true"})
    answer = client.update_server_metadata(UpdateServerMetadataRequest(server_id=server_id, body=body))
    assert answer.metadata["full_image_configured"] == "true"
    time.sleep(1)  # backup-service learns it from ServerRegistered
    job = wait_job(images, create_image(images, instance_id=server_id, vault_id="vault-1", whole_image_type=None))
    assert job.status == "SUCCESS", job.fail_reason


def test_a_shared_image_gives_a_server_in_the_recipients_project(system: System) -> None:
    image_id, _ = full_image(system)
    owner, recipient = ims(system, ALPHA), ims(system, BETA)
    beta_project = BETA.projects[CN]
    owner.batch_add_members(
        BatchAddMembersRequest(body=BatchAddMembersRequestBody(images=[image_id], projects=[beta_project]))
    )
    pending = eventually(
        lambda: (e := refusal(post_paid, ecs(system, BETA), image_id)) and "accept" in e.error_msg and e,
        what="the share to be known",
    )
    assert pending.error_code == "Ecs.0020"
    accept = BatchUpdateMembersRequest(
        body=BatchUpdateMembersRequestBody(
            images=[image_id],
            project_id=beta_project,
            status="accepted",
            vault_id=vault_holding(system, [], tenant=BETA),
        )
    )
    # image-service learns the vault from backup-service's VaultCreated, a moment after CreateVault answers.
    eventually(lambda: recipient.batch_update_members(accept), what="image-service to know beta's vault")
    client = ecs(system, BETA)
    (server_id,) = eventually(lambda: running(client, image_id), what="a server from the accepted image")
    server = show(client, server_id)
    assert server.tenant_id == beta_project and server.metadata["metering.imagetype"] == "shared"
    assert [d.size for d in disks_of(system, server_id, BETA)] == [50, 20, 30]


def test_a_replica_gives_a_server_in_the_destination_region(system: System) -> None:
    image_id, _ = full_image(system)
    source = ims(system, ALPHA, CN)
    body = CopyImageCrossRegionRequestBody(
        name="web-replica",
        region=AP,
        project_name=AP,
        vault_id=vault_holding(system, [], region=AP),
        agency_name="ims_admin_agency",
    )
    copy_job = source.copy_image_cross_region(CopyImageCrossRegionRequest(image_id=image_id, body=body)).job_id
    job = wait_job(source, copy_job, timeout_s=45)
    assert job.status == "SUCCESS", job.fail_reason
    replica_id = job.entities.image_id
    client = ecs(system, ALPHA, AP)
    (server_id,) = eventually(lambda: running(client, replica_id), what="a server from the replica")
    assert show(client, server_id).tenant_id == ALPHA.projects[AP]
    assert [d.size for d in disks_of(system, server_id, ALPHA, AP)] == [50, 20, 30]


def test_deleting_servers_announces_them_and_keeps_or_deletes_their_disks(system: System) -> None:
    client = ecs(system)
    gone, kept = running(client, gold(system).id, data=[10], count=2)
    vault_id = vault_holding(system, [gone])
    kept_disks = [d.id for d in disks_of(system, kept)]
    body = DeleteServersRequestBody(servers=[ServerId(id=gone)], delete_volume=True)
    assert finished(client, client.delete_servers(DeleteServersRequest(body=body)).job_id).status == "SUCCESS"
    client.nova_delete_server(NovaDeleteServerRequest(server_id=kept))
    for server_id in (gone, kept):
        assert error_of(client.show_server, ShowServerRequest(server_id=server_id)).status_code == 404
    assert disks_of(system, gone) == []
    volumes = evs(system)
    for volume_id in kept_disks:
        volume = volumes.show_volume(ShowVolumeRequest(volume_id=volume_id)).volume
        assert (volume.status, volume.attachments) == ("available", [])
    checkpoint = VaultBackupReq(checkpoint=VaultBackup(vault_id=vault_id, parameters=CheckpointParam(resources=[gone])))
    refused = eventually(
        lambda: (
            (e := error_of(cbr(system).create_checkpoint, CreateCheckpointRequest(body=checkpoint)))
            and e.error_code == "BackupService.6303"
            and e
        ),
        what="backup-service to know the ECS was deleted",
    )
    assert "deleted" in refused.error_msg


def test_a_request_repeated_with_its_client_token_makes_nothing_new(system: System) -> None:
    client = ecs(system)
    windows = gold(system, "Windows").id

    def body(flavor: str) -> CreateServersRequestBody:
        server = PrePaidServer(
            image_ref=windows, flavor_ref=flavor, name="win", vpcid="vpc-1", nics=[PrePaidServerNic(subnet_id="s-1")]
        )
        return CreateServersRequestBody(server=server)

    token = uuid.uuid4().hex
    first = client.create_servers(CreateServersRequest(body=body("s6.medium.2"), x_client_token=token))
    again = client.create_servers(CreateServersRequest(body=body("s6.medium.2"), x_client_token=token))
    assert (again.job_id, again.server_ids) == (first.job_id, first.server_ids)
    other = client.create_servers(CreateServersRequest(body=body("s6.medium.2"), x_client_token=uuid.uuid4().hex))
    assert other.server_ids != first.server_ids
    small = error_of(client.create_servers, CreateServersRequest(body=body("s6.small.1")))
    assert (small.status_code, small.error_code) == (400, "Ecs.0029")  # Windows needs 2048 MB
