"""Wiring of image-service: ``bootstrap`` builds its context from its settings once, ``create_app`` runs it."""

from pathlib import Path

from fastapi import FastAPI

from image_service import (
    api,
    api_catalog,
    api_members,
    api_refusals,
    api_replication,
    api_tags,
    console,
    handlers,
    replication,
    vaults,
)
from image_service.context import ImageService
from image_service.creation import end_waits, finish_ready_images
from image_service.settings import ImageSettings
from ims_shared.background import PeriodicTask
from ims_shared.consumer import EventHandlers
from ims_shared.credentials import load_credentials
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.replication_rules import ReplicationPolicy
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: ImageSettings) -> ImageService:
    return ImageService(
        settings=settings,
        tenants=load_credentials(settings),
        emitter=Emitter(settings.event_source, settings.region),
        database=Database(settings.database_url, settings.database_pool_size),
        replication=ReplicationPolicy.of(
            settings.replication_routes,
            settings.regions,
            settings.replication_max_image_gb,
            settings.replication_max_in_flight,
        ),
    )


def event_handlers() -> EventHandlers[ImageService]:
    """Every event image-service consumes, with its handler."""
    return handlers.event_handlers() + replication.event_handlers() + vaults.event_handlers()


async def build_images(service: ImageService) -> None:
    async with service.database.transaction() as conn:
        await finish_ready_images(conn, service)


async def end_backup_waits(service: ImageService) -> None:
    async with service.database.transaction() as conn:
        await end_waits(conn, service)


def create_app(settings: ImageSettings | None = None) -> FastAPI:
    service = bootstrap(settings or ImageSettings())
    region = service.settings.region
    runtime = ServiceRuntime(
        service,
        migrations=MIGRATIONS,
        handlers=event_handlers(),
        topics=[
            topic_for(TopicKind.BACKUPS, region),
            topic_for(TopicKind.IMAGES, region),
            topic_for(TopicKind.BILLING, region),
            topic_for(TopicKind.REPLICATION, region),
        ],
        periodic=[
            PeriodicTask("image builder", service.settings.builder_interval_s, lambda: build_images(service)),
            PeriodicTask("backup wait expiry", 1.0, lambda: end_backup_waits(service)),
        ],
        # A request's BackupCreated handled before it: its image is made at once instead of its job waiting.
        leading_topics=[topic_for(TopicKind.BACKUPS, region)],
    )
    return build_app(
        runtime,
        title="image-service (IMS API)",
        error_style="ims",
        bad_request_code="IMG.0001",
        routers=[
            api.router,
            api_catalog.router,
            api_members.router,
            api_refusals.router,
            api_replication.router,
            api_tags.router,
            console.router,
        ],
    )
