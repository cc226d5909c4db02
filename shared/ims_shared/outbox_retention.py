"""Pruning the outbox: rows published longer ago than the retention are deleted, oldest first.

Published rows are kept for a while so that an operator can publish them again (docs/reliability.md). They are
deleted a window at a time, walking the primary key from the oldest id, because ids grow with time: a window
that finds nothing old enough ends the pass, so a pass reads about as many rows as it deletes. A single
``DELETE ... WHERE published_at < ...`` read the whole table instead, on the relay's connection, which every event
waited for meanwhile (bench/README.md has how long).
"""

import asyncpg

from ims_shared.logging import get_logger
from ims_shared.metrics import OUTBOX_PRUNED

log = get_logger(__name__)

WINDOW = 1000


async def prune_published(db: asyncpg.Pool | asyncpg.Connection, retention_s: float, window: int = WINDOW) -> int:
    """Delete the published outbox rows created more than ``retention_s`` ago; the number deleted. An old row never
    published is kept (the relay still owes it) and does not stop the rows after it from being pruned."""
    deleted = 0
    while True:
        status = await db.execute(
            # The window as an array, probed in the primary key: joined as a set, it could be hash-joined to a
            # scan of the whole table (docs/architecture.md, rule 1). Published is checked again on the row: one
            # made unpublished meanwhile (to be published again by hand) stays.
            "DELETE FROM outbox WHERE id = ANY (ARRAY(SELECT id FROM outbox WHERE published_at IS NOT NULL "
            "ORDER BY id LIMIT $2)) AND published_at IS NOT NULL AND created_at < now() - make_interval(secs => $1)",
            retention_s,
            window,
        )
        count = int(status.rsplit(" ", 1)[1])
        deleted += count
        OUTBOX_PRUNED.inc(count)
        if count < window:
            break
    if deleted:
        log.info("outbox pruned", deleted=deleted, retention_s=retention_s)
    return deleted
