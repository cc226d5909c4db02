"""What is charged: a backup's storage, to the project that owns it; never the full-ECS image made from it. And when
a released account's backups are asked to be deleted for arrears."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing_service.domain import Account, backups_deleted_for_arrears, storage_is_billed
from ims_shared.events import BackupCreated
from ims_shared.events.billing import AccountState

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def backup(shared_from_project_id: str | None = None) -> BackupCreated:
    return BackupCreated(
        backup_id="b-1",
        vault_id="v-1",
        name="nightly",
        resource_id="ecs-1",
        created_at=T0,
        size_gb=40,
        shared_from_project_id=shared_from_project_id,
    )


def test_a_backups_storage_is_billed_to_its_project_unless_it_was_shared_with_it() -> None:
    assert storage_is_billed(backup())
    assert not storage_is_billed(backup(shared_from_project_id="p-owner"))


@pytest.mark.parametrize(
    ("state", "deleted"), [("normal", False), ("grace", False), ("frozen", False), ("released", True)]
)
def test_only_a_released_accounts_backups_are_deleted_for_arrears(state: AccountState, deleted: bool) -> None:
    assert backups_deleted_for_arrears(Account("alpha", Decimal("-1"), state, T0)) is deleted
