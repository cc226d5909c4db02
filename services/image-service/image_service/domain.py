"""The rules of full-ECS images made from CBR backups, each in one named function quoting the sentence of the
guide it keeps (sharing's are in ``members``), and the fate of an image job (``decide``). No I/O: plain values in, a
decision out."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypedDict

from image_service.errors import (
    ACCOUNT_FROZEN,
    BACKUP_ALREADY_USED,
    BACKUP_NOT_AVAILABLE,
    BACKUP_NOT_FOUND,
    CONFIGURE_ECS_GUIDE,
    EXPORT_REFUSED,
    IN_REGION_COPY_REFUSED,
    MARKET_PUBLISH_REFUSED,
    NO_SOURCE,
    NO_SYSTEM_DISK,
    NOT_SERVER_BACKUP,
    SERVER_NOT_CONFIGURED,
    SERVER_STARTED,
    invalid_parameter,
)
from image_service.tags import enforce_tag_policy, normalized_tags
from ims_shared.events.backups import ECS_RESOURCE_TYPE
from ims_shared.events.images import ImageDeletionReason
from ims_shared.refusal import Refusal
from ims_shared.tenants import TagPolicy

NAME_PATTERN = re.compile(r"^[A-Za-z0-9\-_. \u4e00-\u9fa5]{1,128}$")
DEFAULT_ENTERPRISE_PROJECT = "0"
FROZEN_STATES = frozenset({"frozen", "released"})


@dataclass(frozen=True)
class BackupFacts:
    """What image-service knows of a backup from backup events (its projection)."""

    backup_id: str
    project_id: str
    status: str
    resource_type: str
    resource_id: str
    size_gb: int
    server: dict[str, Any] | None
    disks: list[dict[str, Any]]
    name: str = ""
    shared_from_project_id: str | None = None
    replicated_from_region: str | None = None
    deleted: bool = False

    @property
    def system_disk(self) -> dict[str, Any] | None:
        return next((d for d in self.disks if d.get("bootable")), None)


@dataclass(frozen=True)
class ImageRequest:
    name: str
    backup_id: str | None = None
    instance_id: str | None = None
    vault_id: str | None = None
    whole_image_type: str | None = None
    description: str = ""
    enterprise_project_id: str | None = None
    image_tags: list[dict[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    min_ram: int | None = None
    max_ram: int | None = None


def validate_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise invalid_parameter(
            "name must be 1 to 128 characters of letters, digits, spaces, hyphens (-), underscores (_) and periods (.)"
        )
    if name != name.strip(" "):
        raise invalid_parameter("name must not start or end with a space")


def validate_description(description: str) -> None:
    if len(description) > 1024:
        raise invalid_parameter("description must be at most 1024 characters")
    if any(c in description for c in "\r<>"):
        raise invalid_parameter("description must not contain carriage returns or angle brackets (< >)")


def resolve_enterprise_project(requested: str | None, enabled: tuple[str, ...]) -> str:
    if requested in (None, "", DEFAULT_ENTERPRISE_PROJECT):
        return DEFAULT_ENTERPRISE_PROJECT
    assert requested is not None
    if requested not in enabled:
        raise invalid_parameter(f"enterprise project {requested} is not enabled for this tenant")
    return requested


def validate_ram(min_ram: int | None, max_ram: int | None) -> None:
    for label, value in (("min_ram", min_ram), ("max_ram", max_ram)):
        if value is not None and not 0 <= value <= 1_048_576:
            raise invalid_parameter(f"{label} must be between 0 and 1048576 MB")
    if min_ram and max_ram and min_ram > max_ram:
        raise invalid_parameter(f"min_ram ({min_ram} MB) must not be greater than max_ram ({max_ram} MB)")


def _json_kind(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number with a fraction", str: "a string"}
    kinds |= {list: "an array", dict: "an object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


MARKET_ATTRIBUTES = frozenset({"/__productcode", "/__system_support_market", "/__is_offshelved", "/__account_code"})
"""Attributes of an image update that would publish it in KooGallery (any path under ``/__market`` as well)."""
UPDATABLE = {"/name": "name", "/__description": "description", "/min_ram": "min_ram", "/max_ram": "max_ram"}
"""The paths an image update may replace, and the columns they set."""


def image_patch(operations: Any) -> dict[str, Any]:
    """The changes a JSON-patch list asks of an image (IMS UpdateImage, PATCH /v2/cloudimages/{id}, and Glance's
    GlanceUpdateImage, PATCH /v2/images/{id}): ``{op: replace|add, path, value}`` operations on ``UPDATABLE``
    paths, the value of each path it sets; ``image_update`` validates them. A market attribute is refused as
    KooGallery publishing is (``koogallery_refused``), any other path or operation as an invalid parameter."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise invalid_parameter("the body must be a JSON list of {op, path, value} operations")
    changes: dict[str, Any] = {}
    for op in operations:
        path = str(op.get("path", ""))
        if path in MARKET_ATTRIBUTES or path.startswith("/__market"):
            raise koogallery_refused()
        if path not in UPDATABLE or op.get("op") not in ("replace", "add"):
            raise invalid_parameter(f"cannot {op.get('op')} {path!r}; updatable: {sorted(UPDATABLE)}")
        changes[UPDATABLE[path]] = op.get("value")
    return changes


