import pytest

from backup_service.domain import BackupState, check_owner_may_delete, deletion, deletion_for_arrears
from ims_shared.refusal import Refusal


def state(image_id: str | None = None, deleted: bool = False) -> BackupState:
    return BackupState(backup_id="b1", project_id="p1", status="available", image_id=image_id, deleted=deleted)


def test_a_user_cannot_delete_a_backup_that_still_has_its_image() -> None:
    with pytest.raises(Refusal, match="delete the image first") as caught:
        deletion(state(image_id="img-1"), "user")
    assert caught.value.code == "BackupService.6334"
    check_owner_may_delete(state())
    event = deletion(state(), "user")
    assert event is not None and event.reason == "user"


def test_a_backup_in_arrears_is_deleted_even_with_its_image_which_its_event_names() -> None:
    for event in (deletion_for_arrears(state(image_id="img-1")), deletion(state(image_id="img-1"), "arrears")):
        assert event is not None and event.reason == "arrears" and event.image_id == "img-1"


@pytest.mark.parametrize("reason", ["image_deleted", "replication_rollback"])
def test_the_images_deletion_and_a_rollback_delete_the_backup_even_with_an_image(reason: str) -> None:
    event = deletion(state(image_id="img-1"), reason)  # type: ignore[arg-type]
    assert event is not None and event.reason == reason and event.image_id == "img-1"


@pytest.mark.parametrize("reason", ["user", "arrears", "image_deleted"])
def test_deleting_a_deleted_backup_is_a_no_op(reason: str) -> None:
    assert deletion(state(deleted=True, image_id="img-1"), reason) is None  # type: ignore[arg-type]
    assert deletion(BackupState("b1", "p1", "deleting", None, False), reason) is None  # type: ignore[arg-type]
