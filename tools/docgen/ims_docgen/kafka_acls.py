"""The Kafka principals of a deployment and what each may do, from the contract; and the script that sets them up.

``python -m ims_docgen.kafka_acls deploy/kafka/init.sh`` (``make kafka-acls``) writes the script that
docker-compose.yml's ``kafka-init`` step runs as the broker's administrator: it creates the topics, a SCRAM user for
each principal and exactly these ACLs. A test fails when the committed script is stale.

- A **service** writes the topics of the event types it owns (``EventData.producers``) in every deployed region,
  and the dead-letter twin of every topic it consumes (a consumer dead-letters there); it reads the topics it
  consumes, with its consumer groups. What it consumes is what its app subscribes to, each process built as the
  local launcher builds it (``ims_devstack.plan``). A service of the contract that the deployment does not run yet
  (no process in the plan) only writes.
- A **tenant**'s own systems write the topics of the types tenants may produce, in the regions where the tenant
  has a project; an **operator integration** writes the topics of the types its entry of the credentials file lists.
  Neither reads.
- Nobody else writes, and no principal may create topics or change ACLs: only the administrator (the broker's
  single super user) may, which the init step uses.

The ACLs bound the topics; who may produce which type for which project is still checked on every record by its
signature (``ims_shared.event_auth``).
"""

import argparse
import contextlib
import importlib
import os
import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from unittest import mock

from ims_devstack import Stack, plan
from ims_shared.events import EVENT_TYPES
from ims_shared.kafka import DEFAULT_PARTITIONS
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.tenants import TenantCatalog, load_tenants
from ims_shared.topics import all_topics, dead_letter_topic, topic_for

ADMIN = "admin"
SCRAM_MECHANISM = "SCRAM-SHA-512"
PrincipalKind = Literal["service", "tenant", "integration"]
# Addresses a process is given when it is built to read its wiring; nothing is connected to.
_KAFKA = "kafka:9092"
_POSTGRES = "postgresql://postgres@postgres:5432/postgres"


@dataclass(frozen=True)
class KafkaPrincipal:
    """A SCRAM user of the broker and its ACLs: the topics it may write, the topics and groups it may read."""

    user: str
    kind: PrincipalKind
    writes: tuple[str, ...]
    reads: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def password_variable(self) -> str:
        """The environment variable the init step reads the principal's password from."""
        return password_variable(self.user)


@dataclass(frozen=True)
class Acl:
    user: str
    operation: Literal["Write", "Read"]
    resource: Literal["topic", "group"]
    name: str


def password_variable(user: str) -> str:
    return "IMS_KAFKA_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", user.upper())


def tenant_user(name: str) -> str:
    return f"tenant-{name}"


def integration_user(name: str) -> str:
    return f"integration-{name}"


def _topics_of(types: Iterable[str], regions: Iterable[str]) -> set[str]:
    return {topic_for(EVENT_TYPES[name].topic_kind, region) for name in types for region in regions}


def owned_types(service: str) -> list[str]:
    """The event types ``service`` owns, as the models say."""
    return sorted(name for name, cls in EVENT_TYPES.items() if service in cls.producers.services)


def contract_services() -> list[str]:
    """Every service the contract names as a producer."""
    return sorted({service for cls in EVENT_TYPES.values() for service in cls.producers.services})


