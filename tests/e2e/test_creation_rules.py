"""Every rule of full-ECS image creation, driven through the official Huawei Cloud SDKs."""

import json
import threading
import time
import uuid
from typing import Any

import pytest
from huaweicloudsdkcbr.v1 import DeleteBackupRequest, ShowBackupRequest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import GlanceShowImageRequest, ListImagesRequest, ShowJobRequest

from ims_shared.events import AccountStateChanged, BackupDisk, ServerRegistered, ServerStateChanged
from tests.e2e.harness import (
    ALPHA,
    AP,
    BETA,
    CN,
    GAMMA,
    System,
    backup_created,
    cbr,
    create_image,
    eventually,
    ims,
    known_backup,
    produce,
    wait_job,
)

pytestmark = pytest.mark.e2e


def refused(call: Any, **fields: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call(**fields)
    return caught.value


def test_a_request_without_backup_or_server_is_img_0019(system: System) -> None:
    error = refused(create_image, client=ims(system), backup_id=None)
    assert (error.status_code, error.error_code) == (400, "IMG.0019")


def test_an_unknown_backup_fails_the_job_with_img_0020_after_the_bounded_wait(system: System) -> None:
    client = ims(system)
    started = time.monotonic()
    job = wait_job(client, create_image(client, backup_id=str(uuid.uuid4())))
    assert (job.status, job.error_code) == ("FAIL", "IMG.0020")
    assert time.monotonic() - started >= 3.5  # BACKUP_WAIT_S is 4 s in the end-to-end stack


def test_a_backup_event_that_arrives_during_the_wait_is_used(system: System) -> None:
    client = ims(system)
    backup = backup_created()
    job_id = create_image(client, backup_id=backup.backup_id)
    assert client.show_job(ShowJobRequest(job_id=job_id)).status == "INIT"
    produce(system, backup)
    job = wait_job(client, job_id)
    assert job.status == "SUCCESS", job.fail_reason


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"status": "error"}, "IMG.0032"),
        ({"resource_type": "OS::Cinder::Volume"}, "IMG.0198"),
        ({"os_type": None}, "IMG.0195"),
    ],
)
def test_unusable_backups_are_refused(system: System, fields: dict[str, Any], code: str) -> None:
    backup = known_backup(system, **fields)
    assert rejection_code(ims(system), backup_id=backup.backup_id) == code
    # Once image-service's projection has the backup, the refusal is immediate.
    assert refused(create_image, client=ims(system), backup_id=backup.backup_id).error_code == code


def test_another_tenants_backup_does_not_exist_for_the_caller(system: System) -> None:
    backup = known_backup(system)
    assert rejection_code(ims(system, BETA), backup_id=backup.backup_id) == "IMG.0020"


def rejection_code(client: Any, **fields: Any) -> str:
    """The IMS code of a refused request: a 400 when decided at once, else the job's FAIL code."""
    try:
        job_id = create_image(client, **fields)
    except ClientRequestException as exc:
        assert exc.status_code == 400
        return str(exc.error_code)
    job = wait_job(client, job_id)
    assert job.status == "FAIL"
    return str(job.error_code)


def test_one_backup_makes_only_one_full_ecs_image(system: System) -> None:
    client = ims(system)
    backup = known_backup(system)
    assert wait_job(client, create_image(client, backup_id=backup.backup_id)).status == "SUCCESS"
    assert rejection_code(client, backup_id=backup.backup_id) == "IMG.0029"


