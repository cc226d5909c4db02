"""The inbox: a (consumer, event id) row per handled event, written in the handler's transaction."""

import asyncpg


async def claim_batch(conn: asyncpg.Connection, consumer: str, events: list[tuple[str, str]]) -> set[str]:
    """Claim a batch of (event id, type) for ``consumer`` in one statement: the ids seen for the first time. A
    redelivered event's id is not among them, and its handling must change nothing."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id, event_type) SELECT $1, e.id, e.type "
        "FROM unnest($2::text[], $3::text[]) AS e(id, type) ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        [event_id for event_id, _ in events],
        [event_type for _, event_type in events],
    )
    return {row["event_id"] for row in rows}


async def claim(conn: asyncpg.Connection, consumer: str, event_id: str, event_type: str) -> bool:
    """``claim_batch`` of one event: True the first time ``consumer`` sees ``event_id``."""
    return bool(await claim_batch(conn, consumer, [(event_id, event_type)]))
