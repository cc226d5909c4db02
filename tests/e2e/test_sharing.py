"""Sharing full-ECS images with other tenants, and what a full-ECS image can never do, through the SDK."""

import json
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import (
    BatchAddMembersRequest,
    BatchAddMembersRequestBody,
    BatchDeleteMembersRequest,
    BatchUpdateMembersRequest,
    BatchUpdateMembersRequestBody,
    CopyImageInRegionRequest,
    CopyImageInRegionRequestBody,
    ExportImageRequest,
    ExportImageRequestBody,
    GlanceAddImageMemberRequest,
    GlanceAddImageMemberRequestBody,
    GlanceDeleteImageMemberRequest,
    GlanceListImageMembersRequest,
    GlanceShowImageMemberRequest,
    GlanceShowImageRequest,
    GlanceUpdateImageMemberRequest,
    GlanceUpdateImageMemberRequestBody,
    ListImagesRequest,
    ShowJobRequest,
    UpdateImageRequest,
    UpdateImageRequestBody,
)

from tests.e2e.harness import (
    ALPHA,
    BETA,
    CN,
    GAMMA,
    System,
    create_image,
    events_of,
    eventually,
    ims,
    known_backup,
    vault_holding,
    wait_job,
)

pytestmark = pytest.mark.e2e


def active_image(system: System, **backup_fields: Any) -> str:
    client = ims(system)
    backup = known_backup(system, **backup_fields)
    job = wait_job(client, create_image(client, backup_id=backup.backup_id))
    assert job.status == "SUCCESS", job.fail_reason
    return str(job.entities.image_id)


