"""imsctl: the command line without a running system (events built but not sent, APIs answered by a mock that
checks every signature), the pure parts (endpoints, trail matching, rendering), and one test over a real broker."""

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ims_shared.event_auth import EventAuthority
from ims_shared.events import derived_id, parse_event
from ims_shared.signing import SignedRequest, verify
from ims_shared.tenants import load_tenants
from imsctl import api, kafka_io
from imsctl.follow import headline, matches, render, resolve_topics
from imsctl.main import app
from imsctl.produce import command_name, event_type_of
from imsctl.records import Record, service_of
from imsctl.target import Target, make_target
from imsctl.trail import find_trail, related_ids, summary

ALPHA = next(t for t in load_tenants(None).tenants if t.name == "alpha")
CN_PROJECT = ALPHA.projects["cn-north-4"]
AP_PROJECT = ALPHA.projects["ap-southeast-1"]
ENV_NAMES = [
    "IMSCTL_REGION",
    "IMSCTL_TENANT",
    "IMSCTL_PROJECT",
    "IMSCTL_TENANTS_FILE",
    "TENANTS_FILE",
    "IMSCTL_BOOTSTRAP",
    "KAFKA_BOOTSTRAP_SERVERS",
    "IMSCTL_PORT_OFFSET",
    "PORT_OFFSET",
    "IMSCTL_HOST",
    "IMSCTL_IMS_URL",
    "IMSCTL_CBR_URL",
    "IMSCTL_BILLING_URL",
    "IMSCTL_ECS_URL",
    "IMSCTL_REGIONS",
    "DEPLOYED_REGIONS",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the shell exported, the defaults under test are the standard ones."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


# -- produce ---------------------------------------------------------------------------------------------------------
def test_backup_created_for_a_two_disk_ecs_is_a_valid_contract_event() -> None:
    result = run("produce", "backup-created", "--disks", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    envelope, data = parse_event(result.stdout.encode())
    assert envelope.type == "BackupCreated"
    assert envelope.region == "cn-north-4" and envelope.projectid == CN_PROJECT
    assert envelope.subject == data.backup_id  # type: ignore[attr-defined]
    disks = data.disks  # type: ignore[attr-defined]
    assert [d.device for d in disks] == ["/dev/vda", "/dev/vdb"]
    assert [d.bootable for d in disks] == [True, False]
    assert data.size_gb == sum(d.size_gb for d in disks)  # type: ignore[attr-defined]
    assert data.server.configured and data.server.state == "ACTIVE"  # type: ignore[attr-defined]
    assert "ims.cn-north-4.backups" in result.stderr


def test_produce_sends_to_the_topic_of_the_region_keyed_by_the_aggregate_and_prints_its_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, str, str, bytes]] = []
    signed: list[str] = []

    async def fake_send(
        bootstrap: str, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        sent.append((bootstrap, topic, key, value))
        signed.append(EventAuthority(load_tenants(None)).authenticate(value, headers).label)
        return 1, 7

    monkeypatch.setattr(kafka_io, "send", fake_send)
    result = run(
        "produce", "backup-created", "--disks", "3", "--region", "ap-southeast-1", "--bootstrap", "kafka.example:9092"
    )
    assert result.exit_code == 0, result.output
    backup_id = result.stdout.strip()
    [(bootstrap, topic, key, value)] = sent
    assert (bootstrap, topic, key) == ("kafka.example:9092", "ims.ap-southeast-1.backups", backup_id)
    envelope, data = parse_event(value)
    assert envelope.projectid == AP_PROJECT and len(data.disks) == 3  # type: ignore[attr-defined]
    assert "partition 1, offset 7" in result.stderr
    assert signed == ["tenant:alpha"], "signed as the tenant, as the consumers verify"


def test_produce_signs_as_an_integration_when_asked_and_refuses_what_a_tenant_may_not_produce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed: list[str] = []

    async def fake_send(
        bootstrap: str, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        signed.append(EventAuthority(load_tenants(None)).authenticate(value, headers).label)
        return 0, 0

    monkeypatch.setattr(kafka_io, "send", fake_send)
    refused = run("produce", "backup-arrears", "b-1")
    assert refused.exit_code == 2 and "--integration devops" in refused.stderr and not signed
    assert run("produce", "backup-arrears", "b-1", "--integration", "devops").exit_code == 0
    assert signed == ["integration:devops"]
    wrong = run("produce", "image-deleted", "--data", '{"image_id": "i", "backup_id": "b"}', "--integration", "devops")
    assert wrong.exit_code == 2 and "may not produce ImageDeleted" in wrong.stderr


def test_image_requested_prints_the_image_id_image_service_will_derive(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[bytes] = []

    async def fake_send(
        bootstrap: str, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        captured.append(value)
        return 0, 0

    monkeypatch.setattr(kafka_io, "send", fake_send)
    result = run("produce", "image-requested", "--backup-id", "b-1", "--name", "web")
    assert result.exit_code == 0, result.output
    envelope, _ = parse_event(captured[0])
    assert result.stdout.strip() == derived_id(envelope.id, "image")
    assert envelope.data["image_id"] is None and envelope.data["name"] == "web"


def test_any_event_type_by_its_name_with_data_validated_against_the_model() -> None:
    data = {"image_id": "i-1", "backup_id": "b-1", "delete_backup": True}
    result = run("produce", "ImageDeleted", "--data", json.dumps(data), "--dry-run", "--event-id", "e-1")
    assert result.exit_code == 0, result.output
    envelope, parsed = parse_event(result.stdout.encode())
    assert (envelope.id, envelope.subject, parsed.delete_backup) == ("e-1", "i-1", True)  # type: ignore[attr-defined]

    invalid = run("produce", "image-deleted", "--data", '{"image_id": "i-1", "reason": "boredom"}', "--dry-run")
    assert invalid.exit_code == 2
    assert "backup_id" in invalid.stderr and "reason" in invalid.stderr
    missing = run("produce", "image-deleted", "--dry-run")
    assert missing.exit_code == 2 and "image_id, backup_id" in missing.stderr
    not_json = run("produce", "image-deleted", "--data", "{nope", "--dry-run")
    assert not_json.exit_code == 2 and "not JSON" in not_json.stderr


def test_data_overrides_the_defaults_and_is_validated_too() -> None:
    result = run("produce", "backup-created", "--dry-run", "--data", '{"name": "nightly", "size_gb": 5}')
    _, data = parse_event(result.stdout.encode())
    assert (data.name, data.size_gb) == ("nightly", 5)  # type: ignore[attr-defined]
    refused = run("produce", "backup-created", "--dry-run", "--data", '{"size_gb": -1}')
    assert refused.exit_code == 2 and "size_gb" in refused.stderr


def test_every_event_type_of_the_contract_has_a_produce_command() -> None:
    from ims_shared.events import EVENT_TYPES

    listing = run("events").stdout
    for event_type in EVENT_TYPES:
        assert event_type_of(event_type) == event_type
        assert event_type_of(command_name(event_type)) == event_type
        assert command_name(event_type) in listing
        assert run("produce", command_name(event_type), "--help").exit_code == 0
    assert command_name("BackupCreated") == "backup-created" and event_type_of("no-such-event") is None


def test_unknown_tenant_or_project_less_region_is_a_usage_error() -> None:
    unknown = run("produce", "backup-created", "--dry-run", "--tenant", "nobody")
    assert unknown.exit_code == 2 and "alpha" in unknown.stderr
    nowhere = run("produce", "backup-created", "--dry-run", "--region", "xx-nowhere-1")
    assert nowhere.exit_code == 2 and "no project in region xx-nowhere-1" in nowhere.stderr


def test_unreachable_kafka_is_reported_plainly() -> None:
    result = run("produce", "backup-created", "--bootstrap", "127.0.0.1:1")
    assert result.exit_code == 1 and "cannot reach Kafka at 127.0.0.1:1" in result.stderr


# -- endpoints -------------------------------------------------------------------------------------------------------
def test_endpoints_follow_the_standard_port_map_and_its_offset() -> None:
    target = make_target()
    assert [target.url(s) for s in ("ims", "cbr", "replication", "billing")] == [
        "http://127.0.0.1:8101",
        "http://127.0.0.1:8102",
        "http://127.0.0.1:8103",
        "http://127.0.0.1:8300",
    ]
    asia = make_target(region="ap-southeast-1", port_offset=1000)
    assert (asia.url("ims"), asia.url("cbr"), asia.url("billing")) == (
        "http://127.0.0.1:9201",
        "http://127.0.0.1:9202",
        "http://127.0.0.1:9300",
    )
    assert asia.project_id == AP_PROJECT
    override = make_target(ims_url="http://ims.example:1234/", region="xx-nowhere-1")
    assert override.url("ims") == "http://ims.example:1234"
    with pytest.raises(Exception, match="not deployed"):
        override.url("cbr")


def test_endpoints_come_from_the_environment_and_options_win() -> None:
    env = {"PORT_OFFSET": "10000", "IMSCTL_TENANT": "beta", "KAFKA_BOOTSTRAP_SERVERS": "k:1"}
    shown = json.loads(run("endpoints", "--json", env=env).stdout)
    assert shown["image-service"] == "http://127.0.0.1:18101" and shown["tenant"] == "beta"
    assert shown["kafka"] == "k:1"
    env["IMSCTL_PORT_OFFSET"] = "20000"
    shown = json.loads(run("endpoints", "--json", "--cbr-url", "http://x:1", env=env).stdout)
    assert shown["image-service"] == "http://127.0.0.1:28101" and shown["backup-service"] == "http://x:1"
    assert json.loads(run("endpoints", "--json", "--port-offset", "5", env=env).stdout)["billing-service"].endswith(
        ":8305"
    )


# -- the APIs, answered by a mock that checks the signatures ---------------------------------------------------------
class FakeApi:
    """Answers signed requests from a table of handlers; refuses any request whose signature does not verify."""

    def __init__(self, routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        signed = SignedRequest(
            method=request.method,
            path=request.url.raw_path.decode().split("?")[0],
            query=request.url.query.decode(),
            headers=dict(request.headers),
            body=request.content,
        )
        assert verify(signed, ALPHA.secret_key, datetime.now(UTC)) == ALPHA.access_key
        assert request.headers["x-project-id"] == CN_PROJECT
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"error_code": "IMG.0027", "error_msg": f"no {request.url.path}"})
        return handler(request)


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeApi]]:
    def install(routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]]) -> FakeApi:
        fake = FakeApi(routes)
        monkeypatch.setattr(api, "TRANSPORT", httpx.MockTransport(fake))
        return fake

    yield install


