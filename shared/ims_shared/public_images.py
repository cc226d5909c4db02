"""The public ("gold") system images of each region: reference data that image-service (IMS ``ListImages`` with
``__imagetype=gold``, ``GlanceShowImage``) and compute-service (``imageRef`` of a new ECS, an OS change) agree on.

Each region has its own ids, as on Huawei Cloud, derived from the region and the image's name so that they are the
same in every process and every run. A public image has a system disk only: a new ECS gets a system disk of at least
``min_disk`` GB and the data disks it asks for.
"""

import uuid
from dataclasses import dataclass

from ims_shared.regions import KNOWN_REGIONS


@dataclass(frozen=True)
class PublicImage:
    id: str
    name: str
    os_type: str  # "Linux" or "Windows"
    os_version: str
    platform: str
    min_disk: int  # GB
    min_ram: int  # MB
    region: str
    os_bit: int = 64


# name, os type, os version, platform, min disk (GB), min RAM (MB)
_CATALOG: tuple[tuple[str, str, str, str, int, int], ...] = (
    ("Ubuntu 22.04 server 64bit", "Linux", "Ubuntu 22.04 server 64bit", "Ubuntu", 40, 1024),
    ("CentOS 7.9 64bit", "Linux", "CentOS 7.9 64bit", "CentOS", 40, 1024),
    ("Huawei Cloud EulerOS 2.0 Standard 64 bit", "Linux", "Huawei Cloud EulerOS 2.0 64bit", "EulerOS", 40, 1024),
    (
        "Windows Server 2019 Datacenter 64bit English",
        "Windows",
        "Windows Server 2019 Datacenter 64bit",
        "Windows",
        40,
        2048,
    ),
)


def _image_id(region: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ims:public-image:{region}:{name}"))


PUBLIC_IMAGES: dict[str, tuple[PublicImage, ...]] = {
    region: tuple(
        PublicImage(_image_id(region, name), name, os_type, version, platform, min_disk, min_ram, region)
        for name, os_type, version, platform, min_disk, min_ram in _CATALOG
    )
    for region in KNOWN_REGIONS
}


def public_images(region: str) -> tuple[PublicImage, ...]:
    """The public images of ``region`` (none for a region not in the catalog)."""
    return PUBLIC_IMAGES.get(region, ())


def public_image(region: str, image_id: str) -> PublicImage | None:
    """The public image ``image_id`` of ``region``, or None when it is not one."""
    return next((image for image in public_images(region) if image.id == image_id), None)
