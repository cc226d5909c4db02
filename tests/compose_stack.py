"""The whole system from docker-compose.yml, for the end-to-end tests on a machine with a Docker engine.

:class:`ComposeStack` offers what the tests use of :class:`ims_devstack.Stack`: ``plan``,
``url(service, region="global")``, ``kafka_bootstrap``, ``database_server`` and ``extra_env``. It builds the
images, starts Kafka, PostgreSQL and every service with ``docker compose up --build --wait`` (which waits for
the health checks), then checks from the host that every ``/ready`` answers 200.

Kafka authenticates every client there (SASL/SCRAM) and authorizes it with ACLs: ``kafka_client_options`` are the
aiokafka options of its administrator, with which the tests produce (forgeries too: what a record may carry is
checked by its signature) and read any topic from the host.

``extra_env`` reaches every service container through a generated override file. A value that names an
existing file on the host (``TENANTS_FILE``, say) is mounted read-only into the containers and the variable
points at the mounted copy.
"""

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml
from testcontainers.compose import DockerCompose

from ims_devstack import ServiceProcess, plan
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.server import port_free

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = "docker-compose.yml"
KAFKA_SERVICE = "kafka"
KAFKA_HOST_LISTENER_PORT = 29092
POSTGRES_SERVICE = "postgres"
POSTGRES_CONTAINER_PORT = 5432
POSTGRES_HOST_PORT = 25432
LOG_TAIL_LINES = 60
LOG_TAIL_CHARS = 8000
MOUNTED_FILES_DIR = "/etc/ims/extra"
KAFKA_ADMIN = "admin"
KAFKA_HOST_MECHANISM = "SCRAM-SHA-512"


def kafka_client_options() -> dict[str, str]:
    """How a client on the host signs in to the compose broker: as its administrator, with the password the compose
    file gives it (the administrator is also a SCRAM user, for the host's listener)."""
    compose = yaml.safe_load((REPO_ROOT / COMPOSE_FILE).read_text())
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": KAFKA_HOST_MECHANISM,
        "sasl_plain_username": KAFKA_ADMIN,
        "sasl_plain_password": str(compose["x-kafka-passwords"][KAFKA_ADMIN]),
    }


def docker_available() -> bool:
    """True only when a Docker engine answers; a docker CLI alone is not enough."""
    try:
        import docker

        client = docker.from_env(timeout=5)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def compose_service(process: ServiceProcess) -> str:
    """The name of the docker-compose.yml service that runs ``process``."""
    if process.region == "global":
        return process.service
    return f"{process.service}-{process.region}"


def override(extra_env: dict[str, str], processes: list[ServiceProcess]) -> dict[str, Any]:
    """A compose override that gives every service of ``processes`` the variables of ``extra_env``."""
    environment: dict[str, str] = {}
    volumes: list[str] = []
    for name, value in extra_env.items():
        path = Path(value)
        if path.is_absolute() and path.is_file():
            inside = f"{MOUNTED_FILES_DIR}/{name.lower()}/{path.name}"
            volumes.append(f"{path}:{inside}:ro")
            value = inside
        environment[name] = value
    service: dict[str, Any] = {"environment": environment}
    if volumes:
        service["volumes"] = volumes
    return {"services": {compose_service(p): service for p in processes}}


def _host(address: str | None) -> str:
    return "127.0.0.1" if address in (None, "", "0.0.0.0") else str(address)


