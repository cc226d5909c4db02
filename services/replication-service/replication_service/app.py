"""Wiring of replication-service (one per region)."""

from pathlib import Path

from fastapi import FastAPI

from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for
from replication_service.handlers import handlers
from replication_service.settings import ReplicationSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ReplicationSettings | None = None) -> FastAPI:
    settings = settings or ReplicationSettings()
    topics = [topic_for(TopicKind.REPLICATION, settings.region), topic_for(TopicKind.IMAGES, settings.region)]
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, handlers=handlers, topics=topics)
    return build_app(runtime, title="replication-service", error_style="ims", bad_request_code="IMG.0001")
