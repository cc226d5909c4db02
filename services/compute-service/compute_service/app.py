"""Wiring of compute-service (one per region): ``bootstrap`` builds its context from its settings once,
``create_app`` runs it."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from compute_service.api import router
from compute_service.context import ComputeService
from compute_service.domain import BAD_REQUEST
from compute_service.handlers import event_handlers
from compute_service.servers import finish_due
from compute_service.settings import ComputeSettings
from ims_shared.background import PeriodicTask
from ims_shared.credentials import load_credentials
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: ComputeSettings) -> ComputeService:
    return ComputeService(
        settings=settings,
        tenants=load_credentials(settings),
        emitter=Emitter(settings.event_source, settings.region),
        database=Database(settings.database_url, settings.database_pool_size),
    )


async def build(service: ComputeService) -> None:
    async with service.database.transaction() as conn:
        await finish_due(conn, service)


def create_app(settings: ComputeSettings | None = None) -> FastAPI:
    service = bootstrap(settings or ComputeSettings())
    s = service.settings
    runtime = ServiceRuntime(
        service,
        migrations=MIGRATIONS,
        handlers=event_handlers(),
        # The region's images (who they are shared with, their disks) and the backups deleted.
        topics=[topic_for(TopicKind.IMAGES, s.region), topic_for(TopicKind.BACKUPS, s.region)],
        periodic=[PeriodicTask("server builder", s.server_builder_interval_s, lambda: build(service))],
    )
    app = build_app(
        runtime,
        title="compute-service (ECS and EVS API)",
        error_style="ims",
        bad_request_code=BAD_REQUEST,
        routers=[router],
    )
    # The IMS console (served by image-service) creates, lists and powers ECSs from the browser, signed with AK/SK.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=s.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Sdk-Date", "X-Project-Id", "X-Client-Token"],
        max_age=600,
    )
    return app
