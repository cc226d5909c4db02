"""The rules of the IMS calls beside creation: image tags (AddImageTag, DeleteImageTag, BatchAddOrDeleteTags,
ListImageByTags), the image update's patch (UpdateImage and GlanceUpdateImage), the ListImages query, and the
views of ShowImageQuota, ListOsVersions and a job's sub-jobs. No I/O."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from image_service.domain import ImageRequest, Listing, image_patch, listing, platform_of, validate_request
from image_service.tags import MAX_TAGS, TagCondition, TagQuery, tag_query, tag_removed, tags_added, tags_deleted
from image_service.views import job_view, os_versions_view, quota_view
from ims_shared.public_images import public_images
from ims_shared.refusal import Refusal
from ims_shared.tenants import TagPolicy

NO_POLICY = TagPolicy()


def refusal(fn: Any, *args: Any, **kwargs: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        fn(*args, **kwargs)
    return caught.value


def tags(*pairs: str) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, _, v in (p.partition("=") for p in pairs)]


# -- tags ----------------------------------------------------------------------------------------------------------
def test_adding_a_tag_appends_it_or_updates_the_value_of_its_key() -> None:
    assert tags_added(tags("env=prod"), tags("team=ops"), NO_POLICY) == tags("env=prod", "team=ops")
    assert tags_added(tags("env=prod", "team=ops"), tags("env=test"), NO_POLICY) == tags("env=test", "team=ops")
    assert tags_added(tags("env=prod"), tags("env=prod"), NO_POLICY) == tags("env=prod")  # idempotent


def test_an_image_has_at_most_ten_tags() -> None:
    ten = tags(*(f"k{i}=v" for i in range(MAX_TAGS)))
    assert MAX_TAGS == 10
    assert len(tags_added(ten[:9], ten[9:], NO_POLICY)) == 10
    assert tags_added(ten, tags("k0=changed"), NO_POLICY)[0] == {"key": "k0", "value": "changed"}
    error = refusal(tags_added, ten, tags("k10=v"), NO_POLICY)
    assert (error.code, error.status) == ("IMG.0001", 400)
    assert "at most 10 tags" in error.message


def test_creation_takes_the_same_tags() -> None:
    def created(**fields: Any) -> list[dict[str, str]]:
        request = ImageRequest(name="img", backup_id="b1", **fields)
        return validate_request(request, policy=NO_POLICY, enterprise_projects=())

    ten = [{"key": f"k{i}", "value": "v"} for i in range(10)]
    assert created(image_tags=ten) == ten
    assert refusal(created, image_tags=[*ten, {"key": "k10", "value": "v"}]).code == "IMG.0001"
    assert refusal(created, tags=[f"k{i}.v" for i in range(11)]).code == "IMG.0001"
    assert refusal(created, image_tags=[{"key": "a.b", "value": "v"}]).code == "IMG.0001"
    assert created(tags=["a.b.c"]) == [{"key": "a", "value": "b.c"}]  # the key is before the first period


@pytest.mark.parametrize(
    ("key", "value", "mentions"),
    [
        ("", "v", "tag key"),
        ("k" * 37, "v", "tag key"),
        ("dotted.key", "v", "tag key"),
        ("bad key", "v", "tag key"),
        ("k", "v" * 44, "tag value"),
        ("k", "bad value!", "tag value"),
    ],
)
def test_tags_are_checked_as_ims_documents_them(key: str, value: str, mentions: str) -> None:
    error = refusal(tags_added, [], [{"key": key, "value": value}], NO_POLICY)
    assert error.code == "IMG.0001"
    assert mentions in error.message


def test_good_tags_as_ims_documents_them() -> None:
    good = [
        {"key": "k" * 36, "value": "v" * 43},
        {"key": "cost_center-1", "value": ""},
        {"key": "版本", "value": "1.2"},
    ]
    assert tags_added([], good, NO_POLICY) == good
    assert refusal(tags_added, [], tags("k=1", "k=2"), NO_POLICY).message == "tag keys must be unique"


def test_the_tenants_tag_policy_holds_after_every_change() -> None:
    policy = TagPolicy(required_keys=("cc",), allowed_values={"cc": ("rnd", "ops")})
    assert tags_added(tags("cc=rnd"), tags("cc=ops"), policy) == tags("cc=ops")
    assert refusal(tags_added, tags("cc=rnd"), tags("cc=sales"), policy).code == "IMG.0001"
    assert refusal(tag_removed, tags("cc=rnd"), "cc", policy).code == "IMG.0001"
    assert refusal(tags_deleted, tags("cc=rnd"), [{"key": "cc"}], policy).code == "IMG.0001"


def test_deleting_a_missing_tag_is_a_404_one_by_one_and_nothing_in_a_batch() -> None:
    assert tag_removed(tags("a=1", "b=2"), "a", NO_POLICY) == tags("b=2")
    error = refusal(tag_removed, tags("a=1"), "b", NO_POLICY)
    assert (error.code, error.status) == ("IMG.0133", 404)
    assert tags_deleted(tags("a=1"), [{"key": "b", "value": "2"}], NO_POLICY) == tags("a=1")


def test_a_batch_deletes_by_key_and_by_value_when_one_is_given() -> None:
    current = tags("a=1", "b=2", "c=3")
    assert tags_deleted(current, [{"key": "a"}, {"key": "b", "value": "2"}], NO_POLICY) == tags("c=3")
    assert tags_deleted(current, [{"key": "a", "value": "other"}], NO_POLICY) == current
    assert tags_deleted(current, [{"key": "c", "value": ""}], NO_POLICY) == tags("a=1", "b=2")


@pytest.mark.parametrize(
    "pairs",
    [[{"key": " "}], [{"key": "k" * 128}], [{"key": "k", "value": "v" * 256}], [{"key": "k"}, {"key": "k"}]],
)
def test_a_batch_delete_checks_lengths_only(pairs: list[dict[str, Any]]) -> None:
    assert refusal(tags_deleted, [], pairs, NO_POLICY).code == "IMG.0001"


def test_a_tag_of_another_json_type_is_img_0001() -> None:
    assert refusal(tags_added, [], [{"key": ["k"], "value": "v"}], NO_POLICY).code == "IMG.0001"
    assert refusal(tags_added, [], [{"key": "k", "value": None}], NO_POLICY).code == "IMG.0001"
    assert refusal(tags_deleted, [], [{"key": {"k": 1}}], NO_POLICY).code == "IMG.0001"
    assert refusal(tag_query, {"action": "filter", "matches": [{"key": ["resource_id"], "value": "x"}]}).code == (
        "IMG.0001"
    )


def test_a_batch_delete_takes_any_characters() -> None:
    assert tags_deleted(tags("a=1"), [{"key": "legacy key!", "value": "any value?"}], NO_POLICY) == tags("a=1")


# -- ListImageByTags -----------------------------------------------------------------------------------------------
def test_a_tag_query_as_the_sdk_sends_it() -> None:
    query = tag_query(
        {
            "action": "filter",
            "tags": [{"key": "env", "values": ["prod", "test"]}],
            "not_tags_any": [{"key": "retired", "values": []}],
            "matches": [{"key": "resource_name", "value": "web"}],
            "limit": "5",
            "offset": "10",
        }
    )
    assert query == TagQuery(
        tags=(TagCondition("env", ("prod", "test")),),
        not_tags_any=(TagCondition("retired"),),
        name_contains="web",
        limit=5,
        offset=10,
    )
    assert tag_query({"action": "count"}) == TagQuery(count=True)
    assert tag_query({"action": "filter", "matches": [{"key": "resource_id", "value": "i-1"}]}).image_id == "i-1"


def test_without_any_tag_ignores_the_tag_lists() -> None:
    query = tag_query({"action": "filter", "without_any_tag": True, "tags": [{"key": "env", "values": []}]})
    assert query == TagQuery(without_any_tag=True)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"action": "Filter"},
        {"action": "filter", "tags": []},
        {"action": "filter", "tags_any": [{"key": "", "values": []}]},
        {"action": "filter", "tags": [{"key": f"k{i}", "values": []} for i in range(11)]},
        {"action": "filter", "tags": [{"key": "k", "values": [str(i) for i in range(11)]}]},
        {"action": "filter", "tags": [{"key": "k", "values": ["a", "a"]}]},
        {"action": "filter", "not_tags": [{"key": "k", "values": []}, {"key": "k", "values": []}]},
        {"action": "filter", "tags": [{"key": "k" * 128, "values": []}]},
        {"action": "filter", "matches": [{"key": "resource_type", "value": "x"}]},
        {"action": "filter", "matches": [{"key": "resource_name", "value": ""}]},
        {
            "action": "filter",
            "matches": [{"key": "resource_name", "value": "a"}, {"key": "resource_name", "value": "b"}],
        },
        {"action": "filter", "limit": "0"},
        {"action": "filter", "limit": "1001"},
        {"action": "filter", "limit": "-1"},
        {"action": "filter", "offset": "-1"},
        {"action": "filter", "offset": "ten"},
        {"action": "filter", "without_any_tag": "yes"},
    ],
)
def test_a_bad_tag_query_is_img_0001(body: dict[str, Any]) -> None:
    assert refusal(tag_query, body).code == "IMG.0001"


# -- UpdateImage and GlanceUpdateImage -----------------------------------------------------------------------------
def test_a_patch_names_the_columns_it_sets() -> None:
    operations = [
        {"op": "replace", "path": "/name", "value": "web"},
        {"op": "add", "path": "/__description", "value": "d"},
        {"op": "replace", "path": "/min_ram", "value": "1024"},
    ]
    assert image_patch(operations) == {"name": "web", "description": "d", "min_ram": "1024"}


@pytest.mark.parametrize(
    ("operations", "code"),
    [
        ({"op": "replace"}, "IMG.0001"),
        (["replace"], "IMG.0001"),
        ([{"op": "remove", "path": "/name"}], "IMG.0001"),
        ([{"op": "replace", "path": "/os_type", "value": "Windows"}], "IMG.0001"),
        ([{"op": "replace", "path": "/__system_support_market", "value": "true"}], "IMG.0131"),
        ([{"op": "add", "path": "/__market_whatever", "value": "1"}], "IMG.0131"),
    ],
)
def test_a_patch_of_anything_else_is_refused(operations: Any, code: str) -> None:
    assert refusal(image_patch, operations).code == code


# -- ListImages ----------------------------------------------------------------------------------------------------
def test_a_listing_by_default_is_both_scopes_newest_first() -> None:
    assert listing() == Listing(scope=None, member_status="accepted", sort_column="created_at", descending=True)


@pytest.mark.parametrize(
    ("given", "scope"),
    [
        ({"visibility": "public"}, "gold"),
        ({"imagetype": "gold", "visibility": "public"}, "gold"),
        ({"visibility": "private"}, "private"),
        ({"imagetype": "private", "visibility": "shared"}, "none"),
        ({"member_status": "pending"}, "shared"),
        ({"imagetype": "private", "member_status": "pending"}, "none"),
        ({"imagetype": "market"}, "none"),
        ({"os_bit": "32"}, "none"),
        ({"os_bit": "64"}, None),
    ],
)
def test_which_images_a_listing_shows(given: dict[str, str], scope: str | None) -> None:
    assert listing(**given).scope == scope


def test_a_listing_by_tag_and_order() -> None:
    assert listing(tag="env=prod").tag == {"key": "env", "value": "prod"}
    assert listing(tag="env=").tag == {"key": "env", "value": ""}
    assert listing(tag="env").tag == {"key": "env"}
    ordered = listing(sort_key="name", sort_dir="asc")
    assert (ordered.sort_column, ordered.descending) == ("name", False)
    assert listing(sort_key="id").sort_column == "image_id"


@pytest.mark.parametrize(
    "given",
    [{"visibility": "community"}, {"member_status": "all"}, {"sort_key": "os_type"}, {"sort_dir": "up"}, {"tag": "=v"}],
)
def test_a_bad_listing_is_img_0001(given: dict[str, str]) -> None:
    assert refusal(listing, **given).code == "IMG.0001"


def test_the_platform_is_the_first_the_os_version_names() -> None:
    assert platform_of("Ubuntu 22.04 server 64bit") == "Ubuntu"
    assert platform_of("Huawei Cloud EulerOS 2.0 64bit") == "EulerOS"
    assert platform_of("Windows Server 2019 Datacenter 64bit") == "Windows"
    assert platform_of(None) == "Other"
    assert platform_of("Arch Linux") == "Other"


# -- views ---------------------------------------------------------------------------------------------------------
def test_the_quota_view() -> None:
    assert quota_view(3, 100) == {
        "quotas": {"resources": [{"type": "image", "used": 3, "quota": 100, "min": 1, "max": 100}]}
    }


def test_os_versions_are_the_public_images_by_platform() -> None:
    images = public_images("cn-north-4")
    view = os_versions_view(images)
    assert [group["platform"] for group in view] == ["Ubuntu", "CentOS", "EulerOS", "Windows"]
    versions = [version for group in view for version in group["version_list"]]
    assert {v["os_version"] for v in versions} == {image.os_version for image in images}
    assert all(v["os_bit"] == 64 and v["os_type"] in ("Linux", "Windows") for v in versions)
    assert all(v["platform"] == group["platform"] for group in view for v in group["version_list"])


T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def job_row(status: str, **fields: Any) -> dict[str, Any]:
    row = {
        "job_id": "job-1",
        "job_type": "imsCreateWholeImageByBackupJob",
        "status": status,
        "image_id": "img-1",
        "image_name": "web",
        "backup_id": "b-1",
        "request": {"instance_id": "ecs-1"},
        "error_code": None,
        "fail_reason": None,
        "begin_time": T0,
        "end_time": None,
        "image_made_at": None,
    }
    return row | fields


def test_the_sub_jobs_of_a_job_from_an_ecs_carry_ids_and_times() -> None:
    made, ended = T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)
    backup, image = job_view(job_row("SUCCESS", image_made_at=made, end_time=ended))["entities"]["sub_jobs_result"]
    assert (backup["status"], backup["begin_time"], backup["end_time"]) == (
        "SUCCESS",
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:00:05Z",
    )
    assert (image["status"], image["begin_time"], image["end_time"]) == (
        "SUCCESS",
        "2026-12-01T10:00:05Z",
        "2026-12-01T10:00:09Z",
    )
    assert backup["job_id"] != image["job_id"]
    again = job_view(job_row("SUCCESS", image_made_at=made, end_time=ended))["entities"]["sub_jobs_result"]
    assert [s["job_id"] for s in again] == [backup["job_id"], image["job_id"]]


def test_the_sub_jobs_while_the_ecs_is_backed_up_and_when_its_backup_fails() -> None:
    backup, image = job_view(job_row("INIT"))["entities"]["sub_jobs_result"]
    assert (backup["status"], backup["end_time"], image["status"], image["begin_time"]) == ("RUNNING", "", "INIT", "")
    ended = T0 + timedelta(seconds=300)
    failed = job_row("FAIL", error_code="IMG.0020", fail_reason="no backup", end_time=ended)
    backup, image = job_view(failed)["entities"]["sub_jobs_result"]
    assert (backup["status"], backup["end_time"], backup["error_code"]) == ("FAIL", "2026-12-01T10:05:00Z", "IMG.0020")
    assert (image["status"], image["begin_time"], image["end_time"]) == ("INIT", "", "")
