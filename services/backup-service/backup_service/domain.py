"""Rules of the CBR backup registry. No I/O here."""

from dataclasses import dataclass

from ims_shared.events import BackupDeleted
from ims_shared.events.backups import BackupDeletionReason
from ims_shared.refusal import Refusal

BACKUP_IN_USE = "BackupService.6334"


@dataclass(frozen=True)
class BackupState:
    backup_id: str
    project_id: str
    status: str
    image_id: str | None
    deleted: bool
    vault_id: str = ""


def deletion(backup: BackupState, reason: BackupDeletionReason) -> BackupDeleted | None:
    """The event that deleting ``backup`` for ``reason`` produces, or None when it is already gone.

    A user may not delete a backup that still has its full-ECS image (a ``Refusal``); deletion for arrears or because
    the image was deleted with its backup goes ahead regardless.
    """
    if backup.deleted or backup.status == "deleting":
        return None
    if reason == "user" and backup.image_id:
        raise Refusal(
            BACKUP_IN_USE,
            f"backup {backup.backup_id} is used by full-ECS image {backup.image_id}; delete the image first "
            "(optionally with its backup)",
        )
    return BackupDeleted(backup_id=backup.backup_id, reason=reason, image_id=backup.image_id)


def retry_delay_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff before the next deletion attempt."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))
