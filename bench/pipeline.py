"""The bare pipeline: the limit of this broker and this PostgreSQL for the work one event needs.

One process, plain aiokafka and asyncpg, no framework: consume a batch, check each record's signature (the
``ims-authorization`` HMAC every record carries), write in ONE transaction the event's rows (a backup's projection
row; an image request's job and image rows) with an inbox row and an outbox row per event, each kind of row in one
set-based statement; then produce the signed outputs, mark them published (with when they were read and
acknowledged, as the relay marks its rows) and commit the offsets. The tables are image-service's own (its
migrations and the shared outbox/inbox), so every index the system maintains is maintained here too.

Its outputs go where the contract puts them: ImageCreated onto the topic its request came from (the contract's
images topic carries both), so the pipeline reads its own outputs back, checks their signatures and passes them by
their ``ce-type`` header, as image-service does, and the broker keeps and lists them with the requests. The
backups' outputs (``BackupRecorded``, which only the bench reads: the contract has no event for a recorded backup)
go to OUT_TOPIC.

Run by bench/run.py as ``python -m bench.pipeline BOOTSTRAP DSN GROUP OUT_TOPIC MAX_BATCH FETCH_WAIT_MS TOPIC...``.
"""

import asyncio
import json
import signal
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from ims_shared.event_auth import EventAuthority, EventSigner
from ims_shared.kafka import PRODUCER_BATCH_BYTES
from ims_shared.tenants import load_tenants

CREDENTIALS = load_tenants(None)
AUTHORITY = EventAuthority(CREDENTIALS)
_OWN = CREDENTIALS.service_key("image-service")
assert _OWN is not None
SIGNER = EventSigner(_OWN.access_key, _OWN.secret_key)

