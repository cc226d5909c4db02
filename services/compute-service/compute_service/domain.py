"""The rules of ECSs and their disks: what a new ECS gets from its image, what an OS change writes, which power
action a state allows. No I/O: plain values in, plans out; a broken rule raises ``Refusal`` with its ECS code."""

from dataclasses import dataclass
from typing import Literal

from ims_shared.refusal import Refusal

BAD_REQUEST = "Ecs.0005"
IMAGE_NOT_FOUND = "Ecs.0020"
IMAGE_NOT_ACTIVE = "Ecs.0021"
IMAGE_BACKUP_GONE = "Ecs.0022"
DISK_TOO_SMALL = "Ecs.0023"
FLAVOR_NOT_FOUND = "Ecs.0024"
VOLUME_TYPE_INVALID = "Ecs.0025"
STATE_CONFLICT = "Ecs.0026"
MUST_BE_STOPPED = "Ecs.0027"
PREPAID_UNSUPPORTED = "Ecs.0028"
FLAVOR_TOO_SMALL = "Ecs.0029"
SERVER_NOT_FOUND = "Ecs.0114"
JOB_NOT_FOUND = "Ecs.0119"
VOLUME_NOT_FOUND = "EVS.5404"

CONFIGURED_KEY = "full_image_configured"
"""The ECS metadata key that says whether the ECS was configured as a full-ECS image requires ("true"/"false")."""
VOLUME_TYPES = ("SATA", "SAS", "SSD", "GPSSD", "ESSD", "GPSSD2", "ESSD2")
DEFAULT_VOLUME_TYPE = "SSD"
SYSTEM_DISK_MAX_GB = 1024
DATA_DISK_MIN_GB = 10
DATA_DISK_MAX_GB = 32768
MAX_DATA_DISKS = 23
MAX_COUNT = 100
STOP_FIRST = "withStopServer"
"""The change-OS ``mode`` that lets a running ECS be stopped first."""

ImageType = Literal["gold", "private", "shared"]
PowerAction = Literal["start", "stop", "reboot"]


@dataclass(frozen=True)
class Flavor:
    id: str
    vcpus: int
    ram_mb: int


FLAVORS: tuple[Flavor, ...] = (
    Flavor("s6.small.1", 1, 1024),
    Flavor("s6.medium.2", 1, 2048),
    Flavor("s6.large.2", 2, 4096),
    Flavor("s6.xlarge.2", 4, 8192),
    Flavor("c7.large.2", 2, 4096),
    Flavor("m6.large.8", 2, 16384),
)


def flavor(flavor_id: str) -> Flavor:
    found = next((f for f in FLAVORS if f.id == flavor_id), None)
    if found is None:
        raise Refusal(FLAVOR_NOT_FOUND, f"flavor {flavor_id!r} does not exist; ListFlavors lists those of the region")
    return found


@dataclass(frozen=True)
class ImageDisk:
    """A disk an image defines: a public image its system disk only, a full-ECS image every disk of its backup."""

    size_gb: int
    volume_type: str
    bootable: bool
    backup_volume_id: str | None = None


@dataclass(frozen=True)
class SourceImage:
    """An image a caller may make an ECS from, with the disks it defaults to."""

    image_id: str
    name: str
    image_type: ImageType
    os_type: str | None
    os_version: str | None
    configured: bool
    disks: tuple[ImageDisk, ...]
    backup_id: str | None = None  # a full-ECS image: the disks are restored from this backup
    min_ram_mb: int = 0

    @property
    def full_ecs(self) -> bool:
        return self.backup_id is not None

    @property
    def system_disk(self) -> ImageDisk:
        return next(d for d in self.disks if d.bootable)

    @property
    def data_disks(self) -> tuple[ImageDisk, ...]:
        return tuple(d for d in self.disks if not d.bootable)


