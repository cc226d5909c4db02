"""ECSs over real PostgreSQL: the image projection fed through the real consumer path, the API's operations, the
builder, and the events they leave in the outbox."""

from datetime import UTC, datetime
from typing import Any

import pytest

from compute_service import repository, servers
from compute_service.domain import VolumeRequest, flavor, plan_disks, plan_os_change
from compute_service.images import source_image
from ims_shared.events import (
    BackupCreated,
    BackupDeleted,
    BackupDisk,
    ImageCreated,
    ImageDeleted,
    ImageRequested,
    ServerInfo,
)
from ims_shared.events.images import ImageMemberStatusChanged, ImageShared, ImageUnshared
from ims_shared.public_images import public_images
from ims_shared.refusal import Refusal

from .conftest import ALPHA, BETA, REGION, Compute

pytestmark = pytest.mark.integration


DISKS = [
    BackupDisk(volume_id="src-sys", device="/dev/vda", size_gb=50, bootable=True, volume_type="ESSD"),
    BackupDisk(volume_id="src-data-1", device="/dev/vdb", size_gb=20, volume_type="SSD"),
    BackupDisk(volume_id="src-data-2", device="/dev/vdc", size_gb=30, volume_type="SAS"),
]


def backup(backup_id: str = "backup-1") -> BackupCreated:
    """The backup an image is made from: compute-service does not follow it (the image names its disks)."""
    return BackupCreated(
        backup_id=backup_id,
        vault_id="vault-1",
        name="nightly",
        resource_id="ecs-source",
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
        size_gb=100,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04 server 64bit"),
        disks=DISKS,
    )


def created(image_id: str = "image-1", backup_id: str = "backup-1", name: str = "web") -> ImageCreated:
    return ImageCreated(
        image_id=image_id,
        job_id="job-" + image_id,
        backup_id=backup_id,
        name=name,
        os_type="Linux",
        os_version="Ubuntu 22.04 server 64bit",
        min_disk=50,
        size_gb=100,
        disks=DISKS,
    )


async def refusal_of(compute: Compute, project: str, image_id: str) -> str:
    with pytest.raises(Refusal) as caught:
        await source_image(compute.pool, REGION, project, image_id)
    return caught.value.code


async def make_servers(
    compute: Compute, project: str, image_id: str, count: int = 1, **kw: Any
) -> tuple[str, list[str]]:
    """What POST /v1/{project_id}/cloudservers does past its request checks."""
    async with compute.pool.acquire() as conn, conn.transaction():
        image = await source_image(conn, REGION, project, image_id)
        return await servers.create_servers(
            conn,
            compute.service,
            project,
            image=image,
            disks=plan_disks(image, kw.get("root"), kw.get("data", [])),
            placement=servers.Placement(flavor("s6.large.2"), f"{REGION}a", "vpc-1", ["subnet-1"]),
            name="web",
            count=count,
            metadata=kw.get("metadata", {}),
        )


async def build(compute: Compute) -> None:
    compute.advance(5)
    async with compute.pool.acquire() as conn, conn.transaction():
        await servers.finish_due(conn, compute.service)


async def job(compute: Compute, project: str, job_id: str) -> tuple[Any, list[Any]]:
    return await repository.get_job(compute.pool, project, job_id)


async def test_a_server_from_a_full_ecs_image_gets_every_disk_then_runs_and_is_announced(compute: Compute) -> None:
    await compute.feed((backup(), ALPHA), (ImageRequested(image_id="image-1", name="web", backup_id="backup-1"), ALPHA))
    assert await refusal_of(compute, ALPHA, "image-1") == "Ecs.0020"  # not active yet: not known here
    await compute.feed((created(), ALPHA))
    job_id, ids = await make_servers(compute, ALPHA, "image-1", count=2, root=VolumeRequest(None, 60))
    parent, children = await job(compute, ALPHA, job_id)
    assert parent["status"] == "RUNNING"
    assert {c["server_id"] for c in children} == set(ids) and {c["job_type"] for c in children} == {
        "createSingleServer"
    }
    volumes = await repository.volumes_of(compute.pool, ids)
    for server_id in ids:
        disks = [
            (v["device"], v["size_gb"], v["volume_type"], v["backup_volume_id"], v["status"])
            for v in volumes[server_id]
        ]
        assert disks == [
            ("/dev/vda", 60, "ESSD", "src-sys", "creating"),
            ("/dev/vdb", 20, "SSD", "src-data-1", "creating"),
            ("/dev/vdc", 30, "SAS", "src-data-2", "creating"),
        ]
    assert await compute.emitted("ServerRegistered") == []  # nothing to back up while BUILD
    await build(compute)
    parent, children = await job(compute, ALPHA, job_id)
    assert parent["status"] == "SUCCESS" and {c["status"] for c in children} == {"SUCCESS"}
    rows = [await repository.get_server(compute.pool, ALPHA, s) for s in ids]
    assert [r["status"] for r in rows if r] == ["ACTIVE", "ACTIVE"]
    registered = await compute.emitted("ServerRegistered")
    assert {e["data"]["server_id"] for e in registered} == set(ids)
    assert [d["size_gb"] for d in registered[0]["data"]["disks"]] == [60, 20, 30]
    assert registered[0]["projectid"] == ALPHA and registered[0]["data"]["configured"] is True