def image_update(changes: Mapping[str, Any], *, min_ram: int, max_ram: int) -> dict[str, Any]:
    """The columns an image update (IMS UpdateImage, PATCH) sets from ``changes``, the values its operations give
    (``name``, ``description``, ``min_ram``, ``max_ram``), validated as creation validates them: by
    ``validate_name``, ``validate_description`` and ``validate_ram``, the RAM limits as a pair with the image's
    stored ``min_ram`` or ``max_ram`` when only one of them changes. A value of another JSON type is refused as
    well: a name that is not a string, a description that is neither a string nor null (none, as at creation), a
    RAM limit that is not an integer (a boolean, a number with a fraction, a string of anything but digits). A RAM
    limit may come as a string of digits: the official SDK types a patch operation's value as a string."""
    values: dict[str, Any] = {}
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str):
            raise invalid_parameter(f"name must be a string; got {_json_kind(name)}")
        validate_name(name)
        values["name"] = name
    if "description" in changes:
        description = changes["description"]
        description = "" if description is None else description
        if not isinstance(description, str):
            raise invalid_parameter(f"description must be a string; got {_json_kind(description)}")
        validate_description(description)
        values["description"] = description
    for label in ("min_ram", "max_ram"):
        if label in changes:
            value = changes[label]
            if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
                value = int(value)
            if type(value) is not int:  # a JSON boolean is an int to Python
                raise invalid_parameter(f"{label} must be an integer (MB); got {_json_kind(value)}")
            values[label] = value
    if "min_ram" in values or "max_ram" in values:
        validate_ram(values.get("min_ram", min_ram), values.get("max_ram", max_ram))
    return values


PLATFORMS = ("Ubuntu", "CentOS", "Debian", "EulerOS", "openEuler", "Windows", "SUSE", "Fedora", "Oracle")
"""The platforms an image's OS version names (``__platform``), the first one it names; ``Other`` when none."""
OS_BIT = "64"
"""The ``__os_bit`` of every image: the ECSs whose backups make full-ECS images are 64-bit."""
SORT_KEYS = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "name": "name",
    "status": "status",
    "id": "image_id",
    "min_disk": "min_disk",
    "size": "size_gb",
    "container_format": "image_id",  # the same for every image (bare)
    "disk_format": "image_id",  # the same for every image (zvhd2)
}
"""The ``sort_key`` values of IMS ListImages, and the column each sorts by (then by id)."""
MEMBER_STATUSES = ("accepted", "pending", "rejected")


def platform_of(os_version: str | None) -> str:
    lowered = (os_version or "").lower()
    return next((name for name in PLATFORMS if name.lower() in lowered), "Other")


