"""A service's Kafka consumer fetches as its settings (environment) say."""

import pytest

from ims_shared.service import consumer_options
from ims_shared.settings import ServiceSettings


def test_a_consumer_whose_latency_matters_little_can_wait_for_full_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_FETCH_MAX_WAIT_MS", "50")
    monkeypatch.setenv("KAFKA_FETCH_MIN_BYTES", "1000000")
    monkeypatch.setenv("KAFKA_MAX_BATCH", "500")
    options = consumer_options(ServiceSettings())
    assert (options["fetch_max_wait_ms"], options["fetch_min_bytes"], options["max_records"]) == (50, 1_000_000, 500)


def test_by_default_the_broker_answers_with_the_first_record() -> None:
    assert consumer_options(ServiceSettings())["fetch_min_bytes"] == 1
