"""Forged records on the topics, tried as an attacker would (alpha, or a key that leaked, against beta): each is
dead-lettered by every consumer that reads it, with the reason (``unauthenticated`` or ``forbidden``) and the
principal, and beta's backup, image, server, meter and account stay exactly as they were. Over the real broker, with
image-, backup- and billing-service running (tests/abuse/conftest.py)."""

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ims_shared.event_auth import AUTH_HEADER, EventSigner
from ims_shared.events import (
    AccountStateChanged,
    BackupArrears,
    BackupCreated,
    BackupDeleted,
    EventData,
    ImageDeleted,
    ServerRegistered,
    ServerStateChanged,
    make_event,
)
from ims_shared.events.replication import ReplicaFailed
from ims_shared.tenants import Tenant
from ims_shared.topics import BILLING_TOPIC, TopicKind, topic_for
from tests.abuse.conftest import ALPHA, BETA, CN, Apis
from tests.e2e.harness import backup_created
from tests.faults.tools import Outgoing, produce, query, read_topic, report, until
from tests.support import DEVELOPMENT_CREDENTIALS, signer_of

pytestmark = pytest.mark.integration
BETA_SERVER = f"ecs-beta-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Forgery:
    name: str
    data: EventData
    project: Tenant  # whose project the envelope names
    signer: EventSigner | None  # None: unsigned
    reason: str  # what the dead letter's reason starts with
    principal: str
    topic: str | None = None  # None: the type's own topic
    consumers: int = 1  # how many of the running services read the topic and handle the type


def _tenant_signer(tenant: Tenant, secret: str | None = None) -> EventSigner:
    return EventSigner(tenant.access_key, secret or tenant.secret_key)


