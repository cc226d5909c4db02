"""``imsctl ecs`` and the ``-q/--quiet`` output of the commands that create something, without a running system:
the APIs are answered by a mock that verifies every signature, events are captured instead of sent."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ims_shared.signing import SignedRequest, verify
from ims_shared.tenants import load_tenants
from imsctl import api, kafka_io
from imsctl.ecs import DiskTooSmall, plan_disks
from imsctl.main import app

ALPHA = next(t for t in load_tenants(None).tenants if t.name == "alpha")
PROJECT = ALPHA.projects["cn-north-4"]
IMAGE_ID = "3f0c1f4e-0000-4000-8000-0000000000a1"
SERVER_ID = "5e1d2c3b-0000-4000-8000-0000000000e1"
IMAGE = {
    "id": IMAGE_ID,
    "name": "web-full",
    "status": "active",
    "__whole_image": "true",
    "min_disk": 40,
    "__disks": [
        {"device": "/dev/vdb", "size_gb": 10, "bootable": False, "volume_type": "SAS"},
        {"device": "/dev/vda", "size_gb": 40, "bootable": True, "volume_type": "SSD"},
    ],
}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMSCTL_REGION", "IMSCTL_TENANT", "IMSCTL_PROJECT", "IMSCTL_PORT_OFFSET", "PORT_OFFSET"):
        monkeypatch.delenv(name, raising=False)
    for service in ("IMS", "CBR", "BILLING", "ECS"):
        monkeypatch.delenv(f"IMSCTL_{service}_URL", raising=False)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


class SignedFake:
    """Answers (port, method, path) from a table; every request must carry alpha's valid signature."""

    def __init__(self, routes: dict[tuple[int, str, str], Handler]) -> None:
        self.routes = routes
        self.bodies: dict[tuple[int, str, str], list[Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        signed = SignedRequest(
            method=request.method,
            path=request.url.raw_path.decode().split("?")[0],
            query=request.url.query.decode(),
            headers=dict(request.headers),
            body=request.content,
        )
        assert verify(signed, ALPHA.secret_key, datetime.now(UTC)) == ALPHA.access_key
        key = (request.url.port or 80, request.method, request.url.path)
        self.bodies.setdefault(key, []).append(json.loads(request.content) if request.content else None)
        handler = self.routes.get(key)
        if handler is None:
            return httpx.Response(404, json={"error": {"code": "Ecs.0114", "message": f"no {key}"}})
        return handler(request)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[tuple[int, str, str], Handler]], SignedFake]:
    def install(routes: dict[tuple[int, str, str], Handler]) -> SignedFake:
        found = SignedFake(routes)
        monkeypatch.setattr(api, "TRANSPORT", httpx.MockTransport(found))
        return found

    return install


def answer(document: Any, status: int = 200) -> Handler:
    return lambda _: httpx.Response(status, json=document)


ECS = 8104
IMS = 8101
SHOW_IMAGE = (IMS, "GET", f"/v2/images/{IMAGE_ID}")
CREATE = (ECS, "POST", f"/v1/{PROJECT}/cloudservers")
ECS_JOB = (ECS, "GET", f"/v1/{PROJECT}/jobs/ecs-job-1")


# -- the disks of a new ECS ----------------------------------------------------------------------------------------
def test_the_disks_default_to_the_images_and_may_only_grow() -> None:
    disks = plan_disks(IMAGE, None, [])
    assert [(d.device, d.bootable, d.size_gb, d.volume_type) for d in disks] == [
        ("/dev/vda", True, 40, "SSD"),
        ("/dev/vdb", False, 10, "SAS"),
    ]
    grown = plan_disks(IMAGE, 50, [20, 30])
    assert [(d.device, d.size_gb, d.image_gb) for d in grown] == [
        ("/dev/vda", 50, 40),
        ("/dev/vdb", 20, 10),
        ("/dev/vdc", 30, None),
    ]
    with pytest.raises(DiskTooSmall, match="/dev/vdb: 5 GB is smaller than the image's 10 GB"):
        plan_disks(IMAGE, None, [5])
    with pytest.raises(DiskTooSmall, match="/dev/vda: 20 GB"):
        plan_disks(IMAGE, 20, [])
    public = plan_disks({"id": "gold", "min_disk": 20, "__disks": []}, None, [])
    assert [(d.device, d.size_gb) for d in public] == [("/dev/vda", 20)]


# -- imsctl ecs ----------------------------------------------------------------------------------------------------
def test_ecs_create_sends_every_disk_of_the_image_at_its_size_and_prints_the_server_id(
    fake: Callable[..., SignedFake],
) -> None:
    calls = fake({SHOW_IMAGE: answer(IMAGE), CREATE: answer({"job_id": "ecs-job-1", "serverIds": [SERVER_ID]})})
    result = run("ecs", "create", "--image-id", IMAGE_ID, "--name", "web", "--data-disk-gb", "15")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{SERVER_ID}\n"
    [body] = calls.bodies[CREATE]
    server = body["server"]
    assert (server["imageRef"], server["name"], server["flavorRef"], server["count"]) == (
        IMAGE_ID,
        "web",
        "s6.small.1",
        1,
    )
    assert server["root_volume"] == {"volumetype": "SSD", "size": 40}
    assert server["data_volumes"] == [{"volumetype": "SAS", "size": 15}]
    assert "/dev/vdb data disk 15 GB SAS (image's 10 GB)" in result.stderr


