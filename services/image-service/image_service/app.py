"""Wiring of image-service."""

from pathlib import Path

from fastapi import FastAPI

from image_service import api_members, api_refusals, replication
from image_service.api import router
from image_service.console import router as console_router
from image_service.creation import ImageContext, expire_waits, finish_ready_images
from image_service.handlers import handlers
from image_service.settings import ImageSettings
from ims_shared.background import PeriodicTask
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"


def _loops(runtime: ServiceRuntime) -> list[PeriodicTask]:
    ic: ImageContext = runtime.services
    settings: ImageSettings = ic.settings

    async def builder() -> None:
        async with runtime.db.acquire() as conn, conn.transaction():
            await finish_ready_images(conn, ic)

    async def waits() -> None:
        async with runtime.db.acquire() as conn, conn.transaction():
            await expire_waits(conn, ic)

    return [
        PeriodicTask("image builder", settings.builder_interval_s, builder),
        PeriodicTask("backup wait expiry", 1.0, waits),
    ]


def create_app(settings: ImageSettings | None = None) -> FastAPI:
    settings = settings or ImageSettings()
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
        # A request's BackupCreated handled before it: its image is made at once instead of its job waiting.
        leading_topics=[topic_for(TopicKind.BACKUPS, settings.region)],
    )
    runtime.services = ImageContext(settings, runtime.tenants, runtime.emitter)
    app = build_app(runtime, title="image-service (IMS API)", error_style="ims", bad_request_code="IMG.0001")
    app.include_router(router)
    app.include_router(api_members.router)
    app.include_router(api_refusals.router)
    app.include_router(replication.router)
    app.include_router(console_router)
    return app