def forgeries(apis: Apis) -> list[Forgery]:
    beta = apis.owned["beta"]
    alpha_key, devops = _tenant_signer(ALPHA), signer_of("devops")
    arrears = BackupArrears(backup_id=beta.backup, account_id=BETA.account_id, reason="arrears")
    as_alpha = BackupArrears(backup_id=beta.backup, account_id=ALPHA.account_id, reason="arrears")
    delete_both = ImageDeleted(image_id=beta.image, backup_id=beta.backup, delete_backup=True, reason="user")
    replica_failed = ReplicaFailed(
        job_id="j",
        source_region="ap-southeast-1",
        source_image_id="i",
        source_backup_id="b",
        replica_image_id=beta.image,
        replica_backup_id=beta.backup,
        stage="timeout",
        error_code="IMG.0247",
        reason="forged",
    )
    huge = backup_created(size_gb=2_000_000_000)
    return [
        Forgery(
            "a tenant's BackupArrears of another tenant's backup",
            arrears,
            BETA,
            alpha_key,
            "forbidden",
            "tenant:alpha",
            consumers=2,
        ),
        Forgery(
            "a BackupArrears on a backups topic",
            arrears,
            BETA,
            signer_of("billing-service"),
            "forbidden: BackupArrears belongs on ims.billing",
            "service:billing-service",
            topic=topic_for(TopicKind.BACKUPS, CN),
            consumers=2,
        ),
        Forgery(
            "an integration's BackupArrears naming an account that does not own the project",
            as_alpha,
            BETA,
            devops,
            "forbidden: account 'alpha' does not own project",
            "integration:devops",
            consumers=2,
        ),
        Forgery(
            "an integration's BackupArrears of another project's backup",
            as_alpha,
            ALPHA,
            devops,
            f"forbidden: backup {beta.backup} is not a backup of project",
            "integration:devops",
            consumers=2,
        ),
        Forgery(
            "a tenant's ImageDeleted that deletes its backup", delete_both, BETA, alpha_key, "forbidden", "tenant:alpha"
        ),
        Forgery(
            "a leaked image-service key deleting another project's backup with its image",
            delete_both,
            ALPHA,
            signer_of("image-service"),
            f"forbidden: backup {beta.backup} is not a backup of project",
            "service:image-service",
        ),
        Forgery(
            "a tenant's BackupDeleted",
            BackupDeleted(backup_id=beta.backup, reason="user"),
            BETA,
            alpha_key,
            "forbidden",
            "tenant:alpha",
            consumers=2,
        ),
        Forgery(
            "an integration's BackupDeleted of another project's backup",
            BackupDeleted(backup_id=beta.backup, reason="user"),
            ALPHA,
            devops,
            f"forbidden: backup {beta.backup} is not a backup of project",
            "integration:devops",
            consumers=2,
        ),
        Forgery("a tenant's ReplicaFailed", replica_failed, BETA, alpha_key, "forbidden", "tenant:alpha", consumers=2),
        Forgery(
            "a tenant freezing another tenant",
            AccountStateChanged(account_id=BETA.account_id, state="frozen", balance="-1"),
            BETA,
            alpha_key,
            "forbidden",
            "tenant:alpha",
        ),
        Forgery(
            "a tenant unfreezing itself",
            AccountStateChanged(account_id=ALPHA.account_id, state="normal", balance="1"),
            ALPHA,
            alpha_key,
            "forbidden: a tenant may not produce AccountStateChanged",
            "tenant:alpha",
        ),
        Forgery(
            "a tenant's huge BackupCreated in another tenant's project",
            huge,
            BETA,
            alpha_key,
            "forbidden: project",
            "tenant:alpha",
            consumers=3,
        ),
        Forgery(
            "a tenant's ServerStateChanged of another project's ECS",
            ServerStateChanged(server_id=BETA_SERVER, state="SHUTOFF"),
            ALPHA,
            alpha_key,
            f"forbidden: ECS {BETA_SERVER} is not an ECS of project",
            "tenant:alpha",
        ),
        Forgery(
            "a tenant's ServerRegistered over another project's ECS",
            ServerRegistered(server_id=BETA_SERVER, name="taken", configured=False),
            ALPHA,
            alpha_key,
            f"forbidden: ECS {BETA_SERVER} is not an ECS of project",
            "tenant:alpha",
        ),
        Forgery(
            "an unsigned BackupCreated",
            backup_created(),
            ALPHA,
            None,
            "unauthenticated: no ims-authorization",
            "none",
            consumers=3,
        ),
        Forgery(
            "a BackupCreated signed with a wrong secret",
            backup_created(),
            ALPHA,
            _tenant_signer(ALPHA, "not-the-secret"),
            "unauthenticated: the signature does not match",
            "tenant:alpha",
            consumers=3,
        ),
        Forgery(
            "a BackupCreated signed by an unknown key",
            backup_created(),
            ALPHA,
            EventSigner("NOSUCHKEY00000000001", "x"),
            "unauthenticated: unknown access key",
            "unknown",
            consumers=3,
        ),
    ]


def _outgoing(forgery: Forgery) -> tuple[Outgoing, str]:
    event = make_event(
        forgery.data, source="/attacker", region=CN, project_id=forgery.project.projects[CN], time=datetime.now(UTC)
    )
    value = event.model_dump_json().encode()
    headers = () if forgery.signer is None else (forgery.signer.header(value),)
    topic = forgery.topic or topic_for(forgery.data.topic_kind, CN)
    return Outgoing(topic, forgery.data.aggregate_id().encode(), value, event.id, headers), event.id


async def _beta(apis: Apis) -> dict[str, Any]:
    """What beta has: its protected image, backup (with the image it was used for), ECS, meter and account."""
    beta = apis.owned["beta"]
    image = await query(
        apis.dsn("image-service"), "SELECT status, deleted_at FROM images WHERE image_id = $1", beta.image
    )
    backup = await query(
        apis.dsn("backup-service"), "SELECT status, deleted_at, image_id FROM backups WHERE backup_id = $1", beta.backup
    )
    server = await query(
        apis.dsn("backup-service"),
        "SELECT project_id, name, state, configured FROM servers WHERE server_id = $1",
        BETA_SERVER,
    )
    meter = await query(apis.dsn("billing-service"), "SELECT deleted_at FROM meters WHERE backup_id = $1", beta.backup)
    # The balance with the storage charged back: a rating pass that happens meanwhile does not count as a change.
    account = await query(
        apis.dsn("billing-service"),
        "SELECT a.state, a.balance + coalesce((SELECT sum(l.amount) FROM bill_lines l "
        "WHERE l.account_id = a.account_id AND l.kind = 'backup_storage'), 0) AS before_storage, "
        "(SELECT count(*) FROM arrears_notices n WHERE n.backup_id = $2) AS notices "
        "FROM accounts a WHERE a.account_id = $1",
        BETA.account_id,
        beta.backup,
    )
    image_projection = await query(
        apis.dsn("image-service"), "SELECT state FROM account_projection WHERE account_id = $1", BETA.account_id
    )
    rows = {
        "image": image,
        "backup": backup,
        "server": server,
        "meter": meter,
        "account": account,
        "projection": image_projection,
    }
    return {name: [dict(r) for r in found] for name, found in rows.items()}


