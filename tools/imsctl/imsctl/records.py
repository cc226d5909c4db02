"""Kafka records as imsctl shows them: the CloudEvent they carry (when they carry one) and where they were."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ims_shared.topics import DEAD_LETTER_SUFFIX


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Any) -> "Record":
        """From an aiokafka ``ConsumerRecord``."""
        key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else record.key
        headers = {name: value.decode("utf-8", "replace") for name, value in (record.headers or ())}
        return cls(record.topic, record.partition, record.offset, record.timestamp or 0, key, record.value, headers)

    @property
    def event(self) -> dict[str, Any] | None:
        """The CloudEvent as a JSON object, or None when the value is no JSON object."""
        if self.value is None:
            return None
        try:
            document = json.loads(self.value)
        except (UnicodeDecodeError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    @property
    def dead_lettered(self) -> bool:
        return self.topic.endswith(DEAD_LETTER_SUFFIX)

    @property
    def dead_letter_reason(self) -> str | None:
        return self.headers.get("dlt-reason")

    @property
    def kafka_time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def time(self) -> datetime:
        """The event's ``time`` attribute, else the record's timestamp."""
        event = self.event
        if event and isinstance(event.get("time"), str):
            try:
                moment = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return self.kafka_time

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` prints for a record: where it was, and the event (or the raw value)."""
        document: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "timestamp": self.kafka_time.isoformat(),
        }
        if self.dead_letter_reason is not None:
            document["dlt_reason"] = self.dead_letter_reason
        event = self.event
        if event is not None:
            document["event"] = event
        else:
            document["value"] = None if self.value is None else self.value.decode("utf-8", "replace")
        return document


def service_of(source: str | None) -> str:
    """The producing service from a CloudEvent ``source`` (``/cn-north-4/image-service`` -> image-service)."""
    if not source:
        return "?"
    parts = [p for p in source.split("/") if p]
    return parts[-1] if parts else source


def region_of_source(source: str | None) -> str | None:
    parts = [p for p in (source or "").split("/") if p]
    return parts[0] if len(parts) >= 2 else None
