"""Hostile records on a live topic (image-, backup-, billing- and compute-service running, tests/abuse/conftest.py):
JSON nested 10,000 deep (the review's record, read again for ever, was 3,000 deep) and others like it, produced to one
partition of ``ims.cn-north-4.backups`` ahead of valid events, with a forbidden one on ``ims.cn-north-4.images`` in
the same batches, are each dead-lettered by every consumer once, within seconds; the valid events after them, on
their partition and on the others, are handled; and no tenant's images, jobs, members, backups, servers, meters or
account change."""

import asyncio
import json
import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ims_shared.event_auth import EventSigner
from ims_shared.events import make_event
from ims_shared.kafka import MAX_MESSAGE_BYTES
from ims_shared.tenants import Tenant
from ims_shared.topics import TopicKind, topic_for
from tests.abuse import hostile
from tests.abuse.conftest import ALPHA, BETA, CN, Apis
from tests.e2e.harness import backup_created
from tests.faults.tools import query, read_topic, report, until
from tests.support import signer_of

pytestmark = pytest.mark.integration
BACKUPS, IMAGES = topic_for(TopicKind.BACKUPS, CN), topic_for(TopicKind.IMAGES, CN)
# every service the suite runs reads both topics the hostile records go to
SERVICES = ("image-service", "backup-service", "billing-service", "compute-service")
CONSUMERS = frozenset(f"{name}.{CN}" for name in SERVICES)
# compute-service does not handle BackupCreated (an image's ImageCreated names its disks): a record it can read as
# one is not its to judge, and the services that handle BackupCreated dead-letter it
BACKUP_CREATED_READERS = frozenset(c for c in CONSUMERS if not c.startswith("compute-service"))
PARTITION = 0
KEY = b"hostile-00000000"


@dataclass(frozen=True)
class Sent:
    name: str
    topic: str
    value: bytes
    signer: EventSigner
    reason: str  # what every dead letter's reason starts with
    consumers: frozenset[str] = CONSUMERS  # the consumers that must dead-letter it


def _signer(tenant: Tenant) -> EventSigner:
    return EventSigner(tenant.access_key, tenant.secret_key)


def _valid(tenant: Tenant = ALPHA, project: str | None = None) -> dict[str, Any]:
    event = make_event(backup_created(), source="/hostile", region=CN, project_id=project or tenant.projects[CN])
    return event.model_dump(mode="json")


def _at(path: tuple[str, ...], fragment: bytes) -> bytes:
    """A valid event of alpha's with ``fragment`` (raw JSON) at ``path``."""
    return hostile.render(_valid(), path, fragment)


def _hostile_records() -> list[Sent]:
    alpha, text = _signer(ALPHA), json.dumps(_valid())
    # Over the contract's 1 MiB, and as large as a producer of the project sends (its key and signature counted).
    overhead = DefaultRecordBatchBuilder.estimate_size_in_bytes(KEY, b"", [alpha.header(b"")])
    largest = text.encode() + b" " * (MAX_MESSAGE_BYTES - overhead - 8 - len(text))
    big_project = json.dumps(_valid() | {"projectid": "p" * 65536}).encode()
    in_beta = json.dumps(_valid(project=BETA.projects[CN])).encode()
    cases = [
        ("arrays 10,000 deep in the data", _at(("data", "name"), hostile.nested(10_000, "arrays")), "not JSON"),
        ("objects 3,000 deep in an extension", _at(("ext",), hostile.nested(3_000, "objects")), "not JSON"),
        ("mixed 600 deep beside the data's fields", _at(("data", "x"), hostile.nested(600, "mixed")), "not JSON"),
        ("NaN as the size", _at(("data", "size_gb"), b"NaN"), "not JSON"),
        ("an integer of 5,000 digits", _at(("data", "x"), b"9" * 5000), "not JSON"),
        ("a valid event in UTF-16", json.dumps(_valid()).encode("utf-16"), "not JSON"),
        ("a byte order mark", b"\xef\xbb\xbf" + json.dumps(_valid()).encode(), "not JSON"),
        ("as large as a producer sends", largest, "event of"),
    ]
    sent = [Sent(name, BACKUPS, value, alpha, reason) for name, value, reason in cases]
    readable = BACKUP_CREATED_READERS  # JSON that names its type: read by the consumers of that type
    surrogate, devops = _at(("ext",), b'"\\ud800"'), signer_of("devops")
    return [
        *sent,
        Sent("a lone surrogate in an extension", BACKUPS, surrogate, alpha, "invalid CloudEvent envelope", readable),
        Sent("a 64 kB project id from an integration", BACKUPS, big_project, devops, "invalid Cloud", readable),
        Sent("alpha's backup in beta's project", BACKUPS, in_beta, alpha, "forbidden: project", readable),
        Sent("a BackupCreated on the images topic", IMAGES, text.encode(), alpha, "forbidden: BackupCreated", readable),
    ]