@dataclass(frozen=True)
class Listing:
    """What an IMS ListImages asks for besides its column filters: which images (``scope``: ``private``, the
    project's own; ``shared``, those shared with it whose member status is ``member_status``; None, both;
    ``gold``, the region's public images; ``none``, no image can match), which tag (``tag``), and in which order
    (``sort_column``, ``descending``)."""

    scope: str | None = None
    member_status: str = "accepted"
    tag: dict[str, str] | None = None
    sort_column: str = "created_at"
    descending: bool = True


def listing(
    *,
    imagetype: str | None = None,
    visibility: str | None = None,
    member_status: str | None = None,
    tag: str | None = None,
    sort_key: str | None = None,
    sort_dir: str | None = None,
    os_bit: str | None = None,
) -> Listing:
    """The ``Listing`` of IMS ListImages query parameters: ``__imagetype`` (gold, private, shared) and
    ``visibility`` (public, private, shared) name the same sets and must agree; ``member_status`` (accepted,
    pending, rejected) lists images shared with the project in that status; ``tag`` is ``key=value`` (a key alone:
    any value); ``sort_key`` is one of ``SORT_KEYS`` (created_at by default), ``sort_dir`` asc or desc (desc by
    default); an ``__os_bit`` other than ``OS_BIT`` matches nothing."""
    if visibility not in (None, "public", "private", "shared"):
        raise invalid_parameter("visibility must be public, private or shared")
    if member_status not in (None, *MEMBER_STATUSES):
        raise invalid_parameter(f"member_status must be one of {', '.join(MEMBER_STATUSES)}")
    if sort_key not in (None, *SORT_KEYS):
        raise invalid_parameter(f"sort_key must be one of {', '.join(SORT_KEYS)}")
    if sort_dir not in (None, "asc", "desc"):
        raise invalid_parameter("sort_dir must be asc or desc")
    wanted = {imagetype, {"public": "gold"}.get(visibility or "", visibility)} - {None}
    if member_status is not None:
        wanted.add("shared")
    scope = wanted.pop() if len(wanted) == 1 else (None if not wanted else "none")
    if scope not in (None, "gold", "private", "shared") or os_bit not in (None, OS_BIT):
        scope = "none"
    pair = None
    if tag is not None:
        key, _, value = tag.partition("=")
        if not key:
            raise invalid_parameter("tag must have the form key=value")
        pair = {"key": key, "value": value} if "=" in tag else {"key": key}
    return Listing(
        scope=scope,
        member_status=member_status or "accepted",
        tag=pair,
        sort_column=SORT_KEYS[sort_key or "created_at"],
        descending=(sort_dir or "desc") == "desc",
    )


def validate_request(
    request: ImageRequest, *, policy: TagPolicy, enterprise_projects: tuple[str, ...]
) -> list[dict[str, str]]:
    """Check everything that can be decided from the request alone. Returns the normalized tags."""
    if not request.backup_id and not request.instance_id:
        raise Refusal(NO_SOURCE, "either backup_id or instance_id is required to create a full-ECS image")
    if request.backup_id and request.whole_image_type not in ("CBR", None):
        raise invalid_parameter("whole_image_type must be CBR for a CBR backup")
    if request.instance_id and not request.backup_id and not request.vault_id:
        raise invalid_parameter("vault_id is required when creating a full-ECS image from an ECS (instance_id)")
    validate_name(request.name)
    validate_description(request.description)
    validate_ram(request.min_ram, request.max_ram)
    resolve_enterprise_project(request.enterprise_project_id, enterprise_projects)
    pairs = normalized_tags(request.image_tags, request.tags)
    enforce_tag_policy(pairs, policy)
    return pairs


def check_account(state: str | None, *, before: str = "creating images") -> None:
    """An account frozen for arrears (or released) may make nothing new. Part of the arrears cascade:
    docs/architecture.md, section "Arrears: grace, frozen, released"."""
    if state in FROZEN_STATES:
        raise Refusal(ACCOUNT_FROZEN, f"the account is frozen for arrears: top up the balance before {before}")