def image_disks(disks: list[dict[str, object]]) -> tuple[ImageDisk, ...]:
    """A backup's disks (``BackupDisk`` as JSON) as an image's: the system disk first, then the data disks by device."""
    ordered = sorted(disks, key=lambda d: (not d.get("bootable"), str(d.get("device", ""))))
    return tuple(
        ImageDisk(
            size_gb=int(str(d["size_gb"])),
            volume_type=str(d.get("volume_type") or DEFAULT_VOLUME_TYPE),
            bootable=bool(d.get("bootable")),
            backup_volume_id=str(d["volume_id"]),
        )
        for d in ordered
    )


@dataclass(frozen=True)
class VolumeRequest:
    """A ``root_volume`` or ``data_volumes`` entry of a creation request."""

    volume_type: str | None = None
    size_gb: int | None = None


@dataclass(frozen=True)
class DiskPlan:
    """A disk of a new ECS: what it holds (``restored_from``: the backup's disk) and how it is sized."""

    position: int
    size_gb: int
    volume_type: str
    bootable: bool
    from_image: bool
    backup_volume_id: str | None = None

    @property
    def device(self) -> str:
        return device(self.position)


def device(position: int) -> str:
    """``/dev/vda`` for the system disk, then ``/dev/vdb``, ...: positions past ``z`` continue ``vdaa``, ``vdab``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = letters[position] if position < 26 else letters[position // 26 - 1] + letters[position % 26]
    return f"/dev/vd{name}"


def _volume_type(requested: str | None, default: str) -> str:
    chosen = requested or default
    if chosen not in VOLUME_TYPES:
        raise Refusal(VOLUME_TYPE_INVALID, f"volume type {chosen!r} is not one of {', '.join(VOLUME_TYPES)}")
    return chosen


def _sized(requested: int | None, image_gb: int, what: str, maximum: int) -> int:
    size = image_gb if requested is None else requested
    if size < image_gb:
        raise Refusal(
            DISK_TOO_SMALL,
            f"the {what} ({size} GB) is smaller than the image's ({image_gb} GB): give at least {image_gb} GB, "
            "or leave the size out to take the image's",
        )
    if size > maximum:
        raise Refusal(BAD_REQUEST, f"the {what} ({size} GB) is larger than {maximum} GB")
    return size


def plan_disks(image: SourceImage, root: VolumeRequest | None, data: list[VolumeRequest]) -> list[DiskPlan]:
    """Every disk of a new ECS made from ``image``. The system disk and, for a full-ECS image, each of the image's
    data disks take the image's size and volume type unless the request gives them (``root``, then ``data`` in
    order): never smaller. ``data`` entries past the image's data disks are new, empty disks."""
    root = root or VolumeRequest()
    system = image.system_disk
    plans = [
        DiskPlan(
            position=0,
            size_gb=_sized(root.size_gb, system.size_gb, "system disk", SYSTEM_DISK_MAX_GB),
            volume_type=_volume_type(root.volume_type, system.volume_type),
            bootable=True,
            from_image=True,
            backup_volume_id=system.backup_volume_id,
        )
    ]
    from_image = image.data_disks
    if len(from_image) + max(0, len(data) - len(from_image)) > MAX_DATA_DISKS:
        raise Refusal(BAD_REQUEST, f"an ECS has at most {MAX_DATA_DISKS} data disks")
    for index in range(max(len(from_image), len(data))):
        asked = data[index] if index < len(data) else VolumeRequest()
        if index < len(from_image):
            disk = from_image[index]
            what = f"data disk {index + 1} ({device(index + 1)})"
            size = _sized(asked.size_gb, disk.size_gb, what, DATA_DISK_MAX_GB)
            kind = _volume_type(asked.volume_type, disk.volume_type)
            plans.append(DiskPlan(index + 1, size, kind, False, True, disk.backup_volume_id))
            continue
        if asked.size_gb is None:
            raise Refusal(BAD_REQUEST, f"data_volumes[{index}].size is required for a new, empty data disk")
        size = _sized(asked.size_gb, DATA_DISK_MIN_GB, f"data disk {index + 1}", DATA_DISK_MAX_GB)
        plans.append(DiskPlan(index + 1, size, _volume_type(asked.volume_type, DEFAULT_VOLUME_TYPE), False, False))
    return plans


