"""Event handlers of replication-service: the source region's side of a cross-region replication.

Each runs inside the consumer's transaction with its inbox row; every event it emits goes to the outbox of that
transaction. The events of one job share the key ``job_id``.
"""

import asyncpg

from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.event_auth import Forbidden
from ims_shared.events.replication import (
    ReplicaFailed,
    ReplicaRecorded,
    ReplicaRequested,
    ReplicationFailed,
    ReplicationRequested,
    ReplicationStarted,
    ReplicationSucceeded,
)
from ims_shared.logging import get_logger
from ims_shared.refusal import Refusal
from ims_shared.replication_rules import REPLICA_CONFLICT, REPLICATION_TIMED_OUT
from replication_service import repository
from replication_service.context import ReplicationService
from replication_service.domain import ReplicationPlan, plan_replication

log = get_logger(__name__)


def event_handlers() -> EventHandlers[ReplicationService]:
    return (
        EventHandlers[ReplicationService]()
        .on(ReplicationRequested, on_replication_requested)
        .on(ReplicaRecorded, on_replica_recorded)
        .on(ReplicaFailed, on_replica_failed)
    )


async def on_replication_requested(ctx: HandlerContext[ReplicationService], event: ReplicationRequested) -> None:
    """Check the request by the rules of ``ims_shared.replication_rules`` (``domain.plan_replication``), record it, then
    carry the backup copy and the image to the destination region, or fail the job with the refusal."""
    rc = ctx.service
    if ctx.event.region != rc.region:
        return  # a request of another region's replication-service
    project_id = ctx.event.projectid
    if await repository.lock(ctx.conn, event.job_id) is not None:
        return  # the same job requested again under another event id
    await repository.lock_project(ctx.conn, project_id)
    now = rc.clock()
    outcome: ReplicationPlan | Refusal
    try:
        if await repository.replica_image_taken(ctx.conn, event.replica_image_id, event.job_id):
            raise Refusal(REPLICA_CONFLICT, f"replica image id {event.replica_image_id} belongs to another replication")
        outcome = plan_replication(
            event,
            source_region=rc.region,
            project_id=project_id,
            tenants=rc.tenants,
            policy=rc.policy,
            in_flight=await repository.in_flight(ctx.conn, project_id),
            now=now,
            timeout_s=rc.settings.replication_timeout_s,
        )
    except Refusal as refusal:
        outcome = refusal
    await repository.insert(
        ctx.conn,
        event,
        project_id=project_id,
        source_region=rc.region,
        correlation_id=ctx.event.correlationid,
        outcome=outcome,
        at=now,
    )
    if isinstance(outcome, Refusal):
        await ctx.emit(
            ReplicationFailed(
                job_id=event.job_id,
                source_image_id=event.source_image_id,
                destination_region=event.destination_region,
                error_code=outcome.code,
                reason=outcome.message,
            )
        )
        log.info("replication refused", job_id=event.job_id, code=outcome.code)
        return
    plan = outcome
    await ctx.emit(
        ReplicationStarted(
            job_id=event.job_id, destination_region=plan.destination_region, replica_image_id=event.replica_image_id
        )
    )
    await ctx.emit(
        ReplicaRequested(
            job_id=event.job_id,
            source_region=rc.region,
            source_image_id=event.source_image_id,
            source_backup_id=event.source_backup_id,
            replica_image_id=event.replica_image_id,
            replica_backup_id=plan.replica_backup_id,
            name=event.name,
            description=event.description,
            vault_id=event.vault_id,
            image=event.image,
            backup=event.backup,
        ),
        project_id=plan.destination_project_id,
        region=plan.destination_region,
    )
    log.info("replication started", job_id=event.job_id, destination=plan.destination_region)


async def _copying(
    ctx: HandlerContext[ReplicationService], event: ReplicaRecorded | ReplicaFailed
) -> asyncpg.Record | None:
    """The job's record when ``event`` answers one of this region's replications that is still under way."""
    if event.source_region != ctx.service.region:
        return None
    record = await repository.lock(ctx.conn, event.job_id)
    if record is None or record["status"] != "copying":
        return None  # not ours, already answered, or given up (timed out)
    if ctx.event.region != record["destination_region"] or event.replica_image_id != record["replica_image_id"]:
        log.warning("answer does not match the replication; ignored", job_id=event.job_id, region=ctx.event.region)
        return None
    if ctx.event.projectid != record["destination_project_id"]:
        raise Forbidden(f"replication {event.job_id} is not one of project {ctx.event.projectid!r}")
    return record


async def on_replica_recorded(ctx: HandlerContext[ReplicationService], event: ReplicaRecorded) -> None:
    record = await _copying(ctx, event)
    if record is None:
        return
    await repository.succeeded(ctx.conn, event.job_id)
    await ctx.emit(
        ReplicationSucceeded(
            job_id=event.job_id,
            source_image_id=record["source_image_id"],
            destination_region=record["destination_region"],
            replica_image_id=record["replica_image_id"],
            replica_backup_id=record["replica_backup_id"],
        ),
        project_id=record["project_id"],
        region=ctx.service.region,
    )


async def on_replica_failed(ctx: HandlerContext[ReplicationService], event: ReplicaFailed) -> None:
    record = await _copying(ctx, event)
    if record is None:
        return
    reason = f"the destination region {record['destination_region']} refused the replica: {event.reason}"
    await repository.failed(ctx.conn, event.job_id, event.error_code, reason)
    await ctx.emit(
        ReplicationFailed(
            job_id=event.job_id,
            source_image_id=record["source_image_id"],
            destination_region=record["destination_region"],
            error_code=event.error_code,
            reason=reason,
        ),
        project_id=record["project_id"],
        region=ctx.service.region,
    )


async def expire_overdue(conn: asyncpg.Connection, rc: ReplicationService) -> int:
    """Fail the replications the destination has not confirmed in time, and tell the destination to remove its
    copy (a ``ReplicaFailed`` after the ``ReplicaRequested`` on the same key: it is handled after it)."""
    records = await repository.overdue(conn, rc.clock())
    for record in records:
        reason = (
            f"the destination region {record['destination_region']} did not confirm the replica within "
            f"{rc.settings.replication_timeout_s:g} s; what was copied there is removed"
        )
        await repository.failed(conn, record["job_id"], REPLICATION_TIMED_OUT, reason)
        await rc.emitter.emit(
            conn,
            ReplicaFailed(
                job_id=record["job_id"],
                source_region=record["source_region"],
                source_image_id=record["source_image_id"],
                source_backup_id=record["source_backup_id"],
                replica_image_id=record["replica_image_id"],
                replica_backup_id=record["replica_backup_id"],
                stage="timeout",
                error_code=REPLICATION_TIMED_OUT,
                reason=reason,
            ),
            project_id=record["destination_project_id"],
            region=record["destination_region"],
            correlation_id=record["correlation_id"],
        )
        await rc.emitter.emit(
            conn,
            ReplicationFailed(
                job_id=record["job_id"],
                source_image_id=record["source_image_id"],
                destination_region=record["destination_region"],
                error_code=REPLICATION_TIMED_OUT,
                reason=reason,
            ),
            project_id=record["project_id"],
            correlation_id=record["correlation_id"],
        )
        log.warning("replication timed out", job_id=record["job_id"])
    return len(records)
