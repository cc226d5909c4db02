import pytest

from backup_service.domain import BackupState, deletion
from ims_shared.refusal import Refusal


def state(image_id: str | None = None, deleted: bool = False) -> BackupState:
    return BackupState(backup_id="b1", project_id="p1", status="available", image_id=image_id, deleted=deleted)


def test_a_user_cannot_delete_a_backup_that_still_has_its_image() -> None:
    with pytest.raises(Refusal, match="delete the image first"):
        deletion(state(image_id="img-1"), "user")


@pytest.mark.parametrize("reason", ["arrears", "image_deleted"])
def test_arrears_and_image_deletion_delete_the_backup_even_with_an_image(reason: str) -> None:
    event = deletion(state(image_id="img-1"), reason)  # type: ignore[arg-type]
    assert event is not None and event.reason == reason and event.image_id == "img-1"


def test_deleting_a_deleted_backup_is_a_no_op() -> None:
    assert deletion(state(deleted=True), "user") is None
