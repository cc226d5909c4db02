"""Fixtures shared by every test tier. The tests run the services in development mode: with the published development
credentials, where no credentials file is given (the end-to-end stack is given tests/e2e/tenants.json)."""

import os
from collections.abc import Iterator

import pytest

from tests.support import Broker

os.environ.setdefault("DEVELOPMENT_MODE", "1")


def pytest_report_header() -> str:
    return "services in development mode (DEVELOPMENT_MODE=1): the published development credentials"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu) for the duration of the test session."""
    broker = Broker()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