async def test_a_backup_deleted_while_building_fails_the_job_and_leaves_no_server_or_disk(compute: Compute) -> None:
    await compute.feed((backup(), ALPHA), (created(), ALPHA))
    job_id, ids = await make_servers(compute, ALPHA, "image-1")
    await compute.feed((BackupDeleted(backup_id="backup-1", reason="user"), ALPHA))
    await build(compute)
    parent, children = await job(compute, ALPHA, job_id)
    assert (parent["status"], parent["error_code"]) == ("FAIL", "Ecs.0022")
    assert children[0]["status"] == "FAIL" and "backup-1" in children[0]["fail_reason"]
    assert await repository.get_server(compute.pool, ALPHA, ids[0]) is None
    assert (await repository.list_volumes(compute.pool, ALPHA, {}, 100, 0))[1] == 0
    assert await compute.emitted("ServerRegistered") == []
    assert await refusal_of(compute, ALPHA, "image-1") == "Ecs.0022"


async def test_who_may_use_an_image_follows_its_sharing_and_its_life(compute: Compute) -> None:
    await compute.feed((backup(), ALPHA), (created(), ALPHA))
    assert (await source_image(compute.pool, REGION, ALPHA, "image-1")).image_type == "private"
    assert await refusal_of(compute, BETA, "image-1") == "Ecs.0020"
    await compute.feed((ImageShared(image_id="image-1", member_project_id=BETA, owner_project_id=ALPHA), ALPHA))
    assert await refusal_of(compute, BETA, "image-1") == "Ecs.0020"  # pending: accept it first
    await compute.feed((ImageMemberStatusChanged(image_id="image-1", member_project_id=BETA, status="accepted"), BETA))
    shared = await source_image(compute.pool, REGION, BETA, "image-1")
    assert shared.image_type == "shared" and [d.size_gb for d in shared.disks] == [50, 20, 30]
    await compute.feed((ImageUnshared(image_id="image-1", member_project_id=BETA), ALPHA))
    assert await refusal_of(compute, BETA, "image-1") == "Ecs.0020"
    _, ids = await make_servers(compute, ALPHA, "image-1")
    await build(compute)
    await compute.feed((ImageDeleted(image_id="image-1", backup_id="backup-1"), ALPHA))
    assert await refusal_of(compute, ALPHA, "image-1") == "Ecs.0021"
    server = await repository.get_server(compute.pool, ALPHA, ids[0])
    assert server is not None and server["status"] == "ACTIVE"  # the servers made from it keep running


async def test_a_run_naming_an_image_or_a_backup_twice_leaves_what_one_by_one_leaves(compute: Compute) -> None:
    await compute.feed(
        (backup(), ALPHA),
        (created(name="first"), ALPHA),
        (created(name="second"), ALPHA),
        (ImageDeleted(image_id="image-0", backup_id="backup-1"), ALPHA),
        (created("image-0"), ALPHA),  # a deleted image stays deleted
    )
    assert await refusal_of(compute, ALPHA, "image-0") == "Ecs.0021"
    image = await source_image(compute.pool, REGION, ALPHA, "image-1")
    assert (image.name, image.os_version, image.image_type) == ("second", "Ubuntu 22.04 server 64bit", "private")
    await compute.feed(  # deletions come in runs too, an aggregate named twice among them
        (BackupDeleted(backup_id="backup-1", reason="user"), ALPHA),
        (BackupDeleted(backup_id="backup-1", reason="user"), ALPHA),
        (ImageDeleted(image_id="image-0", backup_id="backup-1"), ALPHA),
        (ImageDeleted(image_id="image-0", backup_id="backup-1"), ALPHA),
    )
    assert await refusal_of(compute, ALPHA, "image-1") == "Ecs.0022"  # its backup is gone
    assert await refusal_of(compute, ALPHA, "image-0") == "Ecs.0021"