def check_backup(backup: BackupFacts | None, project_id: str) -> BackupFacts:
    """The backup may make a full-ECS image for ``project_id``; raises the IMS rejection otherwise."""
    if backup is None or backup.deleted or backup.project_id != project_id:
        raise Refusal(BACKUP_NOT_FOUND, "the CBR backup does not exist")
    if backup.resource_type != ECS_RESOURCE_TYPE:
        raise Refusal(NOT_SERVER_BACKUP, f"backup {backup.backup_id} is not an ECS (server) backup")
    if backup.status != "available":
        raise Refusal(BACKUP_NOT_AVAILABLE, f"backup {backup.backup_id} is {backup.status}, not available")
    server = backup.server or {}
    if backup.system_disk is None or not server.get("os_type"):
        raise Refusal(NO_SYSTEM_DISK, f"backup {backup.backup_id} has no system disk or no OS")
    return backup


def check_configured(backup: BackupFacts) -> None:
    """The source ECS must be configured: "When creating a full-ECS image from a CBR backup, ensure that the source ECS
    of the CBR backup has been properly configured, or the image creation may fail." A backup of an ECS that was not
    configured fails the job (IMG.0202) with the guide's steps."""
    if not (backup.server or {}).get("configured", True):
        raise Refusal(
            SERVER_NOT_CONFIGURED,
            f"the source ECS of backup {backup.backup_id} was not configured: {CONFIGURE_ECS_GUIDE}",
        )


def check_one_image_per_backup(backup_id: str, *, backup_has_image: bool) -> None:
    """One image per backup: "A CBR backup can be used to create only one full-ECS image." ``backup_has_image``: a live
    image of the backup is known (to the API, or made by an earlier job of a run). The database enforces the rule under
    any concurrency as well (the unique index ``one_live_image_per_backup``): a job whose image it refuses fails with
    ``backup_already_used``. A deleted image frees its backup."""
    if backup_has_image:
        raise backup_already_used(backup_id)


def backup_already_used(backup_id: str) -> Refusal:
    """The refusal of ``check_one_image_per_backup`` (IMG.0029)."""
    return Refusal(BACKUP_ALREADY_USED, f"backup {backup_id} has already been used to create a full-ECS image")


def backup_never_came(backup_id: str | None, backup_wait_s: float) -> Refusal:
    """A job waited for its backup's BackupCreated until its deadline: the backup does not exist (IMG.0020)."""
    return Refusal(
        BACKUP_NOT_FOUND,
        f"the CBR backup {backup_id} does not exist (no BackupCreated within {backup_wait_s:g} s)",
    )


def check_stopped_ecs_not_started(server_id: str, state_at_backup: str | None, state_now: str) -> None:
    """A stopped ECS stays stopped: "If an ECS is in Stopped state, do not start it when you are using it to create a
    full-ECS image." An ECS that was stopped (SHUTOFF) when its backup was taken and is started (ACTIVE) while its image
    is being made fails the creation (IMG.0203): the image would not match the stopped ECS."""
    if state_at_backup == "SHUTOFF" and state_now == "ACTIVE":
        raise Refusal(
            SERVER_STARTED,
            f"ECS {server_id} was started while its full-ECS image was being created from a backup "
            "taken while it was stopped; the image would be inconsistent. Keep the ECS stopped and retry.",
        )


def image_deletion_reason(backup_deletion_reason: str) -> ImageDeletionReason:
    """The image goes with its backup: "If a full-ECS image is created from a CBR backup and the backup is deleted due
    to arrears, the full-ECS image will also be deleted." Whatever deleted a backup deletes the images made from it;
    this names why (``arrears``, or ``backup_deleted``).
    The whole chain: docs/architecture.md, section "Arrears: grace, frozen, released"."""
    return "arrears" if backup_deletion_reason == "arrears" else "backup_deleted"


def export_refused() -> Refusal:
    """No export: "A full-ECS image cannot be exported." (IMG.0128)"""
    return Refusal(EXPORT_REFUSED, "a full-ECS image cannot be exported")


