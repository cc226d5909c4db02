"""Event handlers of compute-service: its projection of the region's full-ECS images (who owns each, who it is
shared with, its disks and OS, whether it is still there) and of the CBR backups deleted (an image's disks are
restored from its backup). Each runs inside the consumer's transaction with its inbox row; compute-service never
asks another service.

An image is known from its ``ImageCreated`` (it is active then), which names its disks; the requests and failures
before it are not followed: they are the busiest events of the images topic, and an image that is not active yet is
refused either way, as one this service does not know. Nor is ``BackupCreated``, the busiest of the backups topic:
only a backup's deletion matters here."""

from typing import TypeVar

from compute_service import repository
from compute_service.context import ComputeService
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.events import (
    BackupDeleted,
    EventData,
    ImageCreated,
    ImageDeleted,
)
from ims_shared.events.images import ImageMemberStatusChanged, ImageShared, ImageUnshared

E = TypeVar("E", bound=EventData)
Run = list[tuple[HandlerContext[ComputeService], E]]


def event_handlers() -> EventHandlers[ComputeService]:
    return (
        EventHandlers[ComputeService]()
        .on_runs(ImageCreated, on_images_created)
        .on_runs(ImageDeleted, on_images_deleted)
        .on(ImageShared, on_image_shared)
        .on(ImageMemberStatusChanged, on_member_status_changed)
        .on(ImageUnshared, on_image_unshared)
        .on_runs(BackupDeleted, on_backups_deleted)
    )


def _last_of_each(run: Run[E], key: str) -> Run[E]:
    """The run's events of this region, the last one of each aggregate (what applying them in order leaves, for
    the upserts below: one statement cannot write a row twice)."""
    last = {getattr(event, key) or ctx.event.id: (ctx, event) for ctx, event in run if ctx.for_this_region}
    return list(last.values())


async def on_images_created(run: Run[ImageCreated]) -> None:
    mine = _last_of_each(run, "image_id")
    if mine:
        rows = [
            (
                e.image_id,
                ctx.event.projectid,
                e.backup_id,
                e.name,
                e.os_type,
                e.os_version,
                [d.model_dump(mode="json") for d in e.disks],
            )
            for ctx, e in mine
        ]
        await repository.record_images(mine[0][0].conn, rows)


async def on_images_deleted(run: Run[ImageDeleted]) -> None:
    """No new ECS from them; the ECSs already made from them keep running."""
    mine = _last_of_each(run, "image_id")
    if mine:
        rows = [(e.image_id, ctx.event.projectid, e.backup_id) for ctx, e in mine]
        await repository.mark_images_deleted(mine[0][0].conn, rows)


async def on_image_shared(ctx: HandlerContext[ComputeService], event: ImageShared) -> None:
    if ctx.for_this_region:
        await repository.set_member(ctx.conn, event.image_id, event.member_project_id, "pending")


async def on_member_status_changed(ctx: HandlerContext[ComputeService], event: ImageMemberStatusChanged) -> None:
    if ctx.for_this_region:
        await repository.set_member(ctx.conn, event.image_id, event.member_project_id, event.status)


async def on_image_unshared(ctx: HandlerContext[ComputeService], event: ImageUnshared) -> None:
    if ctx.for_this_region:
        await repository.set_member(ctx.conn, event.image_id, event.member_project_id, None)


async def on_backups_deleted(run: Run[BackupDeleted]) -> None:
    """The disks of the images made from them can no longer be restored."""
    mine = _last_of_each(run, "backup_id")
    if mine:
        rows = [(e.backup_id, ctx.event.projectid) for ctx, e in mine]
        await repository.mark_backups_deleted(mine[0][0].conn, rows)
