"""The replication saga across both regions' services, with its compensations, through the real consumer path.

The API's part (what it checks, the job it records) is covered end to end in tests/e2e/test_replication.py; here
the ``ReplicationRequested`` is produced as the API produces it, next to the job row it writes.
"""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from image_service import repository as images
from image_service.api_replication import CopyImageCrossRegionBody, admit, record_request, replication_request
from image_service.context import ImageService
from ims_shared.events import BackupCreated, BackupDisk, ImageRequested, ServerInfo
from ims_shared.events.replication import ReplicationRequested
from ims_shared.refusal import Refusal
from ims_shared.regions import DEFAULT_ROUTES
from ims_shared.replication_rules import ReplicationPolicy
from replication_service.handlers import expire_overdue
from replication_service.repository import get as get_replication

from .conftest import AP, CN, T0, TENANTS, World

pytestmark = pytest.mark.integration

EU = "eu-west-101"
ALPHA = next(t for t in TENANTS.tenants if t.name == "alpha")
CN_PROJECT, AP_PROJECT = ALPHA.projects[CN], ALPHA.projects[AP]


async def source_image(world: World) -> tuple[str, str]:
    """An active full-ECS image of alpha in cn-north-4, made from a CBR backup: (image id, backup id)."""
    backup = BackupCreated(
        backup_id=str(uuid.uuid4()),
        vault_id="v-source",
        name="nightly",
        resource_id="ecs-1",
        resource_name="web-1",
        created_at=T0,
        size_gb=60,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04 server 64bit"),
        disks=[
            BackupDisk(volume_id="vol-1", device="/dev/vda", size_gb=40, bootable=True),
            BackupDisk(volume_id="vol-2", device="/dev/vdb", size_gb=20),
        ],
    )
    image_id = str(uuid.uuid4())
    await destination_vault(world)
    world.produce(backup, project_id=CN_PROJECT, region=CN)
    world.produce(
        ImageRequested(image_id=image_id, job_id=str(uuid.uuid4()), name="web", backup_id=backup.backup_id),
        project_id=CN_PROJECT,
        region=CN,
    )
    await world.settle()
    image = await images.get_image(world.node("image-service", CN).pool, image_id)
    assert image is not None and image["status"] == "active"
    return image_id, backup.backup_id


async def destination_vault(world: World, vault_id: str = "v-hk", size_gb: int = 1000) -> None:
    """alpha's CBR vault in ap-southeast-1 that the copies go into (backup-service there refuses any other)."""
    await world.node("backup-service", AP).pool.execute(
        "INSERT INTO vaults (vault_id, project_id, name, size_gb) VALUES ($1, $2, $1, $3) ON CONFLICT DO NOTHING",
        vault_id,
        AP_PROJECT,
        size_gb,
    )


def body(**fields: Any) -> CopyImageCrossRegionBody:
    return CopyImageCrossRegionBody.model_validate(
        {"name": "web-copy", "description": "for the Hong Kong site", "region": AP, "vault_id": "v-hk"} | fields
    )


async def replicate(world: World, image_id: str, source: str = CN, **fields: Any) -> ReplicationRequested:
    """What the IMS API of ``source`` does on POST /v1/cloudimages/{image_id}/cross_region_copy, past its request
    checks (the e2e tests cover those)."""
    node = world.node("image-service", source)
    ic: ImageService = node.context
    policy = ReplicationPolicy.of(DEFAULT_ROUTES, [CN, AP])
    request = body(**fields)
    async with node.pool.acquire() as conn, conn.transaction():
        admitted = await admit(conn, ic, policy, ALPHA.projects[source], image_id)
        event = replication_request(
            admitted, request, job_id=str(uuid.uuid4()), destination=str(request.region), vault_id=str(request.vault_id)
        )
        await record_request(conn, ic, event, ALPHA.projects[source], request)
    return event


