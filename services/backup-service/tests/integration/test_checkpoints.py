"""CBR checkpoints over real PostgreSQL: one backup in progress per ECS, then BackupCreated."""

import asyncio

import pytest

from backup_service.app import MIGRATIONS
from backup_service.checkpoints import finish_checkpoints, mark_server_deleted, register_server, start_checkpoint
from ims_shared.emitter import Emitter
from ims_shared.refusal import Refusal
from tests.support import fresh_database

pytestmark = pytest.mark.integration

SERVER = {
    "server_id": "ecs-1",
    "name": "web",
    "os_type": "Linux",
    "os_version": "Ubuntu 22.04",
    "configured": True,
    "state": "SHUTOFF",
    "disks": [{"volume_id": "v1", "device": "/dev/vda", "size_gb": 40, "bootable": True, "volume_type": "SSD"}],
}


async def test_one_checkpoint_per_server_at_a_time_then_backup_created() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn:
            await register_server(conn, "p1", SERVER)

        async def checkpoint() -> str:
            async with pool.acquire() as conn, conn.transaction():
                try:
                    return await start_checkpoint(
                        conn, project_id="p1", server_id="ecs-1", vault_id="v", name="", duration_s=0
                    )
                except Refusal as refused:
                    return refused.code

        outcomes = await asyncio.gather(*(checkpoint() for _ in range(10)))
        assert outcomes.count("IMG.0136") == 9
        async with pool.acquire() as conn, conn.transaction():
            assert await finish_checkpoints(conn, Emitter("/test", "r1")) == 1
        row = await pool.fetchrow("SELECT status, server, size_gb FROM backups")
        assert row["status"] == "available" and row["server"]["state"] == "SHUTOFF" and row["size_gb"] == 40
        event = await pool.fetchrow("SELECT event_type, topic, key FROM outbox")
        assert (event["event_type"], event["topic"]) == ("BackupCreated", "ims.r1.backups")


async def test_an_unknown_server_cannot_be_backed_up() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        with pytest.raises(Refusal) as caught:
            await start_checkpoint(conn, project_id="p1", server_id="nope", vault_id="v", name="", duration_s=0)
        assert caught.value.code == "BackupService.6302"


async def test_a_deleted_server_cannot_be_backed_up_until_announced_again() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await register_server(conn, "p1", SERVER)
        assert not await mark_server_deleted(conn, "p2", "ecs-1")  # another project's ECS: nothing changes
        assert await start_checkpoint(conn, project_id="p1", server_id="ecs-1", vault_id="v", name="", duration_s=0)
        await conn.execute("DELETE FROM backups")
        assert await mark_server_deleted(conn, "p1", "ecs-1")
        with pytest.raises(Refusal) as caught:
            await start_checkpoint(conn, project_id="p1", server_id="ecs-1", vault_id="v", name="", duration_s=0)
        assert caught.value.code == "BackupService.6303" and "deleted" in caught.value.message
        await register_server(conn, "p1", SERVER)
        assert await start_checkpoint(conn, project_id="p1", server_id="ecs-1", vault_id="v", name="", duration_s=0)
