"""Wiring of replication-service (one per region): ``bootstrap`` builds its context from its settings once,
``create_app`` runs it."""

from pathlib import Path

from fastapi import FastAPI

from ims_shared.background import PeriodicTask
from ims_shared.credentials import load_credentials
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for
from replication_service.context import ReplicationService
from replication_service.handlers import event_handlers, expire_overdue
from replication_service.settings import ReplicationSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: ReplicationSettings) -> ReplicationService:
    return ReplicationService(
        settings=settings,
        tenants=load_credentials(settings),
        emitter=Emitter(settings.event_source, settings.region),
        database=Database(settings.database_url, settings.database_pool_size),
        policy=settings.policy(),
    )


async def sweep(service: ReplicationService) -> None:
    async with service.database.transaction() as conn:
        await expire_overdue(conn, service)


def create_app(settings: ReplicationSettings | None = None) -> FastAPI:
    service = bootstrap(settings or ReplicationSettings())
    runtime = ServiceRuntime(
        service,
        migrations=MIGRATIONS,
        handlers=event_handlers(),
        # Its own region's requests, and the answers of every region a replica may go to.
        topics=[topic_for(TopicKind.REPLICATION, region) for region in service.settings.regions],
        periodic=[
            PeriodicTask("replication timeouts", service.settings.replication_sweep_interval_s, lambda: sweep(service))
        ],
    )
    return build_app(runtime, title="replication-service", error_style="ims", bad_request_code="IMG.0001")