def test_ims_create_waits_for_the_job_with_progress_and_prints_the_image_id(fake_api: Callable[..., FakeApi]) -> None:
    states = iter(
        [
            {"status": "INIT", "entities": {"process_percent": 0.0, "current_task": "waiting for the CBR backup"}},
            {"status": "RUNNING", "entities": {"process_percent": 50.0, "current_task": "creating the image"}},
            {"status": "SUCCESS", "entities": {"process_percent": 100.0, "image_id": "img-1"}},
        ]
    )
    bodies: list[Any] = []

    def create(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"job_id": "job-1"})

    fake = fake_api(
        {
            ("POST", "/v1/cloudimages/wholeimages/action"): create,
            ("GET", f"/v1/{CN_PROJECT}/jobs/job-1"): lambda _: httpx.Response(
                200, json={"job_id": "job-1", **next(states)}
            ),
        }
    )
    result = run("ims", "create", "--backup-id", "b-1", "--name", "web", "--wait", "--poll-interval", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "img-1"
    assert bodies == [{"name": "web", "whole_image_type": "CBR", "backup_id": "b-1"}]
    assert "SUCCESS" in result.stderr and "100%" in result.stderr
    assert str(fake.requests[0].url) == "http://127.0.0.1:8101/v1/cloudimages/wholeimages/action"

    without_wait = run("ims", "create", "--backup-id", "b-1", "--name", "web")
    assert without_wait.stdout.strip() == "job-1"


def test_a_failed_job_ends_the_command_with_its_code(fake_api: Callable[..., FakeApi]) -> None:
    failed = {"job_id": "job-2", "status": "FAIL", "error_code": "IMG.0020", "fail_reason": "no such backup"}
    fake_api(
        {
            ("POST", "/v1/cloudimages/wholeimages/action"): lambda _: httpx.Response(200, json={"job_id": "job-2"}),
            ("GET", f"/v1/{CN_PROJECT}/jobs/job-2"): lambda _: httpx.Response(200, json=failed),
        }
    )
    result = run("ims", "create", "--backup-id", "b-x", "--name", "web", "--wait", "--poll-interval", "0")
    assert result.exit_code == 1 and "IMG.0020: no such backup" in result.stderr


def test_error_answers_show_their_code_and_message(fake_api: Callable[..., FakeApi]) -> None:
    fake_api({})
    result = run("ims", "show", "img-404")
    assert result.exit_code == 1 and "404 IMG.0027" in result.stderr


def test_listing_images_and_deleting_one_with_its_backup(fake_api: Callable[..., FakeApi]) -> None:
    image = {
        "id": "3f0c1f4e-0000-4000-8000-000000000001",
        "name": "web [blue]",
        "status": "active",
        "status_display": "Normal",
        "__backup_id": "b-1",
        "__os_version": "Ubuntu 22.04 server 64bit",
        "min_disk": 40,
        "created_at": "2025-01-01T00:00:00Z",
    }
    deleted: list[Any] = []
    fake = fake_api(
        {
            ("GET", "/v2/cloudimages"): lambda _: httpx.Response(200, json={"images": [image], "page_info": {}}),
            ("GET", f"/v2/images/{image['id']}"): lambda _: httpx.Response(200, json=image),
            ("DELETE", f"/v2/images/{image['id']}"): lambda r: (
                deleted.append(json.loads(r.content)) or httpx.Response(204)
            ),
        }
    )
    listing = run("ims", "images", "--backup-id", "b-1")
    assert listing.exit_code == 0
    assert image["id"] in listing.stdout and "Normal" in listing.stdout and "Ubuntu 22.04" in listing.stdout
    assert "web [blue]" in listing.stdout, "values are shown as they are, not as markup"
    assert fake.requests[0].url.params["__backup_id"] == "b-1"
    result = run("ims", "delete", str(image["id"]), "--delete-backup")
    assert result.exit_code == 0 and deleted == [{"delete_backup": True}]
    assert "b-1 is being deleted" in result.stderr


def test_billing_account_and_top_up(fake_api: Callable[..., FakeApi]) -> None:
    account = {"account_id": "alpha", "balance": "100.000000", "currency": "CNY", "state": "normal"}
    topped: list[Any] = []

    def top_up(request: httpx.Request) -> httpx.Response:
        topped.append((json.loads(request.content), request.headers.get("idempotency-key")))
        return httpx.Response(
            201,
            json={"top_up": {"id": "1", "amount": "10.00"}, "account": {**account, "balance": "110.000000"}},
        )

    fake = fake_api(
        {
            ("GET", f"/v1/{CN_PROJECT}/billing/account"): lambda _: httpx.Response(200, json={"account": account}),
            ("POST", f"/v1/{CN_PROJECT}/billing/account/top-ups"): top_up,
        }
    )
    shown = run("billing", "account")
    assert shown.exit_code == 0 and "100.000000" in shown.stdout and "normal" in shown.stdout
    assert str(fake.requests[0].url).startswith("http://127.0.0.1:8300/")
    result = run("billing", "top-up", "10", "--idempotency-key", "k-1")
    assert result.exit_code == 0 and result.stdout.strip() == "110.000000"
    assert topped == [({"amount": "10"}, "k-1")]


def test_generic_signed_call_picks_the_service_by_path(fake_api: Callable[..., FakeApi]) -> None:
    fake = fake_api(
        {
            ("GET", "/v2/cloudimages"): lambda _: httpx.Response(200, json={"images": []}),
            ("GET", f"/v3/{CN_PROJECT}/backups"): lambda _: httpx.Response(200, json={"backups": []}),
        }
    )
    result = run("api", "GET", "/v2/cloudimages", "-q", "limit=2")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"images": []}
    assert str(fake.requests[-1].url) == "http://127.0.0.1:8101/v2/cloudimages?limit=2"
    assert run("api", "GET", "/v3/{project_id}/backups").exit_code == 0
    assert str(fake.requests[-1].url) == f"http://127.0.0.1:8102/v3/{CN_PROJECT}/backups"
    missing = run("api", "GET", "/v2/images/nope")
    assert missing.exit_code == 1 and "IMG.0027" in missing.stdout
    assert [api.service_for_path(p) for p in ("/v1/p/billing/account", "/v3/p/backups", "/v1/p/jobs/j")] == [
        "billing",
        "cbr",
        "ims",
    ]


