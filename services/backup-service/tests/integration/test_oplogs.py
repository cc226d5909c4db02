"""CBR operation logs over real PostgreSQL: each written in the transaction of the task it logs."""

import pytest

from backup_service import oplogs
from backup_service.app import MIGRATIONS
from backup_service.checkpoints import finish_checkpoints, register_server, start_checkpoint
from backup_service.deleting import request_deletion, retry_deletions, set_vault_lock
from backup_service.repository import lock_backup, mark_deleted
from backup_service.settings import BackupSettings
from ims_shared.emitter import Emitter
from tests.support import fresh_database

pytestmark = pytest.mark.integration
SERVER = {
    "server_id": "ecs-1",
    "name": "web",
    "disks": [{"volume_id": "v", "device": "/dev/vda", "size_gb": 40, "bootable": True}],
}


async def logs(pool: object, **filters: object) -> list[tuple[str, str, str | None]]:
    rows, _ = await oplogs.list_logs(pool, "p1", limit=100, offset=0, **filters)  # type: ignore[arg-type]
    return sorted((r["operation_type"], r["status"], r["error_code"]) for r in rows)


async def test_a_backup_is_logged_running_then_done_and_its_deletion_done_or_failed() -> None:
    emitter, settings = Emitter("/test", "r1"), BackupSettings(delete_max_attempts=1)
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await register_server(conn, "p1", SERVER)
        first = await start_checkpoint(
            conn, project_id="p1", server_id="ecs-1", vault_id="v-1", name="", duration_s=0, checkpoint_id="cp-1"
        )
        assert await logs(pool) == [("backup", "running", None)]
        await finish_checkpoints(conn, emitter)
        second = await start_checkpoint(conn, project_id="p1", server_id="ecs-1", vault_id="v-2", name="", duration_s=0)
        await finish_checkpoints(conn, emitter)
        assert await logs(pool) == [("backup", "success", None)] * 2
        (log,) = [r for r in (await oplogs.list_logs(pool, "p1", limit=9, offset=0))[0] if r["backup_id"] == first]
        assert (log["checkpoint_id"], log["vault_id"], log["resource_id"]) == ("cp-1", "v-1", "ecs-1")
        assert log["ended_at"] is not None and await oplogs.get_log(pool, "p2", log["op_id"]) is None

        await mark_deleted(conn, first, "user")
        await set_vault_lock(conn, "v-2", True)
        backup = await lock_backup(conn, second)
        assert backup is not None
        await request_deletion(conn, emitter, settings, backup, "user")
        assert await logs(pool, operation_type="delete") == [("delete", "running", None), ("delete", "success", None)]
        await conn.execute("UPDATE backups SET delete_next_at = now() - interval '1 second'")
        await retry_deletions(conn, emitter, settings)
        assert await logs(pool, operation_type="delete", status="failed") == [
            ("delete", "failed", "BackupService.6112")
        ]
        assert await logs(pool, vault_id="v-1") == [("backup", "success", None), ("delete", "success", None)]
