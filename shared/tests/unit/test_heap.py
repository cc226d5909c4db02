import gc
from collections.abc import Iterator

import pytest

from ims_shared.heap import YOUNG_THRESHOLD, freeze_start_up_objects


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_what_start_up_made_is_no_longer_scanned_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    made_at_start_up = [[n] for n in range(1000)]
    freeze_start_up_objects()
    assert gc.get_freeze_count() > len(made_at_start_up)
    scanned = {id(o) for o in gc.get_objects()}  # the three generations a collection scans
    assert not any(id(o) in scanned for o in made_at_start_up)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
