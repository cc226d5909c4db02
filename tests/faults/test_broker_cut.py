"""The broker cut off (the TCP proxy in front of it stops listening and resets every connection) while image
creations and deletions are in flight: services stay up (/health 200), /ready says not ready, the API keeps
accepting deletions (they wait in the outbox), and every cascade finishes by itself once the network heals."""

import asyncio
import time
from collections import Counter

import httpx
import pytest

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
from tests.faults.tools import CN, event_log, produce, report, size, until

pytestmark = pytest.mark.faults
SERVICES = ("image-service", "backup-service", "billing-service", "replication-service")


async def _probe(system: FaultStack, path: str) -> dict[str, int]:
    codes = {}
    async with httpx.AsyncClient(timeout=4) as http:
        for service in SERVICES:
            try:
                codes[service] = (await http.get(f"{system.url(service)}{path}")).status_code
            except httpx.HTTPError:
                codes[service] = 0
    return codes


@pytest.mark.timeout(size(300, 900))
async def test_broker_cut_off_then_healed_finishes_every_cascade(healthy: FaultStack) -> None:
    cut_s = size(10.0, 30.0)
    n = size(30, 200)
    images = Images()
    requests = await backups_first(healthy, images, n, "before-cut")
    await produce(healthy.bootstrap, requests)
    first = list(images.backups)
    await until(lambda: jobs_done(healthy, images, first), timeout_s=90, what="the first images")

    # In flight when the cut comes: new creations whose events are on the broker but not yet handled.
    requests = await backups_first(healthy, images, n, "in-flight")
    await produce(healthy.bootstrap, requests)
    healthy.proxy.cut()
    cut_at = time.monotonic()
    ready: Counter[str] = Counter()
    health: Counter[int] = Counter()
    # Deletions during the cut: accepted by the API, their events wait in the outbox.
    calls = await delete_images(healthy, images, first[: n // 2], with_backup=True, timeout_s=cut_s)
    await delete_images(healthy, images, first[n // 2 : n // 2 + n // 4], with_backup=False, timeout_s=cut_s)
    while time.monotonic() - cut_at < cut_s:
        for service, code in (await _probe(healthy, "/ready")).items():
            if code == 503:
                ready[service] += 1
        health.update((await _probe(healthy, "/health")).values())
        await asyncio.sleep(1)
    healthy.proxy.heal()
    healed_at = time.monotonic()

    async def all_ready() -> bool:
        return set((await _probe(healthy, "/ready")).values()) == {200}

    await until(all_ready, timeout_s=60, what="every service to be ready again")
    ready_again = time.monotonic() - healed_at

    async def settled() -> bool:
        settled.pending = await unsettled(healthy, images)  # type: ignore[attr-defined]
        return not settled.pending  # type: ignore[attr-defined]

    try:
        await until(settled, timeout_s=120, what="every cascade to finish after the cut")
    except AssertionError as exc:
        raise AssertionError(f"unsettled: {settled.pending[:10]}") from exc  # type: ignore[attr-defined]
    settle_s = time.monotonic() - healed_at
    assert healthy.exited() == {}, "a service died during the cut"
    assert set(health) == {200}, f"/health answered {dict(health)} during the cut"
    assert set(ready) == set(SERVICES), f"/ready did not report the cut on every service: {dict(ready)}"
    await asyncio.sleep(3.5)  # a rating period after the last deletion
    events = await event_log(healthy.bootstrap, [f"ims.{CN}.images", f"ims.{CN}.backups"])
    assert wrong_events(events, images) == []
    assert await books_wrong(healthy, images) == []
    report(
        "broker cut",
        cut_s=cut_s,
        images=len(images.backups),
        deletions_during_cut=len(images.with_backup) + len(images.without_backup),
        api_calls_during_cut=calls,
        ready_503_probes=dict(ready),
        health_non_200=sum(v for k, v in health.items() if k != 200),
        ready_again_s=round(ready_again, 1),
        settled_after_heal_s=round(settle_s, 1),
        republished_records=events.republished([*images.backups, *images.backups.values()]),
    )
