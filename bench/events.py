"""The events the bench produces, made with the project's own contract (so every one is valid), serialized once
before any clock starts."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ims_shared.event_auth import EventSigner
from ims_shared.events import (
    BackupArrears,
    BackupCreated,
    BackupDisk,
    EventData,
    ImageRequested,
    ServerInfo,
    make_event,
)
from ims_shared.tenants import Tenant, load_tenants
from ims_shared.topics import TopicKind, topic_for

REGION = "cn-north-4"
SOURCE = "/bench/load-generator"
CREDENTIALS = load_tenants(None)
TENANTS = {t.name: t for t in CREDENTIALS.tenants}
ALPHA: Tenant = TENANTS["alpha"]
# Who the load generator produces as: the tenant's backup system (BackupCreated, ImageRequested), the operator's
# billing integration (BackupArrears).
AS_TENANT = EventSigner(ALPHA.access_key, ALPHA.secret_key)
_DEVOPS = next(i for i in CREDENTIALS.integrations if i.name == "devops")
AS_BILLING_SYSTEM = EventSigner(_DEVOPS.access_key, _DEVOPS.secret_key)
PROJECT = ALPHA.projects[REGION]
BACKUPS_TOPIC = topic_for(TopicKind.BACKUPS, REGION)
IMAGES_TOPIC = topic_for(TopicKind.IMAGES, REGION)
BILLING_TOPIC = topic_for(TopicKind.BILLING, REGION)


@dataclass(frozen=True)
class Record:
    """One Kafka record to produce: topic, key, the CloudEvent's JSON and its headers (the producer's signature)."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Pair:
    """A backup and the image requested from it."""

    backup_id: str
    image_id: str
    job_id: str
    backup: Record
    request: Record


def _record(topic: str, data: EventData, signer: EventSigner = AS_TENANT) -> Record:
    event = make_event(data, source=SOURCE, region=REGION, project_id=PROJECT)
    value = event.model_dump_json(exclude_none=True).encode()
    return Record(topic, data.aggregate_id().encode(), value, (signer.header(value),))


def backup_created(backup_id: str) -> BackupCreated:
    """A CBR backup of an ECS with a system disk and a data disk, as CBR reports it."""
    return BackupCreated(
        backup_id=backup_id,
        vault_id="v-" + uuid.uuid4().hex[:12],
        name="autobackup-ecs",
        resource_id=str(uuid.uuid4()),
        resource_name="ecs-web",
        status="available",
        created_at=datetime.now(UTC),
        size_gb=60,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04 server 64bit", configured=True, state="ACTIVE"),
        disks=[
            BackupDisk(volume_id=str(uuid.uuid4()), device="/dev/vda", size_gb=40, bootable=True),
            BackupDisk(volume_id=str(uuid.uuid4()), device="/dev/vdb", size_gb=20, bootable=False),
        ],
    )


def pairs(count: int, label: str) -> list[Pair]:
    """``count`` BackupCreated + ImageRequested pairs; the image and job ids are chosen here, as the API does."""
    made = []
    for i in range(count):
        backup_id, image_id, job_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        request = ImageRequested(
            image_id=image_id,
            job_id=job_id,
            name=f"bench-{label}-{i}",
            backup_id=backup_id,
            description="full-ECS image made by the benchmark",
        )
        made.append(
            Pair(
                backup_id,
                image_id,
                job_id,
                _record(BACKUPS_TOPIC, backup_created(backup_id)),
                _record(IMAGES_TOPIC, request),
            )
        )
    return made


def interleaved(items: list[Pair], chunk: int = 250) -> list[Record]:
    """Each chunk's backups, then the images requested from them: every backup is produced before its image."""
    records: list[Record] = []
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        records += [p.backup for p in part]
        records += [p.request for p in part]
    return records


def arrears(backup_id: str) -> Record:
    return _record(BILLING_TOPIC, BackupArrears(backup_id=backup_id, account_id=ALPHA.account_id), AS_BILLING_SYSTEM)
