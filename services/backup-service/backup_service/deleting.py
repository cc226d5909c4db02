"""Deleting a backup. It goes at once unless its vault is locked; then it stays 'deleting' and is retried with
backoff, and after the last attempt it is 'error_deleting' with a BackupDeletionFailed event: never lost."""

from datetime import UTC, datetime, timedelta

import asyncpg

from backup_service import oplogs, repository
from backup_service.domain import BackupState, deletion, retry_delay_s
from backup_service.settings import BackupSettings
from ims_shared.emitter import Emitter
from ims_shared.events import BackupDeletionFailed
from ims_shared.events.backups import BackupDeletionReason

VAULT_LOCKED = "BackupService.6112"


async def vault_locked(conn: asyncpg.Connection, vault_id: str) -> bool:
    return bool(await conn.fetchval("SELECT locked FROM vaults WHERE vault_id = $1", vault_id))


async def set_vault_lock(conn: asyncpg.Connection, vault_id: str, locked: bool) -> None:
    await conn.execute(
        "INSERT INTO vaults (vault_id, locked) VALUES ($1, $2) "
        "ON CONFLICT (vault_id) DO UPDATE SET locked = EXCLUDED.locked, updated_at = now()",
        vault_id,
        locked,
    )


async def request_deletion(
    conn: asyncpg.Connection,
    emitter: Emitter,
    settings: BackupSettings,
    backup: BackupState,
    reason: BackupDeletionReason,
    correlation_id: str | None = None,
) -> None:
    """Delete ``backup`` for ``reason``, by the rules of ``domain.deletion`` (a user deleting a backup that still has
    its image is refused)."""
    deleted = deletion(backup, reason)
    if deleted is None:
        return
    if await vault_locked(conn, backup.vault_id):
        await conn.execute(
            "UPDATE backups SET status = 'deleting', delete_reason = $2, delete_attempts = 1, delete_error = $3, "
            "delete_next_at = $4, updated_at = now() WHERE backup_id = $1",
            backup.backup_id,
            reason,
            f"vault {backup.vault_id} is locked",
            datetime.now(UTC)
            + timedelta(seconds=retry_delay_s(1, settings.delete_backoff_s, settings.delete_backoff_cap_s)),
        )
        await oplogs.started(conn, [backup.backup_id], "delete")
        return
    await repository.mark_deleted(conn, backup.backup_id, reason)
    await emitter.emit(conn, deleted, project_id=backup.project_id, correlation_id=correlation_id)


async def retry_deletions(conn: asyncpg.Connection, emitter: Emitter, settings: BackupSettings) -> int:
    """One pass of the deleter: retry every deletion whose backoff has passed."""
    rows = await conn.fetch(
        "SELECT backup_id, project_id, vault_id, image_id, delete_reason, delete_attempts FROM backups "
        "WHERE status = 'deleting' AND delete_next_at <= now() ORDER BY delete_next_at LIMIT 200 "
        "FOR UPDATE SKIP LOCKED"
    )
    for row in rows:
        reason: BackupDeletionReason = row["delete_reason"]
        if not await vault_locked(conn, row["vault_id"]):
            await repository.mark_deleted(conn, row["backup_id"], reason)
            state = BackupState(
                row["backup_id"], row["project_id"], "available", row["image_id"], False, row["vault_id"]
            )
            event = deletion(state, reason)
            assert event is not None
            await emitter.emit(conn, event, project_id=row["project_id"])
            continue
        attempts = row["delete_attempts"] + 1
        error = f"vault {row['vault_id']} is locked"
        if attempts >= settings.delete_max_attempts:
            await conn.execute(
                "UPDATE backups SET status = 'error_deleting', delete_attempts = $2, delete_error = $3, "
                "delete_next_at = NULL, updated_at = now() WHERE backup_id = $1",
                row["backup_id"],
                attempts,
                error,
            )
            await oplogs.finished(conn, [row["backup_id"]], "delete", error=(VAULT_LOCKED, error))
            await emitter.emit(
                conn,
                BackupDeletionFailed(backup_id=row["backup_id"], reason=reason, error=error, attempts=attempts),
                project_id=row["project_id"],
            )
            continue
        delay = retry_delay_s(attempts, settings.delete_backoff_s, settings.delete_backoff_cap_s)
        await conn.execute(
            "UPDATE backups SET delete_attempts = $2, delete_error = $3, delete_next_at = $4, updated_at = now() "
            "WHERE backup_id = $1",
            row["backup_id"],
            attempts,
            error,
            datetime.now(UTC) + timedelta(seconds=delay),
        )
    return len(rows)
