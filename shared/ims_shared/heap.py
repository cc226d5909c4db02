"""The garbage collector in a long-running service.

Python's cyclic collector scans every tracked object in a full collection, and the objects of the youngest
generation every 700 allocations. A service's start-up leaves hundreds of thousands of objects that live as long as
the process (modules, pydantic and FastAPI schemas, the app), and a batch of events allocates far more than 700
short-lived objects, so each full collection scanned them all again, a pause of the event loop that every event in
flight waited for. The start-up objects are frozen (never scanned again) and the youngest generation is collected
every 20,000 allocations; bench/README.md has what the collector cost before and after.
"""

import gc

from ims_shared.logging import get_logger

log = get_logger(__name__)


# Allocations (less deallocations) between two collections of the youngest generation; Python's default is 700.
YOUNG_THRESHOLD = 20_000


def freeze_start_up_objects() -> None:
    """Collect once, then move every object alive now to the collector's permanent generation."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    log.info("start-up objects frozen for the garbage collector", frozen=gc.get_freeze_count())
