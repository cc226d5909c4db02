"""The route and limit rules of cross-region replication, and the plan replication-service makes from them."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ims_shared.events.replication import BackupCopy, ReplicatedImage, ReplicationRequested
from ims_shared.refusal import Refusal
from ims_shared.regions import DEFAULT_ROUTES
from ims_shared.replication_rules import (
    IMAGE_TOO_LARGE,
    NO_DESTINATION_PROJECT,
    REPLICA_NOT_REPLICABLE,
    ROUTE_NOT_SUPPORTED,
    SAME_REGION,
    TOO_MANY_IN_FLIGHT,
    VAULT_REQUIRED,
    ReplicationPolicy,
    check_not_a_replica,
    check_vault,
)
from ims_shared.tenants import Tenant, TenantCatalog, load_tenants
from replication_service.domain import ReplicationPlan, plan_replication, replica_backup_id
from replication_service.settings import ReplicationSettings

CN, AP, EU = "cn-north-4", "ap-southeast-1", "eu-west-101"
DEPLOYED = [CN, AP]
TENANTS = load_tenants(None)
ALPHA = next(t for t in TENANTS.tenants if t.name == "alpha")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def policy(routes: str = DEFAULT_ROUTES, deployed: list[str] = DEPLOYED, **limits: int) -> ReplicationPolicy:
    return ReplicationPolicy.of(routes, deployed, **limits)


def refused(call: Callable[..., object], *args: object, **kwargs: object) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call(*args, **kwargs)
    return caught.value


# -- routes -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "destination"), [(CN, AP), (AP, CN)])
def test_the_default_routes_join_the_two_deployed_regions_both_ways(source: str, destination: str) -> None:
    assert policy().check_destination(source, destination) == destination


def test_a_region_without_a_route_is_refused_with_the_workaround() -> None:
    error = refused(policy().check_destination, CN, EU)
    assert error.code == ROUTE_NOT_SUPPORTED
    assert f"from {CN} to {EU}" in error.message
    assert f"supported routes from {CN}: {CN} -> {AP}" in error.message
    assert "create an ECS from the full-ECS image" in error.message
    assert "a system disk image and data disk images" in error.message
    assert f"replicate those images to {EU}" in error.message


def test_the_source_region_is_never_a_destination_even_when_a_route_names_it() -> None:
    error = refused(policy(f"{CN}:{CN},{DEFAULT_ROUTES}").check_destination, CN, CN)
    assert error.code == SAME_REGION
    assert "within its region" in error.message


@pytest.mark.parametrize("destination", [None, ""])
def test_a_destination_is_required(destination: str | None) -> None:
    assert refused(policy().check_destination, CN, destination).code == "IMG.0001"


def test_a_route_only_counts_in_the_direction_it_is_configured() -> None:
    one_way = policy(f"{CN}:{AP}")
    assert one_way.check_destination(CN, AP) == AP
    assert refused(one_way.check_destination, AP, CN).code == ROUTE_NOT_SUPPORTED


def test_a_route_to_a_region_that_is_not_deployed_is_refused() -> None:
    with_eu = policy(f"{DEFAULT_ROUTES},{CN}:{EU}")
    assert refused(with_eu.check_destination, CN, EU).code == ROUTE_NOT_SUPPORTED
    assert policy(f"{DEFAULT_ROUTES},{CN}:{EU}", [CN, AP, EU]).check_destination(CN, EU) == EU


def test_the_routes_come_from_the_replication_routes_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATION_ROUTES", f" {AP} : {CN} ")
    settings = ReplicationSettings()
    assert settings.policy().check_destination(AP, CN) == CN
    assert refused(settings.policy().check_destination, CN, AP).code == ROUTE_NOT_SUPPORTED


def test_without_any_route_the_message_says_so() -> None:
    assert "supported routes from cn-north-4: none" in refused(policy("").check_destination, CN, AP).message


# -- limits -------------------------------------------------------------------------------------------------------
def test_images_up_to_128_gb_may_be_replicated() -> None:
    policy().check_size(0)
    policy().check_size(128)
    error = refused(policy().check_size, 129)
    assert error.code == IMAGE_TOO_LARGE
    assert "129 GB" in error.message and "128 GB" in error.message


def test_five_replications_of_a_project_may_run_at_a_time() -> None:
    for under_way in range(5):
        policy().check_in_flight(under_way)
    error = refused(policy().check_in_flight, 5)
    assert error.code == TOO_MANY_IN_FLIGHT
    assert "at most 5" in error.message


def test_the_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATION_MAX_IMAGE_GB", "64")
    monkeypatch.setenv("REPLICATION_MAX_IN_FLIGHT", "2")
    configured = ReplicationSettings().policy()
    assert refused(configured.check_size, 65).code == IMAGE_TOO_LARGE
    configured.check_in_flight(1)
    assert refused(configured.check_in_flight, 2).code == TOO_MANY_IN_FLIGHT


def test_a_replica_cannot_be_replicated_again() -> None:
    check_not_a_replica("img-1", None)
    error = refused(check_not_a_replica, "img-1", CN)
    assert error.code == REPLICA_NOT_REPLICABLE
    assert CN in error.message


def test_a_vault_is_required() -> None:
    assert check_vault("v-1") == "v-1"
    assert refused(check_vault, None).code == VAULT_REQUIRED
    assert refused(check_vault, "").code == VAULT_REQUIRED


# -- the plan -----------------------------------------------------------------------------------------------------
def request(job_id: str = "job-1", destination: str = AP, size_gb: int = 60, **image: object) -> ReplicationRequested:
    return ReplicationRequested(
        job_id=job_id,
        source_image_id="img-1",
        source_backup_id="b-1",
        destination_region=destination,
        replica_image_id="img-2",
        name="copy",
        vault_id="v-1",
        image=ReplicatedImage(name="web", min_disk=40, size_gb=size_gb, **image),
        backup=BackupCopy(name="nightly", resource_id="ecs-1", size_gb=size_gb),
    )


def plan(
    event: ReplicationRequested, *, in_flight: int = 0, project_id: str | None = None, tenants: TenantCatalog = TENANTS
) -> ReplicationPlan:
    return plan_replication(
        event,
        source_region=CN,
        project_id=project_id or ALPHA.projects[CN],
        tenants=tenants,
        policy=policy(),
        in_flight=in_flight,
        now=NOW,
        timeout_s=600,
    )


def test_the_plan_sends_the_copy_to_the_tenants_project_of_the_destination() -> None:
    made = plan(request(), in_flight=4)
    assert made.destination_region == AP
    assert made.destination_project_id == ALPHA.projects[AP]
    assert made.replica_backup_id == replica_backup_id("job-1")
    assert made.deadline == NOW + timedelta(seconds=600)


def test_the_backup_copy_id_is_one_per_job() -> None:
    assert replica_backup_id("job-1") == replica_backup_id("job-1")
    assert replica_backup_id("job-1") != replica_backup_id("job-2")


@pytest.mark.parametrize(
    ("event", "in_flight", "code"),
    [
        (request(destination=EU), 0, ROUTE_NOT_SUPPORTED),
        (request(destination=CN), 0, SAME_REGION),
        (request(size_gb=200), 0, IMAGE_TOO_LARGE),
        (request(replicated_from_region=AP), 0, REPLICA_NOT_REPLICABLE),
        (request(), 5, TOO_MANY_IN_FLIGHT),
    ],
)
def test_the_plan_applies_every_rule(event: ReplicationRequested, in_flight: int, code: str) -> None:
    assert refused(plan, event, in_flight=in_flight).code == code


def test_a_project_of_no_tenant_in_the_source_region_is_refused() -> None:
    # alpha's project, but the one of the destination region
    assert refused(plan, request(), project_id=ALPHA.projects[AP]).code == NO_DESTINATION_PROJECT


def test_a_tenant_without_a_project_in_the_destination_is_refused() -> None:
    lonely = Tenant(name="solo", account_id="solo", access_key="AK", secret_key="SK", projects={CN: "p-solo"})
    error = refused(plan, request(), project_id="p-solo", tenants=TenantCatalog((lonely,)))
    assert error.code == NO_DESTINATION_PROJECT
    assert AP in error.message
