"""The compose deployment's Kafka principals and ACLs come from the contract: each service writes the topics of the
types it owns and the dead-letter twins of what it reads, tenants and integrations the topics they feed, nobody
creates topics or changes ACLs; and the committed init script is the generator's."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from ims_docgen import kafka_acls
from ims_docgen.kafka_acls import Acl, acls, principals, render
from ims_shared.events import EVENT_TYPES
from ims_shared.events.envelope import produced_by
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.tenants import Integration, Tenant, TenantCatalog, load_tenants
from ims_shared.topics import BILLING_TOPIC, TopicKind, all_topics, dead_letter_topic, topic_for

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "deploy" / "kafka" / "init.sh"
REGIONS = list(DEFAULT_DEPLOYED_REGIONS)


@pytest.fixture(scope="module")
def deployment() -> dict[str, kafka_acls.KafkaPrincipal]:
    return {p.user: p for p in principals(REGIONS, load_tenants(None))}


def test_the_committed_init_script_is_current() -> None:
    assert SCRIPT.read_text() == render(), "deploy/kafka/init.sh is stale: run `make kafka-acls` and commit it"
    assert os.access(SCRIPT, os.X_OK)
    assert kafka_acls.main([str(SCRIPT), "--check"]) == 0


def test_every_service_writes_the_topics_of_the_types_it_owns_and_the_dead_letter_twins_of_what_it_reads(
    deployment: dict[str, kafka_acls.KafkaPrincipal],
) -> None:
    services = {s for cls in EVENT_TYPES.values() for s in cls.producers.services}
    assert services <= set(deployment)
    for service in services:
        owned = {
            topic_for(cls.topic_kind, region)
            for cls in EVENT_TYPES.values()
            if service in cls.producers.services
            for region in REGIONS
        }
        principal = deployment[service]
        assert principal.kind == "service"
        assert set(principal.writes) == owned | {dead_letter_topic(t) for t in principal.reads}, service
        assert {g.split(".", 1)[0] for g in principal.groups} <= {service}


def test_what_each_service_reads_is_what_its_processes_subscribe_to(
    deployment: dict[str, kafka_acls.KafkaPrincipal],
) -> None:
    assert set(deployment["replication-service"].reads) == {topic_for(TopicKind.REPLICATION, r) for r in REGIONS}
    billing = deployment["billing-service"]
    assert BILLING_TOPIC in billing.reads and billing.groups == ("billing-service.cn-north-4",)
    assert deployment["image-service"].groups == ("image-service.ap-southeast-1", "image-service.cn-north-4")
    for principal in deployment.values():
        assert set(principal.reads) <= set(all_topics(REGIONS)) and not any(t.endswith(".dlt") for t in principal.reads)


def test_compute_service_writes_what_it_owns_and_the_dead_letters_of_what_it_reads(
    deployment: dict[str, kafka_acls.KafkaPrincipal],
) -> None:
    compute = deployment["compute-service"]
    owned = {topic_for(EVENT_TYPES["ServerRegistered"].topic_kind, r) for r in REGIONS}
    assert set(compute.reads) == {topic_for(kind, r) for kind in (TopicKind.BACKUPS, TopicKind.IMAGES) for r in REGIONS}
    assert set(compute.writes) == owned | {f"{topic}.dlt" for topic in compute.reads}
    assert set(compute.groups) == {f"compute-service.{r}" for r in REGIONS}


def test_tenants_write_the_topics_tenants_feed_in_their_own_regions_and_integrations_those_of_their_types() -> None:
    credentials = TenantCatalog(
        (Tenant("solo", "solo", "AKSOLO", "sk", {"ap-southeast-1": "p1"}),),
        (Integration("meter", "AKMETER", "sk", ("BackupArrears", "NoSuchType")),),
    )
    found = {p.user: p for p in principals(REGIONS, credentials)}
    tenant_types = [cls for cls in EVENT_TYPES.values() if cls.producers.tenants]
    assert set(found["tenant-solo"].writes) == {topic_for(cls.topic_kind, "ap-southeast-1") for cls in tenant_types}
    assert found["integration-meter"].writes == (BILLING_TOPIC,)
    for user in ("tenant-solo", "integration-meter"):
        assert found[user].reads == () and found[user].groups == ()


def test_the_acls_follow_a_changed_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EVENT_TYPES["ImageCreated"], "producers", produced_by("image-service", "replication-service"))
    found = {p.user: p for p in principals(REGIONS, load_tenants(None))}
    assert {topic_for(EVENT_TYPES["ImageCreated"].topic_kind, r) for r in REGIONS} <= set(
        found["replication-service"].writes
    )


def _run_script(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The committed script with stand-ins for Kafka's tools, which record how they were called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for tool in ("kafka-topics.sh", "kafka-configs.sh", "kafka-acls.sh"):
        stub = bin_dir / tool
        stub.write_text(
            '#!/usr/bin/env bash\n{ printf "%s" "$(basename "$0")"; for a in "$@"; do printf " %q" "$a"; done; echo; } '
            f">> {shlex.quote(str(calls))}\n"
            'while [ $# -gt 0 ]; do if [ "$1" = --command-config ]; then cat "$2" >> '
            f"{shlex.quote(str(tmp_path / 'configs'))}; fi; shift; done\n"
        )
        stub.chmod(0o755)
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = calls.read_text().splitlines() if calls.exists() else []
    return done, [shlex.split(line) for line in lines]


def _passwords(of: list[kafka_acls.KafkaPrincipal]) -> dict[str, str]:
    env = {p.password_variable: f"pw-of-{p.user}" for p in of}
    return {**env, "IMS_KAFKA_ADMIN_PASSWORD": "admin-pw", "ADMIN_BOOTSTRAP": "kafka:9094"}


def test_the_script_creates_the_topics_the_users_and_exactly_the_acls_as_the_administrator(tmp_path: Path) -> None:
    everyone = principals(REGIONS, load_tenants(None))
    done, calls = _run_script(tmp_path, _passwords(everyone))
    assert done.returncode == 0, done.stderr
    for call in calls:
        assert call[1:5] == ["--bootstrap-server", "kafka:9094", "--command-config", call[4]]
    configs = (tmp_path / "configs").read_text()
    assert "sasl.mechanism=PLAIN" in configs and 'username="admin" password="admin-pw";' in configs
    created = [c[c.index("--topic") + 1] for c in calls if c[0] == "kafka-topics.sh"]
    assert created == all_topics(REGIONS)
    users = {
        c[c.index("--entity-name") + 1]: c[c.index("--add-config") + 1] for c in calls if c[0] == "kafka-configs.sh"
    }
    assert users == {"admin": "SCRAM-SHA-512=[password=admin-pw]"} | {
        p.user: f"SCRAM-SHA-512=[password=pw-of-{p.user}]" for p in everyone
    }
    granted: set[Acl] = set()
    for call in (c for c in calls if c[0] == "kafka-acls.sh"):
        args = call[5:]
        assert args[:3] == ["--add", "--allow-principal", args[2]] and args[3] == "--operation"
        user, operation = args[2].removeprefix("User:"), args[4]
        pairs = list(zip(args[5::2], args[6::2], strict=True))
        assert {flag for flag, _ in pairs} <= {"--topic", "--group"}, call
        granted |= {Acl(user, operation, flag.removeprefix("--"), name) for flag, name in pairs}  # type: ignore[arg-type]
    assert granted == set(acls(everyone))
    assert {acl.operation for acl in granted} == {"Read", "Write"}


def test_the_script_stops_without_a_principals_password(tmp_path: Path) -> None:
    env = _passwords(principals(REGIONS, load_tenants(None)))
    del env["IMS_KAFKA_PASSWORD_TENANT_BETA"]
    done, calls = _run_script(tmp_path, env)
    assert done.returncode != 0 and "IMS_KAFKA_PASSWORD_TENANT_BETA" in done.stderr
    assert not any("User:tenant-beta" in call for call in calls)