def error_of(call: Any, request: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call(request)
    return caught.value


def _listed(client: Any, imagetype: str | None = None) -> list[str]:
    return [i.id for i in client.list_images(ListImagesRequest(imagetype=imagetype, limit=1000)).images]


def test_a_shared_image_appears_for_the_recipient_only_once_accepted(system: System) -> None:
    owner, recipient = ims(system), ims(system, BETA)
    image_id = active_image(system)
    beta_project = BETA.projects[CN]

    job_id = owner.batch_add_members(
        BatchAddMembersRequest(body=BatchAddMembersRequestBody(images=[image_id], projects=[beta_project]))
    ).job_id
    assert owner.show_job(ShowJobRequest(job_id=job_id)).status == "SUCCESS"
    assert image_id not in _listed(recipient)  # pending

    missing_vault = error_of(
        recipient.batch_update_members,
        BatchUpdateMembersRequest(
            body=BatchUpdateMembersRequestBody(images=[image_id], project_id=beta_project, status="accepted")
        ),
    )
    assert missing_vault.status_code == 400 and "vault_id" in missing_vault.error_msg

    not_a_vault = error_of(
        recipient.batch_update_members,
        BatchUpdateMembersRequest(
            body=BatchUpdateMembersRequestBody(
                images=[image_id], project_id=beta_project, status="accepted", vault_id="vault-beta"
            )
        ),
    )
    assert (not_a_vault.status_code, not_a_vault.error_code) == (400, "IMG.0250")
    assert "CreateVault" in not_a_vault.error_msg and image_id not in _listed(recipient)
    betas = vault_holding(system, [], tenant=BETA)
    accept_into = BatchUpdateMembersRequest(
        body=BatchUpdateMembersRequestBody(
            images=[image_id], project_id=beta_project, status="accepted", vault_id=betas
        )
    )
    # image-service learns the vault from backup-service's VaultCreated, a moment after CreateVault answers.
    eventually(lambda: recipient.batch_update_members(accept_into), what="image-service to know beta's vault")
    assert image_id in _listed(recipient)
    assert image_id in _listed(recipient, "shared") and image_id not in _listed(recipient, "private")
    shown = recipient.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    assert (shown.imagetype, shown.visibility) == ("shared", "shared")

    recipient.glance_update_image_member(
        GlanceUpdateImageMemberRequest(
            image_id=image_id, member_id=beta_project, body=GlanceUpdateImageMemberRequestBody(status="rejected")
        )
    )
    assert image_id not in _listed(recipient)

    members = owner.glance_list_image_members(GlanceListImageMembersRequest(image_id=image_id)).members
    assert [(m.member_id, m.status) for m in members] == [(beta_project, "rejected")]
    owner.batch_delete_members(
        BatchDeleteMembersRequest(body=BatchAddMembersRequestBody(images=[image_id], projects=[beta_project]))
    )
    assert owner.glance_list_image_members(GlanceListImageMembersRequest(image_id=image_id)).members == []

    shared_events = [e for e in events_of(system, "ims.cn-north-4.images", "ImageShared") if e["subject"] == image_id]
    assert [e["data"]["member_project_id"] for e in shared_events] == [beta_project]


def test_glance_member_calls(system: System) -> None:
    owner = ims(system)
    image_id = active_image(system)
    member = owner.glance_add_image_member(
        GlanceAddImageMemberRequest(image_id=image_id, body=GlanceAddImageMemberRequestBody(member=GAMMA.projects[CN]))
    )
    assert (member.member_id, member.status) == (GAMMA.projects[CN], "pending")
    shown = ims(system, GAMMA).glance_show_image_member(
        GlanceShowImageMemberRequest(image_id=image_id, member_id=GAMMA.projects[CN])
    )
    assert shown.status == "pending"
    owner.glance_delete_image_member(GlanceDeleteImageMemberRequest(image_id=image_id, member_id=GAMMA.projects[CN]))
    gone = error_of(ims(system, GAMMA).glance_show_image, GlanceShowImageRequest(image_id=image_id))
    assert gone.status_code == 404


def test_an_image_from_a_shared_backup_cannot_be_shared(system: System) -> None:
    image_id = active_image(system, shared_from_project_id=BETA.projects[CN])
    error = error_of(
        ims(system).batch_add_members,
        BatchAddMembersRequest(body=BatchAddMembersRequestBody(images=[image_id], projects=[BETA.projects[CN]])),
    )
    assert (error.status_code, error.error_code) == (400, "IMG.0135")


def test_sharing_is_limited_to_other_tenants_projects_of_the_region(system: System) -> None:
    image_id = active_image(system)
    for project in (ALPHA.projects[CN], BETA.projects["ap-southeast-1"], "f" * 32):
        error = error_of(
            ims(system).batch_add_members,
            BatchAddMembersRequest(body=BatchAddMembersRequestBody(images=[image_id], projects=[project])),
        )
        assert error.status_code == 400, project


def test_a_full_ecs_image_cannot_be_exported_copied_in_region_or_published(system: System) -> None:
    client = ims(system)
    image_id = active_image(system)
    export = error_of(
        client.export_image,
        ExportImageRequest(
            image_id=image_id, body=ExportImageRequestBody(bucket_url="bucket:file.qcow2", file_format="qcow2")
        ),
    )
    assert (export.status_code, export.error_code) == (400, "IMG.0128")
    copy = error_of(
        client.copy_image_in_region,
        CopyImageInRegionRequest(image_id=image_id, body=CopyImageInRegionRequestBody(name="copy")),
    )
    assert (copy.status_code, copy.error_code) == (400, "IMG.0130")
    publish = error_of(
        client.update_image,
        UpdateImageRequest(
            image_id=image_id,
            body=[UpdateImageRequestBody(op="replace", path="/__system_support_market", value="true")],
        ),
    )
    assert publish.status_code == 400 and "KooGallery" in publish.error_msg
    renamed = client.update_image(
        UpdateImageRequest(
            image_id=image_id, body=[UpdateImageRequestBody(op="replace", path="/name", value="renamed")]
        )
    )
    assert json.loads(renamed.raw_content)["name"] == "renamed"