def _dead_letters(apis: Apis, topics: set[str]) -> dict[str, list[tuple[str, str]]]:
    """By the forged event's id: (reason, principal) of every dead letter of it."""
    found: dict[str, list[tuple[str, str]]] = {}
    for topic in topics:
        for record in asyncio.run(read_topic(apis.bootstrap, topic + ".dlt", timeout_s=5)):
            headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
            try:
                event_id = json.loads(record.value)["id"]
            except (ValueError, KeyError, TypeError):
                continue
            found.setdefault(event_id, []).append((headers.get("dlt-reason", ""), headers.get("dlt-principal", "")))
    return found


def test_every_forged_record_is_dead_lettered_with_its_reason_and_changes_nothing(apis: Apis) -> None:
    server = ServerRegistered(server_id=BETA_SERVER, name="beta-web", configured=True)
    registered = make_event(server, source="/beta-inventory", region=CN, project_id=BETA.projects[CN])
    value = registered.model_dump_json().encode()
    beta_signed = _tenant_signer(BETA).header(value)
    asyncio.run(
        produce(
            apis.bootstrap,
            [Outgoing(topic_for(TopicKind.BACKUPS, CN), BETA_SERVER.encode(), value, registered.id, (beta_signed,))],
        )
    )
    asyncio.run(until(lambda: _server_known(apis), timeout_s=30, what="beta's ECS to be recorded"))
    before = asyncio.run(_beta(apis))
    assert before["image"][0]["status"] == "active" and before["backup"][0]["image_id"] == apis.owned["beta"].image

    cases = forgeries(apis)
    outgoing = [_outgoing(f) for f in cases]
    asyncio.run(produce(apis.bootstrap, [o for o, _ in outgoing]))
    topics = {o.topic for o, _ in outgoing}
    deadline = time.monotonic() + 90
    while True:
        letters = _dead_letters(apis, topics)
        if all(len(letters.get(event_id, [])) >= f.consumers for f, (_, event_id) in zip(cases, outgoing, strict=True)):
            break
        assert time.monotonic() < deadline, [
            (f.name, f.consumers, letters.get(event_id, []))
            for f, (_, event_id) in zip(cases, outgoing, strict=True)
            if len(letters.get(event_id, [])) < f.consumers
        ]
        time.sleep(1)
    for forgery, (_, event_id) in zip(cases, outgoing, strict=True):
        for reason, principal in letters[event_id]:
            assert reason.startswith(forgery.reason), (forgery.name, reason)
            assert principal == forgery.principal, (forgery.name, principal)
    time.sleep(2)  # anything a forged record had set off would have happened by now
    assert asyncio.run(_beta(apis)) == before
    report("forged records", forged=len(cases), dead_letters=sum(len(v) for v in letters.values()))


async def _server_known(apis: Apis) -> bool:
    return bool(await query(apis.dsn("backup-service"), "SELECT 1 FROM servers WHERE server_id = $1", BETA_SERVER))


def test_the_development_credentials_name_the_operator_integration_of_the_readme() -> None:
    devops = next(i for i in DEVELOPMENT_CREDENTIALS.integrations if i.name == "devops")
    assert (devops.access_key, devops.secret_key) == ("DEVOPSAK000000000001", "dev-ops-secret")
    assert set(devops.produces) == {"BackupCreated", "BackupDeleted", "BackupArrears"}
    assert AUTH_HEADER == "ims-authorization" and BILLING_TOPIC == "ims.billing"
    assert BackupCreated.producers.tenants and not BackupDeleted.producers.tenants
