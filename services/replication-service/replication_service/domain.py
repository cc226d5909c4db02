"""Whether a requested replication may start, and where its copy goes. No I/O: plain values in, a plan out."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from ims_shared.events import derived_id
from ims_shared.events.replication import ReplicationRequested
from ims_shared.refusal import Refusal
from ims_shared.replication_rules import NO_DESTINATION_PROJECT, ReplicationPolicy, check_not_a_replica
from ims_shared.tenants import TenantCatalog


@dataclass(frozen=True)
class ReplicationPlan:
    destination_region: str
    destination_project_id: str
    replica_backup_id: str
    deadline: datetime


def replica_backup_id(job_id: str) -> str:
    """The id of the backup copy in the destination region: one per job, the same on every redelivery."""
    return derived_id(job_id, "replica-backup")


def destination_project(tenants: TenantCatalog, project_id: str, source: str, destination: str) -> str:
    """The tenant's project in ``destination``, for the tenant whose project in ``source`` is ``project_id``."""
    tenant = tenants.by_project(project_id)
    if tenant is None or tenant.project_in(source) != project_id:
        raise Refusal(NO_DESTINATION_PROJECT, f"project {project_id} is no tenant's project in region {source}")
    target = tenant.project_in(destination)
    if target is None:
        raise Refusal(
            NO_DESTINATION_PROJECT,
            f"the tenant has no project in region {destination}: create one there before replicating images to it",
        )
    return target


def plan_replication(
    request: ReplicationRequested,
    *,
    source_region: str,
    project_id: str,
    tenants: TenantCatalog,
    policy: ReplicationPolicy,
    in_flight: int,
    now: datetime,
    timeout_s: float,
) -> ReplicationPlan:
    """Check the route and the limits; raises ``Refusal`` with the IMS code when the job may not start.

    ``in_flight`` is the number of the project's other replications under way.
    """
    destination = policy.check_destination(source_region, request.destination_region)
    check_not_a_replica(request.source_image_id, request.image.replicated_from_region)
    policy.check_size(request.image.size_gb)
    target_project = destination_project(tenants, project_id, source_region, destination)
    policy.check_in_flight(in_flight)
    return ReplicationPlan(
        destination_region=destination,
        destination_project_id=target_project,
        replica_backup_id=replica_backup_id(request.job_id),
        deadline=now + timedelta(seconds=timeout_s),
    )
