"""The services' PostgreSQL server restarted (fast shutdown: every connection cut) while image creations and
deletions are in flight: the services reconnect by themselves, stay up, and lose nothing. The server is the
fault stack's private one, never the machine's."""

import asyncio
import time
from collections import Counter

import httpx
import pytest

from tests.e2e.harness import ALPHA
from tests.faults.conftest import FaultStack
from tests.faults.scenario import (
    Images,
    backups_first,
    books_wrong,
    delete_images,
    jobs_done,
    unsettled,
    wrong_events,
)
from tests.faults.tools import CN, AsyncSignedClient, event_log, produce, report, size, until

pytestmark = pytest.mark.faults


@pytest.mark.timeout(size(300, 900))
async def test_postgres_restart_under_load_loses_nothing(healthy: FaultStack) -> None:
    if healthy.pg is None:
        pytest.skip("no PostgreSQL server binaries for a private server")
    n = size(40, 300)
    down_s = size(2.0, 8.0)
    images = Images()
    requests = await backups_first(healthy, images, n, "before-restart")
    await produce(healthy.bootstrap, requests)
    first = list(images.backups)
    await until(lambda: jobs_done(healthy, images, first), timeout_s=90, what="the first images")

    requests = await backups_first(healthy, images, n, "during-restart")
    producing = asyncio.create_task(produce(healthy.bootstrap, requests))
    deleting = asyncio.create_task(delete_images(healthy, images, first[: n // 2], with_backup=True))
    api_codes: Counter[int] = Counter()
    stop = asyncio.Event()

    async def read_during_outage() -> None:
        client = AsyncSignedClient(healthy.url("image-service"), ALPHA, timeout_s=5)
        try:
            while not stop.is_set():
                try:
                    api_codes[(await client.request("GET", f"/v2/images/{first[-1]}")).status_code] += 1
                except httpx.HTTPError:
                    api_codes[0] += 1
                await asyncio.sleep(0.2)
        finally:
            await client.close()

    reader = asyncio.create_task(read_during_outage())
    await asyncio.sleep(0.5)
    restarted_at = time.monotonic()
    await asyncio.to_thread(healthy.pg.restart, down_s)
    back_at = time.monotonic()
    await producing
    calls = await deleting
    await delete_images(healthy, images, first[n // 2 : n // 2 + n // 4], with_backup=False)

    async def settled() -> bool:
        settled.pending = await unsettled(healthy, images)  # type: ignore[attr-defined]
        return not settled.pending  # type: ignore[attr-defined]

    try:
        await until(settled, timeout_s=150, what="every cascade to finish after the restart")
    except AssertionError as exc:
        raise AssertionError(f"unsettled: {settled.pending[:10]}") from exc  # type: ignore[attr-defined]
    settle_s = time.monotonic() - back_at
    stop.set()
    await reader
    assert healthy.exited() == {}, "a service died when its database restarted"
    assert set(api_codes) <= {200, 503}, f"the API answered {dict(api_codes)} while its database restarted"
    health = healthy.health()
    assert set(health.values()) == {200}, health
    await asyncio.sleep(3.5)
    events = await event_log(healthy.bootstrap, [f"ims.{CN}.images", f"ims.{CN}.backups"])
    assert wrong_events(events, images) == []
    assert await books_wrong(healthy, images) == []
    report(
        "PostgreSQL restart",
        images=len(images.backups),
        down_s=round(back_at - restarted_at, 1),
        delete_calls=calls,
        api_answers_during=dict(api_codes),
        settled_after_restart_s=round(settle_s, 1),
        republished_records=events.republished([*images.backups, *images.backups.values()]),
    )
