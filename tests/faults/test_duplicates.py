"""10 % of the events delivered twice, aggregates interleaved, some requests before their backup, and half of the
copies late: after the image was made, after it was deleted, after its backup was deleted. No double effect:
one image, one job outcome, one meter, one charge per period, nothing deleted comes back."""

import asyncio
import random
import time

import httpx
import pytest

from tests.faults.conftest import FaultStack
from tests.faults.scenario import Images, books_wrong, delete_images, jobs_done, unsettled, wrong_events
from tests.faults.tools import CN, Outgoing, event_log, produce, report, size, until

pytestmark = pytest.mark.faults


async def _duplicates_seen(system: FaultStack) -> float:
    total = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        for service in ("image-service", "backup-service", "billing-service"):
            for line in (await http.get(f"{system.url(service)}/metrics")).text.splitlines():
                if line.startswith("ims_events_consumed_total{") and 'outcome="duplicate"' in line:
                    total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.timeout(size(300, 900))
async def test_duplicated_interleaved_and_late_events_have_one_effect(healthy: FaultStack) -> None:
    n = size(60, 400)
    rng = random.Random(7)
    images = Images()
    backups, requests = images.new(n, "dup")
    # Interleave the aggregates; a quarter of the requests come before their backup (the job waits for it).
    early = set(rng.sample(range(n), n // 4))
    stream: list[Outgoing] = [requests[i] for i in sorted(early)]
    rest = [b for b in backups] + [r for i, r in enumerate(requests) if i not in early]
    rng.shuffle(rest)
    # Keep each image's request after its backup unless it was chosen to come early.
    stream += sorted(rest, key=lambda o: (o.topic.endswith(".images"), rng.random()))
    duplicated = rng.sample(stream, max(1, len(stream) // 10))
    soon, late = duplicated[: len(duplicated) // 2], duplicated[len(duplicated) // 2 :]
    for copy in soon:
        stream.insert(rng.randrange(stream.index(copy) + 1, len(stream) + 1), copy)
    before = await _duplicates_seen(healthy)
    started = time.monotonic()
    await produce(healthy.bootstrap, stream)
    await until(lambda: jobs_done(healthy, images), timeout_s=120, what="every image from the first delivery")
    ids = list(images.backups)
    await delete_images(healthy, images, ids[: n // 3], with_backup=True)
    await delete_images(healthy, images, ids[n // 3 : 2 * n // 3], with_backup=False)

    async def settled() -> bool:
        return not await unsettled(healthy, images)

    await until(settled, timeout_s=120, what="the deletions to cascade")
    # The late copies: requests of images that exist or were deleted, backups that were deleted.
    await produce(healthy.bootstrap, late)
    expected = len(soon) + len(late)

    async def copies_handled() -> bool:
        # Each copy reaches every service that consumes its topic; count at least one sighting per copy.
        return await _duplicates_seen(healthy) - before >= expected

    await until(copies_handled, timeout_s=60, what="the copies to be seen as duplicates")
    await asyncio.sleep(3.5)  # anything a copy wrongly started would show by now
    pending = await unsettled(healthy, images)
    assert pending == [], pending[:10]
    events = await event_log(healthy.bootstrap, [f"ims.{CN}.images", f"ims.{CN}.backups"])
    assert wrong_events(events, images) == []
    assert await books_wrong(healthy, images) == []
    report(
        "duplicates",
        events=len(backups) + len(requests),
        duplicated=expected,
        late_copies=len(late),
        requests_before_backup=len(early),
        duplicates_dropped_by_inboxes=int(await _duplicates_seen(healthy) - before),
        seconds=round(time.monotonic() - started, 1),
    )
