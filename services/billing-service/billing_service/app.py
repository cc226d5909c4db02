"""Wiring of billing-service (global: it meters backups in every deployed region)."""

from pathlib import Path

from fastapi import FastAPI

from billing_service.handlers import handlers
from billing_service.settings import BillingSettings
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import BILLING_TOPIC, TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    settings = settings or BillingSettings()
    topics = [BILLING_TOPIC]
    for region in settings.regions:
        topics += [topic_for(TopicKind.BACKUPS, region), topic_for(TopicKind.IMAGES, region)]
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, handlers=handlers, topics=topics)
    return build_app(runtime, title="billing-service", error_style="cbr", bad_request_code="BSS.0400")