def in_region_copy_refused() -> Refusal:
    """No copy within the region: "A full-ECS image cannot be replicated within a region." (IMG.0130, IMS's in-region
    copy; across regions, ``ims_shared.replication_rules`` refuses the image's own region as the destination.)"""
    return Refusal(
        IN_REGION_COPY_REFUSED,
        "a full-ECS image cannot be replicated within a region; replicate it across regions where the route allows",
    )


def koogallery_refused() -> Refusal:
    """No KooGallery: "A full-ECS image cannot be published in KooGallery." (IMG.0131, the market attributes of an image
    update)"""
    return Refusal(MARKET_PUBLISH_REFUSED, "a full-ECS image cannot be published in KooGallery")


def min_disk_of(backup: BackupFacts) -> int:
    disk = backup.system_disk
    return int(disk["size_gb"]) if disk else 0


def provisioning_plan(disks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a consumer of the image writes: a new ECS gets every disk; an OS change writes the system disk only."""
    system = [d for d in disks if d.get("bootable")]
    data = [d for d in disks if not d.get("bootable")]
    return {
        "create_server": {"restores": "all disks", "system_disk": system, "data_disks": data},
        "change_os": {
            "restores": "system disk only",
            "system_disk": system,
            "data_disks": [],
            "note": "changing an ECS OS with a full-ECS image writes only the system disk; to restore or migrate "
            "data disks, create a new ECS from the image instead",
        },
    }


# -- the fate of an image job ------------------------------------------------------------------------------------
WHOLE_IMAGE_JOB = "imsCreateWholeImageByBackupJob"
"""The job type of a full-ECS image made from a CBR backup (directly, or after a CBR checkpoint of an ECS)."""
REPLICATION_JOB = "imsCrossRegionCopyWholeImageJob"
"""The job type of a cross-region replication, in its source region."""


@dataclass(frozen=True)
class ImageJob:
    """A job that makes a full-ECS image, as its fate is decided: what it asks for (``request``, as stored: name,
    description, enterprise project, tags, RAM limits) and where it stands (``status``, ``wait_until``)."""

    job_id: str
    image_id: str
    project_id: str
    backup_id: str | None
    request: dict[str, Any]
    correlation_id: str | None
    status: str = "INIT"
    wait_until: datetime | None = None
    job_type: str = WHOLE_IMAGE_JOB

    def after(self, decision: "JobDecision") -> "ImageJob":
        """The job as ``decision`` leaves it."""
        if isinstance(decision, Unchanged):
            return self
        wait_until = decision.until if isinstance(decision, AwaitBackup) else None
        return replace(self, status=decision.job_status, wait_until=wait_until)


class ImageRow(TypedDict):
    """A full-ECS image as it is recorded when it is made: the ``images`` columns a new image sets."""

    image_id: str
    project_id: str
    backup_id: str
    job_id: str
    name: str
    description: str
    status: str
    enterprise_project_id: str
    tags: list[dict[str, str]]
    min_ram: int
    max_ram: int
    os_type: str | None
    os_version: str | None
    min_disk: int
    size_gb: int
    disks: list[dict[str, Any]]
    server_state: str | None
    resource_id: str
    shared_from_project_id: str | None
    replicated_from_region: str | None
    replicated_from_image_id: str | None
    ready_at: datetime | None
    active_at: datetime | None
    status_history: list[dict[str, Any]]


def new_image(
    *,
    image_id: str,
    project_id: str,
    job_id: str,
    asked: Mapping[str, Any],
    backup: BackupFacts,
    build_s: float,
    now: datetime,
    replica_of: str | None = None,
) -> ImageRow:
    """The image ``asked`` for (name, description, enterprise project, tags, RAM limits) made from ``backup``: queued
    and saved at once, ``saving`` until ``build_s`` has passed, or, with no build time, active at once ("Normal").
    ``replica_of``: the image of another region it copies (``backup`` is then the copy of that image's backup)."""
    server = backup.server or {}
    at = now.isoformat()
    active = build_s <= 0
    if replica_of is not None:
        history = [{"status": "active", "at": at, "replicated_from": backup.replicated_from_region}]
    else:
        history = [{"status": "queued", "at": at}, {"status": "saving", "at": at}]
        if active:
            history.append({"status": "active", "at": at})
    return ImageRow(
        image_id=image_id,
        project_id=project_id,
        backup_id=backup.backup_id,
        job_id=job_id,
        name=asked["name"],
        description=asked.get("description") or "",
        status="active" if active else "saving",
        enterprise_project_id=asked.get("enterprise_project_id") or DEFAULT_ENTERPRISE_PROJECT,
        tags=asked.get("tags") or [],
        min_ram=asked.get("min_ram") or 0,
        max_ram=asked.get("max_ram") or 0,
        os_type=server.get("os_type"),
        os_version=server.get("os_version"),
        min_disk=min_disk_of(backup),
        size_gb=backup.size_gb,
        disks=backup.disks,
        server_state=server.get("state"),
        resource_id=backup.resource_id,
        shared_from_project_id=backup.shared_from_project_id,
        replicated_from_region=backup.replicated_from_region,
        replicated_from_image_id=replica_of,
        ready_at=None if active else now + timedelta(seconds=build_s),
        active_at=now if active else None,
        status_history=history,
    )


@dataclass(frozen=True)
class MakeImage:
    """Make the job's image (``image``): active at once, the job SUCCESS, when there is no build time; otherwise
    ``saving`` until its ``ready_at``, the job RUNNING, and the image builder completes both."""

    image: ImageRow

    @property
    def at_once(self) -> bool:
        return self.image["status"] == "active"

    @property
    def job_status(self) -> str:
        return "SUCCESS" if self.at_once else "RUNNING"


@dataclass(frozen=True)
class AwaitBackup:
    """The job's backup is not known yet: the job waits in INIT for its BackupCreated until ``until``."""

    until: datetime
    job_status = "INIT"


@dataclass(frozen=True)
class FailJob:
    """The job fails with ``refusal``'s IMS code and message (ImageCreationFailed)."""

    refusal: Refusal
    job_status = "FAIL"


@dataclass(frozen=True)
class Unchanged:
    """Nothing to do: the job is no longer in INIT, or it waits for its backup already."""


JobDecision = MakeImage | AwaitBackup | FailJob | Unchanged


def decide(
    job: ImageJob,
    account_state: str | None,
    backup: BackupFacts | None,
    *,
    refused: Refusal | None = None,
    backup_has_image: bool = False,
    build_s: float,
    backup_wait_s: float,
    now: datetime,
) -> JobDecision:
    """The fate of a full-ECS image job, from what is known of it at ``now``: its account's state, its backup (None
    while no BackupCreated has come), whether a live image of that backup is known (``check_one_image_per_backup``),
    ``refused``: why the request that names the job was refused before any backup was looked at (a request that
    breaks the rules, or no tenant), and the settings IMAGE_BUILD_S (``build_s``) and BACKUP_WAIT_S.

    In order: a job not in INIT is left alone; a refused request fails it; a wait past its deadline fails it
    (IMG.0020); a frozen account fails it (IMG.0239); a backup not known yet makes it wait (once); a backup it may
    not use fails it with the rule's code; otherwise its image is made."""
    if job.status != "INIT" or job.job_type != WHOLE_IMAGE_JOB:
        return Unchanged()
    if refused is not None:
        return FailJob(refused)
    if backup is None and job.wait_until is not None and job.wait_until <= now:
        return FailJob(backup_never_came(job.backup_id, backup_wait_s))
    try:
        check_account(account_state)
        if backup is None:
            return Unchanged() if job.wait_until is not None else AwaitBackup(now + timedelta(seconds=backup_wait_s))
        check_backup(backup, job.project_id)
        check_configured(backup)
        check_one_image_per_backup(backup.backup_id, backup_has_image=backup_has_image)
    except Refusal as refusal:
        return FailJob(refusal)
    image = new_image(
        image_id=job.image_id,
        project_id=job.project_id,
        job_id=job.job_id,
        asked=job.request,
        backup=backup,
        build_s=build_s,
        now=now,
    )
    return MakeImage(image)
