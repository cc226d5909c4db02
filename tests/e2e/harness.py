"""What the end-to-end tests use: the running system, signed SDK clients, event production, polling."""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from huaweicloudsdkcbr.v1 import (
    BillingCreate,
    CbrClient,
    CheckpointParam,
    CreateCheckpointRequest,
    CreateVaultRequest,
    ResourceCreate,
    ShowCheckpointRequest,
    VaultBackup,
    VaultBackupReq,
    VaultCreate,
    VaultCreateReq,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkecs.v2 import EcsClient
from huaweicloudsdkevs.v2 import EvsClient
from huaweicloudsdkims.v2 import ImsClient

from ims_shared.event_auth import EventSigner
from ims_shared.events import BackupCreated, BackupDisk, EventData, ServerInfo, make_event
from ims_shared.tenants import Tenant, load_tenants
from ims_shared.topics import topic_for
from tests.support import signer_for

if TYPE_CHECKING:
    from imsctl.client import SignedClient

T = TypeVar("T")

TENANTS_FILE = Path(__file__).parent / "tenants.json"
CREDENTIALS = load_tenants(str(TENANTS_FILE))
TENANTS = {t.name: t for t in CREDENTIALS.tenants}
ALPHA: Tenant = TENANTS["alpha"]
BETA: Tenant = TENANTS["beta"]
GAMMA: Tenant = TENANTS["gamma"]  # a test tenant with a tag policy (required key cost-center)
DELTA: Tenant = TENANTS["delta"]  # a test tenant that runs into arrears and is released
EPSILON: Tenant = TENANTS["epsilon"]  # a test tenant that runs into arrears and tops up
CN = "cn-north-4"
AP = "ap-southeast-1"


class System(Protocol):
    kafka_bootstrap: str | None

    def url(self, service: str, region: str = "global") -> str: ...


def kafka_options(system: System) -> dict[str, Any]:
    """How the tests' Kafka clients sign in to ``system``'s broker: as the compose stack's administrator there
    (its broker authenticates every client), in PLAINTEXT on the local launcher's Tansu."""
    return dict(getattr(system, "kafka_client_options", None) or {})


C = TypeVar("C")


def _client(client_class: type[C], service: str, system: System, tenant: Tenant, region: str) -> C:
    """An official SDK client of ``client_class`` signed as ``tenant``'s project in ``region``, at ``service``."""
    credentials = BasicCredentials(tenant.access_key, tenant.secret_key, tenant.projects[region])
    builder = client_class.new_builder()  # type: ignore[attr-defined]
    client: C = builder.with_credentials(credentials).with_endpoints([system.url(service, region)]).build()
    return client


def ims(system: System, tenant: Tenant = ALPHA, region: str = CN) -> ImsClient:
    return _client(ImsClient, "image-service", system, tenant, region)


def cbr(system: System, tenant: Tenant = ALPHA, region: str = CN) -> CbrClient:
    return _client(CbrClient, "backup-service", system, tenant, region)


def ecs(system: System, tenant: Tenant = ALPHA, region: str = CN) -> EcsClient:
    return _client(EcsClient, "compute-service", system, tenant, region)


def evs(system: System, tenant: Tenant = ALPHA, region: str = CN) -> EvsClient:
    """EVS disks are served by compute-service, beside the ECSs they belong to."""
    return _client(EvsClient, "compute-service", system, tenant, region)


def eventually(probe: Callable[[], T | None], *, timeout_s: float = 30.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last error: {last_error}")


def vault_holding(
    system: System, servers: list[str], *, tenant: Tenant = ALPHA, region: str = CN, size_gb: int = 500
) -> str:
    """A new CBR vault of ``tenant`` holding ``servers`` (CreateVault): its id. backup-service learns a new ECS from
    compute-service's events a moment after it is ACTIVE, so the creation is retried until then."""
    billing = BillingCreate(
        consistent_level="crash_consistent", object_type="server", protect_type="backup", size=size_gb
    )
    resources = [ResourceCreate(id=s, type="OS::Nova::Server") for s in servers]
    body = VaultCreateReq(vault=VaultCreate(name="vault-" + uuid.uuid4().hex[:8], billing=billing, resources=resources))
    client = cbr(system, tenant, region)
    return str(
        eventually(lambda: client.create_vault(CreateVaultRequest(body=body)).vault.id, what="the vault's creation")
    )


def checkpoint_of(system: System, vault_id: str, servers: list[str], *, tenant: Tenant = ALPHA) -> str:
    """A CBR checkpoint of ``servers`` into ``vault_id``, waited for until its backups are available: its id."""
    client = cbr(system, tenant)
    body = VaultBackupReq(checkpoint=VaultBackup(vault_id=vault_id, parameters=CheckpointParam(resources=servers)))
    checkpoint_id = str(client.create_checkpoint(CreateCheckpointRequest(body=body)).checkpoint.id)
    request = ShowCheckpointRequest(checkpoint_id=checkpoint_id)
    eventually(lambda: client.show_checkpoint(request).checkpoint.status == "available", what="the checkpoint")
    return checkpoint_id


def backup_created(
    *,
    backup_id: str | None = None,
    server_id: str | None = None,
    disks: int = 2,
    os_type: str | None = "Linux",
    configured: bool = True,
    state: str = "ACTIVE",
    status: str = "available",
    resource_type: str = "OS::Nova::Server",
    shared_from_project_id: str | None = None,
    size_gb: int = 60,
) -> BackupCreated:
    server_id = server_id or str(uuid.uuid4())
    disk_list = [BackupDisk(volume_id=str(uuid.uuid4()), device="/dev/vda", size_gb=40, bootable=True)]
    disk_list += [
        BackupDisk(volume_id=str(uuid.uuid4()), device=f"/dev/vd{chr(ord('b') + i)}", size_gb=10, bootable=False)
        for i in range(disks - 1)
    ]
    return BackupCreated(
        backup_id=backup_id or str(uuid.uuid4()),
        vault_id="v-" + uuid.uuid4().hex[:12],
        name="backup-of-ecs",
        resource_id=server_id,
        resource_name="ecs-demo",
        resource_type=resource_type,
        status=status,
        created_at=datetime.now(UTC),
        size_gb=size_gb,
        shared_from_project_id=shared_from_project_id,
        server=ServerInfo(os_type=os_type, os_version="Ubuntu 22.04 server 64bit", configured=configured, state=state),
        disks=disk_list,
    )


Headers = list[tuple[str, bytes]]


async def _produce(
    bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes, Headers]], options: dict[str, Any]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, **options)
    await producer.start()
    try:
        for key, value, headers in items:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def integration_signer(name: str) -> EventSigner:
    """The key of an operator integration of the test credentials (devops: BackupCreated, BackupDeleted and
    BackupArrears; devstorage: VaultLockChanged)."""
    system = next(i for i in CREDENTIALS.integrations if i.name == name)
    return EventSigner(system.access_key, system.secret_key)


