"""`make bench`: the system measured beside the bare limit of the same broker and PostgreSQL, in one run.

Phases, in order (README.md says what each measures and why):
  1. bare pipeline     plain aiokafka + asyncpg, image-service's tables, same broker and PostgreSQL server
  2. throughput        BackupCreated + ImageRequested produced as fast as the broker takes them -> ImageCreated
  3. arrears cascade   BackupArrears -> BackupDeleted -> ImageDeleted for backups that have images; then the bare
                       pipeline again (the throughput targets divide by the mean of its two runs)
  4. latency           ImageRequested -> ImageCreated at 50, 200 and 1,000/s, and the bare pipeline's at 200 and
                       1,000/s, each event's time broken into hops (bench/hops.py); signed POST -> job SUCCESS
  5. scale-out         one, then two image-service processes in one consumer group
  6. growth            latency at 50/s with 10,000 and with 200,000 images stored (seeded with COPY)

Each measured run (the bare pipeline; creation with its cascade; each latency rate; the bare pipeline's latency at
each rate it is measured at; HTTP; scale-out; growth) starts on a new, empty broker, the services started again on
it and warmed up.

BENCH_SCALE (default 1) scales every count and duration, e.g. BENCH_SCALE=0.1 for a quick run. BENCH_PHASES picks
the groups of phases to run after the bare pipeline (for example BENCH_PHASES=creation,latency-200,floor-200; the
names in Bench.phase_groups): a partial run prints what it measured and writes .run/bench-partial.json, never the
committed results. KAFKA_MAX_BATCH,
RELAY_BATCH_SIZE, KAFKA_FETCH_MAX_WAIT_MS and LOG_LEVEL in the environment reach the services (and
KAFKA_MAX_BATCH the bare pipeline). BENCH_PROFILE=1 samples the services with py-spy in the throughput phase,
BENCH_PROFILE=cascade in the arrears cascade, BENCH_PROFILE=latency-200 (or another rate) in that latency run.
"""

import asyncio
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiokafka
import asyncpg
import httpx

import image_service
import ims_shared
from bench import hops, report, seed
from bench.events import ALPHA, BACKUPS_TOPIC, IMAGES_TOPIC, PROJECT, REGION, Pair, Record, arrears, interleaved, pairs
from bench.profile import Profiler, cpu_seconds, cpu_text, cpu_used
from bench.traffic import (
    Observer,
    by_window,
    data_field,
    percentiles,
    produce_burst,
    produce_paced,
    producer,
    windows_text,
)
from ims_devstack import LOCAL_POSTGRES, LOCAL_POSTGRES_SOCKET, ServiceProcess, Stack, free_port, tansu_binary
from ims_shared.db import apply_migrations
from ims_shared.kafka import DEFAULT_PARTITIONS, create_topics
from ims_shared.server import port_free
from ims_shared.signing import SignedRequest, sign
from ims_shared.topics import all_topics

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / ".run" / "bench-logs"
PROFILES = REPO / ".run" / "bench-profiles"
PROFILE = os.environ.get("BENCH_PROFILE", "")
PROFILED_PHASE = "" if PROFILE in ("", "0") else "throughput" if PROFILE == "1" else PROFILE
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
IMAGES = max(400, int(20_000 * SCALE))
CASCADE = min(IMAGES, max(200, int(10_000 * SCALE)))
SCALE_OUT_IMAGES = max(400, int(10_000 * SCALE))
LOAD_S = max(3.0, 15.0 * SCALE)
RATES = (50, 200, 1000)
FLOOR_RATES = (200, 1000)  # the bare pipeline's latency, for the latency targets at these rates
HTTP_RATE = 20.0
GROWTH = (max(1_000, int(10_000 * SCALE)), max(20_000, int(200_000 * SCALE)))
# 50/s, not 200/s: at 200/s the development broker's CPU saturated within the phase and its drift, not the stored
# images, set the latency (bench/README.md).
GROWTH_RATE = 50
WARM_UP = 300
PHASES = [name for name in os.environ.get("BENCH_PHASES", "").split(",") if name]
MAX_BATCH = os.environ.get("KAFKA_MAX_BATCH", "500")
SERVICE_ENV = {
    "IMAGE_BUILD_S": "0",
    "BACKUP_WAIT_S": "600",
    "KAFKA_MAX_BATCH": MAX_BATCH,
    "RELAY_BATCH_SIZE": os.environ.get("RELAY_BATCH_SIZE", "1000"),
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    "LOG_FORMAT": "json",
    "TENANTS_FILE": "",
    "INITIAL_BALANCE": "1000000000",
}
# Latency-tuned where an event's path is measured: image-service carries creation, the path every latency phase
# measures. billing-, replication- and compute-service only follow what it publishes, so they wait for a full fetch
# or 250 ms: asking for one byte, each of them handled 25 to 35 batches a second of about seven events at 200/s
# (counted in their logs); asking for a full fetch, 3 or 4 of about fifty. backup-service follows too but carries
# the arrears cascade, measured as throughput, so it waits 50 ms at most (bench/README.md, "What the 12-08 runs
# showed").
FETCH_WAIT_MS = os.environ.get("KAFKA_FETCH_MAX_WAIT_MS")
LATENCY_TUNED = {"KAFKA_FETCH_MAX_WAIT_MS": FETCH_WAIT_MS or "10"}
# The reader of the paced runs reads as image-service does (its fetch wait, any record at once): the time it sees
# ImageCreated is when a consumer could read it, the last hop of the breakdown (bench/hops.py).
EAGER_FETCH_WAIT_MS = int(LATENCY_TUNED["KAFKA_FETCH_MAX_WAIT_MS"])
FOLLOWER = {"KAFKA_FETCH_MAX_WAIT_MS": FETCH_WAIT_MS or "250", "KAFKA_FETCH_MIN_BYTES": "1000000"}
SERVICE_FETCH = {
    "image-service": LATENCY_TUNED,
    "backup-service": FOLLOWER | {"KAFKA_FETCH_MAX_WAIT_MS": FETCH_WAIT_MS or "50"},
    "billing-service": FOLLOWER,
    "replication-service": FOLLOWER,
    "compute-service": FOLLOWER,  # follows the images and backups topics to know what ECSs may be made from
}
BARE_IN = {BACKUPS_TOPIC: "bench.bare.backups", IMAGES_TOPIC: "bench.bare.images"}
BARE_OUT = "bench.bare.out"
# Where the bare pipeline's outputs are read: ImageCreated on its images topic (as the contract's images topic carries
# requests and results alike, bench/pipeline.py), BackupRecorded on BARE_OUT.
BARE_OBSERVED = (BARE_IN[IMAGES_TOPIC], BARE_OUT)
CREATED = {"ImageCreated", "ImageCreationFailed"}
MIGRATIONS = Path(image_service.__file__).parent / "migrations"
SHARED_MIGRATIONS = Path(ims_shared.__file__).parent / "migrations"


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def reader(bootstrap: str, topic: str | tuple[str, ...], *, eager: bool) -> Observer:
    """The observer of ``topic``: reading gently (full fetches) or, ``eager``, as image-service does."""
    if eager:
        return Observer(bootstrap, topic, DEFAULT_PARTITIONS, fetch_wait_ms=EAGER_FETCH_WAIT_MS, fetch_min_bytes=1)
    return Observer(bootstrap, topic, DEFAULT_PARTITIONS)