def test_an_unconfigured_source_ecs_fails_the_job_with_guidance(system: System) -> None:
    client = ims(system)
    backup = known_backup(system, configured=False)
    job = wait_job(client, create_image(client, backup_id=backup.backup_id))
    assert job.status == "FAIL"
    assert "configure the source ECS" in job.fail_reason
    assert "How Do I Configure an ECS" in job.fail_reason


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"name": " leading-space"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "bad/name"}, "name"),
        ({"description": "<script>"}, "description"),
        ({"description": "a" * 1025}, "description"),
        ({"whole_image_type": "CSBS"}, "whole_image_type"),
        ({"enterprise_project_id": "not-enabled-for-alpha"}, "enterprise project"),
        ({"min_ram": 4096, "max_ram": 1024}, "min_ram"),
        ({"tags": ["a.b"], "image_tags": [{"key": "a", "value": "b"}]}, "either tags or image_tags"),
        ({"image_tags": [{"key": "bad key!", "value": "v"}]}, "tag key"),
    ],
)
def test_invalid_image_information_is_a_clear_400(system: System, fields: dict[str, Any], mentions: str) -> None:
    from huaweicloudsdkims.v2 import TagKeyValue

    if "image_tags" in fields:
        fields["image_tags"] = [TagKeyValue(**t) for t in fields["image_tags"]]
    error = refused(create_image, client=ims(system), backup_id=str(uuid.uuid4()), **fields)
    assert error.status_code == 400
    assert error.error_code.startswith("IMG.")
    assert mentions in error.error_msg


def test_image_information_is_recorded_as_given(system: System) -> None:
    from huaweicloudsdkims.v2 import TagKeyValue

    client = ims(system)
    backup = known_backup(system, disks=3)
    job = wait_job(
        client,
        create_image(
            client,
            backup_id=backup.backup_id,
            name="web tier.v2_prod",
            description="nightly full-ECS image",
            enterprise_project_id=ALPHA.enterprise_projects[0],
            image_tags=[TagKeyValue(key="env", value="prod")],
            min_ram=1024,
            max_ram=8192,
        ),
    )
    assert job.status == "SUCCESS", job.fail_reason
    response = client.glance_show_image(GlanceShowImageRequest(image_id=job.entities.image_id))
    assert response.name == "web tier.v2_prod"
    assert response.enterprise_project_id == ALPHA.enterprise_projects[0]
    assert response.tags == ["env.prod"]
    assert (response.min_ram, response.max_ram) == (1024, "8192")
    assert response.os_type == "Linux" and response.imagetype == "private" and response.visibility == "private"
    assert response.min_disk == 40
    raw = json.loads(response.raw_content)
    assert raw["__whole_image"] == "true"
    assert [d["size_gb"] for d in raw["__disks"]] == [40, 10, 10]
    plan = raw["__provisioning"]
    assert len(plan["create_server"]["data_disks"]) == 2
    assert plan["change_os"]["data_disks"] == [] and "system disk only" in plan["change_os"]["restores"]
    listed = client.list_images(ListImagesRequest(name="web tier.v2_prod", limit=10)).images
    assert [i.id for i in listed] == [job.entities.image_id]


def test_a_tenant_tag_policy_is_enforced(system: System) -> None:
    from huaweicloudsdkims.v2 import TagKeyValue

    client = ims(system, GAMMA)
    backup = known_backup(system, tenant=GAMMA)
    missing = refused(create_image, client=client, backup_id=backup.backup_id)
    assert "cost-center" in missing.error_msg
    wrong = refused(
        create_image,
        client=client,
        backup_id=backup.backup_id,
        image_tags=[TagKeyValue(key="cost-center", value="marketing")],
    )
    assert "not allowed" in wrong.error_msg
    job_id = create_image(client, backup_id=backup.backup_id, image_tags=[TagKeyValue(key="cost-center", value="rnd")])
    assert wait_job(client, job_id).status == "SUCCESS"


def test_a_frozen_account_cannot_create_images(system: System) -> None:
    client = ims(system, GAMMA)
    backup = known_backup(system, tenant=GAMMA)
    produce(system, AccountStateChanged(account_id=GAMMA.account_id, state="frozen", balance="-5"), tenant=GAMMA)
    try:
        error = eventually(
            lambda: _refusal_code(client, backup.backup_id) == "IMG.0239" and True, what="the frozen state to apply"
        )
        assert error
    finally:
        produce(system, AccountStateChanged(account_id=GAMMA.account_id, state="normal", balance="5"), tenant=GAMMA)
    eventually(lambda: _refusal_code(client, backup.backup_id) != "IMG.0239", what="the account to be normal again")


