"""Wiring of billing-service (global: it meters backups in every deployed region): ``bootstrap`` builds its context
from its settings once, ``create_app`` runs it."""

from pathlib import Path

from fastapi import FastAPI

from billing_service import repository
from billing_service.api import router
from billing_service.clock import Clock, SystemClock
from billing_service.context import BillingService
from billing_service.cycles import arrears_pass, rating_pass
from billing_service.errors import BAD_REQUEST
from billing_service.handlers import event_handlers
from billing_service.settings import BillingSettings
from ims_shared.background import PeriodicTask
from ims_shared.credentials import load_credentials
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.logging import get_logger
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.topics import BILLING_TOPIC, TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


def bootstrap(settings: BillingSettings, clock: Clock | None = None) -> BillingService:
    return BillingService(
        settings=settings,
        tenants=load_credentials(settings),
        emitter=Emitter(settings.event_source, settings.region),
        database=Database(settings.database_url, settings.database_pool_size),
        clock=clock or SystemClock(),
        tariff=settings.tariff,
        policy=settings.arrears_policy,
        initial_balance=settings.initial_balance,
    )


async def open_accounts(service: BillingService) -> list[str]:
    """Open an account for every tenant of the catalog that has none yet (at start-up)."""
    opened = await repository.open_accounts(
        service.database.pool,
        sorted({t.account_id for t in service.tenants.tenants}),
        service.initial_balance,
        service.tariff.currency,
        service.clock.now(),
    )
    if opened:
        log.info("accounts opened", accounts=opened, balance=str(service.initial_balance))
    return opened


def topics_of(settings: BillingSettings) -> list[str]:
    topics = [BILLING_TOPIC]
    for region in settings.regions:
        topics += [topic_for(TopicKind.BACKUPS, region), topic_for(TopicKind.IMAGES, region)]
    return topics


def create_runtime(service: BillingService) -> ServiceRuntime[BillingService]:
    s = service.settings

    async def rate() -> None:
        await rating_pass(service.database.pool, service.emitter, service)

    async def sweep() -> None:
        await arrears_pass(service.database.pool, service.emitter, service)

    return ServiceRuntime(
        service,
        migrations=MIGRATIONS,
        handlers=event_handlers(),
        topics=topics_of(s),
        periodic=[
            PeriodicTask("rating cycle", s.rating_interval_s, rate),
            PeriodicTask("arrears sweep", s.arrears_interval_s, sweep),
        ],
        on_started=lambda: open_accounts(service),
    )


def create_app(settings: BillingSettings | None = None, clock: Clock | None = None) -> FastAPI:
    runtime = create_runtime(bootstrap(settings or BillingSettings(), clock))
    return build_app(
        runtime, title="billing-service", error_style="cbr", bad_request_code=BAD_REQUEST, routers=[router]
    )
