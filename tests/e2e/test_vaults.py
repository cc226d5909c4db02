"""CBR vaults, checkpoints, backups and operation logs through the official CBR SDK (``huaweicloudsdkcbr``)
against backup-service, with ECSs from compute-service, over the real services."""

from typing import Any

import pytest
from huaweicloudsdkcbr.v1 import (
    AddVaultResourceRequest,
    BackupUpdate,
    BackupUpdateReq,
    BillingCreate,
    BillingUpdate,
    CheckpointParam,
    CreateCheckpointRequest,
    CreateVaultRequest,
    DeleteBackupRequest,
    DeleteVaultRequest,
    ListBackupsRequest,
    ListOpLogsRequest,
    ListVaultRequest,
    RemoveVaultResourceRequest,
    ResourceCreate,
    ShowBackupRequest,
    ShowCheckpointRequest,
    ShowOpLogRequest,
    ShowVaultRequest,
    UpdateBackupRequest,
    UpdateVaultRequest,
    VaultAddResourceReq,
    VaultBackup,
    VaultBackupReq,
    VaultCreate,
    VaultCreateReq,
    VaultRemoveResourceReq,
    VaultUpdate,
    VaultUpdateReq,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import (
    CreatePostPaidServersRequest,
    CreatePostPaidServersRequestBody,
    PostPaidServer,
    PostPaidServerDataVolume,
    PostPaidServerNic,
    PostPaidServerRootVolume,
    ShowJobRequest,
)
from huaweicloudsdkims.v2 import GlanceDeleteImageRequest, GlanceDeleteImageRequestBody, ListImagesRequest

from tests.e2e.harness import (
    BETA,
    System,
    cbr,
    checkpoint_of,
    create_image,
    ecs,
    eventually,
    ims,
    vault_holding,
    wait_job,
)

pytestmark = pytest.mark.e2e
ECS = "OS::Nova::Server"
SERVER_GB = 60  # a 40 GB system disk and a 20 GB data disk


def server(system: System) -> str:
    """A running ECS of alpha from a public image, with disks of SERVER_GB in all."""
    gold = ims(system).list_images(ListImagesRequest(imagetype="gold", os_type="Linux")).images[0]
    body = PostPaidServer(
        image_ref=gold.id,
        flavor_ref="s6.large.2",
        name="vaulted",
        vpcid="vpc-vaults",
        nics=[PostPaidServerNic(subnet_id="subnet-1")],
        root_volume=PostPaidServerRootVolume(volumetype="SSD", size=40),
        data_volumes=[PostPaidServerDataVolume(volumetype="SSD", size=SERVER_GB - 40)],
    )
    client = ecs(system)
    answer = client.create_post_paid_servers(
        CreatePostPaidServersRequest(body=CreatePostPaidServersRequestBody(server=body))
    )
    eventually(lambda: client.show_job(ShowJobRequest(job_id=answer.job_id)).status == "SUCCESS", what="the ECS to run")
    (server_id,) = answer.server_ids
    return str(server_id)


def refused(call: Any, *args: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call(*args)
    return caught.value


def checkpoint_request(vault_id: str, servers: list[str]) -> CreateCheckpointRequest:
    param = CheckpointParam(resources=servers, name="nightly", description="before the upgrade")
    return CreateCheckpointRequest(body=VaultBackupReq(checkpoint=VaultBackup(vault_id=vault_id, parameters=param)))


def test_a_vault_holds_servers_and_shows_its_capacity(system: System) -> None:
    client = cbr(system)
    first, second = server(system), server(system)
    vault_id = vault_holding(system, [first], size_gb=100)
    vault = client.show_vault(ShowVaultRequest(vault_id=vault_id)).vault
    assert (vault.billing.size, vault.billing.used, vault.billing.allocated) == (100, 0, SERVER_GB)
    assert [(r.id, r.type, r.size) for r in vault.resources] == [(first, "OS::Nova::Server", SERVER_GB)]
    assert vault.billing.object_type == "server" and vault.project_id

    added = client.add_vault_resource(
        AddVaultResourceRequest(
            vault_id=vault_id, body=VaultAddResourceReq(resources=[ResourceCreate(id=second, type=ECS)])
        )
    )
    assert added.add_resource_ids == [second]
    again = refused(
        client.add_vault_resource,
        AddVaultResourceRequest(
            vault_id=vault_id, body=VaultAddResourceReq(resources=[ResourceCreate(id=second, type=ECS)])
        ),
    )
    assert (again.status_code, again.error_code) == (400, "BackupService.6104")
    billing = BillingCreate(object_type="server", protect_type="backup", size=100)
    holding_first = VaultCreate(name="second", billing=billing, resources=[ResourceCreate(id=first, type=ECS)])
    elsewhere = refused(client.create_vault, CreateVaultRequest(body=VaultCreateReq(vault=holding_first)))
    assert elsewhere.error_code == "BackupService.6103" and vault_id in elsewhere.error_msg
    wrong_type = refused(
        client.add_vault_resource,
        AddVaultResourceRequest(
            vault_id=vault_id,
            body=VaultAddResourceReq(resources=[ResourceCreate(id="disk-1", type="OS::Cinder::Volume")]),
        ),
    )
    assert wrong_type.error_code == "BackupService.6102"

    removed = client.remove_vault_resource(
        RemoveVaultResourceRequest(vault_id=vault_id, body=VaultRemoveResourceReq(resource_ids=[second]))
    )
    assert removed.remove_resource_ids == [second]
    assert [r.id for r in client.show_vault(ShowVaultRequest(vault_id=vault_id)).vault.resources] == [first]

    listed = client.list_vault(ListVaultRequest(name=vault.name))
    assert (listed.count, [v.id for v in listed.vaults]) == (1, [vault_id])
    assert [v.id for v in client.list_vault(ListVaultRequest(resource_ids=first)).vaults] == [vault_id]
    assert [v.id for v in client.list_vault(ListVaultRequest(id=[vault_id], object_type="server")).vaults] == [vault_id]
    assert client.list_vault(ListVaultRequest(id=[vault_id], policy_id="p-1")).count == 0
    page = client.list_vault(ListVaultRequest(limit=1, offset=0))
    assert (len(page.vaults), page.limit, page.offset) == (1, 1, 0) and page.count >= 1
    assert vault_id not in [v.id for v in cbr(system, BETA).list_vault(ListVaultRequest()).vaults]
    assert refused(cbr(system, BETA).show_vault, ShowVaultRequest(vault_id=vault_id)).status_code == 404

    update = VaultUpdateReq(vault=VaultUpdate(name="renamed", billing=BillingUpdate(size=200), auto_expand=True))
    updated = client.update_vault(UpdateVaultRequest(vault_id=vault_id, body=update)).vault
    assert (updated.name, updated.billing.size, updated.auto_expand) == ("renamed", 200, True)


def test_a_checkpoint_needs_a_vault_of_the_project_that_holds_the_server_with_room(system: System) -> None:
    client = cbr(system)
    held, loose = server(system), server(system)
    vault_id = vault_holding(system, [held], size_gb=100)

    unknown = refused(client.create_checkpoint, checkpoint_request("no-such-vault", [held]))
    assert (unknown.status_code, unknown.error_code) == (404, "BackupService.6105")
    betas = vault_holding(system, [], tenant=BETA)
    foreign = refused(client.create_checkpoint, checkpoint_request(betas, [held]))
    assert (foreign.status_code, foreign.error_code) == (404, "BackupService.6105")
    outside = refused(client.create_checkpoint, checkpoint_request(vault_id, [loose]))
    assert outside.error_code == "BackupService.6304" and "AddVaultResource" in outside.error_msg

    made = client.create_checkpoint(checkpoint_request(vault_id, [held])).checkpoint
    assert made.status == "protecting" and made.vault.id == vault_id
    assert [(r.id, r.resource_size) for r in made.vault.resources] == [(held, str(SERVER_GB))]
    shown = eventually(
        lambda: (
            (c := client.show_checkpoint(ShowCheckpointRequest(checkpoint_id=made.id)).checkpoint).status == "available"
            and c
        ),
        what="the checkpoint",
    )
    assert (shown.id, shown.vault.id, shown.extra_info.name) == (made.id, vault_id, "nightly")
    (backup,) = client.list_backups(ListBackupsRequest(checkpoint_id=made.id)).backups
    assert (backup.vault_id, backup.checkpoint_id, backup.resource_id, backup.status) == (
        vault_id,
        made.id,
        held,
        "available",
    )
    assert client.show_backup(ShowBackupRequest(backup_id=backup.id)).backup.description == "before the upgrade"
    vault = client.show_vault(ShowVaultRequest(vault_id=vault_id)).vault
    assert vault.billing.used == SERVER_GB * 1024

    full = refused(client.create_checkpoint, checkpoint_request(vault_id, [held]))
    assert (full.status_code, full.error_code) == (400, "BackupService.6114")
    assert "40 GB free of 100 GB" in full.error_msg
    smaller = VaultUpdateReq(vault=VaultUpdate(billing=BillingUpdate(size=50)))
    shrink = refused(client.update_vault, UpdateVaultRequest(vault_id=vault_id, body=smaller))
    assert shrink.error_code == "BackupService.6107"
    bigger = VaultUpdateReq(vault=VaultUpdate(billing=BillingUpdate(size=120)))
    client.update_vault(UpdateVaultRequest(vault_id=vault_id, body=bigger))
    assert checkpoint_of(system, vault_id, [held])


def test_deleting_a_vault_deletes_its_backups_once_none_has_an_image(system: System) -> None:
    client = cbr(system)
    held = server(system)
    vault_id = vault_holding(system, [held])
    checkpoint_id = checkpoint_of(system, vault_id, [held])
    (backup,) = client.list_backups(ListBackupsRequest(checkpoint_id=checkpoint_id)).backups
    images = ims(system)
    job = wait_job(images, create_image(images, backup_id=backup.id, name="from-vault"))
    assert job.status == "SUCCESS", job.fail_reason
    image_id = str(job.entities.image_id)
    eventually(
        lambda: client.show_backup(ShowBackupRequest(backup_id=backup.id)).backup.extend_info.os_images_data,
        what="backup-service to know the image",
    )

    in_use = refused(client.delete_vault, DeleteVaultRequest(vault_id=vault_id))
    assert in_use.error_code == "BackupService.6334" and image_id in in_use.error_msg
    assert client.show_backup(ShowBackupRequest(backup_id=backup.id)).backup.status == "available"

    images.glance_delete_image(
        GlanceDeleteImageRequest(image_id=image_id, body=GlanceDeleteImageRequestBody(delete_backup=False))
    )
    eventually(lambda: client.delete_vault(DeleteVaultRequest(vault_id=vault_id)) is not None, what="the deletion")
    assert refused(client.show_vault, ShowVaultRequest(vault_id=vault_id)).status_code == 404
    assert refused(client.show_backup, ShowBackupRequest(backup_id=backup.id)).status_code == 404
    gone = client.show_checkpoint(ShowCheckpointRequest(checkpoint_id=checkpoint_id)).checkpoint
    assert gone.status == "deleted"
    assert vault_holding(system, [held])  # the server may go in another vault now


def test_backups_are_listed_by_every_sdk_filter_renamed_and_their_tasks_logged(system: System) -> None:
    client = cbr(system)
    held = server(system)
    vault_id = vault_holding(system, [held])
    first, second = checkpoint_of(system, vault_id, [held]), checkpoint_of(system, vault_id, [held])
    (one,) = client.list_backups(ListBackupsRequest(checkpoint_id=first)).backups
    (two,) = client.list_backups(ListBackupsRequest(checkpoint_id=second)).backups

    def listed(**filters: Any) -> list[str]:
        return [b.id for b in client.list_backups(ListBackupsRequest(vault_id=vault_id, **filters)).backups]

    assert listed() == [two.id, one.id]
    everything = {
        "resource_id": held,
        "resource_type": ECS,
        "resource_name": one.resource_name,
        "status": "available",
        "image_type": "backup",
        "own_type": "private",
        "incremental": False,
        "enterprise_project_id": "0",
        "start_time": one.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "end_time": two.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
    }
    assert listed(**everything) == [two.id, one.id]
    assert listed(sort="created_at:asc", limit=1) == [one.id]
    assert listed(sort="created_at:asc", marker=one.id) == [two.id]
    assert listed(end_time=one.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")) == [one.id]
    assert listed(own_type="shared") == listed(enterprise_project_id="ep-other") == listed(parent_id=one.id) == []
    wrong_sort = refused(client.list_backups, ListBackupsRequest(sort="size:up"))
    assert wrong_sort.error_code == "BackupService.6201" and "created_at" in wrong_sort.error_msg

    shown = client.show_backup(ShowBackupRequest(backup_id=one.id)).backup
    assert (shown.incremental, shown.enterprise_project_id, shown.checkpoint_id) == (False, "0", first)
    renamed = client.update_backup(
        UpdateBackupRequest(backup_id=one.id, body=BackupUpdateReq(backup=BackupUpdate(name="before-upgrade")))
    ).backup
    assert (renamed.id, renamed.name) == (one.id, "before-upgrade")
    assert listed(name="before-upgrade") == [one.id]
    missing = refused(
        client.update_backup,
        UpdateBackupRequest(backup_id="no-such-backup", body=BackupUpdateReq(backup=BackupUpdate(name="x"))),
    )
    assert (missing.status_code, missing.error_code) == (404, "BackupService.6301")

    client.delete_backup(DeleteBackupRequest(backup_id=two.id))
    made = client.list_op_logs(ListOpLogsRequest(vault_id=vault_id, operation_type="backup"))
    assert made.count == 2 and {log.status for log in made.operation_logs} == {"success"}
    assert {log.checkpoint_id for log in made.operation_logs} == {first, second}
    deleted = client.list_op_logs(ListOpLogsRequest(resource_id=held, operation_type="delete")).operation_logs
    assert [(log.status, log.extra_info.delete.backup_id) for log in deleted] == [("success", two.id)]
    log = client.show_op_log(ShowOpLogRequest(operation_log_id=made.operation_logs[-1].id)).operation_log
    assert (log.vault_id, log.extra_info.backup.backup_id, log.extra_info.resource.id) == (vault_id, one.id, held)
    assert log.started_at and log.ended_at
    assert refused(cbr(system, BETA).show_op_log, ShowOpLogRequest(operation_log_id=log.id)).status_code == 404
