"""Periodic background work (sweepers, rating cycles) that survives errors and reports a heartbeat."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ims_shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class PeriodicTask:
    name: str
    interval_s: float
    work: Callable[[], Awaitable[object]]
    last_tick: float = field(default_factory=time.monotonic)

    async def run(self) -> None:
        backoff = self.interval_s
        while True:
            self.last_tick = time.monotonic()
            try:
                await self.work()
                backoff = self.interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("background pass failed", task=self.name, error=str(exc))
                backoff = min(max(backoff * 2, 0.2), 10.0)
            await asyncio.sleep(backoff)
