"""Wiring of backup-service: ``bootstrap`` builds its context from its settings once, ``create_app`` runs it."""

from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backup_service import handlers, held, replication
from backup_service.api import router
from backup_service.api_oplogs import router as oplog_router
from backup_service.api_vaults import router as vault_router
from backup_service.checkpoints import finish_checkpoints
from backup_service.context import BackupService
from backup_service.deleting import retry_deletions
from backup_service.settings import BackupSettings
from ims_shared.background import PeriodicTask
from ims_shared.consumer import EventHandlers
from ims_shared.credentials import load_credentials
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger("backup_service")


def bootstrap(settings: BackupSettings) -> BackupService:
    return BackupService(
        settings=settings,
        tenants=load_credentials(settings),
        emitter=Emitter(settings.event_source, settings.region),
        database=Database(settings.database_url, settings.database_pool_size),
    )


def event_handlers() -> EventHandlers[BackupService]:
    """Every event backup-service consumes, with its handler."""
    return handlers.event_handlers() + replication.event_handlers()


async def complete_checkpoints(service: BackupService) -> None:
    async with service.database.transaction() as conn:
        await finish_checkpoints(conn, service.emitter)


async def retry_and_purge(service: BackupService) -> None:
    async with service.database.transaction() as conn:
        await retry_deletions(conn, service.emitter, service.settings)
        purged = await held.purge_stale(conn, service.settings.held_event_ttl_s)
        if purged:
            log.warning("held events purged: their backups never arrived", count=purged)


def create_app(settings: BackupSettings | None = None) -> FastAPI:
    service = bootstrap(settings or BackupSettings())
    s = service.settings
    runtime = ServiceRuntime(
        service,
        migrations=MIGRATIONS,
        handlers=event_handlers(),
        topics=[
            topic_for(TopicKind.BACKUPS, s.region),
            topic_for(TopicKind.IMAGES, s.region),
            topic_for(TopicKind.BILLING, s.region),
            topic_for(TopicKind.REPLICATION, s.region),
        ],
        periodic=[
            PeriodicTask("checkpoint completion", s.checkpoint_interval_s, lambda: complete_checkpoints(service)),
            PeriodicTask("backup deletion retries", s.deleter_interval_s, lambda: retry_and_purge(service)),
        ],
    )
    app = build_app(
        runtime,
        title="backup-service (CBR API)",
        error_style="cbr",
        bad_request_code="BackupService.6201",
        routers=[router, vault_router, oplog_router],
    )
    # The IMS console (served by image-service) lists backups from the browser, with AK/SK-signed requests.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=s.cors_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Sdk-Date", "X-Project-Id"],
        max_age=600,
    )
    return app
