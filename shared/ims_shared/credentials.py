"""Which credentials a service runs with: the credentials file, or, only when development mode is asked for, the
published development credentials; and the key the service signs its events with."""

from ims_shared.event_auth import EventSigner
from ims_shared.logging import get_logger
from ims_shared.settings import ServiceSettings
from ims_shared.tenants import TenantCatalog, load_tenants

log = get_logger(__name__)


class MissingCredentials(RuntimeError):
    """The service cannot start: it has no credentials file, or no key of its own in it."""


def load_credentials(settings: ServiceSettings) -> TenantCatalog:
    if settings.tenants_file:
        return load_tenants(settings.tenants_file)
    if not settings.development_mode:
        raise MissingCredentials(
            f"{settings.service_name}: no credentials file. Set TENANTS_FILE to the deployment's credentials file "
            "(tenants, integrations, service keys), or DEVELOPMENT_MODE=1 to run with the published development keys"
        )
    log.warning("development mode: the published development credentials are in use; never expose this service")
    return load_tenants(None)


def service_signer(settings: ServiceSettings, credentials: TenantCatalog) -> EventSigner:
    """The key the service signs its events with: its settings' or, unset, its entry in the credentials file; either
    way the one the credentials file lists for it, since that is what every consumer verifies its events with."""
    listed = credentials.service_key(settings.service_name)
    if listed is None:
        raise MissingCredentials(
            f"the credentials file lists no key for {settings.service_name} under 'services': the other services "
            "could not verify its events"
        )
    if settings.service_access_key is None:
        return EventSigner(listed.access_key, listed.secret_key)
    secret = settings.service_secret_key.get_secret_value() if settings.service_secret_key else ""
    if (settings.service_access_key, secret) != (listed.access_key, listed.secret_key):
        raise MissingCredentials(
            f"SERVICE_ACCESS_KEY/SERVICE_SECRET_KEY of {settings.service_name} are not the key the credentials file "
            "lists for it: the other services would refuse its events"
        )
    return EventSigner(settings.service_access_key, secret)