def test_ecs_create_refuses_a_disk_smaller_than_the_images_before_any_request(fake: Callable[..., SignedFake]) -> None:
    calls = fake({SHOW_IMAGE: answer(IMAGE)})
    result = run("ecs", "create", "--image-id", IMAGE_ID, "--name", "web", "--system-disk-gb", "30")
    assert result.exit_code == 2 and "30 GB is smaller than the image's 40 GB" in result.stderr
    assert CREATE not in calls.bodies


def test_ecs_create_quiet_waits_and_prints_the_ids_alone(fake: Callable[..., SignedFake]) -> None:
    states = iter(["RUNNING", "SUCCESS"])
    fake(
        {
            SHOW_IMAGE: answer(IMAGE),
            CREATE: answer({"job_id": "ecs-job-1", "serverIds": [SERVER_ID, "s-2"]}),
            ECS_JOB: lambda _: httpx.Response(200, json={"job_id": "ecs-job-1", "status": next(states)}),
        }
    )
    result = run(
        "ecs", "create", "--image-id", IMAGE_ID, "--name", "web", "--count", "2", "--wait", "-q", "--poll-interval", "0"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{SERVER_ID}\ns-2\n" and result.stderr == ""


def test_ecs_list_shows_each_server_with_its_disks(fake: Callable[..., SignedFake]) -> None:
    server = {
        "id": SERVER_ID,
        "name": "web",
        "status": "ACTIVE",
        "image": {"id": IMAGE_ID},
        "flavor": {"id": "s6.small.1"},
        "created": "2026-01-01T00:00:00Z",
        "os-extended-volumes:volumes_attached": [
            {"id": "vol-b", "device": "/dev/vdb", "bootIndex": ""},
            {"id": "vol-a", "device": "/dev/vda", "bootIndex": "0"},
        ],
    }
    volumes = [
        {"id": "vol-a", "size": 40, "volume_type": "SSD"},
        {"id": "vol-b", "size": 10, "volume_type": "SAS"},
    ]
    calls = fake(
        {
            (ECS, "GET", f"/v1/{PROJECT}/cloudservers/detail"): answer({"count": 1, "servers": [server]}),
            (ECS, "GET", f"/v2/{PROJECT}/cloudvolumes/detail"): answer({"count": 2, "volumes": volumes}),
        }
    )
    result = run("ecs", "list", "--status", "ACTIVE")
    assert result.exit_code == 0, result.output
    assert SERVER_ID in result.stdout and "ACTIVE" in result.stdout
    assert "/dev/vda 40 GB SSD, /dev/vdb 10 GB SAS" in result.stdout
    assert (ECS, "GET", f"/v1/{PROJECT}/cloudservers/detail") in calls.bodies


def test_ecs_power_change_os_and_delete_send_the_ecs_apis_bodies(fake: Callable[..., SignedFake]) -> None:
    action = (ECS, "POST", f"/v1/{PROJECT}/cloudservers/action")
    change = (ECS, "POST", f"/v2/{PROJECT}/cloudservers/{SERVER_ID}/changeos")
    delete = (ECS, "POST", f"/v1/{PROJECT}/cloudservers/delete")
    calls = fake(
        {
            action: answer({"job_id": "j"}),
            change: answer({"job_id": "os-job"}),
            delete: answer({"job_id": "j"}),
            SHOW_IMAGE: answer(IMAGE),
        }
    )
    assert run("ecs", "stop", SERVER_ID, "--hard").exit_code == 0
    assert run("ecs", "start", SERVER_ID, "s-2").exit_code == 0
    assert run("ecs", "reboot", SERVER_ID).exit_code == 0
    assert calls.bodies[action] == [
        {"os-stop": {"servers": [{"id": SERVER_ID}], "type": "HARD"}},
        {"os-start": {"servers": [{"id": SERVER_ID}, {"id": "s-2"}]}},
        {"reboot": {"servers": [{"id": SERVER_ID}], "type": "SOFT"}},
    ]
    changed = run("ecs", "change-os", SERVER_ID, "--image-id", IMAGE_ID, "--stop-first")
    assert changed.exit_code == 0 and changed.stdout == "os-job\n"
    assert calls.bodies[change] == [{"os-change": {"imageid": IMAGE_ID, "mode": "withStopServer"}}]
    warning = " ".join(changed.stderr.split())
    assert "data disk(s) (/dev/vdb 10 GB) that are not restored" in warning
    assert run("ecs", "delete", SERVER_ID, "--delete-volumes").exit_code == 0
    assert calls.bodies[delete] == [{"servers": [{"id": SERVER_ID}], "delete_volume": True, "delete_publicip": False}]


def test_ecs_errors_show_the_ecs_code(fake: Callable[..., SignedFake]) -> None:
    fake({})
    result = run("ecs", "show", "nope")
    assert result.exit_code == 1 and "404 Ecs.0114" in result.stderr


def test_the_ecs_endpoint_follows_the_port_map_and_its_override() -> None:
    shown = json.loads(run("endpoints", "--json", "--region", "ap-southeast-1").stdout)
    assert shown["compute-service"] == "http://127.0.0.1:8204"
    shown = json.loads(run("endpoints", "--json", "--ecs-url", "http://ecs.example:1/").stdout)
    assert shown["compute-service"] == "http://ecs.example:1"
    assert api.service_for_path("/v1/p/cloudservers/detail") == "ecs"
    assert api.service_for_path("/v2/p/cloudvolumes/v") == "ecs"


# -- -q/--quiet ----------------------------------------------------------------------------------------------------
CREATING = [
    ["ims", "create"],
    ["ims", "replicate"],
    ["cbr", "checkpoint"],
    ["billing", "top-up"],
    ["ecs", "create"],
    ["vault", "create"],
]


def test_every_command_that_creates_something_takes_quiet() -> None:
    from ims_shared.events import EVENT_TYPES
    from imsctl.produce import command_name

    produce = [["produce", command_name(t)] for t in EVENT_TYPES]
    for command in [*CREATING, *produce]:
        shown = run(*command, "--help").stdout
        assert "--quiet" in shown and "-q" in shown, command


def test_produce_quiet_prints_the_aggregate_id_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_send(
        bootstrap: str, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        return 0, 1

    monkeypatch.setattr(kafka_io, "send", fake_send)
    for args in (
        ["backup-created", "-q", "--disks", "3"],
        ["server-registered", "--quiet"],
        ["backup-created", "-q", "--json"],
    ):
        result = run("produce", *args)
        assert result.exit_code == 0, result.output
        assert result.stderr == "", args
        [line] = result.stdout.splitlines()
        assert len(line) == 36 and line.count("-") == 4, line
    loud = run("produce", "backup-created")
    assert "ims.cn-north-4.backups" in loud.stderr, "without -q, where the event went is said on standard error"


def test_ims_create_and_replicate_quiet_print_the_image_id(fake: Callable[..., SignedFake]) -> None:
    job = {"job_id": "job-1", "status": "INIT", "entities": {"image_id": "img-1", "process_percent": 0.0}}
    done = {**job, "status": "SUCCESS", "entities": {"image_id": "img-1", "process_percent": 100.0}}
    replica = {"job_id": "job-2", "status": "RUNNING", "entities": {"image_id": "replica-1"}}
    jobs = iter([job, job, done])
    fake(
        {
            (IMS, "POST", "/v1/cloudimages/wholeimages/action"): answer({"job_id": "job-1"}),
            (IMS, "GET", f"/v1/{PROJECT}/jobs/job-1"): lambda _: httpx.Response(200, json=next(jobs)),
            (IMS, "POST", f"/v1/cloudimages/{IMAGE_ID}/cross_region_copy"): answer({"job_id": "job-2"}),
            (IMS, "GET", f"/v1/{PROJECT}/jobs/job-2"): answer(replica),
        }
    )
    at_once = run("ims", "create", "--backup-id", "b-1", "--name", "web", "-q")
    assert (at_once.exit_code, at_once.stdout, at_once.stderr) == (0, "img-1\n", "")
    waited = run("ims", "create", "--backup-id", "b-1", "--name", "web", "-q", "--wait", "--poll-interval", "0")
    assert (waited.exit_code, waited.stdout, waited.stderr) == (0, "img-1\n", "")
    replicated = run(
        "ims", "replicate", IMAGE_ID, "--to", "ap-southeast-1", "--vault-id", "v-1", "--name", "copy", "--quiet"
    )
    assert (replicated.exit_code, replicated.stdout, replicated.stderr) == (0, "replica-1\n", "")


def test_checkpoint_and_top_up_quiet_print_the_new_id(fake: Callable[..., SignedFake]) -> None:
    checkpoint = {"checkpoint": {"vault": {"resources": [{"backup_id": "backup-9"}]}}}
    account = {"account_id": "alpha", "balance": "110.000000", "currency": "CNY", "state": "normal"}
    fake(
        {
            (8102, "POST", f"/v3/{PROJECT}/checkpoints"): answer(checkpoint),
            (8300, "POST", f"/v1/{PROJECT}/billing/account/top-ups"): answer(
                {"top_up": {"id": "42", "amount": "10.00"}, "account": account}, 201
            ),
        }
    )
    backed_up = run("cbr", "checkpoint", "--server-id", SERVER_ID, "--vault-id", "v-1", "-q")
    assert (backed_up.exit_code, backed_up.stdout, backed_up.stderr) == (0, "backup-9\n", "")
    topped = run("billing", "top-up", "10", "-q")
    assert (topped.exit_code, topped.stdout, topped.stderr) == (0, "42\n", "")
    assert run("billing", "top-up", "10").stdout == "110.000000\n"
