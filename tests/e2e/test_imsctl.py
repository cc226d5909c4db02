"""imsctl against the running system, as an operator uses it: produce a backup, create an image with --wait,
see its trail across the services, then delete it with its backup and see the cascade in the trail."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ALPHA, CN, TENANTS_FILE, System, eventually, kafka_options

pytestmark = pytest.mark.e2e


def _command() -> list[str]:
    script = Path(sys.executable).parent / "imsctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "imsctl"]


def imsctl(system: System, *args: str, check: bool = True, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the imsctl command line with the test system's endpoints given through the environment."""
    assert system.kafka_bootstrap
    if kafka_options(system):
        pytest.skip("imsctl connects to Kafka in PLAINTEXT only; this system's broker asks for SASL")
    env = {
        **os.environ,
        "IMSCTL_BOOTSTRAP": system.kafka_bootstrap,
        "IMSCTL_IMS_URL": system.url("image-service", CN),
        "IMSCTL_CBR_URL": system.url("backup-service", CN),
        "IMSCTL_BILLING_URL": system.url("billing-service"),
        "IMSCTL_ECS_URL": system.url("compute-service", CN),
        "IMSCTL_TENANTS_FILE": str(TENANTS_FILE),
        "IMSCTL_TENANT": ALPHA.name,
        "IMSCTL_REGION": CN,
    }
    done = subprocess.run([*_command(), *args], env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    if check:
        assert done.returncode == 0, f"imsctl {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done


def trail_types(system: System, some_id: str) -> list[str]:
    done = imsctl(system, "trail", some_id, "--json", check=False)
    events: list[dict[str, Any]] = [json.loads(line).get("event") or {} for line in done.stdout.splitlines()]
    return [str(e.get("type")) for e in events]


def test_imsctl_produces_a_backup_creates_its_image_and_shows_the_trail(system: System) -> None:
    backup_id = imsctl(system, "produce", "backup-created", "--disks", "2").stdout.strip()
    assert len(backup_id) == 36

    shown = eventually(
        lambda: (done := imsctl(system, "cbr", "show", backup_id, check=False)).returncode == 0 and done,
        what="backup-service to know the backup",
    )
    backup = json.loads(shown.stdout)["backup"]
    assert backup["status"] == "available" and len(backup["disks"]) == 2

    created = imsctl(system, "ims", "create", "--backup-id", backup_id, "--name", "imsctl-e2e", "--wait")
    image_id = created.stdout.strip()
    assert len(image_id) == 36 and "SUCCESS" in created.stderr

    listed = json.loads(imsctl(system, "ims", "images", "--backup-id", backup_id, "--json").stdout)
    assert [(i["id"], i["status"]) for i in listed["images"]] == [(image_id, "active")]

    wanted = ["BackupCreated", "ImageRequested", "ImageCreated"]
    types = eventually(
        lambda: (found := trail_types(system, image_id)) and all(t in found for t in wanted) and found,
        what="the image's trail",
    )
    assert types.index("BackupCreated") < types.index("ImageRequested") < types.index("ImageCreated")
    table = imsctl(system, "trail", image_id, "--group-by", "service").stdout
    assert all(t in table for t in wanted) and "image-service" in table

    assert "normal" in imsctl(system, "billing", "account").stdout

    imsctl(system, "ims", "delete", image_id, "--delete-backup", "--wait")
    cascade = ["ImageDeleted", "BackupDeleted"]
    eventually(
        lambda: all(t in trail_types(system, backup_id) for t in cascade),
        what="the deletion cascade in the backup's trail",
    )
    gone = imsctl(system, "cbr", "show", backup_id, check=False)
    assert gone.returncode == 1 and "BackupService.6301" in gone.stderr
