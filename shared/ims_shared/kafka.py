"""Kafka plumbing: how a client authenticates, producer, topic creation and a reachability probe."""

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, TopicAuthorizationFailedError
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from ims_shared.logging import get_logger
from ims_shared.settings import ServiceSettings

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 2 * 1024 * 1024
DEFAULT_PARTITIONS = 4
_FASTSTREAM_SASL: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


@dataclass(frozen=True)
class KafkaSecurity:
    """How a Kafka client connects: PLAINTEXT (no principal), or SASL as ``username`` with ``mechanism``. Every client
    a service makes (its producer, its FastStream consumer, the admin client that creates topics) takes it."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None

    @classmethod
    def of(cls, settings: ServiceSettings) -> "KafkaSecurity":
        password = settings.kafka_sasl_password
        return cls(
            settings.kafka_security_protocol,
            settings.kafka_sasl_mechanism,
            settings.kafka_sasl_username,
            password.get_secret_value() if password is not None else None,
        )

    @property
    def sasl(self) -> bool:
        return self.protocol != "PLAINTEXT"

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of an aiokafka producer, consumer or admin client."""
        if not self.sasl:
            return {}
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def faststream(self) -> BaseSecurity | None:
        """The same for a FastStream ``KafkaBroker`` (which hands it to the consumers and the producer it makes)."""
        if not self.sasl:
            return None
        return _FASTSTREAM_SASL[self.mechanism](self.username or "", self.password or "", use_ssl=False)


PLAINTEXT = KafkaSecurity()


PRODUCER_BATCH_BYTES = 256 * 1024
"""How much a producer puts in one batch of a partition (aiokafka's default is 16 kB, about a dozen events): a relay
pass of hundreds of events then reaches the broker as a few batches per partition instead of dozens. Every batch is a
unit of the broker's work when it stores, lists and serves the partition, for each consumer that reads it."""


def make_producer(
    bootstrap: str, request_timeout_ms: int = 10_000, security: KafkaSecurity = PLAINTEXT
) -> AIOKafkaProducer:
    # Idempotence stays off: Tansu rejects InitProducerId, and the inbox makes duplicates harmless.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=1,
        max_batch_size=PRODUCER_BATCH_BYTES,
        max_request_size=MAX_MESSAGE_BYTES,
        request_timeout_ms=request_timeout_ms,
        **security.client_options(),
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


async def create_topics(
    bootstrap: str, topics: list[str], partitions: int = DEFAULT_PARTITIONS, security: KafkaSecurity = PLAINTEXT
) -> None:
    """Create the topics that do not exist yet, with an explicit partition count. A topic the principal may not
    create (a broker with ACLs answers TOPIC_AUTHORIZATION_FAILED, also for a topic that exists but that the
    principal may not see) is left to the deployment's administrator, who creates the topics there."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        created, refused = [], []
        for topic in missing:
            try:
                response = await admin.create_topics([NewTopic(topic, partitions, 1)])
            except TopicAlreadyExistsError:
                continue
            codes = [error[1] for error in getattr(response, "topic_errors", ())]
            if TopicAuthorizationFailedError.errno in codes:
                refused.append(topic)
                continue
            for code in codes:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise KafkaError(f"creating topic {topic} failed with Kafka error code {code}")
            created.append(topic)
        if created:
            log.info("topics created", topics=created)
        if refused:
            log.info(
                "topics left to the deployment's administrator: this principal may not create them", topics=refused
            )
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
