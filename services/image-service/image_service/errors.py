"""IMS error codes used by image-service, each with the meaning it has in Huawei's IMS. A rule broken raises
``ims_shared.refusal.Refusal`` with one of them: a 4xx from the API, or a job's FAIL code."""

from ims_shared.refusal import Refusal

INVALID_PARAMETER = "IMG.0001"
NO_SOURCE = "IMG.0019"
BACKUP_NOT_FOUND = "IMG.0020"
BACKUP_ALREADY_USED = "IMG.0029"
BACKUP_NOT_AVAILABLE = "IMG.0032"
IMAGE_NOT_FOUND = "IMG.0027"
SHARE_OF_SHARED_BACKUP = "IMG.0135"
SERVER_BEING_BACKED_UP = "IMG.0136"
NO_SYSTEM_DISK = "IMG.0195"
NOT_SERVER_BACKUP = "IMG.0198"
SERVER_NOT_CONFIGURED = "IMG.0202"
SERVER_STARTED = "IMG.0203"
DELETED_DURING_CREATION = "IMG.0204"
ACCOUNT_FROZEN = "IMG.0239"
JOB_NOT_FOUND = "IMG.0501"
TAG_NOT_FOUND = "IMG.0133"

CONFIGURE_ECS_GUIDE = (
    "configure the source ECS before imaging it: install the virtualization drivers (UVP VMTools/virtio), "
    "Cloud-Init or Cloudbase-Init, set DHCP on the NICs, and remove persistent network rules; see "
    "'How Do I Configure an ECS, BMS, or Image File Before I Use It to Create an Image?'"
)
EXPORT_REFUSED = "IMG.0128"
IN_REGION_COPY_REFUSED = "IMG.0130"
MARKET_PUBLISH_REFUSED = "IMG.0131"
TOO_MANY_MEMBERS = "IMG.0083"
MEMBER_NOT_FOUND = "IMG.0084"
NOT_SHAREABLE = "IMG.0085"


def invalid_parameter(message: str) -> Refusal:
    """A request's parameter that IMS would refuse (IMG.0001), saying which and why."""
    return Refusal(INVALID_PARAMETER, message)
