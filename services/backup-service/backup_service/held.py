"""Events about a backup that reach backup-service before the backup itself.

BackupCreated comes on ``ims.<region>.backups``; ImageCreated and ImageDeleted on ``ims.<region>.images``;
BackupArrears on ``ims.billing``. Kafka orders each partition, not the topics among themselves: a consumer that
lags on the backups topic (restarted, rebalanced) can read an image event of a backup it does not know yet.
Dropping it would lose its effect for good (an image not linked, a backup never deleted and billed for ever), so
it is held and applied, in arrival order, in the transaction that records the backup. A held event whose backup
never arrives (a backup of another region, a producer's mistake) is purged after ``held_event_ttl_s``.
"""

from dataclasses import dataclass
from typing import Literal

import asyncpg

HeldKind = Literal["image_created", "image_deleted", "arrears"]


@dataclass(frozen=True)
class HeldEvent:
    backup_id: str
    kind: HeldKind
    image_id: str | None
    delete_backup: bool
    correlation_id: str | None
    project_id: str | None = None  # the project the event named: it applies to a backup of that project only


async def hold(conn: asyncpg.Connection, event: HeldEvent, event_id: str) -> None:
    await conn.execute(
        "INSERT INTO held_backup_events (backup_id, kind, image_id, delete_backup, correlation_id, event_id, "
        "project_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        event.backup_id,
        event.kind,
        event.image_id,
        event.delete_backup,
        event.correlation_id,
        event_id,
        event.project_id,
    )


async def release(conn: asyncpg.Connection, backup_ids: list[str]) -> dict[str, list[HeldEvent]]:
    """By backup, the events held for it, oldest first, removed from the table (this transaction applies them):
    one round trip. Takes each backup's lock first (see ``lock``), and sees what a holder committed while it
    waited."""
    if not backup_ids:
        return {}
    released: dict[str, list[HeldEvent]] = {}
    for r in sorted(await conn.fetch("SELECT * FROM release_held_events_of($1)", backup_ids), key=lambda r: r["seq"]):
        released.setdefault(r["backup_id"], []).append(
            HeldEvent(
                r["backup_id"], r["kind"], r["image_id"], r["delete_backup"], r["correlation_id"], r["project_id"]
            )
        )
    return released


async def purge_stale(conn: asyncpg.Connection, ttl_s: float) -> int:
    """Forget held events older than ``ttl_s``; how many went."""
    deleted = await conn.fetchval(
        "WITH gone AS (DELETE FROM held_backup_events WHERE received_at < now() - make_interval(secs => $1) "
        "RETURNING 1) SELECT count(*) FROM gone",
        ttl_s,
    )
    return int(deleted)


async def lock(conn: asyncpg.Connection, backup_id: str) -> None:
    """Serialise holding and releasing for one backup until the transaction ends."""
    await conn.execute("SELECT lock_held_backup_events($1)", backup_id)
