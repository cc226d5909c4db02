"""The seed's rules of cross-region replication of full-ECS images, applied by the IMS API (image-service) and again
by replication-service: "Cross-region replication of full-ECS images is only available for certain regions" (the
routes), "a full-ECS image cannot be replicated within a region", "the replicated full-ECS image cannot be replicated
across regions again", and this deployment's limits on size and on replications under way. No I/O: each check raises
a ``Refusal`` with the IMS-style code that a 400 or a failed job carries.
"""

from dataclasses import dataclass

from ims_shared.refusal import Refusal
from ims_shared.regions import RouteTable

DEFAULT_MAX_IMAGE_GB = 128
DEFAULT_MAX_IN_FLIGHT = 5

# IMS-style error codes of cross-region replication (IMG.0239, account frozen, is image-service's).
ROUTE_NOT_SUPPORTED = "IMG.0240"
SAME_REGION = "IMG.0241"
IMAGE_TOO_LARGE = "IMG.0242"
TOO_MANY_IN_FLIGHT = "IMG.0243"
REPLICA_NOT_REPLICABLE = "IMG.0244"
IMAGE_NOT_ACTIVE = "IMG.0245"
NO_DESTINATION_PROJECT = "IMG.0246"
REPLICATION_TIMED_OUT = "IMG.0247"
REPLICA_CONFLICT = "IMG.0248"
VAULT_REQUIRED = "IMG.0249"

WORKAROUND = (
    "To use this image in {destination}, create an ECS from the full-ECS image, create a system disk image and "
    "data disk images from that ECS, and replicate those images to {destination} instead."
)


@dataclass(frozen=True)
class ReplicationPolicy:
    """Where full-ECS images may be replicated to, and how much at once. No I/O."""

    routes: RouteTable
    deployed_regions: frozenset[str]
    max_image_gb: int = DEFAULT_MAX_IMAGE_GB
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT

    @classmethod
    def of(
        cls,
        routes: str,
        deployed_regions: list[str],
        max_image_gb: int = DEFAULT_MAX_IMAGE_GB,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> "ReplicationPolicy":
        return cls(RouteTable.parse(routes), frozenset(deployed_regions), max_image_gb, max_in_flight)

    def destinations_from(self, source: str) -> list[str]:
        return sorted(d for s, d in self.routes.routes if s == source and d != source and d in self.deployed_regions)

    def check_destination(self, source: str, destination: str | None) -> str:
        """The destination region if full-ECS images may go there from ``source``; raises otherwise. The seed's rules:

            "Cross-region replication of full-ECS images is only available for certain regions"
            "a full-ECS image cannot be replicated within a region"

        The regions are the allowed routes (``REPLICATION_ROUTES``) between deployed regions.
        """
        if not destination:
            raise Refusal("IMG.0001", "region (the destination region) is required")
        if destination == source:
            raise Refusal(
                SAME_REGION,
                f"the destination region must differ from the source region {source}: a full-ECS image cannot be "
                "replicated within its region",
            )
        if not self.routes.allows(source, destination) or destination not in self.deployed_regions:
            supported = ", ".join(f"{source} -> {d}" for d in self.destinations_from(source)) or "none"
            raise Refusal(
                ROUTE_NOT_SUPPORTED,
                f"full-ECS images cannot be replicated from {source} to {destination} (supported routes from "
                f"{source}: {supported}). " + WORKAROUND.format(destination=destination),
            )
        return destination

    def check_size(self, size_gb: int) -> None:
        if size_gb > self.max_image_gb:
            raise Refusal(
                IMAGE_TOO_LARGE,
                f"the image is {size_gb} GB; images larger than {self.max_image_gb} GB cannot be replicated across "
                "regions",
            )

    def check_in_flight(self, in_flight: int) -> None:
        """``in_flight`` is the number of the project's replications already under way (not counting this one)."""
        if in_flight >= self.max_in_flight:
            raise Refusal(
                TOO_MANY_IN_FLIGHT,
                f"{in_flight} cross-region replications of this project are already under way; at most "
                f"{self.max_in_flight} may run at a time. Retry when one has finished.",
            )


def check_not_a_replica(image_id: str, replicated_from_region: str | None) -> None:
    """Refuse to replicate an image that is itself a replica. The seed's rule:

        "the replicated full-ECS image cannot be replicated across regions again"

    A replica names the region it came from (``replicated_from_region``); its original may be replicated instead.
    """
    if replicated_from_region:
        raise Refusal(
            REPLICA_NOT_REPLICABLE,
            f"image {image_id} was itself replicated from {replicated_from_region} and cannot be replicated across "
            "regions again; replicate the original image instead",
        )


def check_vault(vault_id: str | None) -> str:
    if not vault_id:
        raise Refusal(
            VAULT_REQUIRED,
            "vault_id is required to replicate a full-ECS image across regions: the CBR vault of the destination "
            "region that receives the copy of the image's backup",
        )
    return vault_id