def test_an_unreachable_service_is_reported_plainly() -> None:
    result = run("ims", "images", "--ims-url", "http://127.0.0.1:1")
    assert result.exit_code == 1 and "cannot reach image-service at http://127.0.0.1:1" in result.stderr


# -- records, follow and trail ---------------------------------------------------------------------------------------
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
_offsets: dict[str, int] = {}


def record(
    event_type: str,
    subject: str,
    data: dict[str, Any],
    *,
    topic: str = "ims.cn-north-4.images",
    seconds: float = 0,
    source: str = "/cn-north-4/image-service",
    correlation: str | None = None,
    event_id: str | None = None,
) -> Record:
    event_id = event_id or str(uuid.uuid4())
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type,
        "time": (T0 + timedelta(seconds=seconds)).isoformat(),
        "subject": subject,
        "region": "cn-north-4",
        "projectid": CN_PROJECT,
        "correlationid": correlation or event_id,
        "data": data,
    }
    offset = _offsets[topic] = _offsets.get(topic, -1) + 1
    when = int((T0 + timedelta(seconds=seconds)).timestamp() * 1000)
    return Record(topic, 0, offset, when, subject, json.dumps(event).encode())


def story() -> tuple[list[Record], dict[str, str]]:
    ids = {name: str(uuid.uuid4()) for name in ("backup", "image", "job", "other_backup", "other_image")}
    backups = "ims.cn-north-4.backups"
    requested = record(
        "ImageRequested",
        ids["image"],
        {"image_id": ids["image"], "job_id": ids["job"], "backup_id": ids["backup"], "name": "web"},
        seconds=2,
    )
    records = [
        record("ImageCreated", ids["image"], {"image_id": ids["image"], "backup_id": ids["backup"]}, seconds=3),
        record("BackupCreated", ids["backup"], {"backup_id": ids["backup"]}, topic=backups, source="/imsctl"),
        requested,
        record("BackupCreated", ids["other_backup"], {"backup_id": ids["other_backup"]}, topic=backups),
        record("ImageCreated", ids["other_image"], {"image_id": ids["other_image"], "backup_id": ids["other_backup"]}),
        # Mentions nothing of the story, but is correlated with its request.
        record(
            "AccountStateChanged",
            "alpha",
            {"account_id": "alpha"},
            topic="ims.billing",
            seconds=4,
            correlation=requested.event["id"],
        ),  # type: ignore[index]
    ]
    dead = Record(
        "ims.cn-north-4.images.dlt", 0, 0, 0, None, f"garbage {ids['image']}".encode(), {"dlt-reason": "not JSON"}
    )
    return [*records, dead], ids


