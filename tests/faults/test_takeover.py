"""Two image-service processes in one consumer group and one database; one is killed with SIGKILL while
creations are in flight. The other takes its partitions over and nothing is lost or made twice."""

import asyncio
import os
import time

import httpx
import pytest

from ims_devstack import ServiceProcess, free_port
from tests.faults.conftest import FaultStack
from tests.faults.scenario import Images, backups_first, books_wrong, jobs_done, unsettled, wrong_events
from tests.faults.tools import CN, event_log, produce, report, size, until

pytestmark = pytest.mark.faults
SECOND = "image-service[cn-north-4]#2"


async def _ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=3) as http:
        return (await http.get(f"{url}/ready")).status_code == 200


@pytest.mark.timeout(size(300, 900))
@pytest.mark.skipif(
    not os.environ.get("FAULTS_FULL"),
    reason="runs in `make test-faults`: about one run in ten Tansu kept the dead member for over 120 s",
)
async def test_the_surviving_instance_takes_over_the_partitions(healthy: FaultStack) -> None:
    first = healthy.process("image-service")
    second = ServiceProcess("image-service", CN, free_port(), first.database)
    healthy.stack.start_service(second, SECOND)
    url = f"http://127.0.0.1:{second.port}"
    try:
        await until(lambda: _ready(url), timeout_s=90, what="the second image-service to get partitions")
        n = size(60, 400)
        images = Images()
        requests = await backups_first(healthy, images, n, "takeover")
        await produce(healthy.bootstrap, requests[: n // 2])
        await asyncio.sleep(0.5)
        healthy.kill(first.label)
        killed_at = time.monotonic()
        await produce(healthy.bootstrap, requests[n // 2 :])
        try:
            await until(lambda: jobs_done(healthy, images), timeout_s=120, what="every job, handled by the survivor")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; group: {await _group(healthy.bootstrap)}; ready: {await _ready(url)}"
            ) from exc
        takeover_s = time.monotonic() - killed_at
        handled_by_survivor = await _handled(url)

        async def settled() -> bool:
            return not await unsettled(healthy, images)

        await until(settled, timeout_s=60, what="every image to settle")
        events = await event_log(healthy.bootstrap, [f"ims.{CN}.images", f"ims.{CN}.backups"])
        assert wrong_events(events, images) == []
        assert await books_wrong(healthy, images) == []
        assert handled_by_survivor > 0
    finally:
        healthy.kill(SECOND)
        healthy.stack.processes.pop(SECOND, None)
    report(
        "two instances, one killed",
        images=n,
        all_done_after_kill_s=round(takeover_s, 1),
        events_handled_by_survivor=int(handled_by_survivor),
        republished_records=events.republished([*images.backups, *images.backups.values()]),
    )


async def _handled(url: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{url}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ims_events_consumed_total{") and 'outcome="handled"' in line
    )


async def _group(bootstrap: str) -> object:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.describe_consumer_groups(["image-service.cn-north-4"])
    finally:
        await admin.close()
