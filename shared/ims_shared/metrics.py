"""Prometheus metrics shared by every service."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter("ims_events_consumed_total", "Events consumed, by type and outcome", ["type", "outcome"])
EVENTS_EMITTED = Counter("ims_events_emitted_total", "Events written to the outbox, by type", ["type"])
EVENTS_PUBLISHED = Counter("ims_events_published_total", "Outbox events published to Kafka", ["topic"])
OFFSET_HOLES = Counter(
    "ims_offset_holes_total",
    "Fetches that skipped an offset: read again from the hole (waited) or, past the wait, passed",
    ["topic", "outcome"],
)
EVENTS_REJECTED = Counter(
    "ims_events_rejected_total",
    "Records dead-lettered because they were not authenticated or not allowed, by reason and principal",
    ["reason", "principal"],
)
DEAD_LETTERED = Counter("ims_events_dead_lettered_total", "Messages sent to a dead-letter topic", ["topic"])
HANDLER_SECONDS = Histogram(
    "ims_handler_seconds",
    "Time to handle one consumed batch, including its transaction",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_BACKLOG = Gauge("ims_outbox_backlog", "Unpublished outbox rows")
OUTBOX_OLDEST_AGE = Gauge("ims_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row")
OUTBOX_PRUNED = Counter("ims_outbox_pruned_total", "Published outbox rows deleted once older than the retention")
HTTP_REQUESTS = Counter("ims_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"])
CONSUMER_LAG = Gauge(
    "ims_consumer_lag",
    "Records behind the partition's high watermark (Tansu reports end offsets imprecisely: treat as an estimate)",
    ["topic", "partition"],
)