def test_the_trail_of_a_backup_is_every_event_about_it_in_time_order() -> None:
    records, ids = story()
    trail = find_trail(records, ids["backup"])
    assert [r.event["type"] if r.event else "raw" for r in trail.records] == [  # type: ignore[index]
        "raw",  # the dead-lettered record has no time of its own but the epoch
        "BackupCreated",
        "ImageRequested",
        "ImageCreated",
        "AccountStateChanged",
    ]
    assert {ids["image"], ids["job"]} <= trail.ids
    assert not any(ids["other_backup"] in (r.key or "") for r in trail.records)


def test_the_trail_of_an_image_reaches_its_backup_unless_direct() -> None:
    records, ids = story()
    types = [r.event["type"] for r in find_trail(records, ids["image"]).records if r.event]  # type: ignore[index]
    assert types == ["BackupCreated", "ImageRequested", "ImageCreated", "AccountStateChanged"]
    direct = [r.event["type"] for r in find_trail(records, ids["image"], related=False).records if r.event]  # type: ignore[index]
    assert direct == ["ImageRequested", "ImageCreated", "AccountStateChanged"]
    assert find_trail(records, ids["image"][:8]).records, "a prefix of an id will do"
    assert find_trail(records, "nothing-like-this").records == []


def test_related_ids_are_the_image_backup_and_job_ids_at_any_depth() -> None:
    data = {
        "job_id": "j",
        "source_image_id": "s",
        "replica_backup_id": "rb",
        "vault_id": "v",
        "server_id": "srv",
        "image": {"disks": [{"volume_id": "vol"}]},
        "nested": [{"backup_id": "b"}],
    }
    assert related_ids(data) == {"j", "s", "rb", "b"}