def check_flavor(chosen: Flavor, image: SourceImage) -> None:
    if chosen.ram_mb < image.min_ram_mb:
        raise Refusal(
            FLAVOR_TOO_SMALL,
            f"flavor {chosen.id} has {chosen.ram_mb} MB of memory; image {image.name} needs {image.min_ram_mb} MB",
        )


def server_names(name: str, count: int) -> list[str]:
    """One ECS keeps its name; several are numbered as the ECS API numbers them (``name-0001``, ...)."""
    if count == 1:
        return [name]
    return [f"{name}-{i:04d}" for i in range(1, count + 1)]


BUSY = ("BUILD", "REBUILD")


def power(status: str, action: PowerAction, server_id: str) -> str:
    """The state an ECS in ``status`` is in after ``action`` (the same state when there is nothing to do)."""
    if status in BUSY or status == "ERROR":
        raise Refusal(STATE_CONFLICT, f"ECS {server_id} is {status}: it cannot be {action}ed now", status=409)
    if action == "stop":
        return "SHUTOFF"
    if action == "reboot" and status == "SHUTOFF":
        raise Refusal(STATE_CONFLICT, f"ECS {server_id} is SHUTOFF: start it instead of rebooting it", status=409)
    return "ACTIVE"


def check_deletable(status: str, server_id: str) -> None:
    if status in BUSY:
        raise Refusal(
            STATE_CONFLICT, f"ECS {server_id} is {status}: wait for its job to end, then delete it", status=409
        )


@dataclass(frozen=True)
class OsChange:
    """What changing an ECS's OS writes: its system disk only, from ``image``; the data disks stay as they are."""

    image: SourceImage
    system_disk_gb: int
    note: str


def plan_os_change(status: str, mode: str | None, system_disk_gb: int, image: SourceImage, server_id: str) -> OsChange:
    if status in BUSY:
        raise Refusal(STATE_CONFLICT, f"ECS {server_id} is {status}: wait for its job to end", status=409)
    if status == "ACTIVE" and mode != STOP_FIRST:
        raise Refusal(
            MUST_BE_STOPPED,
            f"ECS {server_id} is running: stop it first, or ask for mode {STOP_FIRST!r} to have it stopped",
        )
    needed = image.system_disk.size_gb
    if system_disk_gb < needed:
        raise Refusal(
            DISK_TOO_SMALL,
            f"the ECS's system disk ({system_disk_gb} GB) is smaller than image {image.name}'s ({needed} GB)",
        )
    note = "the system disk was rewritten from the image"
    if image.data_disks:
        sizes = ", ".join(f"{d.size_gb} GB" for d in image.data_disks)
        note = (
            f"only the system disk was rewritten: the image's {len(image.data_disks)} data disk(s) ({sizes}) were not "
            "restored, and the ECS's data disks kept their contents. Changing an ECS's OS with a full-ECS image "
            "writes the system disk only; to use the image's data disks, create a new ECS from the image"
        )
    return OsChange(image=image, system_disk_gb=system_disk_gb, note=note)


def parse_configured(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise Refusal(BAD_REQUEST, f'metadata {CONFIGURED_KEY} must be "true" or "false", not {value!r}')
    return lowered == "true"


def check_metadata(metadata: dict[str, str]) -> None:
    for key, value in metadata.items():
        if not key or len(key) > 255 or len(value) > 255:
            raise Refusal(BAD_REQUEST, f"metadata {key[:40]!r}: keys are 1 to 255 characters, values at most 255")
        if key == CONFIGURED_KEY:
            parse_configured(value)
