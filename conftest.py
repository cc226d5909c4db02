"""Fixtures shared by every test tier."""

from collections.abc import Iterator

import pytest

from tests.support import Broker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu) for the duration of the test session."""
    broker = Broker()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