def test_trail_json_and_tables_show_the_story(monkeypatch: pytest.MonkeyPatch) -> None:
    records, ids = story()

    async def fake_topics(bootstrap: str, prefix: str = "ims.") -> list[str]:
        return sorted({r.topic for r in records})

    async def fake_read(bootstrap: str, topics: list[str], **_: Any) -> list[Record]:
        return records

    monkeypatch.setattr(kafka_io, "list_topics", fake_topics)
    monkeypatch.setattr(kafka_io, "read_all", fake_read)
    lines = run("trail", ids["backup"], "--json").stdout.splitlines()
    assert [json.loads(line).get("event", {}).get("type") for line in lines] == [
        None,
        "BackupCreated",
        "ImageRequested",
        "ImageCreated",
        "AccountStateChanged",
    ]
    for group in ("none", "topic", "service"):
        table = run("trail", ids["backup"], "--group-by", group)
        assert table.exit_code == 0
        assert "ImageRequested" in table.stdout and "BackupCreated" in table.stdout
    assert "ims.cn-north-4.backups: 1 event(s)" in run("trail", ids["backup"], "-g", "topic").stdout
    assert run("trail", "no-such-id").exit_code == 1


def test_records_render_with_their_type_subject_and_service() -> None:
    records, ids = story()
    created = records[0]
    assert created.time == T0 + timedelta(seconds=3)
    line = headline(created).plain
    assert "ImageCreated" in line and ids["image"] in line and "ims.cn-north-4.images p0@" in line
    assert service_of("/cn-north-4/image-service") == "image-service" and service_of("/imsctl") == "imsctl"
    assert "backup_id=" in summary(created) and "…" in summary(created)
    dead = records[-1]
    assert dead.dead_lettered and dead.event is None and dead.to_json()["dlt_reason"] == "not JSON"
    assert "(not a CloudEvent)" in headline(dead).plain
    assert render(created) is not None
    assert matches(created, ["ImageCreated"], ids["image"]) and not matches(created, ["ImageDeleted"], None)


