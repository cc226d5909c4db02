"""Test helpers shared by every test directory: a fresh, migrated PostgreSQL database, records as the consumer
hands them over, a throwaway Kafka-protocol broker.

Importable as ``tests.support`` from any test (the repository root is on pytest's ``pythonpath``)."""

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka.structs import ConsumerRecord

from ims_devstack import free_port, tansu_binary, wait_for_port
from ims_shared.db import apply_migrations, create_pool
from ims_shared.event_auth import EventAuthority, EventSigner
from ims_shared.events import EVENT_TYPES, EventData
from ims_shared.service import SHARED_MIGRATIONS
from ims_shared.tenants import Tenant, TenantCatalog, load_tenants

TEST_SERVER = os.environ.get("TEST_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")


@asynccontextmanager
async def scratch_database(prefix: str = "ims_test") -> AsyncIterator[str]:
    """The URL of a database no one else uses (created by whoever first applies migrations to it); dropped
    afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{TEST_SERVER}/{name}"
    finally:
        await drop_named(TEST_SERVER, [name])


async def drop_named(server: str, names: Iterable[str]) -> None:
    """Drop the databases ``names`` of ``server`` (its URL without a database), connections and all."""
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def drop_databases(database_url: str, prefix: str) -> None:
    """Drop every database whose name starts with ``prefix`` on the server of ``database_url``: what a stack of the
    tests made for its services."""
    server = database_url.rpartition("/")[0]
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        names = [
            r["datname"]
            for r in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")
        ]
    finally:
        await admin.close()
    await drop_named(server, names)


@asynccontextmanager
async def fresh_database(migrations: Path, prefix: str = "ims_test") -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A new database with the shared and the service's migrations applied; dropped afterwards."""
    async with scratch_database(prefix) as dsn:
        await apply_migrations(dsn, migrations, SHARED_MIGRATIONS)
        pool = await create_pool(dsn, 10)
        try:
            yield dsn, pool
        finally:
            await pool.close()


class Broker:
    """A throwaway Tansu broker on a free port, for tests that need the real Kafka protocol."""

    def __init__(self) -> None:
        self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port, 20, "Tansu")
        self.bootstrap = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)


DEVELOPMENT_CREDENTIALS = load_tenants(None)


def development_authority() -> EventAuthority:
    """What a consumer checks records against, with the development credentials."""
    return EventAuthority(DEVELOPMENT_CREDENTIALS)


def signer_of(name: str) -> EventSigner:
    """The signer of a development principal (a tenant, an integration or a service) named ``name``."""
    catalog = DEVELOPMENT_CREDENTIALS
    keys = [(t.name, t.access_key, t.secret_key) for t in catalog.tenants]
    keys += [(i.name, i.access_key, i.secret_key) for i in catalog.integrations]
    keys += [(s.name, s.access_key, s.secret_key) for s in catalog.services]
    for principal, access_key, secret_key in keys:
        if principal == name:
            return EventSigner(access_key, secret_key)
    raise KeyError(name)


def signer_for(
    event_type: type[EventData], tenant: Tenant, credentials: TenantCatalog = DEVELOPMENT_CREDENTIALS
) -> EventSigner:
    """Who a test produces an event of ``event_type`` as: ``tenant`` when a tenant's systems may produce it, else the
    service that owns the type (the test stands in for it), with its key from ``credentials``."""
    if event_type.producers.tenants:
        return EventSigner(tenant.access_key, tenant.secret_key)
    owner = credentials.service_key(min(event_type.producers.services))
    assert owner is not None, f"no key for the owner of {event_type.__name__}"
    return EventSigner(owner.access_key, owner.secret_key)


def owner_of(value: bytes | None) -> str:
    """The first service that owns the type of event in ``value`` (image-service when it names none)."""
    try:
        model = EVENT_TYPES.get(str(orjson.loads(value or b"{}").get("type")))
    except (orjson.JSONDecodeError, AttributeError):
        model = None
    return min(model.producers.services) if model is not None and model.producers.services else "image-service"


def consumer_record(
    topic: str,
    offset: int,
    value: bytes | None,
    key: bytes = b"k",
    headers: list[tuple[str, bytes]] | None = None,
    partition: int = 0,
    signed_by: str | None = "owner",
) -> ConsumerRecord[Any, Any]:
    """A record as the Kafka consumer hands it over, for feeding an ``EventProcessor`` directly: signed by the
    development principal ``signed_by`` ("owner": the service that owns the event's type; None: not signed)."""
    if signed_by is not None:
        signer = signer_of(owner_of(value) if signed_by == "owner" else signed_by)
        headers = [*(headers or []), signer.header(value or b"")]
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value or b""),
        headers=headers or [],
    )


async def rows_scanned(conn: asyncpg.Connection, table: str) -> int:
    """The rows of ``table`` that sequential scans read in ``conn``'s current transaction: a statement that should
    probe an index for the rows of its batch reads none."""
    scanned = await conn.fetchval("SELECT seq_tup_read FROM pg_stat_xact_user_tables WHERE relname = $1", table)
    return int(scanned or 0)
