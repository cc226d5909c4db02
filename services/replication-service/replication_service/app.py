"""Wiring of replication-service (one per region)."""

from pathlib import Path

from fastapi import FastAPI

from ims_shared.background import PeriodicTask
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import TopicKind, topic_for
from replication_service.context import Replicator
from replication_service.handlers import expire_overdue, handlers
from replication_service.settings import ReplicationSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def _loops(runtime: ServiceRuntime) -> list[PeriodicTask]:
    rc: Replicator = runtime.services

    async def sweep() -> None:
        async with runtime.db.acquire() as conn, conn.transaction():
            await expire_overdue(conn, rc)

    return [PeriodicTask("replication timeouts", rc.settings.replication_sweep_interval_s, sweep)]


def create_app(settings: ReplicationSettings | None = None) -> FastAPI:
    settings = settings or ReplicationSettings()
    # Its own region's requests, and the answers of every region a replica may go to.
    topics = [topic_for(TopicKind.REPLICATION, region) for region in settings.regions]
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, handlers=handlers, topics=topics, periodic=_loops)
    runtime.services = Replicator(settings, runtime.tenants, runtime.emitter)
    return build_app(runtime, title="replication-service", error_style="ims", bad_request_code="IMG.0001")