def _refusal_code(client: Any, backup_id: str) -> str | None:
    from huaweicloudsdkims.v2 import TagKeyValue

    try:
        create_image(client, backup_id=backup_id, image_tags=[TagKeyValue(key="cost-center", value="rnd")])
    except ClientRequestException as exc:
        return str(exc.error_code)
    return None


def test_fifty_simultaneous_requests_over_two_processes_make_exactly_one_image(
    system: System, second_image_service: str
) -> None:
    backup = known_backup(system)
    clients = [ims(system), ims(_Endpoint(second_image_service))]
    outcomes: list[str] = []
    jobs: list[str] = []
    lock = threading.Lock()

    def request(index: int) -> None:
        try:
            job_id = create_image(clients[index % 2], backup_id=backup.backup_id, name=f"racer-{index}")
        except ClientRequestException as exc:
            with lock:
                outcomes.append(exc.error_code)
            return
        with lock:
            jobs.append(job_id)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = [wait_job(clients[0], job_id) for job_id in jobs]
    succeeded = [j for j in ended if j.status == "SUCCESS"]
    assert len(succeeded) == 1
    assert all(j.error_code == "IMG.0029" for j in ended if j.status == "FAIL")
    assert set(outcomes) <= {"IMG.0029"} and len(outcomes) + len(jobs) == 50
    images = ims(system).list_images(ListImagesRequest(limit=1000)).images
    assert [i.id for i in images if i.backup_id == backup.backup_id] == [succeeded[0].entities.image_id]


class _Endpoint:
    def __init__(self, url: str) -> None:
        self._url = url
        self.kafka_bootstrap = None

    def url(self, service: str, region: str = "global") -> str:
        return self._url


def test_a_backup_with_an_image_cannot_be_deleted_in_cbr(system: System) -> None:
    client = ims(system)
    backup = known_backup(system)
    job = wait_job(client, create_image(client, backup_id=backup.backup_id))
    backups = cbr(system)
    shown = eventually(
        lambda: backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup.extend_info.os_images_data,
        what="the backup to name its image",
    )
    assert [d.image_id for d in shown] == [job.entities.image_id]
    with pytest.raises(ClientRequestException) as caught:
        backups.delete_backup(DeleteBackupRequest(backup_id=backup.backup_id))
    assert caught.value.status_code == 400 and "delete the image first" in caught.value.error_msg
    assert backups.show_backup(ShowBackupRequest(backup_id=backup.backup_id)).backup.status == "available"


def test_another_tenant_sees_neither_the_image_nor_the_job(system: System) -> None:
    client = ims(system)
    backup = known_backup(system)
    job = wait_job(client, create_image(client, backup_id=backup.backup_id))
    other = ims(system, BETA)
    for call, request in (
        (other.glance_show_image, GlanceShowImageRequest(image_id=job.entities.image_id)),
        (other.show_job, ShowJobRequest(job_id=job.job_id)),
    ):
        with pytest.raises(ClientRequestException) as caught:
            call(request)
        assert caught.value.status_code == 404
    assert job.entities.image_id not in [i.id for i in other.list_images(ListImagesRequest()).images]
    with pytest.raises(ClientRequestException) as caught:
        cbr(system, BETA).show_backup(ShowBackupRequest(backup_id=backup.backup_id))
    assert caught.value.status_code == 404


def _server(system: System, state: str = "ACTIVE") -> str:
    server_id = str(uuid.uuid4())
    produce(
        system,
        ServerRegistered(
            server_id=server_id,
            name="ecs-web",
            os_type="Linux",
            os_version="Ubuntu 22.04 server 64bit",
            state=state,  # type: ignore[arg-type]
            disks=[
                BackupDisk(volume_id=str(uuid.uuid4()), device="/dev/vda", size_gb=40, bootable=True),
                BackupDisk(volume_id=str(uuid.uuid4()), device="/dev/vdb", size_gb=100),
            ],
        ),
    )
    return server_id


