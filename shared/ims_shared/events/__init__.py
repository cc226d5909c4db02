"""The event contract: CloudEvents envelope and the ``data`` model of every event type."""

from ims_shared.events.backups import (
    BackupCreated,
    BackupDeleted,
    BackupDeletionFailed,
    BackupDisk,
    ServerBackupFailed,
    ServerBackupRequested,
    ServerDeleted,
    ServerInfo,
    ServerRegistered,
    ServerStateChanged,
)
from ims_shared.events.billing import AccountStateChanged, BackupArrears
from ims_shared.events.envelope import CloudEvent, EventData, derived_id, make_event, new_event_id
from ims_shared.events.images import (
    ImageCreated,
    ImageCreationFailed,
    ImageDeleted,
    ImageRequested,
    ImageTag,
)
from ims_shared.events.registry import EVENT_TYPES, ContractError, parse_event

__all__ = [
    "EVENT_TYPES",
    "AccountStateChanged",
    "BackupArrears",
    "BackupCreated",
    "BackupDeleted",
    "BackupDeletionFailed",
    "BackupDisk",
    "CloudEvent",
    "ContractError",
    "EventData",
    "ImageCreated",
    "ImageCreationFailed",
    "ImageDeleted",
    "ImageRequested",
    "ImageTag",
    "ServerBackupFailed",
    "ServerBackupRequested",
    "ServerDeleted",
    "ServerInfo",
    "ServerRegistered",
    "ServerStateChanged",
    "derived_id",
    "make_event",
    "new_event_id",
    "parse_event",
]