def test_topic_shorthands_mean_the_regions_topics() -> None:
    assert resolve_topics(["images", "backups.dlt", "billing", "ims.x.y"], "ap-southeast-1") == [
        "ims.ap-southeast-1.images",
        "ims.ap-southeast-1.backups.dlt",
        "ims.billing",
        "ims.x.y",
    ]


def test_target_defaults() -> None:
    target = Target()
    assert (target.region, target.tenant.name, target.project_id, target.bootstrap) == (
        "cn-north-4",
        "alpha",
        CN_PROJECT,
        "127.0.0.1:9092",
    )


# -- over a real broker ----------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_produce_follow_and_trail_over_kafka(kafka_bootstrap: str) -> None:
    from ims_shared.kafka import create_topics
    from ims_shared.topics import all_topics

    asyncio.run(create_topics(kafka_bootstrap, all_topics(["cn-north-4", "ap-southeast-1"])))
    env = {"IMSCTL_BOOTSTRAP": kafka_bootstrap}
    backup_id = run("produce", "backup-created", "--disks", "2", env=env).stdout.strip()
    request = run("produce", "image-requested", "--backup-id", backup_id, env=env)
    image_id = request.stdout.strip()
    run("produce", "backup-created", env=env)  # another story

    followed = run(
        "follow", "backups", "--from-beginning", "--json", "--grep", backup_id, "-n", "1", "--timeout", "20", env=env
    )
    assert json.loads(followed.stdout)["event"]["subject"] == backup_id

    lines = run("trail", image_id, "--json", env=env).stdout.splitlines()
    assert [json.loads(line)["event"]["type"] for line in lines] == ["BackupCreated", "ImageRequested"]
