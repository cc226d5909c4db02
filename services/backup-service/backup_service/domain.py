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


def check_owner_may_delete(backup: BackupState) -> None:
    """Refuse its owner's deletion of a backup that still has its full-ECS image. The seed's rule:

        "When deleting a full-ECS image, you can choose whether to delete the associated CBR backup.
        If you choose not to delete the CBR backup, you will continue to be charged for it."

    Whether a backup goes with its image is chosen when the image is deleted: backup-service deletes it only when the
    image's deletion asks for it (``ImageDeleted.delete_backup``, applied by ``handlers._apply``); otherwise it stays,
    usable for a new image, and billing keeps metering it. So that the choice stays there, the owner cannot delete
    the backup through CBR while it still has its image: a ``Refusal`` (``BackupService.6334``).
    """
    if backup.image_id:
        raise Refusal(
            BACKUP_IN_USE,
            f"backup {backup.backup_id} is used by full-ECS image {backup.image_id}; delete the image first "
            "(optionally with its backup)",
        )


def deletion_for_arrears(backup: BackupState) -> BackupDeleted | None:
    """Delete a backup in arrears, even while it still has its full-ECS image. The seed's rule:

        "If a full-ECS image is created from a CBR backup and the backup is deleted due to arrears,
        the full-ECS image will also be deleted"

    backup-service's link of that chain: the backup of a released account (``BackupArrears``) is deleted whether or
    not it has an image, and its BackupDeleted names the image, which image-service then deletes. None when it is
    already gone. The whole chain: docs/architecture.md, "Arrears: grace, frozen, released".
    """
    return _deleted(backup, "arrears")


def deletion(backup: BackupState, reason: BackupDeletionReason) -> BackupDeleted | None:
    """The event that deleting ``backup`` for ``reason`` produces, or None when it is already gone (or going).

    By reason: its owner's deletion must pass ``check_owner_may_delete``; arrears is ``deletion_for_arrears``; the
    deletion of its image that asked for it, and the rollback of a replication's copy, delete it even with an image.
    """
    if reason == "arrears":
        return deletion_for_arrears(backup)
    gone = _deleted(backup, reason)
    if gone is not None and reason == "user":
        check_owner_may_delete(backup)
    return gone


def _deleted(backup: BackupState, reason: BackupDeletionReason) -> BackupDeleted | None:
    if backup.deleted or backup.status == "deleting":
        return None
    return BackupDeleted(backup_id=backup.backup_id, reason=reason, image_id=backup.image_id)


def retry_delay_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff before the next deletion attempt."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))
