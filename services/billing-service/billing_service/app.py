"""Wiring of billing-service (global: it meters backups in every deployed region)."""

from pathlib import Path

from fastapi import FastAPI

from billing_service import repository
from billing_service.api import BAD_REQUEST, router
from billing_service.clock import Clock, SystemClock
from billing_service.context import Billing
from billing_service.cycles import arrears_pass, rating_pass
from billing_service.handlers import handlers
from billing_service.settings import BillingSettings
from ims_shared.background import PeriodicTask
from ims_shared.logging import get_logger
from ims_shared.service import ServiceRuntime, build_app
from ims_shared.tenants import load_tenants
from ims_shared.topics import BILLING_TOPIC, TopicKind, topic_for

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


class BillingRuntime(ServiceRuntime):
    """The service runtime that also opens an account for every tenant of the catalog at start-up."""

    @property
    def billing(self) -> Billing:
        billing: Billing = self.services
        return billing

    async def start(self) -> None:
        await super().start()
        await self.open_accounts()

    async def open_accounts(self) -> list[str]:
        billing = self.billing
        opened = await repository.open_accounts(
            self.db,
            sorted({t.account_id for t in billing.tenants.tenants}),
            billing.initial_balance,
            billing.tariff.currency,
            billing.clock.now(),
        )
        if opened:
            log.info("accounts opened", accounts=opened, balance=str(billing.initial_balance))
        return opened


def topics_of(settings: BillingSettings) -> list[str]:
    topics = [BILLING_TOPIC]
    for region in settings.regions:
        topics += [topic_for(TopicKind.BACKUPS, region), topic_for(TopicKind.IMAGES, region)]
    return topics


def create_runtime(settings: BillingSettings, clock: Clock | None = None) -> BillingRuntime:
    billing = Billing(
        clock=clock or SystemClock(),
        tariff=settings.tariff,
        policy=settings.arrears_policy,
        tenants=load_tenants(settings.tenants_file),
        initial_balance=settings.initial_balance,
    )

    def cycles(rt: ServiceRuntime) -> list[PeriodicTask]:
        return [
            PeriodicTask("rating cycle", settings.rating_interval_s, lambda: rating_pass(rt.db, rt.emitter, billing)),
            PeriodicTask(
                "arrears sweep", settings.arrears_interval_s, lambda: arrears_pass(rt.db, rt.emitter, billing)
            ),
        ]

    return BillingRuntime(
        settings,
        migrations=MIGRATIONS,
        handlers=handlers,
        topics=topics_of(settings),
        periodic=cycles,
        services=billing,
    )


def create_app(settings: BillingSettings | None = None, clock: Clock | None = None) -> FastAPI:
    runtime = create_runtime(settings or BillingSettings(), clock)
    app = build_app(runtime, title="billing-service", error_style="cbr", bad_request_code=BAD_REQUEST)
    app.include_router(router)
    return app