def test_an_image_from_an_ecs_backs_it_up_first_and_reports_both_steps(system: System) -> None:
    client = ims(system)
    server_id = _server(system)
    time.sleep(1)
    job_id = create_image(client, instance_id=server_id, vault_id="vault-1", whole_image_type=None)
    second = eventually(
        lambda: _code_of(
            lambda: create_image(client, instance_id=server_id, vault_id="vault-1", whole_image_type=None)
        ),
        what="a concurrent request for the same ECS to be refused",
        timeout_s=3,
    )
    assert second == "IMG.0136"
    job = wait_job(client, job_id)
    assert job.status == "SUCCESS", job.fail_reason
    steps = job.entities.sub_jobs_result
    assert [s.status for s in steps] == ["SUCCESS", "SUCCESS"]
    backup_step, image_step = steps
    assert backup_step.job_id and image_step.job_id and backup_step.job_id != image_step.job_id
    assert backup_step.begin_time == job.begin_time
    assert backup_step.end_time == image_step.begin_time
    assert image_step.end_time == job.end_time
    assert job.begin_time <= backup_step.end_time <= job.end_time
    again = client.show_job(ShowJobRequest(job_id=job_id)).entities.sub_jobs_result
    assert [s.job_id for s in again] == [backup_step.job_id, image_step.job_id]
    image = client.glance_show_image(GlanceShowImageRequest(image_id=job.entities.image_id))
    backup = cbr(system).show_backup(ShowBackupRequest(backup_id=image.backup_id)).backup
    assert backup.resource_id == server_id and backup.status == "available"


def _code_of(call: Any) -> str | None:
    try:
        call()
    except ClientRequestException as exc:
        return str(exc.error_code)
    return None


def test_starting_a_stopped_ecs_during_creation_fails_the_image(system: System) -> None:
    client = ims(system)
    backup = known_backup(system, state="SHUTOFF")
    job_id = create_image(client, backup_id=backup.backup_id)
    eventually(lambda: client.show_job(ShowJobRequest(job_id=job_id)).status == "RUNNING", what="saving", timeout_s=10)
    produce(system, ServerStateChanged(server_id=backup.resource_id, state="ACTIVE"))
    job = wait_job(client, job_id)
    assert (job.status, job.error_code) == ("FAIL", "IMG.0203")
    assert "started" in job.fail_reason
    assert backup.backup_id not in [i.backup_id for i in client.list_images(ListImagesRequest(limit=1000)).images]


def test_who_may_call(system: System) -> None:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkims.v2 import ImsClient

    def client(ak: str, sk: str, project: str) -> Any:
        credentials = BasicCredentials(ak, sk, project)
        return (
            ImsClient.new_builder()
            .with_credentials(credentials)
            .with_endpoints([system.url("image-service", CN)])
            .build()
        )

    request = ListImagesRequest(limit=1)
    wrong_secret = error_of_call(client(ALPHA.access_key, "not-the-secret", ALPHA.projects[CN]), request)
    assert (wrong_secret.status_code, wrong_secret.error_code) == (401, "APIGW.0301")
    unknown_key = error_of_call(client("UNKNOWNAK00000000000", "x", ALPHA.projects[CN]), request)
    assert unknown_key.status_code == 401
    other_region = error_of_call(client(ALPHA.access_key, ALPHA.secret_key, ALPHA.projects[AP]), request)
    assert (other_region.status_code, other_region.error_code) == (403, "APIGW.0302")
    other_tenant = error_of_call(client(ALPHA.access_key, ALPHA.secret_key, BETA.projects[CN]), request)
    assert other_tenant.status_code == 403


def error_of_call(client: Any, request: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        client.list_images(request)
    return caught.value
