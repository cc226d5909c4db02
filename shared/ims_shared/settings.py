"""Settings common to every service, read from the environment (pydantic-settings)."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = "service"
    region: str = "cn-north-4"
    deployed_regions: str = ",".join(DEFAULT_DEPLOYED_REGIONS)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_max_batch: int = 200
    # How long the broker may hold a fetch while it has no records. Apache Kafka answers as soon as records arrive;
    # Tansu answers a waiting fetch only when this expires, so there it bounds the latency of every hop when the
    # consumer is caught up, and its inverse is what an idle stack costs (seven services on Tansu, measured on
    # 2 cores: 10 ms keeps a whole core busy, 50 ms a third of one, 500 ms a tenth).
    kafka_fetch_max_wait_ms: int = 50
    # How many bytes a fetch waits for (up to the fetch wait) before the broker answers. 1 answers with the first
    # record; more lets a consumer whose latency matters little take fewer, bigger batches.
    kafka_fetch_min_bytes: int = 1
    # How long the consumer waits for a batch to fill before handling what it has (and pauses as long when idle).
    kafka_batch_timeout_ms: int = 10
    kafka_request_timeout_ms: int = 10_000
    # A consumer commits its handled offsets at most once per this interval (in the background, never before the
    # batch's transaction commits): after a crash, what was handled in the last interval comes again to the inbox.
    kafka_commit_interval_ms: int = 100
    # How long a consumer goes back to an offset a fetch skipped before it passes it (see ims_shared.holes:
    # Tansu can show records past one it has acknowledged but not made readable yet).
    kafka_offset_hole_wait_ms: int = 5_000

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_pool_size: int = 10

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    relay_poll_interval_s: float = 0.5
    relay_batch_size: int = 500
    outbox_retention_s: float = Field(default=3600.0, ge=0)
    outbox_prune_interval_s: float = Field(default=60.0, gt=0)
    handler_retry_limit_s: float = 60.0

    tenants_file: str | None = Field(
        default=None,
        description="The credentials file (JSON): tenants (AK/SK, projects per region, enterprise projects, tag "
        "policies), operator integrations (outside systems and the event types each may produce) and the services' "
        "own keys. Required unless DEVELOPMENT_MODE is set.",
    )
    development_mode: bool = Field(
        default=False,
        description="Use the packaged development credentials (published in the README) when TENANTS_FILE is unset. "
        "Off by default: a service without a credentials file refuses to start.",
    )
    service_access_key: str | None = Field(
        default=None,
        description="The access key this service signs its events with; unset: the credentials file's key for the "
        "service's name. It must be the key the credentials file lists for it, which the other services verify with.",
    )
    service_secret_key: SecretStr | None = Field(default=None, description="The secret of SERVICE_ACCESS_KEY.")
    log_format: str = "auto"
    log_level: str = "INFO"
    tracing_exporter: str = "none"
    lag_interval_s: float = 5.0

    @property
    def regions(self) -> list[str]:
        return [r.strip() for r in self.deployed_regions.split(",") if r.strip()]

    @property
    def consumer_group(self) -> str:
        return f"{self.service_name}.{self.region}"

    @property
    def event_source(self) -> str:
        return f"/{self.region}/{self.service_name}"
