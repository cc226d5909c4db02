"""The vault rules that need no database: sizes, resources, room for a backup, a checkpoint's status."""

import pytest

from backup_service.api import checkpoint_status
from backup_service.vaults import Vault, check_resources, check_room, check_size
from ims_shared.refusal import Refusal

ECS = "OS::Nova::Server"


def code(call: object, *args: object) -> str:
    with pytest.raises(Refusal) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


def test_a_vault_is_from_1_gb_to_10_pb() -> None:
    assert check_size(1) == 1 and check_size(10_485_760) == 10_485_760
    assert code(check_size, 0) == code(check_size, 10_485_761) == "BackupService.6101"


def test_a_vault_holds_servers_each_once_and_at_most_256() -> None:
    assert check_resources([("a", ECS), ("b", ECS)]) == ["a", "b"]
    assert code(check_resources, [("d", "OS::Cinder::Volume")]) == "BackupService.6102"
    assert code(check_resources, [("a", ECS), ("a", ECS)]) == "BackupService.6104"
    assert check_resources([("z", ECS)], 255) == ["z"]
    assert code(check_resources, [("z", ECS)], 256) == "BackupService.6100"


def test_a_backup_must_fit_in_what_is_free() -> None:
    vault = Vault("v-1", "p1", "nightly", 100, False)
    check_room(vault, 40, 60)
    with pytest.raises(Refusal) as caught:
        check_room(vault, 41, 60)
    assert caught.value.code == "BackupService.6114"
    assert "59 GB free of 100 GB" in caught.value.message and "UpdateVault" in caught.value.message


def test_a_checkpoint_is_as_far_as_its_backups() -> None:
    assert checkpoint_status(["available", "protecting"]) == "protecting"
    assert checkpoint_status(["available", "error"]) == "error"
    assert checkpoint_status(["deleted", "deleted"]) == "deleted"
    assert checkpoint_status(["available", "deleted"]) == "available"
