"""The inbox: a (consumer, event id) row per handled event, written in the handler's transaction."""

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_id: str, event_type: str) -> bool:
    """True the first time ``consumer`` sees ``event_id``; False for a redelivery, which must change nothing."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
        event_type,
    )
    return inserted is not None