async def test_an_os_change_rewrites_the_system_disk_only_and_keeps_every_data_disk(compute: Compute) -> None:
    await compute.feed((backup(), ALPHA), (created(), ALPHA))
    _, (server_id,) = await make_servers(compute, ALPHA, "image-1")
    await build(compute)
    before = (await repository.volumes_of(compute.pool, [server_id]))[server_id]
    gold = public_images(REGION)[0]
    async with compute.pool.acquire() as conn, conn.transaction():
        (server,) = await servers.locked_servers(conn, ALPHA, [server_id])
        image = await source_image(conn, REGION, ALPHA, gold.id)
        change = plan_os_change(server["status"], "withStopServer", 50, image, server_id)
        job_id = await servers.change_os(conn, compute.service, server, change)
    assert (await repository.get_server(compute.pool, ALPHA, server_id))["status"] == "REBUILD"  # type: ignore[index]
    compute.advance(1)
    await build(compute)
    after = (await repository.volumes_of(compute.pool, [server_id]))[server_id]
    assert [v["volume_id"] for v in after] == [v["volume_id"] for v in before]
    assert (after[0]["image_id"], after[0]["backup_id"]) == (gold.id, None)
    assert [dict(v) for v in after[1:]] == [dict(v) for v in before[1:]]  # untouched, to the last timestamp
    server = await repository.get_server(compute.pool, ALPHA, server_id)
    assert server is not None and (server["status"], server["image_id"]) == ("ACTIVE", gold.id)
    done, _ = await job(compute, ALPHA, job_id)
    assert done["status"] == "SUCCESS"
    states = [e["data"]["state"] for e in await compute.emitted("ServerStateChanged")]
    assert states == ["SHUTOFF", "ACTIVE"]
    assert len(await compute.emitted("ServerRegistered")) == 2

    # Back to the full-ECS image: the job says its data disks were not restored.
    async with compute.pool.acquire() as conn, conn.transaction():
        await servers.power_servers(conn, compute.service, ALPHA, [server_id], "stop")
        (server,) = await servers.locked_servers(conn, ALPHA, [server_id])
        image = await source_image(conn, REGION, ALPHA, "image-1")
        job_id = await servers.change_os(
            conn, compute.service, server, plan_os_change("SHUTOFF", None, 60, image, server_id)
        )
    await build(compute)
    done, _ = await job(compute, ALPHA, job_id)
    assert "2 data disk(s) (20 GB, 30 GB) were not restored" in done["notes"]["note"]
    again = (await repository.volumes_of(compute.pool, [server_id]))[server_id]
    assert again[0]["backup_volume_id"] == "src-sys" and [dict(v) for v in again[1:]] == [dict(v) for v in before[1:]]


async def test_the_configured_flag_is_announced_when_it_changes(compute: Compute) -> None:
    await compute.feed((created(), ALPHA))  # a full-ECS image is made only from a backup of a configured ECS
    _, (server_id,) = await make_servers(compute, ALPHA, "image-1")
    await build(compute)
    assert [e["data"]["configured"] for e in await compute.emitted("ServerRegistered")] == [True]
    async with compute.pool.acquire() as conn, conn.transaction():
        (server,) = await servers.locked_servers(conn, ALPHA, [server_id])
        metadata = await servers.update_metadata(conn, compute.service, server, {"full_image_configured": "false"})
        assert metadata["full_image_configured"] == "false"
        (server,) = await servers.locked_servers(conn, ALPHA, [server_id])
        await servers.update_metadata(conn, compute.service, server, {"owner": "ops"})  # no change of the flag
        (server,) = await servers.locked_servers(conn, ALPHA, [server_id])
        await servers.update_metadata(conn, compute.service, server, {"full_image_configured": "true"})
    assert [e["data"]["configured"] for e in await compute.emitted("ServerRegistered")] == [True, False, True]


async def test_delete_announces_and_keeps_or_removes_the_disks(compute: Compute) -> None:
    gold = public_images(REGION)[1]
    _, (kept, gone) = await make_servers(compute, ALPHA, gold.id, count=2, data=[VolumeRequest("SSD", 10)])
    async with compute.pool.acquire() as conn, conn.transaction():
        with pytest.raises(Refusal) as caught:
            await servers.delete_servers(conn, compute.service, ALPHA, [kept], True)
        assert caught.value.status == 409  # BUILD
    await build(compute)
    async with compute.pool.acquire() as conn, conn.transaction():
        await servers.delete_servers(conn, compute.service, ALPHA, [kept], False)
        await servers.delete_servers(conn, compute.service, ALPHA, [gone], True)
    volumes, total = await repository.list_volumes(compute.pool, ALPHA, {}, 100, 0)
    assert total == 2 and {(v["status"], v["server_id"]) for v in volumes} == {("available", None)}
    assert {e["data"]["server_id"] for e in await compute.emitted("ServerDeleted")} == {kept, gone}