def busy_cpu(seconds: float = 2.0) -> float:
    """How busy the machine's CPUs are before the bench starts (0..1): other work skews every figure."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def python_speed_ms() -> float:
    """A fixed piece of pure Python, timed (best of three, ms): how fast one core of this machine runs the
    services' kind of work, so that runs on different machines can be told apart."""

    def work() -> int:
        total = 0
        for i in range(2_000_000):
            total += i % 7
        return total

    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


async def postgres_round_trip_us(server: str, count: int = 1000) -> float:
    """The median of ``SELECT 1`` round trips to PostgreSQL over the bench's connection (microseconds)."""
    conn = await asyncpg.connect(server)
    try:
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            samples.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return round(statistics.median(samples) * 1e6, 1)


def postgres_transport(server: str) -> str:
    """How the bench reaches PostgreSQL: a URL without a host means the default Unix socket."""
    return "TCP" if urlsplit(server).hostname else "its Unix socket"


def database_url(server: str, name: str) -> str:
    return f"{server.rpartition('/')[0]}/{name}"


def timeline(times: list[float], points: int = 200) -> list[float]:
    """Completion times (sorted), thinned to about ``points`` for plotting."""
    step = max(1, len(times) // points)
    thinned = times[step - 1 :: step]
    if thinned[-1] != times[-1]:
        thinned.append(times[-1])
    return [round(t, 4) for t in thinned]


async def burst(
    observer: Observer,
    kafka: aiokafka.AIOKafkaProducer,
    records: list[Record],
    keys: list[str],
    types: set[str],
    timeout_s: float,
) -> dict[str, Any]:
    """Produce ``records`` as fast as the broker takes them and wait until ``keys`` are all seen."""
    observer.expect(keys, types)
    start, acked = await produce_burst(kafka, records)
    if not await observer.wait(timeout_s):
        raise BenchError(f"{observer.pending} of {len(keys)} outcomes not seen within {timeout_s:.0f} s")
    times = sorted(observer.published_at(k) - start for k in keys)
    return {
        "seconds": times[-1],
        "seen_s": max(observer.seen_at(k) for k in keys) - start,
        "produced_s": acked - start,
        "outcomes": dict(Counter(observer.seen[k][0] for k in keys)),
        "timeline_s": timeline(times),
    }


async def quiesce(dsns: list[str], settle_s: float = 2.0, timeout_s: float = 900.0) -> None:
    """Until every service has published its outbox and handled nothing new for ``settle_s``."""
    conns = [await asyncpg.connect(d) for d in dsns]
    try:
        deadline = time.monotonic() + timeout_s
        last: list[tuple[int, int]] = []
        since = time.monotonic()
        while time.monotonic() < deadline:
            state = [
                (
                    int(await c.fetchval("SELECT count(*) FROM inbox")),
                    int(await c.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")),
                )
                for c in conns
            ]
            if state != last or any(unpublished for _, unpublished in state):
                last, since = state, time.monotonic()
            elif time.monotonic() - since >= settle_s:
                return
            await asyncio.sleep(0.25)
        raise BenchError("the services did not settle")
    finally:
        for c in conns:
            await c.close()


async def wait_backups_known(dsn: str, backup_ids: list[str], timeout_s: float = 300.0) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            known = await conn.fetchval("SELECT count(*) FROM backup_projection WHERE backup_id = ANY($1)", backup_ids)
            if known == len(backup_ids):
                return
            await asyncio.sleep(0.2)
        raise BenchError("image-service did not learn the backups in time")
    finally:
        await conn.close()


async def hop_stamps(
    dsn: str,
    consumer: str,
    items: list[Pair],
    scheduled: dict[str, float],
    produced: dict[str, float],
    observer: Observer,
    timeout_s: float = 60.0,
) -> dict[str, dict[str, float]]:
    """Each image's stamps for ``hops.breakdown``: the load generator's, the consumer's inbox row of its request and
    the outbox row of its ImageCreated (once the relay has marked them all), and the observer's, on one clock."""
    request_ids = {p.image_id: json.loads(p.request.value)["id"] for p in items}
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await conn.fetch(
                "SELECT key, written_at, relay_read_at, acked_at FROM outbox "
                "WHERE event_type = 'ImageCreated' AND key = ANY($1)",
                list(request_ids),
            )
            marked = sum(1 for row in rows if row["acked_at"] is not None)
            if marked >= len(request_ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        inbox = await conn.fetch(
            "SELECT event_id, received_at FROM inbox WHERE consumer = $1 AND event_id = ANY($2)",
            consumer,
            list(request_ids.values()),
        )
    finally:
        await conn.close()
    wall_minus_perf = time.time() - time.perf_counter()

    def on_clock(at: datetime | None) -> float | None:
        return None if at is None else at.timestamp() - wall_minus_perf

    taken_up = {row["event_id"]: on_clock(row["received_at"]) for row in inbox}
    outbox = {row["key"]: row for row in rows}
    stamps: dict[str, dict[str, float]] = {}
    for image_id, request_id in request_ids.items():
        found: dict[str, float | None] = {
            "scheduled": scheduled.get(image_id),
            "produced": produced.get(image_id),
            "taken_up": taken_up.get(request_id),
            "sent": observer.published.get(image_id),
            "readable": observer.seen[image_id][1] if image_id in observer.seen else None,
        }
        if image_id in outbox:
            row = outbox[image_id]
            found |= {
                "written": on_clock(row["written_at"]),
                "read": on_clock(row["relay_read_at"]),
                "acked": on_clock(row["acked_at"]),
            }
        stamps[image_id] = {k: v for k, v in found.items() if v is not None}
    return stamps


class Bench:
    def __init__(self) -> None:
        self.prefix = f"ims_bench_{uuid.uuid4().hex[:6]}"
        self.stack = Stack(
            regions=[REGION],
            port_offset=30000,
            kafka_port=39092,
            db_prefix=self.prefix,
            extra_env=SERVICE_ENV,
            service_extra_env=SERVICE_FETCH,
            log_dir=LOGS,
            # The local PostgreSQL over its Unix socket first, where it answers there and DATABASE_URL does not say
            # otherwise: the bench's processes share the machine with the server, as a service co-located with its
            # database does. A round trip costs the client less than over loopback TCP, and image-service spends much of
            # its time sending statements (bench/README.md).
            local_postgres=(LOCAL_POSTGRES_SOCKET, LOCAL_POSTGRES),
            development_mode=True,
        )
        self.results: dict[str, Any] = {}
        self.bare_dsn = ""

    # -- plumbing of the run ----------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        assert self.stack.kafka_bootstrap
        return self.stack.kafka_bootstrap

    def dsn(self, service: str) -> str:
        assert self.stack.database_server
        process = next(p for p in self.stack.plan if p.service == service)
        return database_url(self.stack.database_server, process.database)

    @property
    def service_dsns(self) -> list[str]:
        assert self.stack.database_server
        return [database_url(self.stack.database_server, p.database) for p in self.stack.plan]

    async def failures(self) -> list[str]:
        conn = await asyncpg.connect(self.dsn("image-service"))
        try:
            rows = await conn.fetch(
                "SELECT error_code, left(fail_reason, 160) AS reason, count(*) AS n FROM jobs WHERE status = 'FAIL' "
                "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5"
            )
        finally:
            await conn.close()
        return [f"{r['n']} x {r['error_code']}: {r['reason']}" for r in rows]

    async def whereabouts(self, image_ids: list[str]) -> list[str]:
        """What image-service's database says of images that were awaited in vain: their job, if any, and its
        inbox claim, so that a lost event can be told from one lost in a handler."""
        conn = await asyncpg.connect(self.dsn("image-service"))
        try:
            found = []
            for image_id in image_ids[:5]:
                job = await conn.fetchrow(
                    "SELECT job_id, status, error_code, wait_until, backup_id FROM jobs WHERE image_id = $1", image_id
                )
                image = await conn.fetchval("SELECT status FROM images WHERE image_id = $1", image_id)
                outbox = await conn.fetch(
                    "SELECT event_type, published_at IS NOT NULL AS published FROM outbox WHERE key = $1", image_id
                )
                found.append(
                    f"{image_id}: job {dict(job) if job else None}, image {image}, outbox {[tuple(r) for r in outbox]}"
                )
        finally:
            await conn.close()
        return found

    async def settle(self) -> None:
        await quiesce(self.service_dsns)

    # -- 1. the bare pipeline -----------------------------------------------------------------------------------
    async def prepare_bare(self, database: str = "bare") -> str:
        assert self.stack.database_server
        dsn = database_url(self.stack.database_server, f"{self.prefix}_{database}")
        await apply_migrations(dsn, MIGRATIONS, SHARED_MIGRATIONS)
        await create_topics(self.bootstrap, [*BARE_IN.values(), BARE_OUT])
        return dsn

    def start_bare(self, dsn: str, fetch_wait_ms: str = "500") -> subprocess.Popen[bytes]:
        self.bare_dsn = dsn
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / "bare-pipeline.log", "ab") as out:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.pipeline",
                    self.bootstrap,
                    dsn,
                    "bench-bare",
                    BARE_OUT,
                    MAX_BATCH,
                    fetch_wait_ms,
                    *BARE_IN.values(),
                ],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def bare(self) -> dict[str, Any]:
        observer = Observer(self.bootstrap, BARE_OBSERVED, DEFAULT_PARTITIONS)
        kafka = producer(self.bootstrap, burst=True)
        await observer.start()
        await kafka.start()
        try:

            def bare_records(items: list[Pair]) -> list[Record]:
                return [replace(r, topic=BARE_IN[r.topic]) for r in interleaved(items)]

            def keys(items: list[Pair]) -> list[str]:
                return [p.backup_id for p in items] + [p.image_id for p in items]

            warm = pairs(WARM_UP, "bare-warm")
            await burst(observer, kafka, bare_records(warm), keys(warm), {"BackupRecorded", "ImageCreated"}, 120)
            items = pairs(IMAGES, "bare")
            log(f"bare pipeline: {len(items):,} images ({2 * len(items):,} events)")
            run = await burst(
                observer, kafka, bare_records(items), keys(items), {"BackupRecorded", "ImageCreated"}, 600
            )
        finally:
            await kafka.stop()
            await observer.stop()
        events = 2 * len(items)
        return {
            "images": len(items),
            "events": events,
            **run,
            "events_per_s": events / run["seconds"],
            "images_per_s": len(items) / run["seconds"],
            "timeline_total": events,
        }

    async def bare_latency(
        self, burst_kafka: aiokafka.AIOKafkaProducer, paced_kafka: aiokafka.AIOKafkaProducer, rate: float
    ) -> dict[str, Any]:
        """The floor of latency: the bare pipeline, fetching as often as image-service does, at ``rate`` for as
        long as the system's run, on a broker in the state the system's runs find theirs (new, after the
        services' warm-up), the services running idle."""
        await create_topics(self.bootstrap, [*BARE_IN.values(), BARE_OUT])
        child = self.start_bare(self.bare_dsn, SERVICE_FETCH["image-service"]["KAFKA_FETCH_MAX_WAIT_MS"])
        observer = reader(self.bootstrap, BARE_OBSERVED, eager=True)
        await observer.start()
        produced: dict[str, float] = {}
        try:
            items = pairs(int(rate * LOAD_S), f"bare-{rate:g}")
            warm = pairs(50, "bare-latency-warm")
            backups = [replace(p.backup, topic=BARE_IN[p.backup.topic]) for p in warm + items]
            requests = [replace(p.request, topic=BARE_IN[p.request.topic]) for p in warm]
            await burst(
                observer,
                burst_kafka,
                backups + requests,
                [p.image_id for p in warm] + [p.backup_id for p in warm + items],
                {"BackupRecorded", "ImageCreated"},
                120,
            )
            log(f"bare pipeline: ImageRequested at {rate:g}/s for {LOAD_S:g} s")
            observer.expect([p.image_id for p in items], {"ImageCreated"})
            pids = self.pids() | {"bare pipeline": child.pid}
            cpu_before = cpu_seconds(pids)
            scheduled = await produce_paced(
                paced_kafka,
                [(p.image_id, replace(p.request, topic=BARE_IN[p.request.topic])) for p in items],
                rate,
                produced,
            )
            if not await observer.wait(300):
                raise BenchError(f"{observer.pending} bare-pipeline images not seen within 300 s at {rate:g}/s")
            cpu = cpu_used(cpu_before, cpu_seconds(pids))
            stamps = await hop_stamps(self.bare_dsn, "bench-bare", items, scheduled, produced, observer)
        finally:
            await observer.stop()
            child.send_signal(signal.SIGTERM)
            await asyncio.to_thread(child.wait, 15)
        latency = {k: observer.published_at(k) - t for k, t in scheduled.items()}
        stats: dict[str, Any] = percentiles(list(latency.values()))
        stats["seen"] = percentiles([observer.seen_at(k) - t for k, t in scheduled.items()])
        stats["windows"] = by_window(scheduled, latency)
        stats["hops"] = hops.breakdown(stamps)
        log(f"bare pipeline at {rate:g}/s: p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms")
        log(f"bare pipeline at {rate:g}/s: {windows_text(stats['windows'])}")
        log(f"bare pipeline at {rate:g}/s: {hops.text(stats['hops'])}")
        log(f"bare pipeline at {rate:g}/s: CPU seconds {cpu_text(cpu)}")
        return {**stats, "offered_per_s": rate, "achieved_per_s": rate, "cpu_s": cpu}

    # -- 2. throughput of image creation ------------------------------------------------------------------------
    async def creation(
        self,
        observer: Observer,
        kafka: aiokafka.AIOKafkaProducer,
        count: int,
        label: str,
    ) -> tuple[dict[str, Any], list[Pair]]:
        items = pairs(count, label)
        log(f"{label}: {count:,} images ({2 * count:,} events) as fast as the broker takes them")
        cpu_before = cpu_seconds(self.pids())
        run = await burst(observer, kafka, interleaved(items), [p.image_id for p in items], CREATED, 900)
        run["cpu_s"] = cpu_used(cpu_before, cpu_seconds(self.pids()))
        events = 2 * count
        failed = run["outcomes"].get("ImageCreationFailed", 0)
        if failed:
            raise BenchError(f"{failed} image creations failed during {label}: {await self.failures()}")
        log(f"{label}: {events / run['seconds']:,.0f} events/s ({count / run['seconds']:,.0f} images/s)")
        return {
            "images": count,
            "events": events,
            **run,
            "events_per_s": events / run["seconds"],
            "images_per_s": count / run["seconds"],
            "timeline_total": events,
        }, items

    # -- 3. the arrears cascade ---------------------------------------------------------------------------------
    async def cascade(self, observer: Observer, kafka: aiokafka.AIOKafkaProducer, items: list[Pair]) -> dict[str, Any]:
        log(f"arrears cascade: {len(items):,} backups with images")
        cpu_before = cpu_seconds(self.pids())
        run = await burst(
            observer, kafka, [arrears(p.backup_id) for p in items], [p.image_id for p in items], {"ImageDeleted"}, 900
        )
        run["cpu_s"] = cpu_used(cpu_before, cpu_seconds(self.pids()))
        conn = await asyncpg.connect(self.dsn("backup-service"))
        try:
            deleted = await conn.fetchval(
                "SELECT count(*) FROM backups WHERE backup_id = ANY($1) AND status = 'deleted'",
                [p.backup_id for p in items],
            )
        finally:
            await conn.close()
        if deleted != len(items):
            raise BenchError(f"only {deleted} of {len(items)} backups deleted by the cascade")
        log(f"arrears cascade: {len(items) / run['seconds']:,.0f} backups/s")
        return {
            "backups": len(items),
            **run,
            "cascades_per_s": len(items) / run["seconds"],
            "timeline_total": len(items),
        }

    # -- 4. latency at fixed offered loads ----------------------------------------------------------------------
    async def latency(
        self,
        observer: Observer,
        burst_kafka: aiokafka.AIOKafkaProducer,
        paced_kafka: aiokafka.AIOKafkaProducer,
        rate: float,
        label: str,
        raw: list[float] | None = None,
    ) -> dict[str, Any]:
        """Latency at ``rate``; its samples (seconds) are also added to ``raw`` when given."""
        count = int(rate * LOAD_S)
        items = pairs(count, label)
        await produce_burst(burst_kafka, [p.backup for p in items])
        await wait_backups_known(self.dsn("image-service"), [p.backup_id for p in items])
        await self.settle()
        log(f"{label}: ImageRequested at {rate:g}/s for {LOAD_S:g} s")
        observer.expect([p.image_id for p in items], CREATED)
        cpu_before = cpu_seconds(self.pids())
        produced: dict[str, float] = {}
        scheduled = await produce_paced(paced_kafka, [(p.image_id, p.request) for p in items], rate, produced)
        if not await observer.wait(300):
            lost = await self.whereabouts(observer.missing)
            raise BenchError(f"{observer.pending} images not created within 300 s at {rate}/s: {lost}")
        cpu = cpu_used(cpu_before, cpu_seconds(self.pids()))
        failed = sum(1 for p in items if observer.seen[p.image_id][0] != "ImageCreated")
        if failed:
            raise BenchError(f"{failed} image creations failed at {rate}/s: {await self.failures()}")
        stamps = await hop_stamps(
            self.dsn("image-service"), f"image-service.{REGION}", items, scheduled, produced, observer
        )
        latency = {k: observer.published_at(k) - t for k, t in scheduled.items()}
        samples = list(latency.values())
        if raw is not None:
            raw += samples
        span = max(scheduled.values()) - min(scheduled.values())
        stats: dict[str, Any] = percentiles(samples)
        stats["seen"] = percentiles([observer.seen_at(k) - t for k, t in scheduled.items()])
        stats["windows"] = by_window(scheduled, latency)
        stats["hops"] = hops.breakdown(stamps)
        log(f"{label}: p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, max {stats['max_ms']:.1f} ms")
        log(f"{label}: {windows_text(stats['windows'])}")
        log(f"{label}: {hops.text(stats['hops'])}")
        log(f"{label}: CPU seconds {cpu_text(cpu)}")
        return {**stats, "offered_per_s": rate, "achieved_per_s": (count - 1) / span if span else 0, "cpu_s": cpu}

    def pids(self) -> dict[str, int]:
        """The processes whose CPU time a phase reports: the services, the broker and this load generator."""
        pids = {label: child.pid for label, child in self.stack.processes.items() if child.poll() is None}
        if self.stack.tansu_pid is not None:
            pids["tansu"] = self.stack.tansu_pid
        return pids | {"bench": os.getpid()}

    async def http(self, burst_kafka: aiokafka.AIOKafkaProducer) -> dict[str, Any]:
        """Signed POST /v1/cloudimages/wholeimages/action -> the job's SUCCESS. SUCCESS is committed in the same
        transaction as the ImageCreated outbox row, so the time ImageCreated (with the job id) is seen on Kafka
        is an upper bound of when the job showed SUCCESS; each job is then read back with a signed GET."""
        count = int(HTTP_RATE * LOAD_S)
        items = pairs(count, "http")
        await produce_burst(burst_kafka, [p.backup for p in items])
        await wait_backups_known(self.dsn("image-service"), [p.backup_id for p in items])
        await self.settle()
        log(f"HTTP: signed POST wholeimages at {HTTP_RATE:g}/s for {LOAD_S:g} s")
        base = self.stack.url("image-service", REGION)
        observer = Observer(self.bootstrap, IMAGES_TOPIC, DEFAULT_PARTITIONS, key_of=data_field("job_id"))
        await observer.start()
        observer.expect([], CREATED)
        posted: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def call(method: str, path: str, body: Any = None) -> httpx.Response:
                raw = b"" if body is None else json.dumps(body).encode()
                headers = {"Host": urlsplit(base).netloc, "Content-Type": "application/json", "X-Project-Id": PROJECT}
                signed = sign(
                    SignedRequest(method, path, "", headers, raw), ALPHA.access_key, ALPHA.secret_key, datetime.now(UTC)
                )
                return await client.request(method, path, content=raw, headers=signed)

            async def create(pair: Pair, due: float) -> None:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                answer = await call(
                    "POST",
                    "/v1/cloudimages/wholeimages/action",
                    {"name": f"bench-http-{pair.image_id[:8]}", "backup_id": pair.backup_id, "whole_image_type": "CBR"},
                )
                if answer.status_code != 200:
                    raise BenchError(f"POST wholeimages answered {answer.status_code}: {answer.text}")
                posted[answer.json()["job_id"]] = due

            start = time.perf_counter() + 0.1
            await asyncio.gather(*(create(p, start + i / HTTP_RATE) for i, p in enumerate(items)))
            observer.expect(list(posted), CREATED, keep=True)
            if not await observer.wait(300):
                raise BenchError(f"{observer.pending} jobs did not succeed within 300 s")
            await observer.stop()
            statuses: Counter[str] = Counter()
            for job_id in posted:
                answer = await call("GET", f"/v1/{PROJECT}/jobs/{job_id}")
                statuses[answer.json().get("status")] += 1
        if statuses != Counter({"SUCCESS": count}):
            raise BenchError(f"jobs after the HTTP run: {dict(statuses)}")
        stats: dict[str, Any] = percentiles([observer.published_at(j) - t for j, t in posted.items()])
        stats["seen"] = percentiles([observer.seen_at(j) - t for j, t in posted.items()])
        log(f"HTTP: p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, max {stats['max_ms']:.1f} ms")
        return {**stats, "offered_per_s": HTTP_RATE, "achieved_per_s": HTTP_RATE}

    # -- 5. scale-out -------------------------------------------------------------------------------------------
    async def wait_ready(self, port: int, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise BenchError(f"the second image-service on port {port} was not ready in time")

    # -- 6. growth ----------------------------------------------------------------------------------------------
    async def growth(
        self, observer: Observer, burst_kafka: aiokafka.AIOKafkaProducer, paced_kafka: aiokafka.AIOKafkaProducer
    ) -> dict[str, Any]:
        """Latency at GROWTH_RATE with few and with many images stored, measured small, big, big, small: the
        broker grows costlier with every batch it holds (``make bench-broker``), so a big run always after a
        small one would charge the broker's growth to the stored images; in this order both sizes sit at the same
        mean position. Each size's figures pool its two runs."""
        dsn = self.dsn("image-service")
        small, big = GROWTH
        await self.settle()
        await seed.clear_images(dsn)
        runs: dict[str, list[dict[str, Any]]] = {"small": [], "big": []}
        pooled: dict[str, list[float]] = {"small": [], "big": []}
        for key, wanted in (("small", small), ("big", big), ("big", big), ("small", small)):
            stored = await seed.stored_images(dsn)
            if stored > wanted * 1.1:  # the few images a run made itself may stay
                await seed.clear_images(dsn)
                stored = 0
            log(f"growth: seeding {max(0, wanted - stored):,} images with COPY (to {wanted:,} stored)")
            started = time.perf_counter()
            await seed.seed_images(dsn, max(0, wanted - stored))
            seeded_s = time.perf_counter() - started
            await self.creation(observer, burst_kafka, WARM_UP, f"growth-warm-up-{wanted}")
            await self.settle()
            stored = await seed.stored_images(dsn)
            label = f"growth-{wanted}-{len(runs[key]) + 1}"
            result = await self.latency(observer, burst_kafka, paced_kafka, GROWTH_RATE, label, pooled[key])
            runs[key].append({"stored": stored, "seed_s": seeded_s, **result})
        return {
            key: {
                "stored": runs[key][0]["stored"],
                **percentiles(pooled[key]),
                "offered_per_s": GROWTH_RATE,
                "achieved_per_s": sum(run["achieved_per_s"] for run in runs[key]) / len(runs[key]),
                "runs": runs[key],
            }
            for key in runs
        }

    # -- the run ------------------------------------------------------------------------------------------------
    @asynccontextmanager
    async def clients(
        self, *, paced: bool = False
    ) -> AsyncIterator[tuple[Observer, aiokafka.AIOKafkaProducer, aiokafka.AIOKafkaProducer]]:
        """The load generator's observer and producers on the current broker, and the services warmed up. For
        ``paced`` runs the observer reads as image-service does."""
        observer = reader(self.bootstrap, IMAGES_TOPIC, eager=paced)
        burst_kafka = producer(self.bootstrap, burst=True)
        paced_kafka = producer(self.bootstrap, burst=False)
        await observer.start()
        await burst_kafka.start()
        await paced_kafka.start()
        try:
            await self.creation(observer, burst_kafka, WARM_UP, "warm-up")
            await self.settle()
            yield observer, burst_kafka, paced_kafka
            await self.settle()
        finally:
            await paced_kafka.stop()
            await burst_kafka.stop()
            await observer.stop()

    def fresh_broker(self) -> None:
        """A new, empty broker for the next phases, and the services started again on it (their databases keep
        everything). Tansu's CPU per fetch grows with every batch it holds (``make bench-broker``), so each group
        of phases starts, as the bare pipeline did, on a broker that holds nothing from the groups before."""
        log("a new, empty broker for the next phases; the services start again on it")
        self.stack.stop_services()
        self.new_broker()
        self.start_services()

    def new_broker(self) -> None:
        """A new, empty broker on a free port, with the system's topics."""
        self.stack.stop_kafka()
        self.stack.kafka_port = free_port()
        self.stack.start_kafka()
        asyncio.run(create_topics(self.bootstrap, all_topics(self.stack.regions)))

    async def creation_phases(self) -> None:
        r = self.results
        async with self.clients() as (observer, burst_kafka, _):
            with self.profiled("throughput"):
                r["throughput"], items = await self.creation(observer, burst_kafka, IMAGES, "throughput")
            await self.settle()
            with self.profiled("cascade"):
                r["cascade"] = await self.cascade(observer, burst_kafka, items[:CASCADE])

    @contextmanager
    def profiled(self, phase: str) -> Iterator[None]:
        """The services sampled with py-spy while ``phase`` runs, if BENCH_PROFILE names it."""
        if phase != PROFILED_PHASE:
            yield
            return
        profiler = Profiler(self.stack.processes, PROFILES)
        profiler.start()
        try:
            yield
        finally:
            self.results["profile"] = {"phase": phase, **profiler.stop()}
            log(f"profiles of the {phase} phase in {PROFILES.relative_to(REPO)}")

    async def latency_phase(self, rate: int) -> None:
        async with self.clients(paced=True) as (observer, burst_kafka, paced_kafka):
            with self.profiled(f"latency-{rate}"):
                self.results.setdefault("latency", {})[str(rate)] = await self.latency(
                    observer, burst_kafka, paced_kafka, rate, f"latency-{rate}"
                )

    async def floor_phase(self, rate: int) -> None:
        async with self.clients() as (_, burst_kafka, paced_kafka):
            self.results.setdefault("bare_latency", {})[str(rate)] = await self.bare_latency(
                burst_kafka, paced_kafka, rate
            )

    async def http_phase(self) -> None:
        async with self.clients() as (_, burst_kafka, _):
            self.results["http"] = await self.http(burst_kafka)

    async def scale_out_phases(self) -> None:
        r = self.results
        async with self.clients() as (observer, burst_kafka, _):
            r["scale_out"] = {}
            r["scale_out"]["1"], _ = await self.creation(observer, burst_kafka, SCALE_OUT_IMAGES, "scale-out-1")
            await self.settle()
            first = next(p for p in self.stack.plan if p.service == "image-service")
            second = ServiceProcess("image-service", REGION, free_port(), first.database)
            label = second.label + "#2"
            child = self.stack.start_service(second, label=label)
            try:
                await self.wait_ready(second.port)
                await self.creation(observer, burst_kafka, WARM_UP, "warm-up-2")
                await self.settle()
                r["scale_out"]["2"], _ = await self.creation(observer, burst_kafka, SCALE_OUT_IMAGES, "scale-out-2")
                await self.settle()
            finally:
                self.stack.processes.pop(label, None)
                child.terminate()
                await asyncio.to_thread(child.wait, 15)

    async def growth_phases(self) -> None:
        async with self.clients(paced=True) as (observer, burst_kafka, paced_kafka):
            self.results["growth"] = await self.growth(observer, burst_kafka, paced_kafka)

    def phase_groups(self) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
        """The system's groups of phases by name, in the order a full run takes them."""
        groups: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {"creation": self.creation_phases}
        groups |= {f"latency-{rate}": partial(self.latency_phase, rate) for rate in RATES}
        groups |= {f"floor-{rate}": partial(self.floor_phase, rate) for rate in FLOOR_RATES}
        groups |= {"http": self.http_phase, "scale-out": self.scale_out_phases, "growth": self.growth_phases}
        return groups

    def system(self) -> None:
        """The system's phases, each group on a new broker: the creation and the cascade, each latency run, the
        bare pipeline's latency at each of FLOOR_RATES, HTTP, scale-out, growth (BENCH_PHASES: only those named)."""
        named = self.phase_groups()
        unknown = sorted(set(PHASES) - set(named))
        if unknown:
            raise BenchError(f"BENCH_PHASES names no such group: {unknown}; the groups are {list(named)}")
        groups = [(name, group) for name, group in named.items() if not PHASES or name in PHASES]
        for index, (name, group) in enumerate(groups):
            if index:
                self.fresh_broker()
            asyncio.run(group())
            if name == "creation":
                # The bare pipeline again, right after the phases judged against it: a machine whose speed drifts
                # between the two moves the limit with it (the targets divide by the mean of both runs).
                self.stack.stop_services()
                self.new_broker()
                self.results["bare_after"] = self.bare_throughput("bare_after")
                if index < len(groups) - 1:
                    self.start_services()

    def bare_throughput(self, database: str) -> dict[str, Any]:
        """The bare pipeline's throughput (phase 1) on a new database of its own and the current broker, with no
        service running."""
        child = self.start_bare(asyncio.run(self.prepare_bare(database)))
        try:
            result = asyncio.run(self.bare())
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(15)
        log(f"bare pipeline: {result['events_per_s']:,.0f} events/s")
        return result

    async def meta(self, broker: str) -> dict[str, Any]:
        assert self.stack.database_server
        conn = await asyncpg.connect(self.stack.database_server)
        try:
            pg = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        return {
            "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "scale": SCALE,
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(),
            "postgresql": pg,
            "broker": broker,
            "aiokafka": aiokafka.__version__,
            "asyncpg": asyncpg.__version__,
            "service_env": SERVICE_ENV | {k: os.environ[k] for k in ("LOG_LEVEL",) if k in os.environ},
            "service_env_by_service": SERVICE_FETCH,
            "sizes": {
                "images": IMAGES,
                "cascade": CASCADE,
                "scale_out_images": SCALE_OUT_IMAGES,
                "load_s": LOAD_S,
                "rates": list(RATES),
                "floor_rates": list(FLOOR_RATES),
                "http_rate": HTTP_RATE,
                "growth": list(GROWTH),
            },
        }

    def wait_for_ports(self, timeout_s: float = 120.0) -> None:
        """The bench's ports lie in the ephemeral range: a closed client connection may hold one in TIME_WAIT for
        up to a minute, so wait for them before giving up."""
        deadline = time.monotonic() + timeout_s
        ports = [p.port for p in self.stack.plan] + [self.stack.kafka_port]
        while time.monotonic() < deadline:
            taken = [port for port in ports if not port_free("127.0.0.1", port)]
            if not taken:
                return
            log(f"waiting for ports {taken} to be free")
            time.sleep(5)
        self.stack.check_ports()

    def start_services(self, attempts: int = 3) -> None:
        """Start every service; one whose port a client connection took meanwhile (the ports lie in the ephemeral
        range) exits at start-up, and is started again."""
        log("starting the services")
        for attempt in range(1, attempts + 1):
            for process in self.stack.plan:
                child = self.stack.processes.get(process.label)
                if child is None or child.poll() is not None:
                    deadline = time.monotonic() + 90
                    while not port_free("127.0.0.1", process.port) and time.monotonic() < deadline:
                        time.sleep(1)
                    self.stack.start_service(process)
            try:
                self.stack.wait_ready(120)
                return
            except RuntimeError as exc:
                if "exited" not in str(exc) or attempt == attempts:
                    raise
                log(f"{exc}; starting it again")

    def run(self) -> int:
        self.wait_for_ports()
        self.stack.check_ports()
        busy = busy_cpu()
        if busy > 0.1:
            log(f"the CPUs are {busy:.0%} busy before the bench starts: expect lower figures than on an idle machine")
        log(f"starting Kafka (Tansu) on {self.stack.kafka_port} and using PostgreSQL; databases {self.prefix}_*")
        try:
            self.stack.start_kafka()
            self.stack.start_postgres()
            asyncio.run(create_topics(self.bootstrap, all_topics(self.stack.regions)))
            broker = subprocess.run([str(tansu_binary()), "--version"], capture_output=True, text=True, check=False)
            self.results["meta"] = asyncio.run(self.meta(broker.stdout.strip()))
            self.results["meta"]["cpu_busy_before"] = round(busy, 3)
            self.results["meta"]["python_speed_ms"] = python_speed_ms()
            assert self.stack.database_server
            self.results["meta"]["postgres_round_trip_us"] = asyncio.run(
                postgres_round_trip_us(self.stack.database_server)
            )
            self.results["meta"]["postgres_over"] = postgres_transport(self.stack.database_server)
            log(
                f"this machine: the reference Python loop in {self.results['meta']['python_speed_ms']} ms, "
                f"PostgreSQL round trip {self.results['meta']['postgres_round_trip_us']} us "
                f"over {self.results['meta']['postgres_over']}"
            )
            self.results["bare"] = self.bare_throughput("bare")
            self.start_services()
            self.system()
        finally:
            self.stack.stop()
            if self.stack.database_server and not os.environ.get("BENCH_KEEP_DATABASES"):
                asyncio.run(drop_databases(self.stack.database_server, self.prefix))
        if PHASES:
            print(report.partial(self.results), flush=True)
            path = REPO / ".run" / "bench-partial.json"
            path.write_text(json.dumps(self.results, indent=2) + "\n")
            log(f"a partial run ({', '.join(PHASES)}): wrote {path.relative_to(REPO)}")
            return 0
        self.results["targets"] = report.targets(self.results)
        print(report.table(self.results), flush=True)
        path = report.write_json(self.results)
        charts = report.plot(self.results)
        log(f"wrote {path.relative_to(REPO)} and {', '.join(str(c.relative_to(REPO)) for c in charts)}")
        return 0


async def drop_databases(server: str, prefix: str) -> None:
    conn = await asyncpg.connect(database_url(server, "postgres"))
    try:
        for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    sys.exit(Bench().run())


if __name__ == "__main__":
    main()
