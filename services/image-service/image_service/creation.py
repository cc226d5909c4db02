"""The creation workflow of a full-ECS image: each job's fate is decided by ``domain.decide`` (its image made, a
wait for its backup, or a failure with the IMS code), a run's decisions are written with one statement per kind
(new jobs with their images; jobs that existed with theirs), then each outcome is emitted in order; the image
builder completes the images that were saving. IMAGE_BUILD_S only sets how long a build takes: with none, an image
is active at once and its job succeeds in the same statement. Used by the event handlers and the background loops;
everything runs inside the caller's transaction."""

from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from image_service import domain, repository
from image_service.context import ImageService
from image_service.domain import (
    AwaitBackup,
    BackupFacts,
    FailJob,
    ImageJob,
    JobDecision,
    MakeImage,
    Unchanged,
    backup_already_used,
)
from ims_shared.consumer import HandlerContext
from ims_shared.events import ImageCreated, ImageCreationFailed
from ims_shared.refusal import Refusal

Context = HandlerContext[ImageService]


@dataclass(frozen=True)
class _Step:
    """One decision, in the order of the events (or jobs) the run answers: ``ctx``, the event whose trace context
    its outcome carries (None for a loop); ``again``, the event handled on its own, when its new job turns out to
    have been inserted by another transaction after the run read the jobs."""

    job_id: str
    decision: JobDecision
    ctx: Context | None
    again: Callable[[], Awaitable[None]] | None