async def _produce(bootstrap: str, items: list[tuple[str, int, bytes, EventSigner]]) -> list[tuple[str, int, int, int]]:
    """Produce in order; (topic, partition, offset, timestamp in ms) of each record."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, acks="all", max_request_size=MAX_MESSAGE_BYTES
    )
    await producer.start()
    try:
        sent = []
        for topic, partition, value, signer in items:
            key = KEY[:8] + uuid.uuid4().hex[:8].encode()
            meta = await producer.send_and_wait(
                topic, value, key=key, partition=partition, headers=[signer.header(value)]
            )
            sent.append((meta.topic, meta.partition, meta.offset, meta.timestamp))
        return sent
    finally:
        await producer.stop()


async def _dead_letters(bootstrap: str) -> dict[tuple[str, int, int], list[tuple[str, str, int]]]:
    """By original (topic, partition, offset): (consumer, reason, timestamp in ms) of every dead letter."""
    found: dict[tuple[str, int, int], list[tuple[str, str, int]]] = defaultdict(list)
    for topic in (BACKUPS, IMAGES):
        for record in await read_topic(bootstrap, topic + ".dlt", timeout_s=10):
            headers = {k: (v or b"").decode(errors="replace") for k, v in record.headers or ()}
            if "dlt-original-topic" not in headers:
                continue  # the warm-up
            original = (headers["dlt-original-topic"], int(headers["dlt-original-partition"]))
            key = (*original, int(headers["dlt-original-offset"]))
            found[key].append((headers["dlt-consumer"], headers["dlt-reason"], record.timestamp))
    return found


# -- what each tenant has -------------------------------------------------------------------------------------------
# Each statement's parameters: the tenant's projects (P), its account (A), the valid events this test sends (C).
SNAPSHOT: dict[str, dict[str, tuple[str, str]]] = {
    "image-service": {
        "images": ("P", "SELECT to_jsonb(t) AS row FROM images t WHERE project_id = ANY($1) ORDER BY image_id"),
        "jobs": ("P", "SELECT to_jsonb(t) AS row FROM jobs t WHERE project_id = ANY($1) ORDER BY job_id"),
        "members": (
            "P",
            "SELECT to_jsonb(m) AS row FROM members m JOIN images i USING (image_id) "
            "WHERE i.project_id = ANY($1) OR m.member_id = ANY($1) ORDER BY image_id, member_id",
        ),
        "backup projection": (
            "PC",
            "SELECT to_jsonb(t) AS row FROM backup_projection t WHERE project_id = ANY($1) "
            "AND backup_id <> ALL($2) ORDER BY backup_id",
        ),
        "account projection": (
            "A",
            "SELECT to_jsonb(t) AS row FROM account_projection t WHERE account_id = ANY($1) ORDER BY account_id",
        ),
    },
    "backup-service": {
        "backups": (
            "PC",
            "SELECT to_jsonb(t) AS row FROM backups t WHERE project_id = ANY($1) AND backup_id <> ALL($2) "
            "ORDER BY backup_id",
        ),
        "servers": ("P", "SELECT to_jsonb(t) AS row FROM servers t WHERE project_id = ANY($1) ORDER BY server_id"),
        "held events": (
            "P",
            "SELECT to_jsonb(t) AS row FROM held_backup_events t WHERE project_id = ANY($1) ORDER BY event_id",
        ),
    },
    "billing-service": {
        # The balance with the storage charged back: a rating pass meanwhile is not a change.
        "accounts": (
            "A",
            "SELECT jsonb_build_object('account', a.account_id, 'state', a.state, 'currency', a.currency, "
            "'before storage', a.balance + coalesce((SELECT sum(l.amount) FROM bill_lines l WHERE l.account_id = "
            "a.account_id AND l.kind = 'backup_storage'), 0)) AS row FROM accounts a WHERE account_id = ANY($1) "
            "ORDER BY account_id",
        ),
        "meters": (
            "PAC",
            "SELECT jsonb_build_object('backup', backup_id, 'account', account_id, 'project', project_id, "
            "'region', region, 'size', size_gb, 'started', started_at, 'deleted', deleted_at) AS row FROM meters "
            "WHERE (project_id = ANY($1) OR account_id = ANY($2)) AND backup_id <> ALL($3) ORDER BY backup_id",
        ),
        "image lines": (
            "A",
            "SELECT to_jsonb(t) AS row FROM bill_lines t WHERE account_id = ANY($1) AND kind = 'full_ecs_image' "
            "ORDER BY id",
        ),
        "top-ups": ("A", "SELECT to_jsonb(t) AS row FROM top_ups t WHERE account_id = ANY($1) ORDER BY id"),
        "arrears notices": (
            "A",
            "SELECT to_jsonb(t) AS row FROM arrears_notices t WHERE account_id = ANY($1) ORDER BY backup_id",
        ),
    },
}


async def _snapshot(apis: Apis, canaries: list[str]) -> dict[str, dict[str, list[str]]]:
    """Every row of each tenant, by tenant and table (the valid events this test sends left out)."""
    found: dict[str, dict[str, list[str]]] = {}
    for tenant in (ALPHA, BETA):
        parameters = {"P": list(tenant.projects.values()), "A": [tenant.account_id], "C": canaries}
        rows: dict[str, list[str]] = {}
        for service, tables in SNAPSHOT.items():
            for table, (names, sql) in tables.items():
                args = [parameters[name] for name in names]
                rows[table] = [r["row"] for r in await query(apis.dsn(service), sql, *args)]
        found[tenant.name] = rows
    return found


async def _handled(apis: Apis, backup_ids: list[str]) -> bool:
    """Every one of these backups known to backup-service, image-service and billing."""
    checks = (
        ("backup-service", "SELECT count(*) FROM backups WHERE backup_id = ANY($1)"),
        ("image-service", "SELECT count(*) FROM backup_projection WHERE backup_id = ANY($1)"),
        ("billing-service", "SELECT count(*) FROM meters WHERE backup_id = ANY($1)"),
    )
    for service, sql in checks:
        if (await query(apis.dsn(service), sql, backup_ids))[0][0] != len(backup_ids):
            return False
    return True


def test_hostile_records_on_a_live_topic_are_dead_lettered_in_seconds_and_change_nothing(apis: Apis) -> None:
    cases = _hostile_records()
    canaries = [_valid() for _ in range(8)]  # two on the hostile records' partition, after them; two on each other
    canary_ids = [c["data"]["backup_id"] for c in canaries]
    before = asyncio.run(_snapshot(apis, canary_ids))
    assert before["beta"]["images"] and before["alpha"]["backups"]

    # Every partition of the dead-letter topics written once before the consumers write to them at once: Tansu
    # (0.6, in memory) has lost the first record of a partition that three producers wrote to together.
    items = [(topic + ".dlt", p, b"warm-up", _signer(ALPHA)) for topic in (BACKUPS, IMAGES) for p in range(4)]
    asyncio.run(_produce(apis.bootstrap, items))
    items = [(c.topic, PARTITION, c.value, c.signer) for c in cases]
    items += [(BACKUPS, i % 4, json.dumps(c).encode(), _signer(ALPHA)) for i, c in enumerate(canaries)]
    sent = asyncio.run(_produce(apis.bootstrap, items))
    produced = dict(zip((s[:3] for s in sent[: len(cases)]), cases, strict=True))
    timestamps = {s[:3]: s[3] for s in sent}
    started = time.monotonic()

    async def all_dead_lettered() -> dict[tuple[str, int, int], list[tuple[str, str, int]]] | None:
        letters = await _dead_letters(apis.bootstrap)
        done = all({c for c, _, _ in letters.get(key, [])} >= case.consumers for key, case in produced.items())
        return letters if done else None

    asyncio.run(until(all_dead_lettered, timeout_s=60, what="every hostile record dead-lettered by every consumer"))
    dead_lettered_s = time.monotonic() - started
    asyncio.run(until(lambda: _handled(apis, canary_ids), timeout_s=60, what="the valid events after them"))
    time.sleep(3)  # a record read again would be dead-lettered again meanwhile
    letters = asyncio.run(_dead_letters(apis.bootstrap))
    latencies = []
    for key, case in produced.items():
        by_consumer = defaultdict(list)
        for consumer, reason, at in letters[key]:
            by_consumer[consumer].append(reason)
            latencies.append((at - timestamps[key]) / 1000)
        assert set(by_consumer) == case.consumers, (case.name, dict(by_consumer))
        for consumer, reasons in by_consumer.items():
            assert len(reasons) == 1, f"{case.name}: dead-lettered {len(reasons)} times by {consumer}"
            assert reasons[0].startswith(case.reason), (case.name, consumer, reasons[0][:300])
    assert not [key for key in timestamps if key not in produced and key in letters], "a valid event dead-lettered"
    assert max(latencies) < 10, f"a dead letter took {max(latencies):.1f} s"
    assert asyncio.run(_snapshot(apis, canary_ids)) == before
    report(
        "hostile records over the broker",
        hostile=len(cases),
        consumers=len(CONSUMERS),
        dead_letters=sum(len(letters[key]) for key in produced),
        valid_after_them=len(canaries),
        produce_to_dead_letter_median_s=round(statistics.median(latencies), 2),
        produce_to_dead_letter_max_s=round(max(latencies), 2),
        all_dead_lettered_within_s=round(dead_lettered_s, 1),
        largest_bytes=max(len(c.value) for c in cases),
    )
