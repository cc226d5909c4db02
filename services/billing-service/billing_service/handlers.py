"""Event handlers of billing-service. Each runs inside the consumer's transaction with its inbox row, so a
redelivered event changes nothing; each is also idempotent on its own (an event re-emitted under a new id)."""

from billing_service import repository
from billing_service.context import BillingService, aware
from billing_service.domain import ImageLine, Meter, next_due_at, storage_is_billed
from billing_service.ledger import end_meters
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.event_auth import Forbidden
from ims_shared.events import BackupArrears, BackupCreated, BackupDeleted, ImageCreated
from ims_shared.logging import get_logger

log = get_logger(__name__)


def event_handlers() -> EventHandlers[BillingService]:
    return (
        EventHandlers[BillingService]()
        .on_runs(BackupCreated, on_backups_created)
        .on_runs(BackupDeleted, on_backups_deleted)
        .on_runs(ImageCreated, on_images_created)
        .on_runs(BackupArrears, on_backups_in_arrears)
    )


async def _paying_account(ctx: HandlerContext[BillingService], billing: BillingService) -> str | None:
    """The account of the event's project, opened if billing has not seen its tenant yet."""
    account_id = billing.account_of(ctx.event.projectid)
    if account_id is None:
        log.warning("event of a project no tenant owns; nothing to bill", project_id=ctx.event.projectid)
        return None
    if account_id in billing.existing_accounts:
        return account_id
    opened = await repository.open_accounts(
        ctx.conn, [account_id], billing.initial_balance, billing.tariff.currency, billing.clock.now()
    )
    if not opened:
        # It existed, committed (a conflicting insert waits for the other transaction): not so when this
        # transaction opened it, since it may yet roll back.
        billing.existing_accounts.add(account_id)
    return account_id


async def on_backups_created(run: list[tuple[HandlerContext[BillingService], BackupCreated]]) -> None:
    """Start metering each backup's storage from its creation time (one statement for the run), unless its project
    does not pay for it (``domain.storage_is_billed``)."""
    billing = run[0][0].service
    meters = []
    for ctx, event in run:
        if not storage_is_billed(event):
            continue
        account_id = await _paying_account(ctx, billing)
        if account_id is None:
            continue
        started = aware(event.created_at)
        meter = Meter(
            backup_id=event.backup_id,
            account_id=account_id,
            project_id=ctx.event.projectid,
            region=ctx.event.region,
            size_gb=event.size_gb,
            started_at=started,
            rated_until=started,
        )
        meters.append((meter, next_due_at(meter, billing.tariff.period)))
    if meters:
        await repository.start_meters(run[0][0].conn, meters)


async def on_backups_deleted(run: list[tuple[HandlerContext[BillingService], BackupDeleted]]) -> None:
    """Stop metering, charging each backup's last period pro rata up to its deletion (the event's time). Arrears
    cascade (a backup deleted for arrears): docs/architecture.md, "Arrears: grace, frozen, released"."""
    ctx = run[0][0]
    deleted = [(event.backup_id, aware(c.event.time), c.event.projectid) for c, event in run]
    await end_meters(ctx.conn, ctx.emitter, ctx.service, deleted)


async def on_images_created(run: list[tuple[HandlerContext[BillingService], ImageCreated]]) -> None:
    """A full-ECS image is free (``domain.storage_is_billed``): its line, priced at nothing, names the backup whose
    storage is what the user pays (one statement for the run)."""
    billing = run[0][0].service
    lines = []
    for ctx, event in run:
        account_id = await _paying_account(ctx, billing)
        if account_id is None:
            continue
        lines.append(
            ImageLine(
                account_id=account_id,
                image_id=event.image_id,
                backup_id=event.backup_id,
                region=ctx.event.region,
                project_id=ctx.event.projectid,
                at=aware(ctx.event.time),
            )
        )
    if lines:
        await repository.add_image_lines(run[0][0].conn, lines)


async def on_backups_in_arrears(run: list[tuple[HandlerContext[BillingService], BackupArrears]]) -> None:
    """backup-service deletes the backup. Billing only records the notice, ours coming back or one from an
    outside billing system, so that it never asks for the same backup twice; charges stop at BackupDeleted.
    Arrears cascade: docs/architecture.md, "Arrears: grace, frozen, released". A notice must name the account of
    the project it names, and a backup metered for that project when billing meters it (``Forbidden`` otherwise),
    as backup-service also checks."""
    meters = await repository.get_meters(run[0][0].conn, [event.backup_id for _, event in run])
    for ctx, event in run:
        if ctx.service.account_of(ctx.event.projectid) != event.account_id:
            raise Forbidden(f"account {event.account_id!r} does not own project {ctx.event.projectid!r}")
        meter = meters.get(event.backup_id)
        if meter is not None and meter.project_id != ctx.event.projectid:
            raise Forbidden(f"backup {event.backup_id} is not a backup of project {ctx.event.projectid!r}")
    notices = [(event.backup_id, event.account_id, ctx.event.source) for ctx, event in run]
    await repository.record_arrears_notices(run[0][0].conn, notices)