CLAIM = (
    "INSERT INTO inbox (consumer, event_id, event_type) SELECT $1, e, t FROM unnest($2::text[], $3::text[]) AS u(e, t) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
BACKUPS = (
    "INSERT INTO backup_projection (backup_id, project_id, vault_id, name, resource_id, resource_type, status, "
    "size_gb, server, disks) SELECT b, p, v, n, r, t, s, g, sv::jsonb, d::jsonb FROM unnest($1::text[], $2::text[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[]) "
    "AS u(b, p, v, n, r, t, s, g, sv, d) ON CONFLICT (backup_id) DO NOTHING"
)
JOBS = (
    "INSERT INTO jobs (job_id, project_id, job_type, status, image_id, image_name, backup_id, request, correlation_id, "
    "end_time) SELECT j, p, 'imsCreateWholeImageByBackupJob', 'SUCCESS', i, n, b, r::jsonb, c, now() "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
    "AS u(j, p, i, n, b, r, c) ON CONFLICT (job_id) DO NOTHING"
)
IMAGES = (
    "INSERT INTO images (image_id, project_id, backup_id, job_id, name, description, status, os_type, min_disk, "
    "size_gb, status_history, active_at) SELECT i, p, b, j, n, d, 'active', 'Linux', 40, 60, h::jsonb, now() "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
    "AS u(i, p, b, j, n, d, h) ON CONFLICT DO NOTHING"
)
OUTBOX = (
    "INSERT INTO outbox (event_id, event_type, topic, key, payload) SELECT e, t, tp, k, pl FROM unnest($1::text[], "
    "$2::text[], $3::text[], $4::text[], $5::text[]) AS u(e, t, tp, k, pl) RETURNING id"
)
# As the relay marks its rows: read (here, the outputs are in hand once the transaction commits) and acknowledged.
PUBLISHED = "UPDATE outbox SET published_at = now(), relay_read_at = $2, acked_at = $3 WHERE id = ANY($1::bigint[])"


OWN_OUTPUTS = {b"ImageCreated"}


def _own_output(record: ConsumerRecord[Any, Any]) -> bool:
    return any(key == "ce-type" and value in OWN_OUTPUTS for key, value in record.headers or ())


def _output(
    event: dict[str, Any], kind: str, key: str, data: dict[str, Any], topic: str
) -> tuple[str, str, str, str, str]:
    out_id = str(uuid.uuid4())
    payload = {
        "specversion": "1.0",
        "id": out_id,
        "source": "/bench/bare-pipeline",
        "type": kind,
        "time": datetime.now(UTC).isoformat(),
        "subject": key,
        "datacontenttype": "application/json",
        "region": event["region"],
        "projectid": event["projectid"],
        "correlationid": event.get("correlationid") or event["id"],
        "data": data,
    }
    return out_id, kind, key, json.dumps(payload), topic


async def handle(
    conn: asyncpg.Connection,
    kafka: AIOKafkaProducer,
    consumer_name: str,
    out_topic: str,
    records: list[ConsumerRecord[Any, Any]],
) -> None:
    for record in records:
        AUTHORITY.authenticate(record.value, record.headers)  # the bench produces only signed records
    records = [r for r in records if not _own_output(r)]
    if not records:
        return
    events = [json.loads(r.value) for r in records]
    came_on = {e["id"]: r.topic for e, r in zip(events, records, strict=True)}
    outputs: list[tuple[str, str, str, str, str]] = []
    async with conn.transaction():
        fresh = {
            row[0]
            for row in await conn.fetch(CLAIM, consumer_name, [e["id"] for e in events], [e["type"] for e in events])
        }
        events = [e for e in events if e["id"] in fresh]
        backups = [e for e in events if e["type"] == "BackupCreated"]
        images = [e for e in events if e["type"] == "ImageRequested"]
        if backups:
            d = [e["data"] for e in backups]
            await conn.execute(
                BACKUPS,
                [x["backup_id"] for x in d],
                [e["projectid"] for e in backups],
                [x["vault_id"] for x in d],
                [x["name"] for x in d],
                [x["resource_id"] for x in d],
                [x["resource_type"] for x in d],
                [x["status"] for x in d],
                [x["size_gb"] for x in d],
                [json.dumps(x.get("server")) for x in d],
                [json.dumps(x.get("disks", [])) for x in d],
            )
            for e, x in zip(backups, d, strict=True):
                outputs.append(_output(e, "BackupRecorded", x["backup_id"], {"backup_id": x["backup_id"]}, out_topic))
        if images:
            d = [e["data"] for e in images]
            now = datetime.now(UTC).isoformat()
            history = json.dumps([{"status": s, "at": now} for s in ("queued", "saving", "active")])
            await conn.execute(
                JOBS,
                [x["job_id"] for x in d],
                [e["projectid"] for e in images],
                [x["image_id"] for x in d],
                [x["name"] for x in d],
                [x["backup_id"] for x in d],
                [json.dumps({"name": x["name"], "backup_id": x["backup_id"]}) for x in d],
                [e.get("correlationid") or e["id"] for e in images],
            )
            await conn.execute(
                IMAGES,
                [x["image_id"] for x in d],
                [e["projectid"] for e in images],
                [x["backup_id"] for x in d],
                [x["job_id"] for x in d],
                [x["name"] for x in d],
                [x.get("description", "") for x in d],
                [history] * len(d),
            )
            for e, x in zip(images, d, strict=True):
                data = {
                    "image_id": x["image_id"],
                    "job_id": x["job_id"],
                    "backup_id": x["backup_id"],
                    "name": x["name"],
                }
                outputs.append(_output(e, "ImageCreated", x["image_id"], data, came_on[e["id"]]))
        ids: list[int] = []
        if outputs:
            rows = await conn.fetch(
                OUTBOX,
                [o[0] for o in outputs],
                [o[1] for o in outputs],
                [o[4] for o in outputs],
                [o[2] for o in outputs],
                [o[3] for o in outputs],
            )
            ids = [r[0] for r in rows]
    if outputs:
        read_at = datetime.now(UTC)
        sends = []
        for o in outputs:
            value = o[3].encode()
            headers = [("ce-type", o[1].encode()), SIGNER.header(value)]
            sends.append(await kafka.send(o[4], value, key=o[2].encode(), headers=headers))
        await asyncio.gather(*sends)
        await conn.execute(PUBLISHED, ids, read_at, datetime.now(UTC))


async def main(argv: list[str]) -> None:
    bootstrap, dsn, group, out_topic, max_batch, fetch_wait_ms, *topics = argv
    conn = await asyncpg.connect(dsn)
    kafka = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=1,
        max_batch_size=PRODUCER_BATCH_BYTES,  # as the services' producers batch
        max_request_size=2 * 1024 * 1024,
    )
    await kafka.start()
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=int(fetch_wait_ms),
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    print("bare pipeline started", flush=True)
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=int(max_batch))
            records = [r for part in batch.values() for r in part]
            if records:
                await handle(conn, kafka, group, out_topic, records)
                await consumer.commit()
    finally:
        await consumer.stop()
        await kafka.stop()
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