def produce(
    system: System,
    data: EventData,
    *,
    tenant: Tenant = ALPHA,
    region: str = CN,
    event_id: str | None = None,
    signer: EventSigner | None = None,
) -> str:
    """Produce one contract event of ``tenant``'s project as an outside system would, signed by ``signer`` (by
    default as ``testing.signer_for`` says: the tenant, or the service that owns the type); returns its event id."""
    event = make_event(
        data, source="/tests/outside-system", region=region, project_id=tenant.projects[region], event_id=event_id
    )
    value = event.model_dump_json().encode()
    signer = signer or signer_for(type(data), tenant, CREDENTIALS)
    assert system.kafka_bootstrap
    items = [(data.aggregate_id().encode(), value, [signer.header(value)])]
    asyncio.run(_produce(system.kafka_bootstrap, topic_for(data.topic_kind, region), items, kafka_options(system)))
    return event.id


def produce_raw(system: System, topic: str, items: list[tuple[bytes | None, bytes, Headers]]) -> None:
    assert system.kafka_bootstrap
    asyncio.run(_produce(system.kafka_bootstrap, topic, items, kafka_options(system)))


async def _read_all(bootstrap: str, topic: str, timeout_s: float, options: dict[str, Any]) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        **options,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            if not batch and records:
                break
            for items in batch.values():
                records.extend(items)
    finally:
        await consumer.stop()
    return records


def read_topic(system: System, topic: str, timeout_s: float = 3.0) -> list[Any]:
    """Every record currently on ``topic`` (a fresh reader from the earliest offset)."""
    assert system.kafka_bootstrap
    return asyncio.run(_read_all(system.kafka_bootstrap, topic, timeout_s, kafka_options(system)))


def events_of(system: System, topic: str, event_type: str, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    found = []
    for record in read_topic(system, topic, timeout_s):
        try:
            doc = json.loads(record.value)
        except (TypeError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("type") == event_type:
            found.append(doc)
    return found


def wait_job(client: ImsClient, job_id: str, timeout_s: float = 30.0) -> Any:
    """The job once it has ended (SUCCESS or FAIL)."""
    from huaweicloudsdkims.v2 import ShowJobRequest

    return eventually(
        lambda: (job := client.show_job(ShowJobRequest(job_id=job_id))).status in ("SUCCESS", "FAIL") and job,
        timeout_s=timeout_s,
        what=f"job {job_id} to end",
    )


def create_image(client: ImsClient, **fields: Any) -> str:
    """Request a full-ECS image through the SDK; returns the job id (raises the SDK's exception on 4xx)."""
    from huaweicloudsdkims.v2 import CreateWholeImageRequest, CreateWholeImageRequestBody

    body = CreateWholeImageRequestBody(**{"name": "full-ecs-image", "whole_image_type": "CBR", **fields})
    job_id: str = client.create_whole_image(CreateWholeImageRequest(body=body)).job_id
    return job_id


def known_backup(system: System, tenant: Tenant = ALPHA, region: str = CN, **fields: Any) -> BackupCreated:
    """Produce a BackupCreated and wait until backup-service shows it."""
    from huaweicloudsdkcbr.v1 import ShowBackupRequest

    backup = backup_created(**fields)
    produce(system, backup, tenant=tenant, region=region)
    client = cbr(system, tenant, region)
    eventually(lambda: client.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup, what="the backup")
    return backup


def billing(system: System, tenant: Tenant = ALPHA, region: str = CN) -> "SignedClient":
    from imsctl.client import SignedClient

    return SignedClient(system.url("billing-service"), tenant.access_key, tenant.secret_key, tenant.projects[region])


def account_of(system: System, tenant: Tenant) -> dict[str, Any]:
    client = billing(system, tenant)
    try:
        response = client.get(f"/v1/{client.project_id}/billing/account")
        assert response.status_code == 200, response.text
        account: dict[str, Any] = response.json()["account"]
        return account
    finally:
        client.close()


def bill_lines(system: System, tenant: Tenant) -> list[dict[str, Any]]:
    client = billing(system, tenant)
    lines: list[dict[str, Any]] = []
    marker = None
    try:
        while True:
            page = client.get(f"/v1/{client.project_id}/billing/lines", limit=1000, marker=marker).json()
            lines += page["lines"]
            marker = page.get("next_marker")
            if not marker or not page["lines"]:
                return lines
    finally:
        client.close()
