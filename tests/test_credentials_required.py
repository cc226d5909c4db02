"""A service starts only with a credentials file, or in development mode asked for explicitly: with neither, building
it fails before it listens, saying what to set; with development mode it runs with the published development keys."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backup_service.app import bootstrap as backup_bootstrap
from backup_service.settings import BackupSettings
from billing_service.app import bootstrap as billing_bootstrap
from billing_service.settings import BillingSettings
from compute_service.app import bootstrap as compute_bootstrap
from compute_service.settings import ComputeSettings
from image_service.app import bootstrap as image_bootstrap
from image_service.settings import ImageSettings
from ims_shared.credentials import MissingCredentials, service_signer
from ims_shared.settings import ServiceSettings
from replication_service.app import bootstrap as replication_bootstrap
from replication_service.settings import ReplicationSettings
from tests.support import DEVELOPMENT_CREDENTIALS

SERVICES: list[tuple[type[ServiceSettings], Callable[..., Any]]] = [
    (ImageSettings, image_bootstrap),
    (BackupSettings, backup_bootstrap),
    (BillingSettings, billing_bootstrap),
    (ReplicationSettings, replication_bootstrap),
    (ComputeSettings, compute_bootstrap),
]
IDS = [settings.__name__ for settings, _ in SERVICES]


@pytest.mark.parametrize(("settings_class", "bootstrap"), SERVICES, ids=IDS)
def test_without_a_credentials_file_a_service_refuses_to_start_unless_development_mode_is_asked_for(
    settings_class: type[ServiceSettings], bootstrap: Callable[..., Any]
) -> None:
    with pytest.raises(MissingCredentials, match="TENANTS_FILE"):
        bootstrap(settings_class(tenants_file=None, development_mode=False))
    service = bootstrap(settings_class(tenants_file=None, development_mode=True))
    assert service.tenants.by_access_key("DEVOPSAK000000000001") is None  # an integration is no tenant
    assert [t.name for t in service.tenants.tenants] == [t.name for t in DEVELOPMENT_CREDENTIALS.tenants]


def test_a_deployments_credentials_file_replaces_the_development_keys(tmp_path: Path) -> None:
    catalog = {
        "tenants": [
            {
                "name": "acme",
                "domain_id": "d" * 32,
                "access_key": "ACMEAK00000000000001",
                "secret_key": "acme-secret",
                "projects": {"cn-north-4": "a" * 32},
            }
        ],
        "services": [{"name": "image-service", "access_key": "ACMEIMAGEAK000000001", "secret_key": "s3cret"}],
    }
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(catalog))
    service = image_bootstrap(ImageSettings(tenants_file=str(path), development_mode=False))
    assert [t.name for t in service.tenants.tenants] == ["acme"]
    assert service_signer(service.settings, service.tenants).access_key == "ACMEIMAGEAK000000001"
    with pytest.raises(MissingCredentials, match="no key for backup-service"):
        service_signer(BackupSettings(tenants_file=str(path), development_mode=False), service.tenants)