class Run:
    """The decisions of a run of events (or of a loop's pass), taken in order on the facts read for it, then carried
    out (``carry_out``): each job is written once, with its last decision. A job the run decided on already is given
    again as the run left it (``job``), so that two events naming one job end as they would one by one; an image the
    run makes takes its backup for the decisions after it (one image per backup)."""

    def __init__(self, ic: ImageService) -> None:
        self.ic = ic
        self.now = datetime.now(UTC)
        self._jobs: dict[str, ImageJob] = {}  # each job, as the run has left it so far
        self._new: set[str] = set()  # the jobs to insert (the others exist)
        self._final: dict[str, MakeImage | AwaitBackup | FailJob] = {}  # the decision each job's write carries out
        self._steps: list[_Step] = []
        self._imaged: set[str] = set()  # the backups the run makes images of

    def job(self, job_id: str) -> ImageJob | None:
        """The job as the run has left it, if the run decided on it already."""
        return self._jobs.get(job_id)

    def decide(
        self,
        job: ImageJob,
        account_state: str | None,
        backup: BackupFacts | None,
        *,
        new: bool = False,
        ctx: Context | None = None,
        refused: Refusal | None = None,
        again: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Decide ``job``'s fate (``domain.decide``) and take it into the run; ``new``: the job does not exist yet."""
        if new and job.job_id not in self._jobs:
            self._new.add(job.job_id)
        decision = domain.decide(
            job,
            account_state,
            backup,
            refused=refused,
            backup_has_image=backup is not None and backup.backup_id in self._imaged,
            build_s=self.ic.settings.image_build_s,
            backup_wait_s=self.ic.settings.backup_wait_s,
            now=self.now,
        )
        self._jobs[job.job_id] = job.after(decision)
        if not isinstance(decision, Unchanged):
            self._final[job.job_id] = decision
        if isinstance(decision, MakeImage):
            self._imaged.add(decision.image["backup_id"])
        self._steps.append(_Step(job.job_id, decision, ctx, again))

    async def carry_out(self, conn: asyncpg.Connection) -> None:
        """Write the run's jobs and images (a statement for the new jobs, one for those that existed, and one more
        only when a unique index refused an image), then emit each step's outcome in order, each with its own
        event's correlation and trace context."""
        new: list[repository.Decided] = []
        existing: list[repository.Decided] = []
        for job_id, decision in self._final.items():
            (new if job_id in self._new else existing).append((self._jobs[job_id], decision))
        written: dict[str, bool] = {}  # each job written, and whether its image was made
        if new:
            written |= await repository.insert_jobs(conn, new)
        if existing:
            written |= await repository.update_jobs(conn, existing)
        taken = {
            job.job_id: backup_already_used(decision.image["backup_id"])
            for job, decision in new + existing
            if isinstance(decision, MakeImage) and written.get(job.job_id) is False
        }
        if taken:
            await repository.fail_jobs(conn, [(job_id, r.code, r.message) for job_id, r in taken.items()])
        # A new job id that another transaction inserted after the run read the jobs (the insert's ON CONFLICT waited
        # for that one to commit): its events are handled again on their own, in their place, and find the job, as
        # one by one they would. The decisions after them in the run already counted the image it was to make.
        appeared = {job.job_id for job, _ in new} - written.keys()
        for step in self._steps:
            if step.job_id in appeared and step.again is not None:
                await step.again()
            if step.job_id not in written:
                continue
            job = self._jobs[step.job_id]
            with step.ctx.activated() if step.ctx is not None else nullcontext():
                if step.job_id in taken and isinstance(step.decision, MakeImage):
                    await emit_failed(conn, self.ic, job, taken[step.job_id])
                elif isinstance(step.decision, MakeImage) and step.decision.at_once:
                    await emit_created(conn, self.ic, step.decision.image, job.correlation_id)
                elif isinstance(step.decision, FailJob):
                    await emit_failed(conn, self.ic, job, step.decision.refusal)


async def advance(
    conn: asyncpg.Connection,
    ic: ImageService,
    jobs: list[tuple[ImageJob, BackupFacts | None]],
    answering: Mapping[str | None, Context] | None = None,
) -> None:
    """Decide the fate of jobs that exist (read locked, each with its backup) and carry it out. ``answering``: by
    backup id, the event that brought the news of the backup, whose trace context the outcome carries."""
    if not jobs:
        return
    accounts = {job.project_id: ic.account_of(job.project_id) for job, _ in jobs}
    states = await repository.account_states(conn, [a for a in set(accounts.values()) if a is not None])
    run = Run(ic)
    for job, backup in jobs:
        account = accounts[job.project_id]
        ctx = (answering or {}).get(job.backup_id)
        run.decide(job, states.get(account) if account is not None else None, backup, ctx=ctx)
    await run.carry_out(conn)


async def complete(conn: asyncpg.Connection, ic: ImageService, image: asyncpg.Record) -> None:
    """Complete: "When the image status changes to Normal, the image creation is complete." The image's data is saved:
    it becomes active ("Normal") and its job succeeds."""
    await repository.image_completed(conn, image["image_id"], datetime.now(UTC))
    await repository.job_succeeded(conn, image["job_id"])
    job = await repository.lock_job(conn, image["job_id"])
    await emit_created(conn, ic, image, job["correlation_id"] if job else None)


async def emit_created(
    conn: asyncpg.Connection, ic: ImageService, image: Mapping[str, Any], correlation_id: str | None
) -> None:
    """ImageCreated of an image now active (a row of ``images``, read or as it was inserted)."""
    await ic.emitter.emit(
        conn,
        ImageCreated(
            image_id=image["image_id"],
            job_id=image["job_id"],
            backup_id=image["backup_id"],
            name=image["name"],
            os_type=image["os_type"],
            os_version=image["os_version"],
            min_disk=image["min_disk"],
            size_gb=image["size_gb"],
            disks=image["disks"],
        ),
        project_id=image["project_id"],
        correlation_id=correlation_id,
    )


async def emit_failed(conn: asyncpg.Connection, ic: ImageService, job: ImageJob, refusal: Refusal) -> None:
    """ImageCreationFailed of a job that failed with ``refusal``."""
    await ic.emitter.emit(
        conn,
        ImageCreationFailed(
            image_id=job.image_id,
            job_id=job.job_id,
            backup_id=job.backup_id or "",
            error_code=refusal.code,
            fail_reason=refusal.message,
        ),
        project_id=job.project_id,
        correlation_id=job.correlation_id,
    )


async def fail_job(conn: asyncpg.Connection, ic: ImageService, job: asyncpg.Record, refusal: Refusal) -> None:
    """A job (its row) fails with ``refusal``, outside any run."""
    await repository.job_failed(conn, job["job_id"], refusal.code, refusal.message)
    await emit_failed(conn, ic, repository.image_job(job), refusal)


async def finish_ready_images(conn: asyncpg.Connection, ic: ImageService) -> int:
    images = await repository.ready_images(conn)
    for image in images:
        await complete(conn, ic, image)
    return len(images)


async def end_waits(conn: asyncpg.Connection, ic: ImageService) -> int:
    """Move on the jobs waiting for a backup that has arrived meanwhile, and fail those that waited too long.

    The first closes a race between two image-service processes of one consumer group: one handles the
    ImageRequested (no backup yet: the job waits) while the other handles the backup's BackupCreated and looks for
    waiting jobs before the first has committed. Neither sees the other's row, so without this pass the job would
    wait until it expires although its backup is known.
    """
    jobs = await repository.waits_to_end(conn)
    await advance(conn, ic, jobs)
    return len(jobs)
