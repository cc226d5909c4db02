"""Every Kafka client a service makes (its producer, the admin client that creates topics, the FastStream broker
that makes its consumer) connects as its settings say: PLAINTEXT by default, SASL as its own principal otherwise."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError
from faststream.kafka.security import parse_security
from pydantic import ValidationError

from ims_shared import kafka, service
from ims_shared.consumer import EventHandlers
from ims_shared.emitter import Emitter
from ims_shared.kafka import PLAINTEXT, KafkaSecurity, create_topics, make_producer
from ims_shared.service import ServiceRuntime
from ims_shared.settings import ServiceSettings
from ims_shared.tenants import load_tenants

SASL_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "image-service",
    "KAFKA_SASL_PASSWORD": "its-password",
}
SASL_OPTIONS = {
    "security_protocol": "SASL_PLAINTEXT",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "image-service",
    "sasl_plain_password": "its-password",
}


def faststream_options(security: Any) -> dict[str, Any]:
    """What FastStream gives the aiokafka clients it makes for ``security`` (no TLS: no SSL context)."""
    options = parse_security(security)
    assert options.pop("ssl_context", None) is None
    return options


@pytest.fixture
def sasl_settings(monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    for name, value in SASL_ENV.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings(service_name="image-service")


def test_by_default_a_client_connects_in_plaintext_as_on_the_local_launchers_broker() -> None:
    security = KafkaSecurity.of(ServiceSettings())
    assert security == PLAINTEXT and not security.sasl
    assert security.client_options() == {} and security.faststream() is None


async def test_with_sasl_every_client_is_given_the_mechanism_the_principal_and_its_password(
    sasl_settings: ServiceSettings,
) -> None:
    security = KafkaSecurity.of(sasl_settings)
    assert security.client_options() == SASL_OPTIONS
    assert faststream_options(security.faststream()) == SASL_OPTIONS
    producer = make_producer("127.0.0.1:1", security=security)
    client = producer.client
    assert (client._security_protocol, client._sasl_mechanism) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert (client._sasl_plain_username, client._sasl_plain_password) == ("image-service", "its-password")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_the_other_mechanisms_reach_faststream_too(mechanism: str) -> None:
    security = KafkaSecurity("SASL_PLAINTEXT", mechanism, "u", "p")
    assert parse_security(security.faststream())["sasl_mechanism"] == mechanism


@pytest.mark.parametrize("missing", ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"])
def test_sasl_without_a_principal_or_its_password_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name, value in SASL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        ServiceSettings()


def test_the_password_is_not_shown_with_the_settings(sasl_settings: ServiceSettings) -> None:
    assert "its-password" not in repr(sasl_settings)


class FakeAdmin:
    """An admin client of a broker with ACLs: it knows ``visible`` topics and refuses to create ``forbidden``."""

    made: list[dict[str, Any]] = []

    def __init__(self, visible: set[str], forbidden: set[str], **options: Any) -> None:
        self.visible, self.forbidden = visible, forbidden
        self.made.append(options)
        self.asked: list[str] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def list_topics(self) -> list[str]:
        return sorted(self.visible)

    async def create_topics(self, topics: list[Any]) -> Any:
        name = topics[0].name
        self.asked.append(name)
        if name in self.visible:
            raise TopicAlreadyExistsError()
        code = TopicAuthorizationFailedError.errno if name in self.forbidden else 0
        return SimpleNamespace(topic_errors=[(name, code, None)])


async def test_a_topic_the_principal_may_not_create_is_left_to_the_administrator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admins: list[FakeAdmin] = []

    def admin(**options: Any) -> FakeAdmin:
        admins.append(FakeAdmin({"seen"}, {"hidden"}, **options))
        return admins[-1]

    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", admin)
    security = KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-512", "billing-service", "pw")
    await create_topics("kafka:9092", ["seen", "hidden", "new"], security=security)
    assert admins[0].asked == ["hidden", "new"]
    assert admins[0].made[-1] == {"bootstrap_servers": "kafka:9092", **security.client_options()}


async def test_any_other_refusal_still_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing(FakeAdmin):
        async def create_topics(self, topics: list[Any]) -> Any:
            return SimpleNamespace(topic_errors=[(topics[0].name, 37, None)])  # INVALID_PARTITIONS

    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", lambda **options: Refusing(set(), set(), **options))
    with pytest.raises(kafka.KafkaError, match="error code 37"):
        await create_topics("kafka:9092", ["new"])


async def test_the_runtime_gives_its_producer_admin_and_consumer_the_settings_principal(
    monkeypatch: pytest.MonkeyPatch, sasl_settings: ServiceSettings
) -> None:
    made: dict[str, Any] = {}

    class Database:
        pool = None

        async def open(self, *migrations: Path) -> list[str]:
            return []

        async def close(self) -> None:
            return None

    class Producer:
        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            return None

    class Broker:
        def __init__(self, bootstrap: str, **options: Any) -> None:
            made["broker"] = options
            self.context = SimpleNamespace(get_local=lambda name: None)

        def subscriber(self, *topics: str, **options: Any) -> Any:
            made["subscribed"] = (topics, options["group_id"])
            return lambda handler: handler

        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            return None

    async def topics_created(bootstrap: str, topics: list[str], **options: Any) -> None:
        made["admin"] = options["security"]

    def producer(bootstrap: str, request_timeout_ms: int, security: KafkaSecurity) -> Producer:
        made["producer"] = security
        return Producer()

    monkeypatch.setattr(service, "make_producer", producer)
    monkeypatch.setattr(service, "create_topics", topics_created)
    monkeypatch.setattr(service, "KafkaBroker", Broker)
    monkeypatch.setattr(service, "configure_logging", lambda *args: None)
    context = SimpleNamespace(
        settings=sasl_settings,
        database=Database(),
        emitter=Emitter("/cn-north-4/image-service", "cn-north-4"),
        tenants=load_tenants(None),
    )
    runtime: ServiceRuntime[Any] = ServiceRuntime(
        context, migrations=Path("."), handlers=EventHandlers(), topics=["ims.cn-north-4.images"], periodic=()
    )
    runtime.periodic = []
    await runtime.start()
    try:
        expected = KafkaSecurity.of(sasl_settings)
        assert made["producer"] == expected and made["admin"] == expected
        assert faststream_options(made["broker"]["security"]) == SASL_OPTIONS
        assert made["subscribed"] == (("ims.cn-north-4.images",), "image-service.cn-north-4")
    finally:
        await runtime.stop()
