"""The seed, "Creating a Full-ECS Image from a CBR Backup", start to finish, with the official Huawei Cloud SDKs only
(ECS, EVS, CBR, IMS), against the running system:

    make run                                  # in one terminal
    .venv/bin/python docs/walkthrough.py      # in another

An ECS from a public image with a data disk; a CBR vault that holds it; a checkpoint; a full-ECS image from its
backup; the image shared with beta, who accepts it into its own vault; the image replicated to ap-southeast-1; a
server from the image in each region and one in beta's project, each with every disk of the image; another
server's OS changed with the image (the system disk only); the image deleted with its backup. Each step prints what
it did. PORT_OFFSET moves every port, as it does for make run; IMS_HOST names another host.
"""

import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from huaweicloudsdkcbr.v1 import (
    BillingCreate,
    CbrClient,
    CheckpointParam,
    CreateCheckpointRequest,
    CreateVaultRequest,
    ListBackupsRequest,
    ResourceCreate,
    ShowBackupRequest,
    ShowCheckpointRequest,
    VaultBackup,
    VaultBackupReq,
    VaultCreate,
    VaultCreateReq,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkecs.v2 import (
    ChangeServerOsWithCloudInitOption,
    ChangeServerOsWithCloudInitRequest,
    ChangeServerOsWithCloudInitRequestBody,
    CreatePostPaidServersRequest,
    CreatePostPaidServersRequestBody,
    EcsClient,
    PostPaidServer,
    PostPaidServerDataVolume,
    PostPaidServerNic,
    PostPaidServerRootVolume,
    ShowJobRequest,
    ShowServerRequest,
)
from huaweicloudsdkevs.v2 import EvsClient, ListVolumesRequest
from huaweicloudsdkims.v2 import (
    BatchAddMembersRequest,
    BatchAddMembersRequestBody,
    BatchUpdateMembersRequest,
    BatchUpdateMembersRequestBody,
    CopyImageCrossRegionRequest,
    CopyImageCrossRegionRequestBody,
    CreateWholeImageRequest,
    CreateWholeImageRequestBody,
    GlanceDeleteImageRequest,
    GlanceDeleteImageRequestBody,
    GlanceShowImageRequest,
    ImsClient,
    ListImagesRequest,
)
from huaweicloudsdkims.v2 import ShowJobRequest as ShowImsJobRequest

T = TypeVar("T")
HOST = os.environ.get("IMS_HOST", "127.0.0.1")
OFFSET = int(os.environ.get("PORT_OFFSET", "0"))
REGIONS = {"cn-north-4": 1, "ap-southeast-1": 2}  # make run's port plan: 8<region><service>
SERVICES = {"ims": 1, "cbr": 2, "ecs": 4}
# The development tenants of make run (README.md, "Development credentials").
ALPHA = (
    "DEVALPHAAK0000000001",
    "dev-alpha-secret",
    {"cn-north-4": "a" + "0" * 30 + "1", "ap-southeast-1": "a" + "0" * 30 + "2"},
)
BETA = (
    "DEVBETAAK00000000001",
    "dev-beta-secret",
    {"cn-north-4": "b" + "0" * 30 + "1", "ap-southeast-1": "b" + "0" * 30 + "2"},
)
CN, AP = "cn-north-4", "ap-southeast-1"
FLAVOR = "s6.large.2"
RUN = uuid.uuid4().hex[:6]  # names this run's resources apart from any other's


def endpoint(service: str, region: str) -> str:
    return f"http://{HOST}:{8000 + 100 * REGIONS[region] + SERVICES[service] + OFFSET}"


def client(kind: type[T], service: str, tenant: tuple[str, str, dict[str, str]], region: str) -> T:
    access_key, secret_key, projects = tenant
    credentials = BasicCredentials(access_key, secret_key, projects[region])
    built: T = kind.new_builder().with_credentials(credentials).with_endpoints([endpoint(service, region)]).build()  # type: ignore[attr-defined]
    return built


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def until(probe: Callable[[], T | None], what: str, timeout_s: float = 60) -> T:
    """Poll ``probe`` until it gives something; the services learn from each other through events, a moment later."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = probe()
            if found:
                return found
        except ClientRequestException as exc:
            last = exc
        time.sleep(0.5)
    sys.exit(f"gave up waiting for {what}: {last}")


def ecs_job(ecs: EcsClient, job_id: str) -> Any:
    job = until(
        lambda: (j := ecs.show_job(ShowJobRequest(job_id=job_id))).status in ("SUCCESS", "FAIL") and j, "ECS job"
    )
    if job.status != "SUCCESS":
        sys.exit(f"ECS job {job_id} failed: {job.fail_reason}")
    return job


def ims_job(ims: ImsClient, job_id: str) -> Any:
    job = until(
        lambda: (j := ims.show_job(ShowImsJobRequest(job_id=job_id))).status in ("SUCCESS", "FAIL") and j, "IMS job"
    )
    if job.status != "SUCCESS":
        sys.exit(f"IMS job {job_id} failed: {job.error_code} {job.fail_reason}")
    return job


def create_server(
    ecs: EcsClient, image_id: str, name: str, *, root_gb: int | None = None, data_gb: list[int] | None = None
) -> str:
    """One server from ``image_id``: a public image gets the disks asked for; a full-ECS image every disk of its own
    (the sizes asked may only grow). A full-ECS image is usable once compute-service has learned it, a moment after
    the image is Normal: its creation is retried until then."""
    server = PostPaidServer(
        image_ref=image_id,
        flavor_ref=FLAVOR,
        name=name,
        vpcid="vpc-walkthrough",
        nics=[PostPaidServerNic(subnet_id="subnet-walkthrough")],
        root_volume=PostPaidServerRootVolume(volumetype="SSD", size=root_gb) if root_gb else None,
        data_volumes=[PostPaidServerDataVolume(volumetype="SSD", size=size) for size in data_gb or []],
    )
    request = CreatePostPaidServersRequest(body=CreatePostPaidServersRequestBody(server=server))
    answer = until(lambda: ecs.create_post_paid_servers(request), f"compute-service to accept image {image_id}")
    ecs_job(ecs, answer.job_id)
    (server_id,) = answer.server_ids
    return str(server_id)


def disks(evs: EvsClient, server_id: str) -> list[tuple[str, int, bool]]:
    """(volume id, size in GB, bootable) of every disk of the server, the system disk first."""
    volumes = evs.list_volumes(ListVolumesRequest(server_id=server_id)).volumes
    listed = [(v.id, v.size, v.bootable == "true") for v in volumes]
    return sorted(listed, key=lambda d: (not d[2], d[0]))


def vault(cbr: CbrClient, name: str, servers: list[str]) -> str:
    billing = BillingCreate(
        cloud_type="public",
        consistent_level="crash_consistent",
        object_type="server",
        protect_type="backup",
        size=500,
        charging_mode="post_paid",
    )
    resources = [ResourceCreate(id=s, type="OS::Nova::Server") for s in servers]
    body = VaultCreateReq(vault=VaultCreate(name=f"{name}-{RUN}", billing=billing, resources=resources))
    return str(cbr.create_vault(CreateVaultRequest(body=body)).vault.id)


def main() -> None:
    ecs, evs = client(EcsClient, "ecs", ALPHA, CN), client(EvsClient, "ecs", ALPHA, CN)
    cbr, ims = client(CbrClient, "cbr", ALPHA, CN), client(ImsClient, "ims", ALPHA, CN)

    step("An ECS from a public image, with a data disk")
    gold = ims.list_images(ListImagesRequest(imagetype="gold", os_type="Linux")).images[0]
    source = create_server(ecs, gold.id, f"web-{RUN}", root_gb=40, data_gb=[20])
    print(f"server {source} from {gold.name}: disks {disks(evs, source)}")

    step("A CBR vault that holds it, and a checkpoint of it")
    # backup-service learns the new ECS from compute-service's events, a moment after it is ACTIVE.
    vault_id = until(lambda: vault(cbr, "walkthrough", [source]), "backup-service to know the ECS")
    checkpoint = VaultBackupReq(
        checkpoint=VaultBackup(vault_id=vault_id, parameters=CheckpointParam(resources=[source]))
    )
    checkpoint_id = cbr.create_checkpoint(CreateCheckpointRequest(body=checkpoint)).checkpoint.id
    until(
        lambda: (
            cbr.show_checkpoint(ShowCheckpointRequest(checkpoint_id=checkpoint_id)).checkpoint.status == "available"
        ),
        "the checkpoint",
    )
    (backup,) = cbr.list_backups(ListBackupsRequest(checkpoint_id=checkpoint_id)).backups
    print(f"vault {vault_id}; checkpoint {checkpoint_id}: backup {backup.id} is {backup.status}")

    step("A full-ECS image from the backup")
    body = CreateWholeImageRequestBody(name=f"web-full-{RUN}", backup_id=backup.id, whole_image_type="CBR")
    job = ims_job(ims, ims.create_whole_image(CreateWholeImageRequest(body=body)).job_id)
    image_id = str(job.entities.image_id)
    image = ims.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    print(f"image {image_id} is {image.status} (Normal), made from backup {image.backup_id}")

    step("Shared with beta, who accepts it into its own vault")
    beta_project = BETA[2][CN]
    ims.batch_add_members(
        BatchAddMembersRequest(body=BatchAddMembersRequestBody(images=[image_id], projects=[beta_project]))
    )
    beta_vault = vault(client(CbrClient, "cbr", BETA, CN), "beta-shared", [])
    answer = BatchUpdateMembersRequestBody(
        images=[image_id], project_id=beta_project, status="accepted", vault_id=beta_vault
    )
    # image-service learns beta's vault from backup-service's events, a moment after CreateVault answers.
    beta_ims = client(ImsClient, "ims", BETA, CN)
    until(
        lambda: beta_ims.batch_update_members(BatchUpdateMembersRequest(body=answer)), "image-service to know the vault"
    )
    print(f"beta accepted image {image_id} into vault {beta_vault}")

    step("Replicated to ap-southeast-1")
    hk_vault = vault(client(CbrClient, "cbr", ALPHA, AP), "hk-replicas", [])
    copy = CopyImageCrossRegionRequestBody(name=f"web-hk-{RUN}", region=AP, project_name=AP, vault_id=hk_vault)
    job = ims_job(ims, ims.copy_image_cross_region(CopyImageCrossRegionRequest(image_id=image_id, body=copy)).job_id)
    replica_id = str(job.entities.image_id)
    print(f"replica {replica_id} in {AP} (vault {hk_vault})")

    step("A server from the image in each region, and one in beta's project: every disk of the image")
    made = {
        "alpha, cn-north-4": (create_server(ecs, image_id, f"from-image-{RUN}"), evs),
        "alpha, ap-southeast-1": (
            create_server(client(EcsClient, "ecs", ALPHA, AP), replica_id, f"from-replica-{RUN}"),
            client(EvsClient, "ecs", ALPHA, AP),
        ),
        "beta, cn-north-4": (
            create_server(client(EcsClient, "ecs", BETA, CN), image_id, f"beta-{RUN}"),
            client(EvsClient, "ecs", BETA, CN),
        ),
    }
    expected = [size for _, size, _ in disks(evs, source)]
    for where, (server_id, volumes) in made.items():
        sizes = [size for _, size, _ in disks(volumes, server_id)]
        print(f"{where}: server {server_id}, disks of {sizes} GB")
        if sizes != expected:
            sys.exit(f"server {server_id} has disks of {sizes} GB, not the image's {expected}")

    step("Another server's OS changed with the image: only the system disk is written")
    other = create_server(ecs, gold.id, f"change-os-{RUN}", root_gb=40, data_gb=[30])
    before = disks(evs, other)
    # A running ECS is stopped for the change (mode withStopServer), as ECS asks; else it must be stopped first.
    change = ChangeServerOsWithCloudInitOption(imageid=image_id, adminpass="Walk-through-1", mode="withStopServer")
    request = ChangeServerOsWithCloudInitRequest(
        server_id=other, body=ChangeServerOsWithCloudInitRequestBody(os_change=change)
    )
    job = ecs_job(ecs, ecs.change_server_os_with_cloud_init(request).job_id)
    after = disks(evs, other)
    kept = [d for d in before if not d[2]] == [d for d in after if not d[2]]
    print(f"server {other} now runs image {ecs.show_server(ShowServerRequest(server_id=other)).server.image.id}")
    print(f"data disks kept as they were: {kept} {[d for d in after if not d[2]]}")
    if not kept:
        sys.exit("the change of OS touched the data disks")

    step("The image deleted with its backup")
    ims.glance_delete_image(
        GlanceDeleteImageRequest(image_id=image_id, body=GlanceDeleteImageRequestBody(delete_backup=True))
    )

    def backup_gone() -> bool:
        try:
            cbr.show_backup(ShowBackupRequest(backup_id=backup.id))
        except ClientRequestException as exc:
            return exc.status_code == 404
        return False

    until(backup_gone, "the backup to be deleted")
    print(f"image {image_id} and backup {backup.id} are gone; the servers made from the image keep running")


if __name__ == "__main__":
    main()