def consumed(regions: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """Service -> (the topics its processes subscribe to, their consumer groups), read off each process's app built
    with the environment the local launcher gives it (in development mode: an app is built, never started)."""
    stack = Stack(regions=regions, kafka_bootstrap=_KAFKA, database_server=_POSTGRES, development_mode=True)
    found: dict[str, tuple[set[str], set[str]]] = {}
    for process in plan(regions):
        with mock.patch.dict(os.environ, clear=True):
            env = stack.service_env(process)
        # What building an app logs (development mode, say) goes to stderr: stdout may be the script.
        with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stdout(sys.stderr):
            app = importlib.import_module(f"{process.module}.app").create_app()
        runtime = app.state.runtime
        topics, groups = found.setdefault(process.service, (set(), set()))
        topics.update(runtime.topics)
        groups.add(runtime.settings.consumer_group)
    return found


def principals(regions: list[str], credentials: TenantCatalog) -> list[KafkaPrincipal]:
    """Every principal of the deployment but the administrator, with its ACLs."""
    reading = consumed(regions)
    unknown = sorted(set(reading) - set(contract_services()))
    if unknown:
        raise ValueError(f"processes of services that own no event type of the contract: {unknown}")
    result = []
    for service in contract_services():
        reads, groups = reading.get(service, (set(), set()))
        writes = _topics_of(owned_types(service), regions) | {dead_letter_topic(topic) for topic in reads}
        result.append(
            KafkaPrincipal(service, "service", tuple(sorted(writes)), tuple(sorted(reads)), tuple(sorted(groups)))
        )
    by_tenants = [name for name, cls in EVENT_TYPES.items() if cls.producers.tenants]
    for tenant in credentials.tenants:
        where = [region for region in regions if region in tenant.projects]
        result.append(KafkaPrincipal(tenant_user(tenant.name), "tenant", tuple(sorted(_topics_of(by_tenants, where)))))
    for system in credentials.integrations:
        listed = [name for name in system.produces if name in EVENT_TYPES]
        fed = tuple(sorted(_topics_of(listed, regions)))
        result.append(KafkaPrincipal(integration_user(system.name), "integration", fed))
    users = [p.user for p in result]
    if len(set(users)) != len(users) or ADMIN in users:
        raise ValueError(f"two principals of the deployment share a user name: {sorted(users)}")
    return result


def acls(of: Iterable[KafkaPrincipal]) -> list[Acl]:
    entries = []
    for principal in of:
        entries += [Acl(principal.user, "Write", "topic", topic) for topic in principal.writes]
        entries += [Acl(principal.user, "Read", "topic", topic) for topic in principal.reads]
        entries += [Acl(principal.user, "Read", "group", group) for group in principal.groups]
    return entries


HEADER = r"""#!/usr/bin/env bash
# GENERATED by `make kafka-acls` (python -m ims_docgen.kafka_acls) from the event contract, the services' wiring and
# the credentials file: do not edit; a test fails when it is stale.
#
# docker-compose.yml's kafka-init step runs it once the broker is up, as the broker's administrator (its one super
# user) on the administrators' listener: it creates the topics, a SCRAM user for every principal and the ACLs below,
# nothing else. Every other principal may write only the topics it produces to (and read what it consumes, with its
# consumer groups); none may create topics or change ACLs. The passwords come from the environment; none may contain
# a comma, a bracket or an equals sign (kafka-configs' syntax).
set -euo pipefail

: "${ADMIN_BOOTSTRAP:?host:port of the listener of the administrators}"
: "${IMS_KAFKA_ADMIN_PASSWORD:?the password of the administrator}"
config=$(mktemp)
trap 'rm -f "$config"' EXIT
login="org.apache.kafka.common.security.plain.PlainLoginModule required"
cat > "$config" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=$login username="admin" password="${IMS_KAFKA_ADMIN_PASSWORD}";
EOF

kafka() {
  local tool=$1
  shift
  "${KAFKA_BIN:-/opt/kafka/bin}/$tool" --bootstrap-server "$ADMIN_BOOTSTRAP" --command-config "$config" "$@"
}

scram_user() {
  kafka kafka-configs.sh --alter --entity-type users --entity-name "$1" \
    --add-config "SCRAM-SHA-512=[password=$2]" >/dev/null
}
"""


def _q(value: str) -> str:
    return shlex.quote(value)


def render(regions: list[str] | None = None, credentials: TenantCatalog | None = None) -> str:
    regions = regions or list(DEFAULT_DEPLOYED_REGIONS)
    credentials = credentials or load_tenants(None)
    everyone = principals(regions, credentials)
    lines = [HEADER]
    lines.append(f"# The topics of the deployment ({', '.join(regions)}), each with its dead-letter twin.")
    for topic in all_topics(regions):
        lines.append(
            f"kafka kafka-topics.sh --create --if-not-exists --topic {_q(topic)} "
            f"--partitions {DEFAULT_PARTITIONS} --replication-factor 1 >/dev/null"
        )
    lines.append("")
    lines.append("# The administrator also signs in with SCRAM on the other listeners (the host's tools use it).")
    lines.append(f'scram_user {ADMIN} "$IMS_KAFKA_ADMIN_PASSWORD"')
    for principal in everyone:
        lines.append("")
        lines.append(f"# {principal.kind} {principal.user}")
        lines.append(f'scram_user {_q(principal.user)} "${{{principal.password_variable}:?}}"')
        allow = f"kafka kafka-acls.sh --add --allow-principal {_q('User:' + principal.user)}"
        if principal.writes:
            topics = " ".join(f"--topic {_q(topic)}" for topic in principal.writes)
            lines.append(f"{allow} --operation Write {topics} >/dev/null")
        if principal.reads or principal.groups:
            resources = [f"--topic {_q(topic)}" for topic in principal.reads]
            resources += [f"--group {_q(group)}" for group in principal.groups]
            lines.append(f"{allow} --operation Read {' '.join(resources)} >/dev/null")
    lines.append("")
    lines.append('echo "topics, users and ACLs are in place"')
    return "\n".join(lines) + "\n"


def table(regions: list[str] | None = None, credentials: TenantCatalog | None = None) -> str:
    """The principals and their ACLs as a Markdown table."""
    regions = regions or list(DEFAULT_DEPLOYED_REGIONS)
    rows = ["| principal | writes | reads (and groups) |", "| --- | --- | --- |"]
    for principal in principals(regions, credentials or load_tenants(None)):
        reads = [*principal.reads, *(f"group {g}" for g in principal.groups)]
        rows.append(f"| {principal.user} | {', '.join(principal.writes)} | {', '.join(reads) or '-'} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Kafka init script (topics, SCRAM users, ACLs).")
    parser.add_argument("script", nargs="?", type=Path, help="where to write it (default: print it)")
    parser.add_argument("--regions", default=",".join(DEFAULT_DEPLOYED_REGIONS), help="the deployed regions")
    parser.add_argument("--credentials", help="the deployment's credentials file (default: the development one)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the script is stale")
    parser.add_argument("--table", action="store_true", help="print the ACLs as a Markdown table instead")
    args = parser.parse_args(argv)
    regions = [r for r in args.regions.split(",") if r]
    credentials = load_tenants(args.credentials)
    if args.table:
        print(table(regions, credentials), end="")
        return 0
    text = render(regions, credentials)
    if args.script is None:
        print(text, end="")
    elif args.check:
        if not args.script.exists() or args.script.read_text() != text:
            print(f"{args.script} is stale: run `make kafka-acls`", file=sys.stderr)
            return 1
    else:
        args.script.write_text(text)
        args.script.chmod(0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