class ComposeStack:
    """docker-compose.yml as a context manager: ``with ComposeStack() as stack: stack.url("image-service", r)``."""

    def __init__(
        self, extra_env: dict[str, str] | None = None, build: bool = True, ready_timeout_s: float = 120.0
    ) -> None:
        # The regions and ports are those written in docker-compose.yml, which follow devstack's defaults.
        self.regions = list(DEFAULT_DEPLOYED_REGIONS)
        self.extra_env = dict(extra_env or {})
        self.build = build
        self.ready_timeout_s = ready_timeout_s
        self.kafka_bootstrap: str | None = None
        self.kafka_client_options = kafka_client_options()
        self.database_server: str | None = None
        self._compose: DockerCompose | None = None
        self._urls: dict[str, str] = {}
        self._override_dir: Path | None = None

    @property
    def plan(self) -> list[ServiceProcess]:
        return plan(self.regions)

    def url(self, service: str, region: str = "global") -> str:
        for p in self.plan:
            if p.service == service and (p.region == region or service == "billing-service"):
                if p.label not in self._urls:
                    raise RuntimeError("the compose stack is not started")
                return self._urls[p.label]
        raise KeyError(f"{service} in {region}")

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def check_ports(self) -> None:
        """Fail clearly when `make run` or another stack already holds the host ports."""
        wanted = [(p.label, p.port) for p in self.plan]
        wanted += [("Kafka", KAFKA_HOST_LISTENER_PORT), ("PostgreSQL", POSTGRES_HOST_PORT)]
        taken = [f"{label} on {port}" for label, port in wanted if not port_free("127.0.0.1", port)]
        if taken:
            raise RuntimeError(f"ports already in use: {', '.join(taken)}; stop what holds them first")

    def start(self) -> None:
        self.check_ports()
        files = [COMPOSE_FILE]
        if self.extra_env:
            self._override_dir = Path(tempfile.mkdtemp(prefix="ims-compose-"))
            override_file = self._override_dir / "docker-compose.override.json"
            override_file.write_text(json.dumps(override(self.extra_env, self.plan), indent=2))
            files.append(str(override_file))
        self._compose = DockerCompose(context=REPO_ROOT, compose_file_name=files, build=self.build, wait=True)
        try:
            self._compose.start()
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or b"").decode(errors="replace")[-LOG_TAIL_CHARS:]
            raise RuntimeError(f"docker compose up failed: {output}\n{self.logs()}") from exc
        for p in self.plan:
            self._urls[p.label] = f"http://{self._address(compose_service(p), p.port)}"
        self.kafka_bootstrap = self._address(KAFKA_SERVICE, KAFKA_HOST_LISTENER_PORT)
        self.database_server = (
            f"postgresql://postgres@{self._address(POSTGRES_SERVICE, POSTGRES_CONTAINER_PORT)}/postgres"
        )
        self.wait_ready(self.ready_timeout_s)

    def _address(self, service: str, container_port: int) -> str:
        """``host:port`` on which the host reaches ``container_port`` of ``service``."""
        assert self._compose is not None
        host, port = self._compose.get_service_host_and_port(service, container_port)
        if port is None:
            raise RuntimeError(f"{service} does not publish port {container_port}")
        return f"{_host(host)}:{port}"

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = {p.label: p for p in self.plan}
        last: dict[str, str] = {}
        with httpx.Client(timeout=2) as client:
            while pending and time.monotonic() < deadline:
                for label in list(pending):
                    try:
                        answer = client.get(f"{self._urls[label]}/ready")
                    except httpx.HTTPError as exc:
                        last[label] = str(exc)
                        continue
                    if answer.status_code == 200:
                        del pending[label]
                    else:
                        last[label] = answer.text
                time.sleep(0.5)
        if pending:
            detail = "; ".join(f"{label}: {last.get(label, 'no answer')}" for label in pending)
            names = [compose_service(p) for p in pending.values()]
            raise RuntimeError(f"not ready after {timeout_s:.0f} s: {detail}\n{self.logs(*names)}")

    def logs(self, *services: str) -> str:
        """The last lines of each container's log (every container when none is named), for failure messages."""
        if self._compose is None:
            return ""
        command = [*self._compose.docker_compose_command(), "logs", "--no-color", "--tail", str(LOG_TAIL_LINES)]
        try:
            result = subprocess.run(
                [*command, *services], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(logs unavailable: {exc})"
        return (result.stdout + result.stderr)[-LOG_TAIL_CHARS:]

    def stop(self) -> None:
        """``docker compose down --volumes``: the containers and their data go; the built images stay."""
        compose, self._compose = self._compose, None
        self._urls.clear()
        self.kafka_bootstrap = None
        self.database_server = None
        try:
            if compose is not None:
                compose.stop(down=True)
        finally:
            if self._override_dir is not None:
                shutil.rmtree(self._override_dir, ignore_errors=True)
                self._override_dir = None

    def __enter__(self) -> "ComposeStack":
        try:
            self.start()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
