"""`make bench-broker`: what the development broker's CPU costs per event as it holds more record batches.

Tansu's in-memory store keeps each produced batch as one object and, on every fetch that finds records, lists
the objects of the partition to find where to start. So the broker's CPU for the same load grows with every
batch it holds, and a record produced alone (as at a paced 200/s) is a batch of its own. This measures it on a
broker of its own: four readers tailing one topic while 200 records/s arrive one by one, first on an empty
broker, then after single-record batches are added. Apache Kafka finds the offset in a segment index instead.
"""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.profile import cpu_seconds
from ims_devstack import free_port, start_tansu
from ims_shared.kafka import DEFAULT_PARTITIONS, create_topics

TOPIC = "bench.broker.probe"
READERS = 4
RATE = 200
SECONDS = 5.0
HELD = (0, 5_000, 20_000)


async def tail(bootstrap: str, stop: asyncio.Event) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10, enable_auto_commit=False)
    await reader.start()
    parts = [TopicPartition(TOPIC, p) for p in range(DEFAULT_PARTITIONS)]
    reader.assign(parts)
    await reader.seek_to_end(*parts)
    read = 0
    try:
        while not stop.is_set():
            batches = await reader.getmany(timeout_ms=10)
            read += sum(len(records) for records in batches.values())
    finally:
        await reader.stop()
    return read


async def paced_load(bootstrap: str, producer: AIOKafkaProducer, broker_pid: int) -> tuple[float, list[int]]:
    """Broker CPU seconds per second while READERS tail the topic and RATE records/s arrive one by one."""
    stop = asyncio.Event()
    readers = [asyncio.create_task(tail(bootstrap, stop)) for _ in range(READERS)]
    await asyncio.sleep(0.5)
    before = cpu_seconds({"tansu": broker_pid})["tansu"]
    start = time.perf_counter()
    for i in range(int(RATE * SECONDS)):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await producer.send(TOPIC, b"x" * 300, partition=i % DEFAULT_PARTITIONS)
    await producer.flush()
    used = cpu_seconds({"tansu": broker_pid})["tansu"] - before
    await asyncio.sleep(0.3)
    stop.set()
    return used / SECONDS, list(await asyncio.gather(*readers))


async def measure(bootstrap: str, broker_pid: int) -> list[tuple[int, float]]:
    await create_topics(bootstrap, [TOPIC])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, enable_idempotence=False)
    await producer.start()
    rows = []
    held = 0
    try:
        for target in HELD:
            while held < target:  # one record per request: one batch, one object in the store
                await producer.send_and_wait(TOPIC, b"y" * 300, partition=held % DEFAULT_PARTITIONS)
                held += 1
            cpu, read = await paced_load(bootstrap, producer, broker_pid)
            rows.append((held, cpu))
            print(f"  {held:>8,} batches held before: {cpu:.2f} broker CPU s per s (readers read {read})", flush=True)
            held += int(RATE * SECONDS)
    finally:
        await producer.stop()
    return rows


def main() -> None:
    port = free_port()
    broker = start_tansu(port)
    bootstrap = f"127.0.0.1:{port}"
    try:
        print(f"Tansu, {READERS} readers, {RATE} single-record batches/s for {SECONDS:g} s:", flush=True)
        rows = asyncio.run(measure(bootstrap, broker.pid))
    finally:
        broker.terminate()
        broker.wait(10)
    first, last = rows[0][1], rows[-1][1]
    print(f"  the same load costs the broker {last / first:.1f}x the CPU with {rows[-1][0]:,} batches held")


if __name__ == "__main__":
    main()
