"""Poison messages among valid events: every poison message reaches the dead-letter topic with its reason,
once per consuming service, every valid event is handled, and no consumer stops (/health stays 200)."""

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from ims_shared.event_auth import EventSigner
from tests.e2e.harness import ALPHA, backup_created
from tests.faults.conftest import FaultStack
from tests.faults.tools import CN, Outgoing, outgoing, produce, query, read_topic, report, size, until

pytestmark = pytest.mark.faults
TOPIC = f"ims.{CN}.backups"
CONSUMERS = {
    "image-service": "image-service.cn-north-4",
    "backup-service": "backup-service.cn-north-4",
    "billing-service": "billing-service.cn-north-4",
}


def _envelope(event_type: str, data: object, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/tests/poison",
        "type": event_type,
        "time": "2026-01-01T00:00:00Z",
        "region": CN,
        "projectid": ALPHA.projects[CN],
        "data": data,
    }
    doc.update(extra)
    return doc


def poison(kind: str, i: int) -> bytes:
    valid = json.loads(backup_created().model_dump_json())
    if kind == "not-json":
        return [b"\x00\xff garbage", b"{not json", b"", b"\xc3\x28", b"[1, 2"][i % 5] + str(i).encode()
    if kind == "wrong-types":
        field, value = [("size_gb", "big"), ("backup_id", 5), ("disks", "none"), ("created_at", "yesterday")][i % 4]
        return json.dumps(_envelope("BackupCreated", valid | {field: value})).encode()
    if kind == "unknown-type":
        return json.dumps(_envelope(f"BackupExploded{i}", valid)).encode()
    if kind == "oversized":
        return json.dumps(_envelope("BackupCreated", valid | {"name": "x" * (1024 * 1024 + 10)})).encode()
    if kind == "unsigned":
        return json.dumps(_envelope("BackupCreated", valid)).encode()
    if kind == "missing-fields":
        if i % 2:
            return json.dumps(_envelope("BackupCreated", {k: v for k, v in valid.items() if k != "backup_id"})).encode()
        doc = _envelope("BackupCreated", valid)
        del doc["id"], doc["time"]
        return json.dumps(doc).encode()
    raise ValueError(kind)


REASONS = {
    "not-json": ("not JSON", "must be a JSON object"),
    "wrong-types": ("invalid BackupCreated data",),
    "unknown-type": ("unknown event type",),
    "oversized": ("exceeds the limit",),
    "missing-fields": ("invalid BackupCreated data", "invalid CloudEvent envelope"),
    "unsigned": ("unauthenticated: no ims-authorization header",),
}


@pytest.mark.timeout(size(300, 900))
async def test_poison_messages_are_dead_lettered_and_valid_events_handled(healthy: FaultStack) -> None:
    kinds = list(REASONS)
    n_poison, n_valid = 100, size(50, 200)
    items: list[Outgoing] = []
    valid_ids: list[str] = []
    poison_kind: dict[str, str] = {}
    for i in range(max(n_poison, n_valid)):
        if i < n_poison:
            kind = kinds[i % len(kinds)]
            key = f"poison-{uuid.uuid4().hex[:8]}-{i}"
            poison_kind[key] = kind
            value = poison(kind, i)
            # Signed by a tenant (the contract's checks are what is tested), but for the unsigned kind.
            signed = () if kind == "unsigned" else (EventSigner(ALPHA.access_key, ALPHA.secret_key).header(value),)
            items.append(Outgoing(TOPIC, key.encode(), value, headers=signed))
        if i < n_valid:
            backup = backup_created()
            valid_ids.append(backup.backup_id)
            items.append(outgoing(backup, ALPHA))

    health_codes: Counter[int] = Counter()
    stop = asyncio.Event()

    async def watch_health() -> None:
        async with httpx.AsyncClient(timeout=3) as http:
            while not stop.is_set():
                for service in CONSUMERS:
                    try:
                        health_codes[(await http.get(f"{healthy.url(service)}/health")).status_code] += 1
                    except httpx.HTTPError:
                        health_codes[0] += 1
                await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_health())
    started = time.monotonic()
    try:
        await produce(healthy.bootstrap, items)

        async def all_valid_handled() -> bool:
            counts = [
                (await query(healthy.dsn("backup-service"), sql, valid_ids))[0][0]
                for sql in ("SELECT count(*) FROM backups WHERE backup_id = ANY($1::text[])",)
            ]
            counts.append(
                (
                    await query(
                        healthy.dsn("image-service"),
                        "SELECT count(*) FROM backup_projection WHERE backup_id = ANY($1::text[])",
                        valid_ids,
                    )
                )[0][0]
            )
            counts.append(
                (
                    await query(
                        healthy.dsn("billing-service"),
                        "SELECT count(*) FROM meters WHERE backup_id = ANY($1::text[])",
                        valid_ids,
                    )
                )[0][0]
            )
            return all(c == n_valid for c in counts)

        await until(all_valid_handled, timeout_s=120, what="every valid event to be handled by every service")

        progress: dict[str, Any] = {}

        async def dead_letters() -> dict[str, dict[str, str]] | None:
            found: dict[str, dict[str, str]] = defaultdict(dict)
            records = await read_topic(healthy.bootstrap, TOPIC + ".dlt")
            for record in records:
                key = (record.key or b"").decode()
                if key in poison_kind:
                    headers = {k: v.decode() for k, v in record.headers}
                    found[headers["dlt-consumer"]][key] = headers.get("dlt-reason", "")
            complete = all(len(found.get(group, {})) == n_poison for group in CONSUMERS.values())
            progress["records read"] = len(records)
            progress["missing"] = {
                group: sorted(set(poison_kind) - set(found.get(group, {})))[:3] for group in CONSUMERS.values()
            }
            return dict(found) if complete else None

        try:
            found = await until(dead_letters, timeout_s=120, what="every poison message on the dead-letter topic")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; dead-letter topic as last read: {progress}") from None
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        await watcher
    for group, reasons in found.items():
        for key, reason in reasons.items():
            expected = REASONS[poison_kind[key]]
            assert reason and any(e in reason for e in expected), (group, poison_kind[key], reason)
    assert healthy.exited() == {}, "a service process died"
    assert set(health_codes) == {200}, f"/health answered {dict(health_codes)}"
    report(
        "poison messages",
        poison=n_poison,
        valid=n_valid,
        consumers=len(found),
        dead_lettered=sum(len(v) for v in found.values()),
        health_checks=sum(health_codes.values()),
        health_non_200=sum(n for code, n in health_codes.items() if code != 200),
        seconds=round(elapsed, 1),
    )
