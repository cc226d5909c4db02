"""Wiring of backup-service."""

from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backup_service import held, replication  # noqa: F401 - replication registers its handlers
from backup_service.api import router
from backup_service.checkpoints import finish_checkpoints
from backup_service.deleting import retry_deletions
from backup_service.handlers import handlers
from backup_service.settings import BackupSettings
from ims_shared.background import PeriodicTask
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger("backup_service")


def _loops(runtime: ServiceRuntime) -> list[PeriodicTask]:
    settings: BackupSettings = runtime.services

    async def checkpoints() -> None:
        async with runtime.db.acquire() as conn, conn.transaction():
            await finish_checkpoints(conn, runtime.emitter)

    async def deletions() -> None:
        async with runtime.db.acquire() as conn, conn.transaction():
            await retry_deletions(conn, runtime.emitter, settings)
            purged = await held.purge_stale(conn, settings.held_event_ttl_s)
            if purged:
                log.warning("held events purged: their backups never arrived", count=purged)

    return [
        PeriodicTask("checkpoint completion", settings.checkpoint_interval_s, checkpoints),
        PeriodicTask("backup deletion retries", settings.deleter_interval_s, deletions),
    ]


def create_app(settings: BackupSettings | None = None) -> FastAPI:
    settings = settings or BackupSettings()
    runtime = ServiceRuntime(
        settings,
        migrations=MIGRATIONS,
        handlers=handlers,
        topics=[
            topic_for(TopicKind.BACKUPS, settings.region),
            topic_for(TopicKind.IMAGES, settings.region),
            topic_for(TopicKind.BILLING, settings.region),
            topic_for(TopicKind.REPLICATION, settings.region),
        ],
        periodic=_loops,
        services=settings,
    )
    app = build_app(runtime, title="backup-service (CBR API)", error_style="cbr", bad_request_code="BackupService.6201")
    app.include_router(router)
    # The IMS console (served by image-service) lists backups from the browser, with AK/SK-signed requests.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Sdk-Date", "X-Project-Id"],
        max_age=600,
    )
    return app
