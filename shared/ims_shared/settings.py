"""Settings common to every service, read from the environment (pydantic-settings).

Each setting's ``Field(description=...)`` is what docs/configuration.md says about it."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = Field(
        default="service",
        description="Name in logs and metrics, in the CloudEvent `source` (`/<region>/<service_name>`) and in the "
        "Kafka consumer group (`<service_name>.<region>`).",
    )
    region: str = Field(
        default="cn-north-4",
        description="The region this process serves. Regional services handle only events of this region; billing "
        "(global) puts it on the events it emits.",
    )
    deployed_regions: str = Field(
        default=",".join(DEFAULT_DEPLOYED_REGIONS),
        description="The deployed regions, comma-separated: the topics that are created, and the regions whose "
        "topics billing-service and replication-service read.",
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        description="Consumer-group session timeout: a process silent this long loses its partitions.",
    )
    kafka_heartbeat_interval_ms: int = Field(default=3_000, description="Consumer-group heartbeat interval.")
    kafka_max_batch: int = Field(
        default=200, description="Most records handled in one batch (one PostgreSQL transaction)."
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=50,
        description="How long the broker may hold a fetch while it has no records. Apache Kafka answers as soon as "
        "records arrive; Tansu answers a waiting fetch only when this expires, so there it bounds the latency of "
        "every hop when the consumer is caught up, and its inverse is what an idle stack costs in CPU (figures in "
        "bench/README.md).",
    )
    kafka_fetch_min_bytes: int = Field(
        default=1,
        description="How many bytes a fetch waits for (up to the fetch wait) before the broker answers. 1 answers "
        "with the first record; more lets a consumer whose latency matters little take fewer, bigger batches.",
    )
    kafka_batch_timeout_ms: int = Field(
        default=10,
        description="How long the consumer waits for a batch to fill before handling what it has (and pauses as "
        "long when idle).",
    )
    kafka_request_timeout_ms: int = Field(
        default=10_000, description="Timeout of a Kafka request (producer and consumer)."
    )
    kafka_commit_interval_ms: int = Field(
        default=100,
        description="A consumer commits its handled offsets at most once per this interval (in the background, "
        "never before the batch's transaction commits): after a crash, what was handled in the last interval comes "
        "again to the inbox.",
    )
    kafka_offset_hole_wait_ms: int = Field(
        default=5_000,
        description="How long a consumer goes back to an offset a fetch skipped before it passes it (see "
        "ims_shared.holes: Tansu can show records past one it has acknowledged but not made readable yet).",
    )

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="The service's own PostgreSQL database; it is created if missing and migrated at start-up.",
    )
    database_pool_size: int = Field(default=10, description="Connections in the service's pool.")

    http_host: str = Field(
        default="127.0.0.1",
        description="Address the HTTP API, `/health`, `/ready`, `/metrics` and `/docs` listen on.",
    )
    http_port: int = Field(default=8000, description="Port of the HTTP API.")

    relay_poll_interval_s: float = Field(
        default=0.5, description="How often the outbox relay looks for committed events to publish."
    )
    relay_batch_size: int = Field(default=500, description="Most outbox rows the relay publishes in one pass.")
    outbox_retention_s: float = Field(
        default=3600.0,
        ge=0,
        description="How long a published event stays in the outbox, where it can be published again by hand.",
    )
    outbox_prune_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often the outbox is pruned of events published longer ago than the retention.",
    )
    handler_retry_limit_s: float = Field(
        default=60.0,
        description="How long a batch that fails transiently (database gone, deadlock) is retried before its "
        "partition is rewound and the batch delivered again.",
    )

    tenants_file: str | None = Field(
        default=None,
        description="The credentials file (JSON): tenants (AK/SK, projects per region, enterprise projects, tag "
        "policies), operator integrations (outside systems and the event types each may produce) and the services' "
        "own keys. Required unless DEVELOPMENT_MODE is set.",
    )
    development_mode: bool = Field(
        default=False,
        description="Use the packaged development credentials (published in the README) when TENANTS_FILE is unset, "
        "and let image-service's console (`/console/config.json`, which needs no signature) list the tenants and their "
        "projects for its login form. Off by default: a service without a credentials file refuses to start, and the "
        "console lists no tenant (its login form asks for the project id).",
    )
    service_access_key: str | None = Field(
        default=None,
        description="The access key this service signs its events with; unset: the credentials file's key for the "
        "service's name. It must be the key the credentials file lists for it, which the other services verify with.",
    )
    service_secret_key: SecretStr | None = Field(default=None, description="The secret of SERVICE_ACCESS_KEY.")
    log_format: str = Field(
        default="auto", description="`auto` (console on a terminal, else JSON lines), `console` or `json`."
    )
    log_level: str = Field(default="INFO", description="Lowest level logged (`DEBUG`, `INFO`, `WARNING`, ...).")
    tracing_exporter: str = Field(
        default="none",
        description="Where OpenTelemetry spans go: `none`, `console` or `otlp` (the standard "
        "`OTEL_EXPORTER_OTLP_*` variables then apply).",
    )
    lag_interval_s: float = Field(
        default=5.0,
        description="How often the consumer lag of the service's partitions is measured (a metric).",
    )

    @property
    def regions(self) -> list[str]:
        return [r.strip() for r in self.deployed_regions.split(",") if r.strip()]

    @property
    def consumer_group(self) -> str:
        return f"{self.service_name}.{self.region}"

    @property
    def event_source(self) -> str:
        return f"/{self.region}/{self.service_name}"
