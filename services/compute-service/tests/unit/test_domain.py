"""The pure rules of compute-service: the disks a new ECS gets, what an OS change writes, the power states."""

import pytest

from compute_service.domain import (
    DISK_TOO_SMALL,
    FLAVOR_TOO_SMALL,
    MUST_BE_STOPPED,
    STATE_CONFLICT,
    VOLUME_TYPE_INVALID,
    ImageDisk,
    SourceImage,
    VolumeRequest,
    check_deletable,
    check_flavor,
    device,
    flavor,
    image_disks,
    parse_configured,
    plan_disks,
    plan_os_change,
    power,
    server_names,
)
from ims_shared.public_images import PUBLIC_IMAGES, public_image, public_images
from ims_shared.refusal import Refusal

BACKUP_DISKS = [
    {"volume_id": "b-data-2", "device": "/dev/vdc", "size_gb": 30, "bootable": False, "volume_type": "SAS"},
    {"volume_id": "b-sys", "device": "/dev/vda", "size_gb": 50, "bootable": True, "volume_type": "ESSD"},
    {"volume_id": "b-data-1", "device": "/dev/vdb", "size_gb": 20, "bootable": False, "volume_type": "SSD"},
]
FULL = SourceImage(
    image_id="img-full",
    name="web-full",
    image_type="private",
    os_type="Linux",
    os_version="Ubuntu 22.04 server 64bit",
    configured=True,
    disks=image_disks(BACKUP_DISKS),
    backup_id="backup-1",
)
GOLD = SourceImage(
    image_id="img-gold",
    name="Ubuntu",
    image_type="gold",
    os_type="Linux",
    os_version="Ubuntu 22.04",
    configured=True,
    disks=(ImageDisk(size_gb=40, volume_type="SSD", bootable=True),),
    min_ram_mb=2048,
)


def refused(code: str, call: object, *args: object) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.code == code, caught.value
    return caught.value


def test_a_full_ecs_image_gives_every_disk_of_its_backup_with_its_sizes_and_types() -> None:
    disks = plan_disks(FULL, None, [])
    assert [(d.device, d.size_gb, d.volume_type, d.bootable, d.backup_volume_id) for d in disks] == [
        ("/dev/vda", 50, "ESSD", True, "b-sys"),
        ("/dev/vdb", 20, "SSD", False, "b-data-1"),
        ("/dev/vdc", 30, "SAS", False, "b-data-2"),
    ]
    assert all(d.from_image for d in disks)


def test_requested_sizes_and_types_override_the_images_in_order_and_extra_disks_are_new() -> None:
    disks = plan_disks(
        FULL,
        VolumeRequest("SSD", 60),
        [VolumeRequest(None, 25), VolumeRequest("GPSSD", None), VolumeRequest("SATA", 100)],
    )
    assert [(d.size_gb, d.volume_type, d.from_image, d.backup_volume_id) for d in disks] == [
        (60, "SSD", True, "b-sys"),
        (25, "SSD", True, "b-data-1"),
        (30, "GPSSD", True, "b-data-2"),
        (100, "SATA", False, None),
    ]


def test_a_disk_smaller_than_the_images_is_refused_naming_both_sizes() -> None:
    refusal = refused(DISK_TOO_SMALL, plan_disks, FULL, VolumeRequest(None, 49), [])
    assert "49 GB" in refusal.message and "50 GB" in refusal.message
    refusal = refused(DISK_TOO_SMALL, plan_disks, FULL, None, [VolumeRequest(None, 20), VolumeRequest(None, 29)])
    assert "data disk 2" in refusal.message and "30 GB" in refusal.message
    refused(DISK_TOO_SMALL, plan_disks, GOLD, VolumeRequest("SSD", 39), [])


def test_a_public_image_gives_a_system_disk_and_the_data_disks_asked_for() -> None:
    disks = plan_disks(GOLD, VolumeRequest("SAS", 40), [VolumeRequest("SSD", 10)])
    assert [(d.size_gb, d.volume_type, d.bootable, d.from_image) for d in disks] == [
        (40, "SAS", True, True),
        (10, "SSD", False, False),
    ]
    refused("Ecs.0005", plan_disks, GOLD, None, [VolumeRequest("SSD", None)])
    refused(DISK_TOO_SMALL, plan_disks, GOLD, None, [VolumeRequest("SSD", 9)])
    refused(VOLUME_TYPE_INVALID, plan_disks, GOLD, VolumeRequest("FLOPPY", 40), [])


def test_devices_names_and_flavors() -> None:
    assert [device(i) for i in (0, 1, 25, 26)] == ["/dev/vda", "/dev/vdb", "/dev/vdz", "/dev/vdaa"]
    assert server_names("web", 1) == ["web"]
    assert server_names("web", 3) == ["web-0001", "web-0002", "web-0003"]
    check_flavor(flavor("s6.medium.2"), GOLD)
    refused(FLAVOR_TOO_SMALL, check_flavor, flavor("s6.small.1"), GOLD)
    refused("Ecs.0024", flavor, "x1.huge")


def test_power_state_machine() -> None:
    assert power("SHUTOFF", "start", "s") == "ACTIVE"
    assert power("ACTIVE", "start", "s") == "ACTIVE"
    assert power("ACTIVE", "stop", "s") == "SHUTOFF"
    assert power("SHUTOFF", "stop", "s") == "SHUTOFF"
    assert power("ACTIVE", "reboot", "s") == "ACTIVE"
    for status in ("BUILD", "REBUILD", "ERROR"):
        assert refused(STATE_CONFLICT, power, status, "start", "s").status == 409
    refused(STATE_CONFLICT, power, "SHUTOFF", "reboot", "s")
    check_deletable("ERROR", "s")
    refused(STATE_CONFLICT, check_deletable, "BUILD", "s")


def test_an_os_change_writes_the_system_disk_only_and_says_so() -> None:
    change = plan_os_change("SHUTOFF", None, 50, FULL, "s")
    assert change.system_disk_gb == 50
    assert "2 data disk(s) (20 GB, 30 GB) were not restored" in change.note
    assert "data disks" not in plan_os_change("SHUTOFF", None, 40, GOLD, "s").note
    refused(MUST_BE_STOPPED, plan_os_change, "ACTIVE", None, 50, FULL, "s")
    assert plan_os_change("ACTIVE", "withStopServer", 50, FULL, "s")
    refused(DISK_TOO_SMALL, plan_os_change, "SHUTOFF", None, 40, FULL, "s")
    refused(STATE_CONFLICT, plan_os_change, "BUILD", None, 50, FULL, "s")


def test_configured_flag_and_public_catalog() -> None:
    assert parse_configured("TRUE") and not parse_configured("false")
    refused("Ecs.0005", parse_configured, "yes")
    for region, images in PUBLIC_IMAGES.items():
        assert {i.os_type for i in images} == {"Linux", "Windows"}
        assert all(public_image(region, i.id) == i for i in images)
    cn, ap = public_images("cn-north-4"), public_images("ap-southeast-1")
    assert not {i.id for i in cn} & {i.id for i in ap}  # each region has its own ids
    assert public_image("cn-north-4", ap[0].id) is None
