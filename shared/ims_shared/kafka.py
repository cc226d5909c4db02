"""Kafka plumbing: producer, topic creation and a reachability probe."""

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from ims_shared.logging import get_logger

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 2 * 1024 * 1024
DEFAULT_PARTITIONS = 4


def make_producer(bootstrap: str, request_timeout_ms: int = 10_000) -> AIOKafkaProducer:
    # Idempotence stays off: Tansu rejects InitProducerId, and the inbox makes duplicates harmless.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=1,
        max_request_size=MAX_MESSAGE_BYTES,
        request_timeout_ms=request_timeout_ms,
    )


async def start_with_retry(producer: AIOKafkaProducer, limit_s: float = 60.0) -> None:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((KafkaError, OSError)),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(limit_s),
        reraise=True,
    ):
        with attempt:
            await producer.start()


async def create_topics(bootstrap: str, topics: list[str], partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the topics that do not exist yet, with an explicit partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        for topic in missing:
            try:
                response = await admin.create_topics([NewTopic(topic, partitions, 1)])
            except TopicAlreadyExistsError:
                continue
            for error in getattr(response, "topic_errors", ()):
                code = error[1]
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise KafkaError(f"creating topic {error[0]} failed with Kafka error code {code}")
        if missing:
            log.info("topics created", topics=missing)
    finally:
        await admin.close()


async def reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when at least one bootstrap server accepts a TCP connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), timeout_s)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        return True
    return False