def another(request: ReplicationRequested, **changes: Any) -> ReplicationRequested:
    """The same request as another job, for another replica."""
    return request.model_copy(update={"job_id": str(uuid.uuid4()), "replica_image_id": str(uuid.uuid4())} | changes)


async def job(world: World, job_id: str) -> asyncpg.Record:
    row = await images.get_job(world.node("image-service", CN).pool, CN_PROJECT, job_id)
    assert row is not None
    return row


async def replica(world: World, image_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await world.node("image-service", AP).pool.fetchrow(
        "SELECT * FROM images WHERE image_id = $1", image_id
    )
    return row


async def backup_copy(world: World, backup_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await world.node("backup-service", AP).pool.fetchrow(
        "SELECT * FROM backups WHERE backup_id = $1", backup_id
    )
    return row


async def copy_logs(world: World, backup_id: str) -> list[asyncpg.Record]:
    """backup-service's operation logs of the backup copy, in the destination region."""
    return list(
        await world.node("backup-service", AP).pool.fetch(
            "SELECT * FROM operation_logs WHERE backup_id = $1", backup_id
        )
    )


async def replica_backup_id(world: World, job_id: str) -> str:
    record = await get_replication(world.node("replication-service", CN).pool, job_id)
    assert record is not None
    backup_id: str = record["replica_backup_id"]
    return backup_id


async def test_the_replica_is_active_in_the_destination_and_the_job_succeeds(world: World) -> None:
    image_id, backup_id = await source_image(world)
    request = await replicate(world, image_id)
    await world.settle()

    assert (await job(world, request.job_id))["status"] == "SUCCESS"
    made = await replica(world, request.replica_image_id)
    assert made is not None
    assert (made["status"], made["project_id"], made["name"]) == ("active", AP_PROJECT, "web-copy")
    assert (made["replicated_from_region"], made["replicated_from_image_id"]) == (CN, image_id)
    assert (made["min_disk"], made["os_type"], made["size_gb"]) == (40, "Linux", 60)
    assert made["active_at"] is not None

    copy_id = await replica_backup_id(world, request.job_id)
    assert made["backup_id"] == copy_id
    copy = await backup_copy(world, copy_id)
    assert copy is not None
    assert (copy["project_id"], copy["vault_id"], copy["status"]) == (AP_PROJECT, "v-hk", "available")
    assert (copy["replicated_from_region"], copy["replicated_from_backup_id"]) == (CN, backup_id)
    assert copy["image_id"] == request.replica_image_id
    projected = await images.get_backup(world.node("image-service", AP).pool, copy_id)
    assert projected is not None and projected.project_id == AP_PROJECT and not projected.deleted
    (logged,) = await copy_logs(world, copy_id)
    assert (logged["operation_type"], logged["status"], logged["project_id"]) == ("replication", "success", AP_PROJECT)
    assert (logged["extra"]["source_region"], logged["extra"]["source_backup_id"]) == (CN, backup_id)

    billed = await world.emitted(world.node("backup-service", AP), "BackupCreated")
    assert [(e["topic"], e["projectid"], e["data"]["backup_id"]) for e in billed] == [
        (f"ims.{AP}.backups", AP_PROJECT, copy_id)
    ]
    record = await get_replication(world.node("replication-service", CN).pool, request.job_id)
    assert record is not None and record["status"] == "succeeded"
    assert (record["project_id"], record["source_region"], record["destination_region"]) == (CN_PROJECT, CN, AP)
    assert (record["source_image_id"], record["source_backup_id"], record["replica_image_id"]) == (
        image_id,
        backup_id,
        request.replica_image_id,
    )
    assert (record["destination_project_id"], record["vault_id"], record["size_gb"]) == (AP_PROJECT, "v-hk", 60)
    assert record["deadline"] is not None and record["error_code"] is None and record["finished_at"] is not None


async def test_every_event_delivered_twice_changes_nothing(world: World) -> None:
    image_id, _ = await source_image(world)
    request = await replicate(world, image_id)
    await world.settle()
    world.produce(request, project_id=CN_PROJECT, region=CN)  # the same job asked for again, under a new event id
    await world.redeliver_everything()
    await world.settle()

    ap_images = await world.node("image-service", AP).pool.fetchval("SELECT count(*) FROM images")
    ap_backups = await world.node("backup-service", AP).pool.fetchval("SELECT count(*) FROM backups")
    assert (ap_images, ap_backups) == (1, 1)
    for service, region, event_type in [
        ("replication-service", CN, "ReplicaRequested"),
        ("replication-service", CN, "ReplicationSucceeded"),
        ("backup-service", AP, "BackupCreated"),
        ("backup-service", AP, "ReplicaBackupRecorded"),
        ("image-service", AP, "ReplicaRecorded"),
    ]:
        assert len(await world.emitted(world.node(service, region), event_type)) == 1, event_type
    assert (await job(world, request.job_id))["status"] == "SUCCESS"


async def test_a_refusal_in_the_destination_rolls_the_backup_copy_back(world: World) -> None:
    image_id, _ = await source_image(world)
    # The account is frozen as far as the destination knows (its account projection), not the source.
    await images.set_account_state(world.node("image-service", AP).pool, ALPHA.account_id, "frozen")
    request = await replicate(world, image_id)
    await world.settle()

    failed = await job(world, request.job_id)
    assert (failed["status"], failed["error_code"]) == ("FAIL", "IMG.0239")
    assert AP in failed["fail_reason"] and "frozen" in failed["fail_reason"]
    assert await replica(world, request.replica_image_id) is None

    copy_id = await replica_backup_id(world, request.job_id)
    copy = await backup_copy(world, copy_id)
    assert copy is not None and copy["deleted_at"] is not None and copy["delete_reason"] == "replication_rollback"
    logged = {(r["operation_type"], r["status"], r["error_code"]) for r in await copy_logs(world, copy_id)}
    assert logged == {("replication", "failed", "IMG.0239"), ("delete", "success", None)}
    deleted = await world.emitted(world.node("backup-service", AP), "BackupDeleted")
    assert [(e["data"]["backup_id"], e["data"]["reason"], e["projectid"]) for e in deleted] == [
        (copy_id, "replication_rollback", AP_PROJECT)
    ]
    projected = await images.get_backup(world.node("image-service", AP).pool, copy_id)
    assert projected is not None and projected.deleted
    record = await get_replication(world.node("replication-service", CN).pool, request.job_id)
    assert record is not None and (record["status"], record["error_code"]) == ("failed", "IMG.0239")


async def test_the_copy_goes_into_a_vault_of_the_destination_project_with_room_or_the_job_fails(
    world: World,
) -> None:
    image_id, _ = await source_image(world)
    await destination_vault(world, "v-small", size_gb=50)  # the backup is 60 GB
    await world.node("backup-service", AP).pool.execute(
        "INSERT INTO vaults (vault_id, project_id, name, size_gb) VALUES ('v-beta', 'beta-project', 'b', 1000)"
    )
    outcomes = {}
    for vault_id in ("v-nowhere", "v-beta", "v-small"):
        request = await replicate(world, image_id, vault_id=vault_id)
        await world.settle()
        failed = await job(world, request.job_id)
        outcomes[vault_id] = failed["error_code"]
        assert failed["status"] == "FAIL" and vault_id in failed["fail_reason"]
        assert await replica(world, request.replica_image_id) is None
        assert await backup_copy(world, await replica_backup_id(world, request.job_id)) is None
    assert outcomes == {
        "v-nowhere": "BackupService.6105",
        "v-beta": "BackupService.6105",
        "v-small": "BackupService.6114",
    }


async def test_a_copy_that_arrives_after_the_deadline_makes_nothing(world: World) -> None:
    image_id, _ = await source_image(world)
    request = await replicate(world, image_id)
    await world.settle(hold=cut_off)
    assert (await job(world, request.job_id))["status"] == "RUNNING"

    world.clock.advance(timedelta(seconds=61))
    rc = world.node("replication-service", CN)
    async with rc.pool.acquire() as conn, conn.transaction():
        assert await expire_overdue(conn, rc.context) == 1
    await world.settle(hold=cut_off)
    failed = await job(world, request.job_id)
    assert (failed["status"], failed["error_code"]) == ("FAIL", "IMG.0247")

    await world.settle()  # the destination comes back and reads its topics in order
    assert await replica(world, request.replica_image_id) is None
    copy = await backup_copy(world, await replica_backup_id(world, request.job_id))
    assert copy is not None and copy["delete_reason"] == "replication_rollback"
    assert not await world.emitted(world.node("image-service", AP), "ReplicaRecorded")
    assert (await job(world, request.job_id))["status"] == "FAIL"


async def test_a_replica_made_after_the_source_gave_up_is_removed(world: World) -> None:
    image_id, _ = await source_image(world)
    request = await replicate(world, image_id)

    def answer_lost(node: Any, topic: str) -> bool:
        return node.service == "replication-service" and node.region == CN and topic == f"ims.{AP}.replication"

    await world.settle(hold=answer_lost)
    made = await replica(world, request.replica_image_id)
    assert made is not None and made["status"] == "active"

    world.clock.advance(timedelta(seconds=61))
    rc = world.node("replication-service", CN)
    async with rc.pool.acquire() as conn, conn.transaction():
        assert await expire_overdue(conn, rc.context) == 1
    await world.settle()

    gone = await replica(world, request.replica_image_id)
    assert gone is not None and gone["deleted_at"] is not None and gone["delete_reason"] == "replication_rollback"
    copy = await backup_copy(world, await replica_backup_id(world, request.job_id))
    assert copy is not None and copy["delete_reason"] == "replication_rollback"
    failed = await job(world, request.job_id)
    assert (failed["status"], failed["error_code"]) == ("FAIL", "IMG.0247")
    assert not await world.emitted(rc, "ReplicationSucceeded")


def cut_off(node: Any, topic: str) -> bool:
    """The destination region is unreachable."""
    return bool(node.region == AP)


async def test_the_api_admits_five_replications_of_a_project_under_way(world: World) -> None:
    image_id, _ = await source_image(world)
    requests = [await replicate(world, image_id) for _ in range(5)]
    await world.settle(hold=cut_off)
    assert [(await job(world, r.job_id))["status"] for r in requests] == ["RUNNING"] * 5
    with pytest.raises(Refusal) as refused:
        await replicate(world, image_id)
    assert refused.value.code == "IMG.0243"

    await world.settle()
    assert [(await job(world, r.job_id))["status"] for r in requests] == ["SUCCESS"] * 5
    await replicate(world, image_id)  # places are free again


async def test_concurrent_requests_cannot_both_take_the_last_place(world: World) -> None:
    image_id, _ = await source_image(world)
    for _ in range(4):
        await replicate(world, image_id)
    node = world.node("image-service", CN)
    ic: ImageService = node.context
    policy = ReplicationPolicy.of(DEFAULT_ROUTES, [CN, AP])
    async with node.pool.acquire() as conn:
        first = conn.transaction()
        await first.start()
        admitted = await admit(conn, ic, policy, CN_PROJECT, image_id)  # the fifth place, not committed yet
        event = replication_request(admitted, body(), job_id=str(uuid.uuid4()), destination=AP, vault_id="v-hk")
        await record_request(conn, ic, event, CN_PROJECT, body())
        second = asyncio.create_task(replicate(world, image_id))
        await asyncio.sleep(0.5)
        assert not second.done(), "the second request must wait for the first one's transaction"
        await first.commit()
    with pytest.raises(Refusal) as refused:
        await second
    assert refused.value.code == "IMG.0243"
    count = await node.pool.fetchval(
        "SELECT count(*) FROM jobs WHERE job_type = 'imsCrossRegionCopyWholeImageJob' AND status = 'INIT'"
    )
    assert count == 5


async def test_replication_service_keeps_the_limit_whoever_asks(world: World) -> None:
    image_id, _ = await source_image(world)
    first = await replicate(world, image_id)
    await world.settle(hold=cut_off)
    more = [another(first) for _ in range(5)]
    for request in more:  # straight onto the topic, past the API's own count
        world.produce(request, project_id=CN_PROJECT, region=CN)
    await world.settle(hold=cut_off)
    refused = await world.emitted(world.node("replication-service", CN), "ReplicationFailed")
    assert [(e["data"]["job_id"], e["data"]["error_code"]) for e in refused] == [(more[-1].job_id, "IMG.0243")]


async def test_a_replica_is_not_admitted_for_another_replication(world: World) -> None:
    image_id, _ = await source_image(world)
    request = await replicate(world, image_id)
    await world.settle()
    with pytest.raises(Refusal) as refused:
        await replicate(world, request.replica_image_id, source=AP, region=CN)
    assert refused.value.code == "IMG.0244"


async def test_a_request_for_a_region_without_a_route_fails_the_job(world: World) -> None:
    image_id, _ = await source_image(world)
    request = await replicate(world, image_id)
    world.produce(
        another(request, destination_region=EU),
        project_id=CN_PROJECT,
        region=CN,
    )
    await world.settle()
    refused = await world.emitted(world.node("replication-service", CN), "ReplicationFailed")
    assert [e["data"]["error_code"] for e in refused] == ["IMG.0240"]
    assert len(await world.emitted(world.node("backup-service", AP), "BackupCreated")) == 1  # the routed one only
    record = await get_replication(world.node("replication-service", CN).pool, refused[0]["data"]["job_id"])
    assert record is not None and (record["status"], record["destination_region"]) == ("failed", EU)
    assert (record["error_code"], record["fail_reason"]) == ("IMG.0240", refused[0]["data"]["reason"])
    assert record["finished_at"] is not None and record["deadline"] is None
    assert record["destination_project_id"] is None and record["replica_backup_id"] is None


async def test_the_database_refuses_an_in_region_copy_under_way(world: World) -> None:
    pool = world.node("replication-service", CN).pool
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO replications (job_id, project_id, source_region, source_image_id, source_backup_id, "
            "destination_region, destination_project_id, replica_image_id, replica_backup_id, vault_id, size_gb, "
            "status, deadline) VALUES ('j', 'p', $1, 'i', 'b', $1, 'p', 'r', 'rb', 'v', 1, 'copying', now())",
            CN,
        )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("UPDATE images SET status = 'saving'", "IMG.0245"),
        ("UPDATE images SET size_gb = 129", "IMG.0242"),
        ("UPDATE images SET replicated_from_region = 'ap-southeast-1'", "IMG.0244"),
        ("UPDATE backup_projection SET deleted = true", "IMG.0020"),
        ("INSERT INTO account_projection (account_id, state) VALUES ('alpha', 'frozen')", "IMG.0239"),
    ],
)
async def test_what_the_api_refuses_to_replicate(world: World, change: str, code: str) -> None:
    image_id, _ = await source_image(world)
    await world.node("image-service", CN).pool.execute(change)
    with pytest.raises(Refusal) as refused:
        await replicate(world, image_id)
    assert refused.value.code == code


async def test_only_the_owner_may_replicate_an_image(world: World) -> None:
    image_id, _ = await source_image(world)
    node = world.node("image-service", CN)
    beta = next(t for t in TENANTS.tenants if t.name == "beta")
    policy = ReplicationPolicy.of(DEFAULT_ROUTES, [CN, AP])
    async with node.pool.acquire() as conn:
        with pytest.raises(Refusal) as refused:
            await admit(conn, node.context, policy, beta.projects[CN], image_id)
    assert (refused.value.status, refused.value.code) == (404, "IMG.0027")
